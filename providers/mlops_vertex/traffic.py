"""Traffic splits and rollout steps: pure arithmetic, no I/O.

Vertex AI splits an endpoint's traffic between its deployed models in whole percentages that must
add up to exactly 100. Stack weights are relative (`weight: 2` and `weight: 1` mean 67/33), so
they are normalised here with the largest-remainder method: each share is rounded down, and the
points left over go to the shares with the largest fractional parts (ties: the earlier variant).
The same rounding gives every intermediate split of a rollout, so every split sent sums to 100."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TOTAL = 100


def percentages(weights: Mapping[str, float]) -> dict[str, int]:
    """Whole percentages summing to exactly 100, proportional to `weights` (same keys, same
    order). ValueError if the weights do not add up to something positive."""
    total = sum(weights.values())
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError(f"weights must be non-negative with a positive sum, got {dict(weights)}")
    # Rounded to 9 places first, so that 80/100 computed as 79.99999999 still floors to 80.
    exact = {k: round(w * TOTAL / total, 9) for k, w in weights.items()}
    shares = {k: math.floor(v) for k, v in exact.items()}
    left = TOTAL - sum(shares.values())
    order = list(weights)
    by_remainder = sorted(order, key=lambda k: (-(exact[k] - shares[k]), order.index(k)))
    for k in by_remainder[:left]:
        shares[k] += 1
    return shares


def blend(start: Mapping[str, int], end: Mapping[str, int], fraction: float) -> dict[str, int]:
    """The split `fraction` of the way from `start` to `end` (both summing to 100), without the
    entries that get nothing: Vertex sends no traffic to a deployed model missing from the split."""
    keys = list(start) + [k for k in end if k not in start]
    weights = {k: (1 - fraction) * start.get(k, 0) + fraction * end.get(k, 0) for k in keys}
    return {k: v for k, v in percentages(weights).items() if v > 0}


@dataclass(frozen=True)
class Step:
    """Move `fraction` of the way to the new split, then watch the rollback signal for `wait_minutes`."""

    fraction: float
    wait_minutes: float


def steps(rollout: Mapping[str, Any] | None) -> list[Step]:
    """The steps of a rollout (the endpoint's `rollout` attribute; None means all at once).

    As SageMaker's deployment guardrails do: every step but a canary's last is followed by a bake
    (a canary's by `bake_minutes`, a linear step's by `interval_minutes`, else `bake_minutes`),
    and the last step additionally by `termination_wait_minutes`, after which the old deployed
    models are undeployed."""
    r = dict(rollout or {})
    bake = float(r.get("bake_minutes", 0))
    strategy = r.get("strategy", "all_at_once")
    if strategy == "canary":
        out = [Step(r["canary_percent"] / TOTAL, bake), Step(1.0, 0.0)]
    elif strategy == "linear":
        step = r["step_percent"]
        interval = float(r.get("interval_minutes") or bake)
        out = [Step(p / TOTAL, interval) for p in range(step, TOTAL, step)] + [Step(1.0, interval)]
    else:
        out = [Step(1.0, bake)]
    last = out[-1]
    out[-1] = Step(1.0, last.wait_minutes + float(r.get("termination_wait_minutes", 0)))
    return out
