"""Five-field cron expressions <-> the six-field `cron(...)` AWS takes (EventBridge Scheduler for
retraining schedules, SageMaker Model Monitor for monitoring schedules), both ways.

AWS cron differs from the five-field kind in four ways: a sixth field (the year); exactly one of
day-of-month and day-of-week is given and the other is `?`, where cron runs when either matches;
weekdays are numbered 1-7 from Sunday, where cron counts 0-6 (7 is Sunday again); and steps need
a start (`0/15`), where cron writes `*/15`. Weekdays are written as names here, which read the
same on both sides and in the console.

What each AWS service accepts beyond this is checked by its caller: Model Monitor, for one, runs
only hourly, daily or every N hours (`monitors_translate.model_monitor_schedule_problem`).

Pure: no I/O and no SDK import. The input is a cron `validate` has already parsed."""

from __future__ import annotations

import re
from typing import Literal

# Day-of-week names in cron's numbering (0 = Sunday); AWS numbers the same days 1-7.
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# (first, last) value of the minute, hour, day-of-month and month fields.
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12))
_NUMERIC = re.compile(r"^[0-9*,/-]+$")
_LAST_OR_WEEKDAY = re.compile(r"L|\d{1,2}W")

# The day field that takes AWS's `?` when the cron restricts neither.
QuestionMark = Literal["day_of_month", "day_of_week"]


class CronError(ValueError):
    """A five-field cron expression AWS cron cannot express."""


def to_aws(expression: str, *, question_mark: QuestionMark = "day_of_week") -> str:
    """`cron(min hour dom month dow *)` for a five-field cron expression.

    When neither day field is restricted either may carry the `?`: EventBridge takes both
    spellings, but SageMaker Model Monitor documents only `?` in day-of-month."""
    fields = expression.split()
    if len(fields) != 5:
        raise CronError(f"expected 5 fields, got {len(fields)}")
    minute, hour, dom, month, dow = ("*" if f == "?" else f for f in fields)
    if dom != "*" and dow != "*":
        # Cron runs when either field matches; AWS can only say one of them.
        raise CronError(
            "day-of-month and day-of-week are both restricted, which cron reads as either one; "
            "AWS cron takes only one of them: use two schedules, or drop one"
        )
    if dow != "*" or (dom == "*" and question_mark == "day_of_month"):
        days = "?"
    elif _LAST_OR_WEEKDAY.fullmatch(dom):  # `L` and `15W` mean the same on both sides
        days = dom
    else:
        days = _numeric(dom, "day-of-month", _RANGES[2])
    weekdays = _weekdays(dow) if days == "?" else "?"
    return (
        f"cron({_numeric(minute, 'minute', _RANGES[0])} {_numeric(hour, 'hour', _RANGES[1])} {days} "
        f"{_month(month)} {weekdays} *)"
    )


def _numeric(field: str, what: str, bounds: tuple[int, int]) -> str:
    if not _NUMERIC.match(field):
        raise CronError(f"the {what} field {field!r} cannot be expressed in AWS cron")
    return ",".join(_increment(part, what, bounds) for part in field.split(","))


def _increment(part: str, what: str, bounds: tuple[int, int]) -> str:
    first, last = bounds
    base, slash, step = part.partition("/")
    if not slash:
        return part
    if base == "*":
        return f"{first}/{step}"
    if "-" in base:
        low, _, high = base.partition("-")
        if not (low.isdigit() and high.isdigit() and step.isdigit()):
            raise CronError(f"the {what} field part {part!r} cannot be expressed in AWS cron")
        if int(high) == last:  # `a-<last>/n` is AWS's own `a/n`, which `from_aws` reads back as it
            return f"{low}/{step}"
        # Any other stepped range: spell the values out, which every cron dialect reads alike.
        return ",".join(str(v) for v in range(int(low), int(high) + 1, int(step)))
    return part


def _month(field: str) -> str:
    upper = field.upper()
    if re.fullmatch(r"[A-Z]{3}([,-][A-Z]{3})*", upper) and all(
        name in _MONTHS for name in re.split(r"[,-]", upper)
    ):
        return upper
    return _numeric(field, "month", _RANGES[3])


def _weekdays(field: str) -> str:
    """Day-of-week as AWS names: `1-5` -> `MON-FRI`, `0,6` -> `SUN,SAT`, `5#2` -> `FRI#2`."""
    upper = field.upper()
    if "#" in upper:  # the n-th weekday of the month: AWS allows a single one
        day, _, nth = upper.partition("#")
        if "," in upper or not nth.isdigit():
            raise CronError(f"the day-of-week field {field!r} cannot be expressed in AWS cron")
        return f"{_DAYS[_day(day, field) % 7]}#{nth}"
    days: set[int] = set()
    for part in upper.split(","):
        base, slash, step = part.partition("/")
        if slash and not step.isdigit():
            raise CronError(f"the day-of-week field {field!r} cannot be expressed in AWS cron")
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
    raise CronError(f"the day-of-week field {field!r} cannot be expressed in AWS cron")


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


def from_aws(expression: str) -> str | None:
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
        _from_increment(minute, _RANGES[0]),
        _from_increment(hour, _RANGES[1]),
        "*" if dom == "?" else _from_increment(dom, _RANGES[2]),
        _from_increment(month, _RANGES[3]),
        "*" if dow == "?" else _dow_from_aws(dow),
    ]
    return " ".join(out)


def _from_increment(field: str, bounds: tuple[int, int]) -> str:
    first, last = bounds

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
