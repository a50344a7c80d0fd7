"""Safe rollouts on SageMaker: an endpoint's `rollout:` as deployment guardrails on UpdateEndpoint.

A change that needs a new EndpointConfig is deployed blue/green: SageMaker brings up the new
fleet, then shifts traffic to it as the DeploymentConfig says (all at once, a canary then the
rest, or linear steps), bakes after each shift, and rolls back to the old fleet if one of the
named CloudWatch alarms goes to ALARM. Weight and instance-count changes go through
UpdateEndpointWeightsAndCapacities, which has no guardrails.

Where guardrails do not apply (`fallback_reason`), no DeploymentConfig is sent and the update
shifts all traffic at once; validate() warns, so the plan says so. SageMaker documents Marketplace
containers and Inf1 instances as falling back to all-at-once. Serverless and multi-variant
endpoints are documented as exclusions of rolling deployments only; no guardrails are sent for
them either, so that what the plan says is what happens, whatever SageMaker would make of them.
Marketplace containers cannot be written in a stack (models are an image and an artifact,
packages come from the account's own registry), so they need no check.

Pure: no I/O."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from mlops_gitops.errors import Diagnostic
from mlops_gitops.stack.schema import Rollout

# SageMaker's limits on a DeploymentConfig (API reference: TrafficRoutingConfig,
# BlueGreenUpdatePolicy, AutoRollbackConfig, CapacitySize).
_MAX_WAIT_SECONDS = 3600  # WaitIntervalInSeconds and TerminationWaitInSeconds
_MIN_TIMEOUT_SECONDS, _MAX_TIMEOUT_SECONDS = 600, 28800  # MaximumExecutionTimeoutInSeconds
_MAX_CANARY_PERCENT = 50  # the canary is at most half of the new fleet
_MIN_STEP_PERCENT, _MAX_STEP_PERCENT = 10, 50
_MAX_ALARMS = 10
# Added to the waits for the default timeout: the new fleet is provisioned before any shift.
_PROVISIONING_SECONDS = 3600
_TRAFFIC_TYPES = {"all_at_once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}


def attributes(
    spec: Rollout, variants: Sequence[Mapping[str, Any]], previous: Sequence[Mapping[str, Any]] | None
) -> dict[str, Any]:
    """The endpoint's `rollout` attribute: the stack's settings, plus `fallback` (why guardrails
    do not apply) when the next update from `previous` variants to `variants` cannot use them."""
    attrs = spec.model_dump(mode="json", exclude_none=True)
    reason = fallback_reason(variants, previous)
    if reason:
        attrs["fallback"] = reason
    return attrs


def fallback_reason(
    variants: Sequence[Mapping[str, Any]], previous: Sequence[Mapping[str, Any]] | None = None
) -> str | None:
    """Why an update to `variants` (variant attributes or specs as dicts) gets no deployment
    guardrails (see the module docstring), or None. `previous`: the variants deployed now, if
    known."""
    if len(variants) > 1:
        return f"the endpoint has {len(variants)} variants"
    for v in variants:
        if v.get("serverless"):
            return f"variant {v['name']} is serverless"
        if str(v.get("instance_type") or "").startswith("ml.inf1."):
            return f"variant {v['name']} runs on Inf1 instances ({v['instance_type']})"
    # Blue/green with guardrails keeps the variant: the new config must use the same name.
    new = sorted(v["name"] for v in variants)
    old = sorted(v["name"] for v in previous or [])
    if previous is not None and old != new:
        return f"the variant changes from {', '.join(old)} to {', '.join(new)}"
    return None


def guarded(attrs: Mapping[str, Any]) -> bool:
    """Whether the rollout asks for more than SageMaker's default (all at once, no alarms)."""
    return attrs.get("strategy") != "all_at_once" or bool(attrs.get("rollback_on"))


def _wait_seconds(attrs: Mapping[str, Any]) -> int:
    minutes = attrs.get("interval_minutes") if attrs.get("strategy") == "linear" else None
    return int(minutes if minutes is not None else attrs.get("bake_minutes", 0)) * 60


def _bakes(attrs: Mapping[str, Any]) -> int:
    """How many WaitIntervalInSeconds a rollout may wait, at most one per traffic shift (the
    timeout must cover them all)."""
    if attrs.get("strategy") == "canary":
        return 2
    if attrs.get("strategy") == "linear":
        return math.ceil(100 / int(attrs["step_percent"]))
    return 1


def total_wait_seconds(attrs: Mapping[str, Any]) -> int:
    return _bakes(attrs) * _wait_seconds(attrs) + int(attrs.get("termination_wait_minutes", 0)) * 60


def timeout_seconds(attrs: Mapping[str, Any]) -> int:
    if attrs.get("timeout_minutes") is not None:
        return int(attrs["timeout_minutes"]) * 60
    wanted = total_wait_seconds(attrs) + _PROVISIONING_SECONDS
    return max(_MIN_TIMEOUT_SECONDS, min(_MAX_TIMEOUT_SECONDS, wanted))


def deployment_config(attrs: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """UpdateEndpoint's DeploymentConfig for the `rollout` attribute, or None to let SageMaker
    shift all traffic at once (no rollout, or guardrails do not apply)."""
    if not attrs or attrs.get("fallback"):
        return None
    routing: dict[str, Any] = {
        "Type": _TRAFFIC_TYPES[attrs["strategy"]],
        "WaitIntervalInSeconds": _wait_seconds(attrs),
    }
    if attrs["strategy"] == "canary":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": int(attrs["canary_percent"])}
    elif attrs["strategy"] == "linear":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": int(attrs["step_percent"])}
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": int(attrs.get("termination_wait_minutes", 0)) * 60,
            "MaximumExecutionTimeoutInSeconds": timeout_seconds(attrs),
        }
    }
    if attrs.get("rollback_on"):
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in attrs["rollback_on"]]}
    return config


def alarm_names(deployment: Mapping[str, Any] | None) -> list[str]:
    alarms = (deployment or {}).get("AutoRollbackConfiguration", {}).get("Alarms", [])
    return [a["AlarmName"] for a in alarms]


def alarms_named(reason: str, alarms: Sequence[str]) -> list[str]:
    """The alarms of `alarms` that a FailureReason names (whole names: `p99` is not
    `p99-latency`)."""
    return [a for a in alarms if re.search(rf"(?<![\w.-]){re.escape(a)}(?![\w.-])", reason)]


def describe(attrs: Mapping[str, Any]) -> str:
    """One line for the plan: how the next new endpoint configuration will roll out."""
    if attrs.get("fallback"):
        return f"all traffic at once: deployment guardrails do not apply ({attrs['fallback']})"
    bake = _wait_seconds(attrs) // 60
    if attrs["strategy"] == "canary":
        text = f"canary: {attrs['canary_percent']}% of capacity, bake {bake} min, then the rest"
    elif attrs["strategy"] == "linear":
        step = attrs["step_percent"]
        text = f"linear: {step}% of capacity at a time, {bake} min apart ({_bakes(attrs)} steps)"
    else:
        text = f"all at once, bake {bake} min"
    if attrs.get("termination_wait_minutes"):
        text += f", old fleet kept {attrs['termination_wait_minutes']} min"
    if attrs.get("rollback_on"):
        text += f"; rolls back if {_alarm_list(attrs['rollback_on'])} goes to ALARM"
    return text


def _alarm_list(alarms: Sequence[str]) -> str:
    names = ", ".join(alarms)
    return f"alarm {names}" if len(alarms) == 1 else f"any of the alarms {names}"


def problems(spec: Rollout) -> list[Diagnostic]:
    """What SageMaker would refuse in `spec`; paths are relative to the endpoint."""
    attrs = spec.model_dump(mode="json", exclude_none=True)
    out = []
    wait_field = "interval_minutes" if spec.strategy == "linear" and spec.interval_minutes else "bake_minutes"
    if _wait_seconds(attrs) > _MAX_WAIT_SECONDS:
        out.append(
            _problem(f"SageMaker bakes at most {_MAX_WAIT_SECONDS // 60} minutes per step", wait_field)
        )
    if spec.termination_wait_minutes * 60 > _MAX_WAIT_SECONDS:
        out.append(
            _problem(
                f"SageMaker keeps the old fleet at most {_MAX_WAIT_SECONDS // 60} minutes",
                "termination_wait_minutes",
            )
        )
    if spec.canary_percent is not None and spec.canary_percent > _MAX_CANARY_PERCENT:
        out.append(
            _problem(f"a SageMaker canary is at most {_MAX_CANARY_PERCENT}% of capacity", "canary_percent")
        )
    if spec.step_percent is not None and not _MIN_STEP_PERCENT <= spec.step_percent <= _MAX_STEP_PERCENT:
        out.append(
            _problem(
                f"SageMaker's linear steps are {_MIN_STEP_PERCENT}% to {_MAX_STEP_PERCENT}% of capacity",
                "step_percent",
            )
        )
    if len(spec.rollback_on) > _MAX_ALARMS:
        out.append(_problem(f"SageMaker watches at most {_MAX_ALARMS} alarms", "rollback_on"))
    waits = total_wait_seconds(attrs)
    if spec.timeout_minutes is not None:
        low, high = _MIN_TIMEOUT_SECONDS // 60, _MAX_TIMEOUT_SECONDS // 60
        if not low <= spec.timeout_minutes <= high:
            out.append(_problem(f"SageMaker takes a timeout of {low} to {high} minutes", "timeout_minutes"))
        elif spec.timeout_minutes * 60 <= waits:
            out.append(
                _problem(
                    f"the rollout waits {waits // 60} minutes in all: the timeout must be longer",
                    "timeout_minutes",
                )
            )
    elif waits >= _MAX_TIMEOUT_SECONDS:
        out.append(
            _problem(
                f"the rollout waits {waits // 60} minutes in all, beyond SageMaker's "
                f"{_MAX_TIMEOUT_SECONDS // 3600}-hour limit on an update",
                "",
            )
        )
    return out


def _problem(message: str, field: str) -> Diagnostic:
    return Diagnostic(message, f"rollout.{field}" if field else "rollout")


def fallback_warning(reason: str) -> Diagnostic:
    return Diagnostic(
        f"deployment guardrails do not apply here ({reason}): updates shift all traffic at once, "
        "with no canary or linear steps, bake or alarm rollback",
        "rollout",
        severity="warning",
    )
