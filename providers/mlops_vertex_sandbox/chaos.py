"""Random faults on API calls ("chaos"), the `chaos` setting of the Vertex AI emulator:

    chaos  {"rate": 0.3, "seed": 7, "kinds": ["throttle", "server_error", "lost_reply"],
            "methods": ["POST *:deployModel", "GET */operations/*"] (omit: every call)}

Each API call (not the control API) draws once: with probability `rate` it gets one of `kinds`
(picked evenly). The n-th call of a kind (its operation and the names in it) draws from
(`seed`, kind, n) alone, so it meets the same fate on every run, whatever the order in which
parallel calls arrive. The kinds, in Google's own shapes (`{"error": {code, message,
status}}`, which google-api-core raises as its exception classes):

* `throttle`: refused, 429 RESOURCE_EXHAUSTED, as past a quota;
* `server_error`: refused, 503 UNAVAILABLE or 500 INTERNAL;
* `lost_reply`: carried out (an operation it starts runs), then its answer is lost: 503
  UNAVAILABLE, or the connection closed without an answer (each half of the time).

`methods` are globs (fnmatch) over "METHOD path", the path percent-decoded with the project
number in it, as the `fail` rules see it: "POST /v1/projects/*/endpoints/*:deployModel". Polls of
operations are API calls too, and get faults like any other. Any change of the settings starts the
counts again; `injected` counts the faults by kind."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlops_gitops.sandbox.chaos import ChaosDraws

from .core import ApiError

_TAIL = "(chaos injected by the Vertex AI emulator)"
# IDs Vertex picks (operations, monitoring jobs, schedules, deployed models): differ between runs.
_PICKED_ID = re.compile(r"(?<=/)(?:operations/[^/:]+|\d{6,})")


@dataclass(frozen=True)
class Fault:
    """A fault after which the call may have run: the fields of a `TransientRule` the gateway reads."""

    status: str
    lost_reply: bool
    disconnect: bool
    message: str


class Chaos(ChaosDraws):
    def draw(self, method: str, path: str) -> tuple[ApiError | None, Fault | None]:
        """(refusal, transient fault) for this call, at most one of them; the caller holds the
        state lock."""
        call = f"{method} {path}"
        if not self.selects(call):
            return None, None
        fate = self._draw(_key(method, path))
        if fate is None:
            return None, None
        kind, half = fate
        if kind == "throttle":
            message = f"Quota exceeded for aiplatform.googleapis.com: too many requests {_TAIL}."
            return ApiError("RESOURCE_EXHAUSTED", message), None
        if kind == "server_error":
            status = "UNAVAILABLE" if half else "INTERNAL"
            return None, Fault(status, False, False, f"{call}: the service is unavailable {_TAIL}.")
        message = f"{call}: the service is unavailable, its reply was lost {_TAIL}."
        return None, Fault("UNAVAILABLE", True, half, message)


def _key(method: str, path: str) -> str:
    """What tells one call from another across runs: its method and path, without the IDs Vertex
    picks (which differ from run to run)."""
    return f"{method} {_PICKED_ID.sub('*', path)}"
