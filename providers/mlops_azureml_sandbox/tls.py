"""The emulator's TLS certificate: the SDK sends bearer tokens only over https, so the emulator
serves TLS with a self-signed certificate for 127.0.0.1 and localhost, which the client trusts by
being given its PEM (`connection_verify=<path>`).

One certificate serves every emulator of a process (it is made at the first start and removed
when the process exits): a test can then trust "the emulators' CA" once, e.g. through
SSL_CERT_FILE for urllib, and reach emulators started later too."""

from __future__ import annotations

import atexit
import datetime
import ipaddress
import os
import ssl
import tempfile
import threading
from pathlib import Path


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """Write a fresh self-signed certificate and its key into `directory`; (cert, key) paths.
    The certificate is its own CA (basicConstraints CA:true), so the PEM serves as a CA bundle."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlops sandbox Azure ML emulator")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "ca.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


class Certificate:
    """A certificate in a private temporary directory, kept while the emulator runs."""

    def __init__(self) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="mlops-azureml-tls-")
        self.cert_file, self.key_file = make_certificate(Path(self._directory.name))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context

    def remove(self) -> None:
        self._directory.cleanup()


_lock = threading.Lock()
_shared: Certificate | None = None


def shared_certificate() -> Certificate:
    """The process's certificate, made on first use, removed at exit."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = Certificate()
            atexit.register(_shared.remove)
        return _shared
