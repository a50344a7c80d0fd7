"""Schedule triggers as Azure ML checks them: a Cron trigger's 5-field expression and a
Recurrence trigger's frequency/interval, each with a time zone given as a *Windows* time-zone name
("Romance Standard Time", "UTC"), as Azure expects; an IANA name ("Europe/Paris") is refused.

And the pipeline jobs a schedule's trigger, or anyone, submits (`PUT {ws}/jobs/{name}`, operation
`Jobs_CreateOrUpdate`): a new pipeline job runs as Azure ML runs one. Its status moves NotStarted
-> Running (after `operation_delay_seconds`) -> Completed (after as long again), as `ml.jobs.get`
and the run history (`Runs_Get`) show it. A `fail_async` rule matching the submission
(`{"operation": "Jobs_CreateOrUpdate"}`) lets it be accepted and makes the job end Failed instead,
with the rule's code and message as its run's error, as the run history holds it. A job PUT again
under its name is not run again (only its description, tags and display name change)."""

from __future__ import annotations

import functools
import re
import time
from typing import TYPE_CHECKING, Any

from .arm import State, bad_request, now_iso

if TYPE_CHECKING:
    from .arm_resources import Call, Reply

# (lowest, highest, names) of the five cron fields, in order.
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day of week", 0, 6, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
_FREQUENCIES = ("minute", "hour", "day", "week", "month")


@functools.cache
def windows_zones() -> frozenset[str]:
    """The Windows time-zone names (those .NET's TimeZoneInfo knows), from tzlocal's table."""
    from tzlocal.windows_tz import win_tz

    return frozenset({*win_tz, "UTC", "Coordinated Universal Time"})


def _value(text: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if text.upper() in names:
        return names.index(text.upper()) + (1 if low == 1 else 0)
    if not text.isdigit():
        raise ValueError(text)
    number = int(text)
    if number == 7 and high == 6:  # Sunday as 7
        return 0
    if not low <= number <= high:
        raise ValueError(text)
    return number


def check_cron(expression: Any) -> None:
    if not isinstance(expression, str) or not expression.strip():
        raise bad_request("A Cron trigger needs an expression.", target="trigger.expression")
    fields = expression.split()
    if len(fields) != 5:
        raise bad_request(
            f"Invalid cron expression '{expression}': Azure ML takes 5 fields (minute hour day-of-month "
            f"month day-of-week), not {len(fields)}.",
            target="trigger.expression",
        )
    for text, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        for part in text.split(","):
            match = re.fullmatch(r"(\*|[^-/]+(?:-[^-/]+)?)(?:/(\d+))?", part)
            try:
                if match is None or (match[2] is not None and int(match[2]) < 1):
                    raise ValueError(part)
                if match[1] != "*":
                    bounds = [_value(item, low, high, names) for item in match[1].split("-")]
                    if len(bounds) == 2 and bounds[0] > bounds[1]:
                        raise ValueError(part)
            except ValueError:
                raise bad_request(
                    f"Invalid cron expression '{expression}': '{part}' is not a valid {name} field "
                    f"({low}-{high}).",
                    target="trigger.expression",
                ) from None


def check_time_zone(zone: Any) -> None:
    if zone is None:
        return
    if not isinstance(zone, str) or zone not in windows_zones():
        hint = " (an IANA name: Azure ML takes Windows time-zone names)" if "/" in str(zone) else ""
        raise bad_request(
            f"Invalid time zone '{zone}'{hint}. Use a Windows time-zone name such as 'UTC', "
            "'Romance Standard Time' or 'Pacific Standard Time'.",
            target="trigger.timeZone",
        )


def check_trigger(trigger: Any) -> None:
    if not isinstance(trigger, dict):
        raise bad_request("A schedule needs a trigger.", target="trigger")
    kind = str(trigger.get("triggerType", ""))
    if kind == "Cron":
        check_cron(trigger.get("expression"))
    elif kind == "Recurrence":
        frequency = str(trigger.get("frequency", "")).lower()
        if frequency not in _FREQUENCIES:
            raise bad_request(
                f"Invalid recurrence frequency {trigger.get('frequency')!r}: one of Minute, Hour, Day, Week, "
                "Month.",
                target="trigger.frequency",
            )
        interval = trigger.get("interval")
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise bad_request(
                f"Invalid recurrence interval {interval!r}: at least 1.", target="trigger.interval"
            )
    else:
        raise bad_request(f"Unknown triggerType {kind!r}: Cron or Recurrence.", target="trigger.triggerType")
    check_time_zone(trigger.get("timeZone"))


def put_job(state: State, call: Call) -> Reply:
    """Submit a job; a new pipeline job then runs on the emulator's clock (see the docstring)."""
    # Imported here: `resources` (which `batch` imports) imports this module.
    from . import resources
    from .batch import JOB_EXTRA

    is_new = state.get(resources.job_id(call)) is None
    reply = resources.put_job(state, call)
    document = reply.body
    if not is_new or not isinstance(document, dict) or document["properties"].get("jobType") != "Pipeline":
        return reply
    steps = list(document["properties"].get("jobs") or {})
    state.extra[str(document["id"]).lower()] = {
        JOB_EXTRA: {
            "started": time.monotonic(),
            "delay": state.operation_delay,
            # A pipeline is queued for a while before its first step runs.
            "running_after": state.operation_delay,
            "done_after": 2 * state.operation_delay,
            "failure": call.async_failure(),
            "start_time": now_iso(),
            "component": steps[0] if steps else None,
        }
    }
    return reply
