"""The emulator control API (specified in `emulator.py`): the answers every emulator gives under
`/_emulator/`, and the client calls `mlops sandbox up`, the daemon, tests and benchmarks make.

`answer()` is the server side: an emulator hands it a request under the prefix and sends back
the (status, JSON document) it returns, so that every emulator speaks the same API whatever its
HTTP server. The functions below it are the client side, over plain `urllib`."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pydantic import ValidationError

CONTROL_PREFIX = "/_emulator/"

Answer = tuple[int, dict[str, Any]]


class Controlled(Protocol):
    """What `answer()` needs of an emulator (its gateway, usually)."""

    def settings(self) -> dict[str, Any]: ...

    def update_settings(self, changes: Mapping[str, Any]) -> dict[str, Any]: ...

    def reset(self) -> None: ...


def refusal(exc: ValueError) -> str:
    """A refused value in one line: pydantic's errors as `field: message; ...`."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
    return " ".join(str(exc).split()) or type(exc).__name__


def answer(
    target: Controlled,
    method: str,
    what: str,
    body: bytes,
    *,
    label: str,
    extra: Mapping[str, Callable[[dict[str, Any]], dict[str, Any]]] | None = None,
) -> Answer:
    """The answer to `method {CONTROL_PREFIX}{what}` with request body `body`. `extra` adds the
    emulator's own POST endpoints: each takes the JSON object sent and returns the document to
    answer, raising ValueError (answered 400) to refuse it."""
    own = dict(extra or {})
    allowed = {"health": ("GET",), "settings": ("GET", "POST"), "reset": ("POST",)}
    allowed.update(dict.fromkeys(own, ("POST",)))
    if what not in allowed:
        return 404, {"error": f"no control endpoint {CONTROL_PREFIX}{what}"}
    if method not in allowed[what]:
        return 405, {"error": f"{method} not allowed on {CONTROL_PREFIX}{what}"}
    if what == "health":
        return 200, {"status": "ok", "emulator": label}
    if what == "settings" and method == "GET":
        return 200, target.settings()
    try:
        document = json.loads(body or b"{}")
        if not isinstance(document, dict):
            raise ValueError(f"the body of {CONTROL_PREFIX}{what} must be a JSON object")
        if what == "reset":
            target.reset()
            return 200, {"status": "ok"}
        if what == "settings":
            return 200, target.update_settings(document)
        return 200, own[what](document)
    except ValueError as exc:  # a malformed body, or a value refused (pydantic's ValidationError)
        return 400, {"error": refusal(exc)}


# ---- clients ---------------------------------------------------------------------------------------


class Refused(ValueError):
    """An emulator answered an error; `detail` is its own one-line message."""

    def __init__(self, url: str, what: str, detail: str) -> None:
        super().__init__(f"the emulator at {url} refused {what}: {detail}")
        self.detail = detail


def loopback_tls() -> ssl.SSLContext:
    """TLS without certificate checks, for the control API of an emulator the sandbox started on
    loopback (its URL comes from the sandbox's own records): such an emulator serves a self-signed
    certificate it made at start, which its clients of the cloud API are given to trust."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _request(
    url: str,
    what: str,
    document: Mapping[str, Any] | None,
    timeout: float,
    context: ssl.SSLContext | None = None,
) -> Any:
    """GET (no document) or POST `document` to the control endpoint `what` of the emulator at
    `url`; Refused (a ValueError) with the emulator's own message if it answers an error."""
    data = None if document is None else json.dumps(dict(document)).encode()
    if context is None and url.startswith("https:"):
        context = loopback_tls()
    request = urllib.request.Request(
        f"{url.rstrip('/')}{CONTROL_PREFIX}{what}",
        data=data,
        headers={"Content-Type": "application/json"} if data is not None else {},
        method="GET" if data is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("error", "")
        except (ValueError, AttributeError):
            detail = ""
        raise Refused(url, what, str(detail or exc)) from None


def health(url: str, timeout: float = 2.0, context: ssl.SSLContext | None = None) -> dict[str, Any]:
    """The emulator's health document; OSError if it does not answer, ValueError if it answers
    something else than 200 with a JSON object."""
    document = _request(url, "health", None, timeout, context)
    if not isinstance(document, dict):
        raise ValueError(f"the emulator at {url} answered its health probe with {document!r}")
    return document


def get_settings(url: str, timeout: float = 10.0) -> dict[str, Any]:
    """The settings in force in a running emulator."""
    return dict(_request(url, "settings", None, timeout))


def update_settings(url: str, settings: Mapping[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Change a running emulator's settings (the keys given; the others keep their value) through
    its control API. Returns the settings now in force; ValueError if the emulator refuses them."""
    return dict(_request(url, "settings", settings, timeout))


def reset(url: str, timeout: float = 10.0) -> None:
    """Reset a running emulator: its state, operations in flight and its settings."""
    _request(url, "reset", {}, timeout)
