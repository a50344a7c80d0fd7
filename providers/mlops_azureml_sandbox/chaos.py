"""Random faults on API calls ("chaos"), the `chaos` setting of the Azure ML emulator:

    chaos  {"rate": 0.3, "seed": 7, "kinds": ["throttle", "server_error", "lost_reply"],
            "methods": ["OnlineDeployments_*", "Schedules_CreateOrUpdate"] (omit: every call)}

Each API call (not the control API) draws once: with probability `rate` it gets one of `kinds`
(picked evenly). The n-th call of a kind (its operation and the names in it) draws from
(`seed`, kind, n) alone, so it meets the same fate on every run, whatever the order in which
parallel calls arrive. The kinds, in ARM's own shapes (`{"error": {code, message}}`, which
azure-core raises as HttpResponseError and its subclasses):

* `throttle`: refused, 429 TooManyRequests with `Retry-After` and `x-ms-ratelimit-remaining-*: 0`,
  as ARM answers past its request quota;
* `server_error`: refused, 500 InternalServerError or 503 ServiceUnavailable;
* `lost_reply`: carried out (a long-running one starts), then its answer is lost: 500
  InternalServerError, or the connection closed without an answer (each half of the time).

`methods` are globs (fnmatch, case-sensitive) over the operation names of the Azure REST
reference that `server.py` lists ("OnlineEndpoints_CreateOrUpdate", "Operations_GetStatus"):
polls of long-running operations are API calls too. Any change of the settings starts the
counts again; `injected` counts the faults by kind."""

from __future__ import annotations

import contextlib
import re
import socket
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from mlops_gitops.sandbox.chaos import ChaosDraws

from .arm import ArmError

# The status of an answer that is a dropped connection: the handler hangs up instead.
DISCONNECT = -1
_TAIL = "(chaos injected by the Azure ML emulator)"
# The IDs of asynchronous operations in poll paths: differ between runs.
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


@dataclass(frozen=True)
class Fault:
    """A failing call: the fields of a `FailRule` the gateway reads."""

    status: int
    code: str | None
    message: str
    lose_reply: bool = False


class Chaos(ChaosDraws):
    retry_after: int = Field(default=1, ge=0)  # seconds, in a throttled answer's Retry-After

    def draw(self, method: str, path: str, operation: str) -> tuple[ArmError | None, Fault | None]:
        """(refusal, failure) for this call, at most one of them; the caller holds the state lock."""
        if not self.selects(operation):
            return None, None
        fate = self._draw(_key(operation, path))
        if fate is None:
            return None, None
        kind, half = fate
        if kind == "throttle":
            reads = "reads" if method == "GET" else "writes"
            message = (
                f"The request was throttled: too many requests for subscription {reads} {_TAIL}. "
                "Please retry after the time in the Retry-After header."
            )
            headers = {
                "Retry-After": str(self.retry_after),
                f"x-ms-ratelimit-remaining-subscription-{reads}": "0",
            }
            return ArmError(429, "TooManyRequests", message, headers=headers), None
        if kind == "server_error":
            if half:
                message = f"{operation}: the service is unavailable {_TAIL}."
                return None, Fault(503, "ServiceUnavailable", message)
            return None, Fault(500, "InternalServerError", f"{operation} failed {_TAIL}.")
        message = f"{operation} took effect but its reply was lost {_TAIL}."
        return None, Fault(DISCONNECT if half else 500, "InternalServerError", message, lose_reply=True)


def _key(operation: str, path: str) -> str:
    """What tells one call from another across runs: the operation and its path, without the
    operation IDs the emulator picks."""
    return f"{operation} {_GUID.sub('*', path)}"


def hang_up(handler: Any) -> None:
    """Close the handler's connection without an answer, as a network failure would (azure-core
    raises ServiceResponseError)."""
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.request.shutdown(socket.SHUT_RDWR)
