"""Deployment guardrails for the SageMaker emulator: the stages an `UpdateEndpoint` with a
`DeploymentConfig` goes through, and the CloudWatch alarms that roll it back.

Pure logic, no moto and no I/O: the gateway in `server.py` asks `plan()` for the stages of an
update, then advances the resulting `Rollout` whenever it settles the endpoints, telling it which of
the rollback alarms are in ALARM at that moment.

What SageMaker documents and this models (Developer Guide, "Deployment guardrails" and its pages on
blue/green, canary, linear, rolling deployments, auto-rollback and exclusions):

* Blue/green: the new ("green") fleet is provisioned, then traffic moves to it all at once, as a
  canary then the rest, or in linear steps. `WaitIntervalInSeconds` is the baking period between two
  steps ("the waiting time between incremental steps"; the canary's bake); once all traffic is on the
  new fleet, the final baking period is `TerminationWaitInSeconds` ("wait ... after your green fleet
  is fully active before terminating the instances in the blue fleet", all-at-once's only bake). So
  all at once bakes once, a canary twice, n linear steps n times. If any alarm of
  `AutoRollbackConfiguration` is in ALARM during a baking period, all traffic goes back to the old
  fleet: the endpoint stays on its previous EndpointConfig. No update policy at all means blue/green,
  all at once.
* Rolling: the capacity is replaced in batches of `MaximumBatchSize`, each followed by a baking
  period of `WaitIntervalInSeconds`, with the same rollback.
* Exclusions: the new EndpointConfig must have the same variant names as the old one, and Inf1
  (Inferentia) instances and Marketplace containers cannot use guardrails; rolling deployments
  additionally exclude serverless and multi-variant endpoints. SageMaker then falls back to a
  blue/green deployment with all-at-once traffic shifting and no final baking period, which `plan()`
  reports as None (a plain update). An older version of that page also listed multi-variant,
  network-isolated, KMS-encrypted and data-capturing endpoints for blue/green; the current one does
  not, and neither does this module. Marketplace containers are not detected: the emulator has no
  Marketplace.
* Sizes, as the API reference bounds them: a canary is at most 50% of a variant's instance count, a
  linear step 10-50%, a rolling batch 5-50%; `MaximumExecutionTimeoutInSeconds` must exceed the
  waits. A configuration outside these is refused (ValueError, a ValidationException on the wire).

Bakes last their seconds times `time_scale` (the emulator's `guardrail_time_scale`), so a 10-minute bake can
take seconds in the sandbox."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Progress", "Rollout", "Stage", "plan"]

_PERCENT = "CAPACITY_PERCENT"
_INSTANCES = "INSTANCE_COUNT"


@dataclass(frozen=True)
class Stage:
    """A step of the deployment, as PendingDeploymentSummary shows it in a variant's VariantStatus."""

    status: str  # a VariantStatus: "Creating", "Baking"
    message: str
    seconds: float
    baking: bool  # the rollback alarms are watched during it


@dataclass(frozen=True)
class Progress:
    """Where a rollout stands: a stage in progress, or over (`stage` None), completed or rolled back."""

    stage: Stage | None
    since: float  # when the stage started, or when the rollout ended (time.monotonic())
    rolled_back_by: tuple[str, ...] = ()  # the alarms in ALARM that rolled it back


class Rollout:
    """The stages of one update, advanced lazily: `advance()` is called with the current time and
    the current alarm states, which must not have changed since the previous call. (The gateway
    settles on every CloudWatch call, the only way alarm states change.)"""

    def __init__(self, stages: Sequence[Stage], alarms: Sequence[str], started: float) -> None:
        self._stages = list(stages)
        self.alarms = list(alarms)
        self._index = 0
        self._stage_started = started

    def advance(self, now: float, firing: Callable[[], list[str]]) -> Progress:
        """Move through the stages that ended by `now`; `firing()` names the alarms in ALARM."""
        while self._index < len(self._stages):
            stage = self._stages[self._index]
            # Alarm states held since the previous call, so one in ALARM now was in ALARM during
            # the part of this stage that ran since then.
            if stage.baking and self.alarms and (tripped := firing()):
                return Progress(None, now, tuple(tripped))
            end = self._stage_started + stage.seconds
            if end > now:
                return Progress(stage, self._stage_started)
            self._index += 1
            self._stage_started = end
        return Progress(None, self._stage_started)


# ---- planning -----------------------------------------------------------------------------------


def plan(
    deployment_config: Mapping[str, Any],
    old_variants: Sequence[Mapping[str, Any]],
    new_variants: Sequence[Mapping[str, Any]],
    provision_seconds: float,
    time_scale: float,
) -> list[Stage] | None:
    """The stages of an update from `old_variants` to `new_variants` (EndpointConfig
    ProductionVariants; for the old fleet, DescribeEndpoint's summaries do when its config is gone),
    or None when SageMaker falls back to a plain all-at-once update. ValueError if SageMaker would
    refuse `deployment_config`."""
    blue_green = deployment_config.get("BlueGreenUpdatePolicy")
    rolling = deployment_config.get("RollingUpdatePolicy")
    if blue_green and rolling:
        raise ValueError("DeploymentConfig may have BlueGreenUpdatePolicy or RollingUpdatePolicy, not both.")
    if _excluded(old_variants, new_variants, rolling=bool(rolling)):
        return None
    provision = Stage("Creating", "Provisioning the new fleet.", provision_seconds, baking=False)
    if rolling:
        return [provision, *_rolling_stages(rolling, new_variants, time_scale)]
    return [provision, *_blue_green_stages(blue_green or {}, new_variants, time_scale)]


def _excluded(
    old_variants: Sequence[Mapping[str, Any]], new_variants: Sequence[Mapping[str, Any]], *, rolling: bool
) -> bool:
    if {v["VariantName"] for v in old_variants} != {v["VariantName"] for v in new_variants}:
        return True
    variants = [*old_variants, *new_variants]
    if any(str(v.get("InstanceType", "")).startswith("ml.inf1.") for v in variants):
        return True
    if rolling:
        serverless = any("ServerlessConfig" in v or "CurrentServerlessConfig" in v for v in variants)
        return serverless or len(old_variants) > 1 or len(new_variants) > 1
    return False


def _blue_green_stages(
    policy: Mapping[str, Any], new_variants: Sequence[Mapping[str, Any]], time_scale: float
) -> list[Stage]:
    # Without a policy (AutoRollbackConfiguration alone) SageMaker shifts all at once, no wait.
    routing = policy.get("TrafficRoutingConfiguration") or {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
    wait = float(routing.get("WaitIntervalInSeconds", 0))
    termination = float(policy.get("TerminationWaitInSeconds", 0))
    _check_timeout(policy, wait + termination)
    kind = routing.get("Type")
    # The share of traffic on the new fleet at each step before the last, which moves the rest.
    if kind == "ALL_AT_ONCE":
        shares = []
    elif kind == "CANARY":
        shares = [_fraction(routing, "CanarySize", new_variants, low=0.0, high=0.5)]
    elif kind == "LINEAR":
        step = _fraction(routing, "LinearStepSize", new_variants, low=0.1, high=0.5)
        shares = [i * step for i in range(1, math.ceil(1 / step))]
    else:
        raise ValueError(f"Unknown TrafficRoutingConfiguration Type {kind!r}.")
    stages = [
        Stage(
            "Baking", f"Baking with {share:.0%} of traffic on the new fleet.", wait * time_scale, baking=True
        )
        for share in shares
    ]
    final = Stage(
        "Baking",
        "Final baking period with all traffic on the new fleet.",
        termination * time_scale,
        baking=True,
    )
    return [*stages, final]


def _rolling_stages(
    policy: Mapping[str, Any], new_variants: Sequence[Mapping[str, Any]], time_scale: float
) -> list[Stage]:
    wait = float(policy.get("WaitIntervalInSeconds", 0))
    _check_timeout(policy, wait)
    batch = _fraction(policy, "MaximumBatchSize", new_variants, low=0.05, high=0.5)
    batches = math.ceil(1 / batch)
    return [
        Stage(
            "Baking",
            f"Baking after replacing batch {number} of {batches} of the old fleet.",
            wait * time_scale,
            baking=True,
        )
        for number in range(1, batches + 1)
    ]


def _check_timeout(policy: Mapping[str, Any], waits: float) -> None:
    timeout = policy.get("MaximumExecutionTimeoutInSeconds")
    if timeout is not None and timeout <= waits:
        raise ValueError(
            f"MaximumExecutionTimeoutInSeconds ({timeout}) must be larger than the total waiting time "
            f"({waits:g} seconds)."
        )


def _fraction(
    parent: Mapping[str, Any], key: str, new_variants: Sequence[Mapping[str, Any]], *, low: float, high: float
) -> float:
    """A CapacitySize as a fraction of the variants' capacity (of the largest, which takes the most
    steps), checked against [low, high] for each variant; never 0, a step of nothing never ends."""
    size = parent.get(key)
    if not size:
        raise ValueError(f"{key} is required for this deployment type.")
    value = size.get("Value", 0)
    if size.get("Type") == _PERCENT:
        fractions = [value / 100]
    elif size.get("Type") == _INSTANCES:
        counts = [v["InitialInstanceCount"] for v in new_variants if v.get("InitialInstanceCount")]
        if not counts:
            raise ValueError(f"{key} of type {_INSTANCES} needs instance-based variants.")
        fractions = [value / count for count in counts]
    else:
        raise ValueError(f"{key}.Type must be {_PERCENT} or {_INSTANCES}.")
    if any(f <= 0 or f < low or f > high for f in fractions):
        raise ValueError(
            f"{key} must be between {low:.0%} and {high:.0%} of each variant's capacity; got {value} "
            f"{'%' if size['Type'] == _PERCENT else 'instance(s)'}."
        )
    return min(fractions)
