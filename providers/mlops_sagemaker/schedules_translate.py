"""Pure translation for retraining schedules on SageMaker: five-field cron to EventBridge
Scheduler's six-field cron and back, pipeline definitions to the attributes the plan shows, and
the Scheduler / EventBridge payloads.

No I/O and no SDK import; croniter is imported only where run times are computed."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

SCHEDULE_GROUP = "default"
TARGET_ID = "pipeline"  # the id of the rule's one target
ALARM_PATTERN_SOURCE = "aws.cloudwatch"
ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"
RULE_SUFFIX = "-on-alarm"
PARAMETER_TYPES = ("String", "Integer", "Float", "Boolean")

# Day-of-week names in cron's numbering (0 = Sunday); AWS numbers the same days 1-7.
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_NUMERIC = re.compile(r"^[0-9*,/-]+$")
_LAST_OR_WEEKDAY = re.compile(r"L|\d{1,2}W")
_INTEGER = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_PIPELINE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]*:\d{12}:pipeline/(.+)$")


class CronError(ValueError):
    """A cron expression EventBridge Scheduler cannot express."""


# ---------------------------------------------------------------------------------------- cron
def aws_cron(expression: str) -> str:
    """`cron(min hour dom month dow year)` for a five-field cron expression (already parsed by
    croniter at validate time). AWS wants exactly one of day-of-month and day-of-week given and
    the other `?`, numbers its weekdays 1-7 from Sunday, and has no `*/n`: days are written as
    names and increments with an explicit start, so the result reads the same in the console."""
    fields = expression.split()
    if len(fields) != 5:
        raise CronError(f"expected 5 fields, got {len(fields)}")
    minute, hour, dom, month, dow = ("*" if f == "?" else f for f in fields)
    if dom != "*" and dow != "*":
        # Cron runs when either field matches; AWS can only say one of them.
        raise CronError(
            "day-of-month and day-of-week are both restricted, which cron reads as either one; "
            "EventBridge Scheduler takes only one of them: use two schedules, or drop one"
        )
    if dow != "*":
        days = "?"
    elif _LAST_OR_WEEKDAY.fullmatch(dom):  # `L` and `15W` mean the same on both sides
        days = dom
    else:
        days = _numeric(dom, "day-of-month", first=1)
    weekdays = _weekdays(dow) if dow != "*" else "?"
    return (
        f"cron({_numeric(minute, 'minute', first=0)} {_numeric(hour, 'hour', first=0)} {days} "
        f"{_month(month)} {weekdays} *)"
    )


def _numeric(field: str, what: str, *, first: int) -> str:
    if not _NUMERIC.match(field):
        raise CronError(f"the {what} field {field!r} cannot be expressed on EventBridge Scheduler")
    return ",".join(_increment(part, first, what) for part in field.split(","))


def _increment(part: str, first: int, what: str) -> str:
    base, slash, step = part.partition("/")
    if not slash:
        return part
    if base == "*":
        return f"{first}/{step}"
    if "-" in base:  # a stepped range: spell the values out, which every cron dialect reads alike
        low, _, high = base.partition("-")
        if not (low.isdigit() and high.isdigit() and step.isdigit()):
            raise CronError(f"the {what} field part {part!r} cannot be expressed on EventBridge Scheduler")
        return ",".join(str(v) for v in range(int(low), int(high) + 1, int(step)))
    return part


def _month(field: str) -> str:
    upper = field.upper()
    if re.fullmatch(r"[A-Z]{3}([,-][A-Z]{3})*", upper) and all(
        name in _MONTHS for name in re.split(r"[,-]", upper)
    ):
        return upper
    return _numeric(field, "month", first=1)


def _weekdays(field: str) -> str:
    """Day-of-week as AWS names: `1-5` -> `MON-FRI`, `0,6` -> `SUN,SAT`, `5#2` -> `FRI#2`."""
    upper = field.upper()
    if "#" in upper:  # the n-th weekday of the month: AWS allows a single one
        day, _, nth = upper.partition("#")
        if "," in upper or not nth.isdigit():
            raise CronError(f"the day-of-week field {field!r} cannot be expressed on EventBridge Scheduler")
        return f"{_DAYS[_day(day, field) % 7]}#{nth}"
    days: set[int] = set()
    for part in upper.split(","):
        base, slash, step = part.partition("/")
        if slash and not step.isdigit():
            raise CronError(f"the day-of-week field {field!r} cannot be expressed on EventBridge Scheduler")
        if base == "*":
            low, high = 0, 6
        elif "-" in base:
            a, _, b = base.partition("-")
            low, high = _day(a, field), _day(b, field)
        else:
            low = _day(base, field)
            high = 6 if slash else low  # `n/step` runs from n to the end of the week
        if low > high:
            raise CronError(f"the day-of-week range {part!r} runs backwards")
        days.update(d % 7 for d in range(low, high + 1, int(step) if slash else 1))  # 7 is Sunday too
    return _day_list(sorted(days))


def _day(token: str, field: str) -> int:
    """Cron's number for a day name or number (0-7: Sunday is both 0 and 7)."""
    if token in _DAYS:
        return _DAYS.index(token)
    if token.isdigit() and int(token) <= 7:
        return int(token)
    raise CronError(f"the day-of-week field {field!r} cannot be expressed on EventBridge Scheduler")


def _day_list(days: list[int]) -> str:
    """Names, with runs of three or more days as ranges (AWS orders SUN..SAT, as cron does)."""
    if len(days) == 7:
        return "*"
    out: list[str] = []
    i = 0
    while i < len(days):
        j = i
        while j + 1 < len(days) and days[j + 1] == days[j] + 1:
            j += 1
        if j - i >= 2:
            out.append(f"{_DAYS[days[i]]}-{_DAYS[days[j]]}")
        else:
            out.extend(_DAYS[d] for d in days[i : j + 1])
        i = j + 1
    return ",".join(out)


def cron_from_aws(expression: str) -> str | None:
    """The five-field cron for an AWS `cron(...)` expression, or None when it has no such
    equivalent (a `rate(...)`/`at(...)` expression, a year, or a last-weekday `L`)."""
    m = re.fullmatch(r"cron\((.*)\)", expression.strip())
    if not m:
        return None
    fields = m.group(1).split()
    if len(fields) != 6 or fields[5] != "*":
        return None
    minute, hour, dom, month, dow, _ = fields
    if "L" in dow.upper():
        return None
    out = [
        _from_increment(minute, 0, 59),
        _from_increment(hour, 0, 23),
        "*" if dom == "?" else _from_increment(dom, 1, 31),
        _from_increment(month, 1, 12),
        "*" if dow == "?" else _dow_from_aws(dow),
    ]
    return " ".join(out)


def _from_increment(field: str, first: int, last: int) -> str:
    def one(part: str) -> str:
        base, slash, step = part.partition("/")
        if not slash or base == "*" or "-" in base:
            return part
        return f"*/{step}" if base == str(first) else f"{base}-{last}/{step}"

    return ",".join(one(p) for p in field.split(","))


def _dow_from_aws(field: str) -> str:
    # AWS numbers Sunday 1; cron numbers it 0. Names mean the same day in both. Only day numbers
    # move: not the n of `FRI#2`, nor a step.
    def one(part: str) -> str:
        days = part.split("#")[0].split("/")[0]
        return re.sub(r"\d+", lambda m: str((int(m.group()) - 1) % 7), days) + part[len(days) :]

    return ",".join(one(p) for p in field.upper().split(","))


def next_runs(cron: str, timezone: str, now: datetime, count: int = 3) -> list[datetime]:
    """The next `count` run times after `now`, in `timezone` (DST handled by croniter)."""
    import zoneinfo

    # croniter costs ~25 ms to import: only plans that show a schedule pay for it.
    from croniter import croniter

    it = croniter(cron, now.astimezone(zoneinfo.ZoneInfo(timezone)))
    return [it.get_next(datetime) for _ in range(count)]


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
        "ScheduleExpression": aws_cron(attrs["cron"]),
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
