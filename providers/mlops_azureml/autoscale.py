"""Autoscaling of Azure ML deployments: an Azure Monitor autoscale setting per deployment.

Azure ML managed online deployments have a fixed instance count of their own; autoscaling is an
Azure Monitor autoscale setting (`Microsoft.Insights/autoscalesettings`, named
`<endpoint>-<deployment>-autoscale`) whose target is the deployment's ARM id. Its one profile
holds the stack's `autoscaling` as:

- capacity: minimum `min`, maximum `max`, default `min`;
- scale out by one instance when the deployment's `RequestsPerMinute` per instance (averaged over
  5 minutes) goes above `target_invocations_per_instance`, then wait `scale_out_cooldown`;
- scale in by one when it falls below half of it, then wait `scale_in_cooldown` (half, so that a
  load right at the target does not flap between two counts).

Azure Monitor counts cooldowns in whole minutes, from 1 minute to 1 week: validate refuses others.
The instance count the setting drives is the autoscaler's: never drift (see `endpoints`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

METRIC = "RequestsPerMinute"
MIN_COOLDOWN, MAX_COOLDOWN = 60, 7 * 24 * 3600
SCALE_IN_RATIO = 0.5
PROFILE = "mlops-gitops"
_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")


def cooldown_problem(seconds: int) -> str | None:
    if seconds < MIN_COOLDOWN or seconds > MAX_COOLDOWN:
        return "Azure Monitor autoscale cooldowns last from 60 seconds to a week"
    if seconds % 60:
        return f"Azure Monitor autoscale counts cooldowns in whole minutes: give {seconds // 60 * 60 or 60}"
    return None


def duration(seconds: int) -> str:
    """ISO 8601, as Azure Monitor writes durations: PT5M."""
    return f"PT{seconds // 60}M"


def seconds(text: str) -> int:
    m = _DURATION.match(text or "")
    if not m:
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    h, mi, s = (int(g) if g else 0 for g in m.groups())
    return h * 3600 + mi * 60 + s


def setting_entity(scaling: Mapping[str, Any], target: str, location: str, tags: Mapping[str, str]) -> Any:
    """The AutoscaleSettingResource for a deployment (ARM id `target`)."""
    from azure.mgmt.monitor import models as m

    per_instance = float(scaling["target_invocations_per_instance"])

    def rule(operator: str, threshold: float, direction: str, cooldown: int) -> Any:
        return m.ScaleRule(
            metric_trigger=m.MetricTrigger(
                metric_name=METRIC,
                metric_resource_uri=target,
                time_grain="PT1M",
                statistic="Average",
                time_window="PT5M",
                time_aggregation="Average",
                operator=operator,
                threshold=threshold,
                divide_per_instance=True,
            ),
            scale_action=m.ScaleAction(
                direction=direction, type="ChangeCount", value="1", cooldown=duration(cooldown)
            ),
        )

    profile = m.AutoscaleProfile(
        name=PROFILE,
        capacity=m.ScaleCapacity(
            minimum=str(scaling["min"]), maximum=str(scaling["max"]), default=str(scaling["min"])
        ),
        rules=[
            rule("GreaterThan", per_instance, "Increase", int(scaling["scale_out_cooldown"])),
            rule("LessThan", per_instance * SCALE_IN_RATIO, "Decrease", int(scaling["scale_in_cooldown"])),
        ],
    )
    return m.AutoscaleSettingResource(
        location=location,
        profiles=[profile],
        enabled=True,
        target_resource_uri=target,
        tags=dict(tags),
    )


def scaling_from_api(setting: Any) -> dict[str, Any] | None:
    """The stack's `autoscaling` fields of a setting as read; None if it is not one of ours
    (another profile shape, disabled)."""
    if setting is None or not getattr(setting, "enabled", True) or not setting.profiles:
        return None
    profile = setting.profiles[0]
    out: dict[str, Any] = {"min": int(profile.capacity.minimum), "max": int(profile.capacity.maximum)}
    for rule in profile.rules or []:
        trigger, action = rule.metric_trigger, rule.scale_action
        direction = str(getattr(action.direction, "value", action.direction))
        if direction == "Increase":
            out["target_invocations_per_instance"] = round(trigger.threshold)
            out["scale_out_cooldown"] = seconds(_iso(action.cooldown))
        elif direction == "Decrease":
            out["scale_in_cooldown"] = seconds(_iso(action.cooldown))
    return out


def _iso(value: Any) -> str:
    """Azure's models deserialise durations to `timedelta`; ours are strings."""
    if hasattr(value, "total_seconds"):
        return f"PT{int(value.total_seconds())}S"
    return str(value)
