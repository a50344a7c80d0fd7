"""The base class of the sandbox's emulators (the contract is in `emulator.py`): a server in a
daemon thread on loopback, and settings, changes and resets going through the emulator's gateway
(the object that also serves the control API with `control.answer`). A cloud's emulator supplies
the server (`LoopbackHTTPServer` gives most of one) and names its settings for the CLI's options;
the rest is here."""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from http.server import ThreadingHTTPServer
from socketserver import BaseRequestHandler
from typing import Any, ClassVar, Protocol


class Gateway(Protocol):
    def settings(self) -> dict[str, Any]: ...

    def update_settings(self, changes: Mapping[str, Any]) -> dict[str, Any]: ...

    def reset(self) -> None: ...


class Server(Protocol):
    def serve_forever(self, poll_interval: float = ...) -> None: ...

    def shutdown(self) -> None: ...

    def server_close(self) -> None: ...


class BackgroundEmulator(ABC):
    """An emulator serving on `host:port` (port 0: any free port) in a daemon thread."""

    label: str  # for logs, thread names and the health answer, e.g. "SageMaker"
    # The settings `mlops sandbox up --operation-delay` and `--latency-ms` set, in this
    # emulator's names; None where it has no such setting (the option is then not sent to it).
    operation_delay_setting: ClassVar[str | None] = None
    latency_setting: ClassVar[str | None] = None

    def __init__(self, gateway: Gateway, host: str, port: int, log: logging.Logger) -> None:
        self._gateway = gateway
        self._host = host
        self._port = port
        self._log = log
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def cli_settings(
        cls, *, operation_delay: float | None = None, latency_ms: float | None = None
    ) -> dict[str, Any]:
        """The CLI's `--operation-delay` / `--latency-ms` in this emulator's setting names."""
        wanted = {cls.operation_delay_setting: operation_delay, cls.latency_setting: latency_ms}
        return {name: value for name, value in wanted.items() if name is not None and value is not None}

    @abstractmethod
    def _make_server(self) -> Server:
        """Bind (OSError if the port is taken) and return the server, not yet serving."""

    @abstractmethod
    def _bound_port(self, server: Server) -> int: ...

    def _close_connections(self, server: Server) -> None:
        """Close kept-alive connections on stop, where the server keeps them itself."""
        return None  # most servers drop them in server_close()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._bound_port(self._server)}"

    @property
    def settings(self) -> dict[str, Any]:
        """The settings in force (a copy; a failure rule's `times` counts down as it fires)."""
        return self._gateway.settings()

    def update_settings(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change the keys given, keep the others; returns the settings now in force."""
        return self._gateway.update_settings(changes)

    def reset(self) -> None:
        """Wipe the emulated cloud's state and restore the initial settings."""
        self._gateway.reset()

    def start(self) -> str:
        """Listen and serve in a daemon thread; returns the URL."""
        if self._server is not None:
            return self.url
        server = self._make_server()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},  # stop() waits at most this long
            name=f"{self.label.lower().replace(' ', '-')}-emulator-{self._bound_port(server)}",
            daemon=True,
        )
        self._server = server
        self._thread.start()
        self._log.info("%s emulator listening on %s", self.label, self.url)
        return self.url

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        self._close_connections(server)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None


class LoopbackHTTPServer(ThreadingHTTPServer):
    """The HTTP server an emulator built on `http.server` serves from: a thread per connection,
    binding without the FQDN lookup `HTTPServer` makes (it can stall on a machine without DNS),
    and keeping track of its connections so that `close_connections()` ends the kept-alive ones
    when the emulator stops (a stopped emulator must not go on answering on them).

    A connection is tracked when its request starts; a server that wraps it (TLS) tracks the
    wrapped socket instead, with `track`/`untrack`, and sets `track_requests = False`."""

    daemon_threads = True
    # socketserver listens with a backlog of 5: ten clients connecting at once (a refresh with
    # `--parallelism 10`) overflow it, and the kernel drops the extra SYNs, which the clients
    # send again only after a second.
    request_queue_size = 128
    track_requests = True
    label = "the emulator"  # for the log of a failed request
    # Errors of a client that went away (or of a connection stop() ended): logged, not raised.
    client_errors: tuple[type[BaseException], ...] = (ConnectionError,)

    def __init__(
        self, address: tuple[str, int], handler: type[BaseRequestHandler], log: logging.Logger
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._log = log
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def process_request(self, request: Any, client_address: Any) -> None:
        if self.track_requests:
            self.track(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        if self.track_requests:
            self.untrack(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], self.client_errors):
            self._log.debug("connection from %s ended abruptly", client_address)
        else:
            self._log.exception("%s failed on a request from %s", self.label, client_address)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
