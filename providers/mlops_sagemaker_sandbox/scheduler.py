"""EventBridge Scheduler's idempotency tokens, which moto ignores: `CreateSchedule` carries a
`ClientToken` (botocore fills one in; the provider's client sends the same one on every attempt),
and Scheduler answers a request sent again with a token whose schedule it made with that
schedule's ARN. moto answers ConflictException instead, so a create whose reply was lost (see
`chaos.py`) and was sent again would fail against the emulator where it succeeds against AWS.

Here a CreateSchedule whose token made a schedule that is still there (under the same group and
name) gets the answer the first one got; any other goes to moto."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from wsgiref.types import WSGIEnvironment

_CREATE = re.compile(r"/schedules/(?P<name>[^/]+)")
_DEFAULT_GROUP = "default"


class Reply(Protocol):
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class ClientTokens:
    def __init__(self) -> None:
        # (access key, region, token) -> (group, name, the reply that made the schedule)
        self._made: dict[tuple[str, str, str], tuple[str, str, Reply]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._made.clear()

    def serve(
        self,
        environ: WSGIEnvironment,
        where: tuple[str, str],
        call_moto: Callable[[WSGIEnvironment], Reply],
        backend: Callable[[], Any],
    ) -> Reply:
        """Serve a Scheduler call (`where`: the caller's access key and region), answering a
        CreateSchedule sent again as Scheduler does."""
        found = _CREATE.fullmatch(environ.get("PATH_INFO", ""))
        if environ.get("REQUEST_METHOD") != "POST" or found is None:
            return call_moto(environ)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            return call_moto(environ)
        token = document.get("ClientToken") if isinstance(document, dict) else None
        if not isinstance(token, str) or not token:
            return call_moto(environ)
        group, name = str(document.get("GroupName") or _DEFAULT_GROUP), found["name"]
        key = (*where, token)
        with self._lock:
            made = self._made.get(key)
            if made is not None and made[:2] == (group, name) and _exists(backend, group, name):
                return made[2]
            reply = call_moto(environ)
            if reply.status == 200:
                self._made[key] = (group, name, reply)
            return reply


def _exists(backend: Callable[[], Any], group: str, name: str) -> bool:
    try:
        backend().get_schedule(group, name)
    except Exception:  # moto's ScheduleNotFound, or a group that is gone
        return False
    return True
