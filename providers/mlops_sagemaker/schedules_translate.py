"""Pure translation for retraining schedules on SageMaker: pipeline definitions to the attributes
the plan shows, and the Scheduler / EventBridge payloads (the cron conversion is `aws_cron`'s).

No I/O and no SDK import."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from mlops_sagemaker import aws_cron

SCHEDULE_GROUP = "default"
TARGET_ID = "pipeline"  # the id of the rule's one target
ALARM_PATTERN_SOURCE = "aws.cloudwatch"
ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"
RULE_SUFFIX = "-on-alarm"
PARAMETER_TYPES = ("String", "Integer", "Float", "Boolean")

_INTEGER = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_PIPELINE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]*:\d{12}:pipeline/(.+)$")


# ---------------------------------------------------------------------------- pipeline definition
def canonical(body: Any) -> str:
    """One text per JSON value, whatever the file's formatting or key order."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def definition_attributes(body: Any) -> dict[str, Any]:
    """What the plan diffs for a definition: a digest of the whole, and one short digest per
    top-level step, so a change reads as `definition.steps.Train` rather than a JSON diff."""
    steps = body.get("Steps") if isinstance(body, Mapping) else None
    return {
        "sha256": hashlib.sha256(canonical(body).encode()).hexdigest(),
        "steps": {
            step["Name"]: hashlib.sha256(canonical(step).encode()).hexdigest()[:12]
            for step in (steps if isinstance(steps, list) else [])
            if isinstance(step, Mapping) and isinstance(step.get("Name"), str)
        },
    }


def declared_parameters(body: Any) -> dict[str, str]:
    """Parameter name -> type (String when unsaid) as the definition's `Parameters` declare them."""
    params = body.get("Parameters") if isinstance(body, Mapping) else None
    return {
        p["Name"]: str(p.get("Type", "String"))
        for p in (params if isinstance(params, list) else [])
        if isinstance(p, Mapping) and isinstance(p.get("Name"), str)
    }


def parameter_value(value: Any) -> str:
    """The string a pipeline parameter is started with (the API takes strings only)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parameter_problem(value: Any, declared_type: str) -> str | None:
    """Why `value` cannot be passed to a parameter of `declared_type`, or None."""
    if not isinstance(value, str | int | float | bool):
        return "must be a string, number or boolean"
    text = parameter_value(value)
    if declared_type == "Integer":
        ok = not isinstance(value, bool) and _INTEGER.fullmatch(text) is not None
    elif declared_type == "Float":
        ok = not isinstance(value, bool) and _FLOAT.fullmatch(text) is not None
    elif declared_type == "Boolean":
        ok = text.lower() in ("true", "false")
    else:
        ok = True
    return None if ok else f"the pipeline declares it {declared_type}; got {value!r}"


def parameters_from_aws(items: list[Mapping[str, str]]) -> dict[str, str]:
    return {p["Name"]: p["Value"] for p in items}


def pipeline_name_from_arn(arn: str) -> str | None:
    m = _PIPELINE_ARN.match(arn)
    return m.group(1) if m else None


# ------------------------------------------------------------------------------------- triggers
def state(enabled: bool) -> str:
    return "ENABLED" if enabled else "DISABLED"


def rule_name(name: str) -> str:
    return f"{name}{RULE_SUFFIX}"


def pipeline_target(pipeline_arn: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The target both triggers share: start `pipeline_arn` with the resource's parameters."""
    target: dict[str, Any] = {"Arn": pipeline_arn, "RoleArn": attrs["scheduler_role_arn"]}
    if attrs["parameters"]:
        target["SageMakerPipelineParameters"] = {
            "PipelineParameterList": [{"Name": k, "Value": v} for k, v in attrs["parameters"].items()]
        }
    return target


def schedule_request(attrs: Mapping[str, Any], pipeline_arn: str) -> dict[str, Any]:
    """CreateSchedule / UpdateSchedule (an update replaces every field, so both send it all)."""
    return {
        "Name": attrs["name"],
        "GroupName": SCHEDULE_GROUP,
        "ScheduleExpression": aws_cron.to_aws(attrs["cron"]),
        "ScheduleExpressionTimezone": attrs["timezone"],
        "State": state(attrs["enabled"]),
        # Retraining has no reason to be spread out in time: start at the time the cron says.
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": pipeline_target(pipeline_arn, attrs),
    }


def alarm_event_pattern(alarm_arns: list[str]) -> dict[str, Any]:
    """EventBridge pattern for "one of these CloudWatch alarms went into ALARM"."""
    return {
        "source": [ALARM_PATTERN_SOURCE],
        "detail-type": [ALARM_DETAIL_TYPE],
        "resources": sorted(alarm_arns),
        "detail": {"state": {"value": ["ALARM"]}},
    }


def rule_request(attrs: Mapping[str, Any], tags: list[dict[str, str]]) -> dict[str, Any]:
    monitors = ", ".join(f"monitor.{m}" for m in attrs["also_on"])
    return {
        "Name": attrs["rule_name"],
        "EventPattern": json.dumps(alarm_event_pattern(list(attrs["also_on"].values()))),
        "State": state(attrs["enabled"]),
        "Description": f"Starts SageMaker pipeline {attrs['pipeline_name']} on ALARM of {monitors}",
        "Tags": tags,
    }


def alarm_arns(event_pattern: str) -> list[str]:
    """The alarm ARNs a rule's pattern matches; [] if it is not an alarm pattern of ours."""
    try:
        pattern = json.loads(event_pattern)
    except ValueError:
        return []
    resources = pattern.get("resources") if isinstance(pattern, dict) else None
    return sorted(r for r in resources or [] if isinstance(r, str))


def also_on_from_aws(arns: list[str], prior: Mapping[str, str]) -> dict[str, str]:
    """monitor -> alarm ARN. The cloud knows only ARNs, so monitor names come from `prior`; an
    alarm nobody here named (a console edit) is keyed by the alarm's own name."""
    by_arn = {arn: monitor for monitor, arn in prior.items()}
    return {by_arn.get(arn, arn.rsplit(":", 1)[-1]): arn for arn in arns}
