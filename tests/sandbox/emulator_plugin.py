"""A third party's emulator, installed for the subprocesses of a test only: a module and its
`*.dist-info` (with the `mlops_gitops.emulators` entry point) in a directory put on PYTHONPATH.

The emulator is a real one, built on the sandbox's base class: a cloud with one kind of object
(`/things`) and the control API. How it misbehaves is chosen when it is installed."""

from __future__ import annotations

import os
from pathlib import Path

NAME = "thirdparty"  # sorts between sagemaker and vertex: `sandbox up` reaches it second
MODULE = "mlops_thirdparty_emulator"

_SOURCE = '''
"""A third party's sandbox emulator, written by the sandbox tests."""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import logging

from pydantic import BaseModel, ConfigDict, Field

from mlops_gitops.sandbox import control
from mlops_gitops.sandbox.background import BackgroundEmulator

FAILURE = {failure!r}  # None, "import", "start" or "crash"
if FAILURE == "import":
    raise RuntimeError("this emulator needs libthirdparty, which is not installed")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delay: float = Field(default=0.0, ge=0, le={max_delay!r})


class Gateway:
    def __init__(self, settings):
        self.initial, self.current, self.things = settings, settings, []
        self.lock = threading.Lock()

    def settings(self):
        return self.current.model_dump()

    def update_settings(self, changes):
        with self.lock:
            self.current = Settings.model_validate({{**self.current.model_dump(), **changes}})
            return self.current.model_dump()

    def reset(self):
        with self.lock:
            self.current, self.things = self.initial, []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _serve(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        gateway = self.server.gateway
        if self.path.startswith(control.CONTROL_PREFIX):
            what = self.path[len(control.CONTROL_PREFIX):]
            status, document = control.answer(gateway, self.command, what, body, label="Third party")
        elif self.path == "/things" and self.command == "POST":
            gateway.things.append(json.loads(body))
            status, document = 200, {{}}
        elif self.path == "/things":
            status, document = 200, {{"things": gateway.things}}
        else:
            status, document = 404, {{"error": "no such thing"}}
        raw = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, gateway):
        self.gateway = gateway
        super().__init__(address, Handler)


class ThirdPartyEmulator(BackgroundEmulator):
    label = "Third party"
    operation_delay_setting = {operation_delay_setting!r}

    def __init__(self, settings=None, host="127.0.0.1", port=0):
        gateway = Gateway(Settings.model_validate(dict(settings or {{}})))
        super().__init__(gateway, host, port, logging.getLogger(__name__))

    def _make_server(self):
        return Server((self._host, self._port), self._gateway)

    def _bound_port(self, server):
        return server.server_port

    def start(self):
        if FAILURE == "start":
            raise OSError("cannot reach the license server")
        url = super().start()
        if FAILURE == "crash":  # the whole process dies a moment after it answered
            threading.Timer(1.0, os._exit, (3,)).start()
        return url
'''


def install(
    directory: Path,
    *,
    failure: str | None = None,
    max_delay: float = 100.0,
    operation_delay_setting: str | None = "delay",
) -> dict[str, str]:
    """Write the emulator into `directory`; returns the environment its subprocesses need."""
    directory.mkdir(parents=True, exist_ok=True)
    source = _SOURCE.format(
        failure=failure, max_delay=max_delay, operation_delay_setting=operation_delay_setting
    )
    (directory / f"{MODULE}.py").write_text(source)
    info = directory / f"{MODULE}-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {MODULE}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[mlops_gitops.emulators]\n{NAME} = {MODULE}:ThirdPartyEmulator\n"
    )
    return with_path(directory)


def with_path(directory: Path) -> dict[str, str]:
    """This environment with `directory` first on PYTHONPATH."""
    paths = [str(directory), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
