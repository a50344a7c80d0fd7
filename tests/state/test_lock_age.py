"""How old a lock is, in the message that refuses a second command."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from mlops_gitops.errors import LockInfo
from mlops_gitops.state.backend import locked_message

RunChild = Callable[..., subprocess.CompletedProcess[str]]
NOW = datetime(2026, 12, 3, 14, 13, 30, tzinfo=UTC)


def _lock(created: str, host: str = "ci-runner-7", pid: int = 4242) -> LockInfo:
    return LockInfo("id-1", f"bob@{host}", "apply", created, pid, host)


@pytest.mark.parametrize(
    ("created", "age"),
    [
        ("2026-12-03T14:01:00Z", "12 minutes ago"),
        ("2026-12-03T14:12:30Z", "1 minute ago"),
        ("2026-12-03T12:00:00Z", "2 hours ago"),  # 2 h 13 min: to the whole hour
        ("2026-12-03T12:30:00Z", "103 minutes ago"),  # under two hours: minutes say more
        ("2026-12-01T14:00:00Z", "2 days ago"),
        ("2026-11-25T10:00:00Z", "8 days ago"),
    ],
)
def test_the_age_follows_the_timestamp(created: str, age: str) -> None:
    assert f"since {created}, {age}; lock ID id-1; " in locked_message(_lock(created), NOW)


@pytest.mark.parametrize(
    "created",
    [
        "2026-12-03T14:13:00Z",  # under a minute: the timestamp says enough
        "2026-12-03T14:20:00Z",  # ahead of this clock: the holder's clock runs fast
        "yesterday",  # not a time this clock can place
    ],
)
def test_no_age_when_it_would_not_help(created: str) -> None:
    assert f"since {created}; lock ID id-1; " in locked_message(_lock(created), NOW)


def test_a_lock_from_another_host_gets_its_age_and_no_stale_guess() -> None:
    message = locked_message(_lock("2026-12-03T14:01:00Z"), NOW)
    assert message == (
        "state is locked by bob@ci-runner-7 (pid 4242) for apply since 2026-12-03T14:01:00Z, "
        "12 minutes ago; lock ID id-1; if that process is gone, run: mlops force-unlock id-1"
    )


def test_a_stale_lock_on_this_host_gets_its_age_too(run_child: RunChild) -> None:
    pid = int(run_child("import os; print(os.getpid())").stdout)  # a process that has exited
    message = locked_message(_lock("2026-12-03T13:01:00Z", socket.gethostname(), pid), NOW)
    assert "since 2026-12-03T13:01:00Z, 72 minutes ago; lock ID id-1; " in message
    assert f"the lock looks stale: process {pid} is no longer running on {socket.gethostname()}" in message


def test_the_age_is_measured_against_the_clock_by_default() -> None:
    info = _lock("2000-01-01T00:00:00Z", socket.gethostname(), os.getpid())
    assert re.search(r"since 2000-01-01T00:00:00Z, \d{4,} days ago; lock ID id-1; ", locked_message(info))
