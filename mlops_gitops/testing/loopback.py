"""A storage emulator as a child process on a free loopback port: what the state backends' tests
run Azurite, fake-gcs-server and gcp-storage-emulator with.

A port found free can be taken by someone else before the child binds it, and some emulators
then hang rather than exit: each attempt gets a new port and a deadline."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(
    name: str,
    command: Callable[[int], list[str]],
    answers: Callable[[int], bool],
    log: Path,
    *,
    cwd: Path | None = None,
    attempts: int = 3,
    timeout: float = 20.0,
) -> tuple[subprocess.Popen[bytes], int]:
    """Run `command(port)` on a free port until `answers(port)` says it serves; its output goes
    to `log`. RuntimeError naming `name`, with the end of the log, when no attempt starts."""
    for _ in range(attempts):
        port = free_port()
        with log.open("ab") as out:
            process = subprocess.Popen(
                command(port), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            if answers(port):
                return process, port
            time.sleep(0.05)
        stop(process)
    output = log.read_text(errors="replace").strip() if log.exists() else ""
    raise RuntimeError(f"{name} did not start on 127.0.0.1: {output[-2000:] or 'no output'}")


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """Terminate `process`, killing it if it is still there after 10 s."""
    if process is None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
