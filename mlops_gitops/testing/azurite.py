"""Azurite, Microsoft's Azure Storage emulator, as a child process on loopback: what the azureblob
state backend is tested against, through the real azure-storage-blob client.

    with Azurite(binary, workdir) as azurite:
        environ = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}

Azurite is a Node.js package, not a Python one. Install it into the project with
`npm install --prefix .ci/node azurite@3` (the binary is then `.ci/node/node_modules/.bin/
azurite-blob`), or name another binary in the environment variable AZURITE_BLOB. `find_azurite`
raises AzuriteMissing with those instructions when it finds neither.

Only the blob service is started. Its account is Azurite's well-known development account; the
key below is public (published in Azurite's documentation), not a secret."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from mlops_gitops.testing import loopback

ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
BINARY_ENV = "AZURITE_BLOB"
INSTALL = "npm install --prefix .ci/node azurite@3"
LOCAL_BINARY = Path(".ci/node/node_modules/.bin/azurite-blob")

_START_TIMEOUT = 30.0  # Node takes ~1-2 s to start Azurite; a slow CI runner gets some margin


class AzuriteMissing(RuntimeError):
    """The azurite-blob binary is not installed where it is looked for."""


def find_azurite(project_root: Path) -> Path:
    """$AZURITE_BLOB, else `.ci/node/node_modules/.bin/azurite-blob` under `project_root`, else
    `azurite-blob` on PATH."""
    named = os.environ.get(BINARY_ENV)
    if named:
        if not Path(named).is_file():
            raise AzuriteMissing(f"{BINARY_ENV}={named} does not exist; install Azurite with: {INSTALL}")
        return Path(named)
    local = project_root / LOCAL_BINARY
    if local.is_file():
        return local
    on_path = shutil.which("azurite-blob")
    if on_path:
        return Path(on_path)
    raise AzuriteMissing(
        f"Azurite (the Azure Storage emulator the azureblob backend is tested against) is not "
        f"installed: run `{INSTALL}` in {project_root} (needs Node.js 18+), or set {BINARY_ENV} to "
        "an azurite-blob binary"
    )


class Azurite:
    """One Azurite blob service, keeping its data under `workdir`.

    With `tls` (a PEM certificate for 127.0.0.1 and its key) it serves https, which bearer
    tokens need: the Azure SDKs refuse to send one over http. With `oauth` as well it accepts
    Azure AD bearer tokens ("basic" OAuth: issuer, audience and expiry are checked, the
    signature is not), so the `account_url` + DefaultAzureCredential path can be tested."""

    def __init__(
        self, binary: Path, workdir: Path, *, tls: tuple[Path, Path] | None = None, oauth: bool = False
    ) -> None:
        if oauth and tls is None:
            raise ValueError("Azurite accepts OAuth tokens over https only: give `tls` too")
        self.binary = binary
        self.workdir = workdir
        self.tls = tls
        self.oauth = oauth
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def blob_endpoint(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        scheme = "https" if self.tls else "http"
        return (
            f"DefaultEndpointsProtocol={scheme};AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)

        def command(port: int) -> list[str]:
            argv = [
                str(self.binary),
                "--blobHost", "127.0.0.1",
                "--blobPort", str(port),
                "--location", str(self.workdir),
                "--silent",
                # The Python SDK may speak a newer REST API version than this Azurite knows.
                "--skipApiVersionCheck",
                "--disableTelemetry",
            ]  # fmt: skip
            if self.tls:
                argv += ["--cert", str(self.tls[0]), "--key", str(self.tls[1])]
            if self.oauth:
                argv += ["--oauth", "basic"]
            return argv

        self._process, self.port = loopback.start(
            "Azurite", command, self._answers, self.workdir / "azurite.log", timeout=_START_TIMEOUT
        )

    def _answers(self, port: int) -> bool:
        self.port = port
        context = ssl.create_default_context(cafile=str(self.tls[0])) if self.tls else None
        try:
            # Any HTTP answer (an unsigned request gets 403) means the service is listening.
            urllib.request.urlopen(f"{self.blob_endpoint}?comp=list", timeout=1, context=context).close()
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True

    def stop(self) -> None:
        process, self._process = self._process, None
        loopback.stop(process)

    def __enter__(self) -> Azurite:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def loopback_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA: pass the certificate file as the CA
    bundle to trust it) and its key, as PEM files in `directory`, for `Azurite(tls=...)`."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "azurite-cert.pem", directory / "azurite-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path
