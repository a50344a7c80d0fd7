"""Kill points: a fault-injection hook for the crash-safety suite (tests/crash).

A kill point is a moment where a real process can die and leave the cloud and the state as they
are: just before an HTTP request goes out and just after its response came back (every call any
cloud SDK makes, and the state backend's own storage calls), and just before and after each
state write. Nothing here is active unless one of these environment variables is set:

- `MLOPS_FAULT_KILL_AT=<n>`: the process kills itself with SIGKILL on reaching its n-th kill
  point (1-based), as `kill -9` or a lost machine would: no handler runs, no lock is released.
- `MLOPS_FAULT_COUNT=<file>`: every kill point reached is appended to `file` as one line,
  `<n><TAB><label>`. With both set, the file ends with the point the process died at.

Labels: `state-before` / `state-after` around a state write; `http-before <request>` /
`http-after <request>` around a request, `<request>` being `METHOD host:port/path` (query
left out) and, for AWS JSON and query APIs whose path says nothing, the action (e.g.
`POST 127.0.0.1:40123/ SageMaker.CreateModel`), so that a suite can tell cloud calls from
state-store calls by host and path.

Every HTTP client of the three SDKs goes through urllib3's connection pools (botocore directly,
google-cloud-aiplatform's REST transport and azure-core through requests), so one wrapper of
`HTTPConnectionPool.urlopen` sees them all. The sandbox's control API uses urllib, not urllib3:
it has no kill points. This module imports nothing outside the standard library until
`install_http_points` is called, which the CLI does only when a variable is set."""

from __future__ import annotations

import functools
import os
import signal
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

KILL_AT_VAR = "MLOPS_FAULT_KILL_AT"
COUNT_VAR = "MLOPS_FAULT_COUNT"

# One lock for the counter, the trace and the kill: a point is numbered, written and acted on
# before any other thread gets a number, so the n-th point is the n-th line of the trace and
# nothing runs past the point the process dies at.
_lock = threading.Lock()
_reached = 0
_settings: tuple[int | None, int | None] | None = None  # (kill at, trace fd), once read


def enabled() -> bool:
    """A kill-point variable is set in this process's environment."""
    return bool(os.environ.get(KILL_AT_VAR) or os.environ.get(COUNT_VAR))


def _read_settings() -> tuple[int | None, int | None]:
    global _settings
    if _settings is None:
        raw = os.environ.get(KILL_AT_VAR, "").strip()
        try:
            kill_at = int(raw) if raw else None
        except ValueError:
            raise SystemExit(f"{KILL_AT_VAR} must be a kill point number (1, 2, ...), not {raw!r}") from None
        path = os.environ.get(COUNT_VAR, "").strip()
        # An unbuffered append-only descriptor: what os.write handed to the kernel survives a
        # SIGKILL of this process, a buffered file object's pending bytes would not.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if path else None
        _settings = (kill_at, fd)
    return _settings


def point(label: str) -> None:
    """A kill point named `label`: counted, traced, or the process's end, as the variables say.
    Costs one environment lookup when none is set."""
    global _reached
    if _settings is None and not enabled():
        return
    kill_at, fd = _read_settings()
    with _lock:
        _reached += 1
        if fd is not None:
            os.write(fd, f"{_reached}\t{' '.join(label.split())}\n".encode())
        if kill_at == _reached:
            os.kill(os.getpid(), signal.SIGKILL)


def request_label(host: str | None, port: int | None, method: str, url: str, body: Any, headers: Any) -> str:
    """`METHOD host:port/path [action]` for a request of a urllib3 pool: the path without its
    query; the action from AWS's X-Amz-Target header (JSON protocol) or `Action=` form field
    (query protocol), since those APIs all POST to `/`."""
    parts = urlsplit(url)
    where = f"{host}:{port}" if port else str(host)
    label = f"{method} {where}{parts.path or '/'}"
    target = None
    if headers is not None:
        target = headers.get("X-Amz-Target") or headers.get("x-amz-target")
        if isinstance(target, bytes):  # botocore sends its headers as bytes
            target = target.decode(errors="replace")
    if not target and isinstance(body, bytes | str) and parts.path in ("", "/"):
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        if text.startswith("Action=") or "&Action=" in text:
            target = parse_qs(text).get("Action", [""])[0]
    return f"{label} {target}" if target else label


def install_http_points() -> None:
    """Wrap urllib3's `HTTPConnectionPool.urlopen` (HTTPS pools inherit it) with a kill point
    before the request is sent and one after its response came back. Idempotent."""
    from urllib3 import connectionpool

    original = connectionpool.HTTPConnectionPool.urlopen
    if getattr(original, "_mlops_kill_points", False):
        return

    @functools.wraps(original)
    def urlopen(
        self: connectionpool.HTTPConnectionPool, method: str, url: str, *args: Any, **kwargs: Any
    ) -> Any:
        body = kwargs.get("body", args[0] if args else None)
        headers = kwargs.get("headers", args[1] if len(args) > 1 else None)
        label = request_label(self.host, self.port, method, url, body, headers)
        point(f"http-before {label}")
        response = original(self, method, url, *args, **kwargs)
        point(f"http-after {label}")
        return response

    urlopen._mlops_kill_points = True  # type: ignore[attr-defined]
    connectionpool.HTTPConnectionPool.urlopen = urlopen  # type: ignore[method-assign]
