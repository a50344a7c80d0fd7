"""Cloud-neutral cron: the checks `validate` makes, next run times and the plan note."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from mlops_gitops.cron import cron_problem, next_runs, next_runs_note, timezone_problem


@pytest.mark.parametrize("cron", ["0 3 * * 1", "*/15 * * * *", "0 9 * * 5#2", "0 0 L * *", "0 3 ? * mon-fri"])
def test_five_field_crons_pass(cron: str) -> None:
    assert cron_problem(cron) is None


@pytest.mark.parametrize(
    ("cron", "problem"),
    [
        (
            "0 0 3 * * 1",
            "invalid cron expression '0 0 3 * * 1': expected 5 fields "
            "(minute hour day-of-month month day-of-week), got 6",
        ),
        ("0 25 * * *", "invalid cron expression '0 25 * * *': out of range"),
        ("0 3 * * funday", "invalid cron expression '0 3 * * funday'"),
    ],
)
def test_what_is_not_a_five_field_cron_is_said(cron: str, problem: str) -> None:
    assert str(cron_problem(cron)).startswith(problem)


def test_time_zones_are_iana_names() -> None:
    assert timezone_problem("Europe/Paris") is None
    assert timezone_problem("UTC") is None
    assert timezone_problem("Mars/Olympus") == "unknown time zone 'Mars/Olympus'"
    assert timezone_problem("Europe/Pari") == "unknown time zone 'Europe/Pari' (did you mean 'Europe/Paris'?)"


def test_next_runs_are_in_the_schedules_time_zone_across_daylight_saving() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    runs = next_runs("0 3 * * 1", "Europe/Paris", now)
    assert [r.strftime("%Y-%m-%d %H:%M") for r in runs] == [
        "2026-11-30 03:00",
        "2026-12-07 03:00",
        "2026-12-14 03:00",
    ]
    # Summer time starts on 2026-03-29: the runs stay at 03:00 local, an hour apart in UTC.
    spring = next_runs("0 3 * * 1", "Europe/Paris", datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    assert [r.isoformat() for r in spring] == [
        "2026-03-23T03:00:00+01:00",
        "2026-03-30T03:00:00+02:00",
        "2026-04-06T03:00:00+02:00",
    ]
    assert [r.astimezone(UTC).hour for r in spring] == [2, 1, 1]


def test_the_plan_note_shows_the_next_runs_in_local_time() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert next_runs_note("30 4 * * 2-4", "America/New_York", now) == (
        "next runs (America/New_York): 2026-11-26 04:30, 2026-12-01 04:30, 2026-12-02 04:30"
    )
    two = next_runs_note("0 0 1 * *", "UTC", now, count=2)
    assert two == "next runs (UTC): 2026-12-01 00:00, 2027-01-01 00:00"


def test_importing_the_module_does_not_import_croniter() -> None:
    probe = "import sys, mlops_gitops.cron; print('croniter' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"
