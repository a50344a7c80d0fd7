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

import fnmatch
import random
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from .core import ApiError

Kind = Literal["throttle", "server_error", "lost_reply"]
KINDS: tuple[Kind, ...] = ("throttle", "server_error", "lost_reply")
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


class Chaos(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: float = Field(ge=0, le=1)
    seed: int | None = None
    kinds: list[Kind] = Field(default_factory=lambda: list(KINDS), min_length=1)
    methods: list[str] | None = None  # globs over "METHOD path"; None: every call
    # Faults injected so far, by kind (read it from the settings; it survives settings changes).
    injected: dict[str, int] = Field(default_factory=dict)
    # How many calls each key made so far, and the base of the draws (`seed`, or one at random).
    _counts: dict[str, int] = PrivateAttr(default_factory=dict)
    _base: str = PrivateAttr(default="")

    def model_post_init(self, context: Any) -> None:
        self._base = str(self.seed) if self.seed is not None else f"random-{random.random()}"

    def _draw(self, key: str) -> tuple[Kind, bool] | None:
        """The fate of this call: the n-th call under `key` draws from (seed, key, n) alone, so
        calls made in parallel, in whatever order they arrive, meet the same faults on every run."""
        count = self._counts.get(key, 0)
        self._counts[key] = count + 1
        draws = random.Random(f"{self._base}:{key}:{count}")
        if self.rate == 0 or draws.random() >= self.rate:
            return None
        kind = draws.choice(self.kinds)
        self.injected[kind] = self.injected.get(kind, 0) + 1
        return kind, draws.random() < 0.5

    def draw(self, method: str, path: str) -> tuple[ApiError | None, Fault | None]:
        """(refusal, transient fault) for this call, at most one of them; the caller holds the
        state lock."""
        call = f"{method} {path}"
        if self.methods is not None and not any(fnmatch.fnmatchcase(call, m) for m in self.methods):
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
