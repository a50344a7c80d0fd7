"""Five-field cron expressions in an IANA time zone, whatever the cloud: the checks `validate`
makes, the next run times and the plan note that shows them. What a cloud can express of a cron
is that provider's business (e.g. `mlops_sagemaker.aws_cron`).

croniter costs ~25 ms to import: it is imported inside the functions that need it, so only a
stack that holds a cron (or a plan that shows one) pays for it, and `mlops --help` never does."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime

from mlops_gitops.stack.suggest import did_you_mean

FIELDS = "minute hour day-of-month month day-of-week"
_SHOWN = "%Y-%m-%d %H:%M"


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not a five-field cron expression, or None if it is one."""
    fields = expression.split()
    if len(fields) != 5:
        return f"invalid cron expression {expression!r}: expected 5 fields ({FIELDS}), got {len(fields)}"
    from croniter import CroniterError, croniter

    try:
        croniter(expression)
    except CroniterError as exc:
        # croniter prefixes its messages with the class and the expression, which we say already.
        detail = re.sub(r"^\[.*?\]\s*(is not acceptable,?\s*)?", "", str(exc))
        return f"invalid cron expression {expression!r}" + (f": {detail}" if detail else "")
    return None


def timezone_problem(name: str) -> str | None:
    """Why `name` is not an IANA time zone, or None if it is one."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {name!r}{did_you_mean(name, zoneinfo.available_timezones())}"
    return None


def next_runs(cron: str, timezone: str, now: datetime, count: int = 3) -> list[datetime]:
    """The next `count` run times after `now`, in `timezone` (croniter handles daylight saving:
    a run at 03:00 stays at 03:00 local time)."""
    from croniter import croniter

    it = croniter(cron, now.astimezone(zoneinfo.ZoneInfo(timezone)))
    return [it.get_next(datetime) for _ in range(count)]


def next_runs_note(cron: str, timezone: str, now: datetime | None = None, count: int = 3) -> str:
    """The plan note for a schedule: `next runs (Europe/Paris): 2026-11-30 03:00, ...`."""
    runs = next_runs(cron, timezone, now or datetime.now(UTC), count)
    return f"next runs ({timezone}): " + ", ".join(run.strftime(_SHOWN) for run in runs)
