"""What every emulator's `chaos` setting shares: random faults on a `rate` of its API calls,
drawn reproducibly. Each emulator subclasses `ChaosDraws` with a `draw` that names the call
(its operation, without the IDs the emulator picks) and turns the kind drawn into its cloud's
error shapes.

The n-th call under a key draws from (`seed`, key, n) alone, so calls made in parallel, in
whatever order they arrive, meet the same faults on every run. A kind is picked evenly among
`kinds`; a second draw (`half`) lets the emulator choose between two shapes of that kind. Any
change of the settings makes a new model, which starts the counts again; `injected` counts the
faults by kind and is read back from the settings."""

from __future__ import annotations

import fnmatch
import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

Kind = Literal["throttle", "server_error", "lost_reply"]
KINDS: tuple[Kind, ...] = ("throttle", "server_error", "lost_reply")


class ChaosDraws(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: float = Field(ge=0, le=1)
    seed: int | None = None
    kinds: list[Kind] = Field(default_factory=lambda: list(KINDS), min_length=1)
    methods: list[str] | None = None  # globs over the calls' names (see each emulator); None: every call
    # Faults injected so far, by kind (read it from the settings; it survives settings changes).
    injected: dict[str, int] = Field(default_factory=dict)
    # How many calls each key made so far, and the base of the draws (`seed`, or one at random).
    _counts: dict[str, int] = PrivateAttr(default_factory=dict)
    _base: str = PrivateAttr(default="")

    def model_post_init(self, context: Any) -> None:
        self._base = str(self.seed) if self.seed is not None else f"random-{random.random()}"

    def selects(self, name: str) -> bool:
        """Whether `methods` (case-sensitive globs) take in the call named `name`."""
        return self.methods is None or any(fnmatch.fnmatchcase(name, m) for m in self.methods)

    def _draw(self, key: str) -> tuple[Kind, bool] | None:
        """The fate of this call, (kind, half) or None: the n-th call under `key` draws from
        (seed, key, n) alone."""
        count = self._counts.get(key, 0)
        self._counts[key] = count + 1
        draws = random.Random(f"{self._base}:{key}:{count}")
        if self.rate == 0 or draws.random() >= self.rate:
            return None
        kind = draws.choice(self.kinds)
        self.injected[kind] = self.injected.get(kind, 0) + 1
        return kind, draws.random() < 0.5
