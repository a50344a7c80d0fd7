"""The state lock: refusal with the holder's details, unlock, force-unlock, staleness, and
exclusion between processes."""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlops_gitops.errors import LockedError, LockInfo, StateError
from mlops_gitops.state.backend import lock_from_json, lock_to_json, locked_message
from mlops_gitops.state.local import LocalBackend

RunChild = Callable[..., subprocess.CompletedProcess[str]]

# Takes the lock and exits without releasing it: a command that crashed mid-apply.
HOLD_AND_EXIT = """
import json, sys
from pathlib import Path
from mlops_gitops.state.local import LocalBackend
info = LocalBackend(Path(sys.argv[1])).lock("apply")
print(json.dumps({"id": info.id, "pid": info.pid}))
"""

# Tries to take the lock once; with extra arguments, first signals it is ready and waits for
# the go file, so that several copies try at the same moment.
TRY_LOCK = """
import json, sys, time
from pathlib import Path
from mlops_gitops.errors import LockedError
from mlops_gitops.state.local import LocalBackend
backend = LocalBackend(Path(sys.argv[1]))
if len(sys.argv) > 2:
    Path(sys.argv[2]).touch()
    while not Path(sys.argv[3]).exists():
        time.sleep(0.001)
started = time.monotonic()
try:
    result = {"won": True, "id": backend.lock("apply").id}
except LockedError as err:
    result = {"won": False, "id": err.info.id, "message": str(err)}
result["seconds"] = time.monotonic() - started
print(json.dumps(result))
"""


def test_lock_writes_who_what_and_when(backend: LocalBackend) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    info = backend.lock("apply")
    host = socket.gethostname()
    assert uuid.UUID(info.id).version == 4
    assert info.who == f"{getpass.getuser()}@{host}"
    assert (info.operation, info.pid, info.host) == ("apply", os.getpid(), host)
    created = datetime.strptime(info.created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=1)
    assert backend.lock_path.is_file()
    assert lock_from_json(backend.lock_path.read_bytes()) == info
    assert backend.lock_info() == info


def test_a_second_lock_is_refused_naming_the_holder(backend: LocalBackend) -> None:
    held = backend.lock("apply")
    with pytest.raises(LockedError) as caught:
        backend.lock("plan")
    assert caught.value.info == held
    assert str(caught.value) == (
        f"state is locked by {held.who} (pid {held.pid}) for apply since {held.created}; "
        f"lock ID {held.id}; if that process is gone, run: mlops force-unlock {held.id}"
    )
    assert backend.lock_info() == held


def test_unlock_releases_the_lock(backend: LocalBackend) -> None:
    info = backend.lock("apply")
    backend.unlock(info.id)
    assert not backend.lock_path.exists()
    assert backend.lock_info() is None
    again = backend.lock("apply")
    assert again.id != info.id


def test_unlock_with_another_id_keeps_the_lock(backend: LocalBackend) -> None:
    info = backend.lock("apply")
    with pytest.raises(StateError, match=f"state is now locked by .*lock ID {info.id}"):
        backend.unlock("not-my-lock")
    assert backend.lock_info() == info


def test_unlock_of_a_lock_someone_removed_is_reported(backend: LocalBackend) -> None:
    info = backend.lock("apply")
    backend.force_unlock(info.id)
    with pytest.raises(StateError, match=f"lock {info.id} was no longer held .* force-unlocked it"):
        backend.unlock(info.id)


def test_force_unlock_refuses_an_id_that_is_not_the_current_lock(backend: LocalBackend) -> None:
    info = backend.lock("apply")
    with pytest.raises(StateError) as caught:
        backend.force_unlock("7c1e0000-0000-4000-8000-000000000000")
    message = str(caught.value)
    assert "lock ID 7c1e0000-0000-4000-8000-000000000000 does not match the current lock" in message
    assert f"lock ID {info.id}" in message and info.who in message
    assert backend.lock_info() == info


def test_force_unlock_with_the_current_id_removes_the_lock(backend: LocalBackend) -> None:
    info = backend.lock("apply")
    backend.force_unlock(info.id)
    assert backend.lock_info() is None
    backend.lock("apply")


def test_force_unlock_when_nothing_is_locked(backend: LocalBackend) -> None:
    with pytest.raises(StateError, match="state is not locked"):
        backend.force_unlock("anything")


def test_locked_holds_the_lock_for_the_block_only(backend: LocalBackend) -> None:
    with backend.locked("apply") as info:
        assert backend.lock_info() == info
    assert backend.lock_info() is None
    with pytest.raises(RuntimeError, match="boom"), backend.locked("apply"):
        raise RuntimeError("boom")
    assert backend.lock_info() is None


def test_locked_reports_the_block_error_even_if_the_lock_was_taken_away(backend: LocalBackend) -> None:
    with pytest.raises(RuntimeError, match="boom"), backend.locked("apply") as info:
        backend.force_unlock(info.id)
        raise RuntimeError("boom")


def test_locked_reports_a_lock_taken_away_during_the_block(backend: LocalBackend) -> None:
    with pytest.raises(StateError, match="no longer held"), backend.locked("apply") as info:
        backend.force_unlock(info.id)


def test_a_lock_left_by_a_dead_process_is_called_stale(backend: LocalBackend, run_child: RunChild) -> None:
    # run_child waits for the process, so its pid is gone (and reaped) when we look.
    child = json.loads(run_child(HOLD_AND_EXIT, str(backend.directory)).stdout)
    with pytest.raises(LockedError) as caught:
        backend.lock("apply")
    message = str(caught.value)
    assert caught.value.info.pid == child["pid"] != os.getpid()
    assert f"lock ID {child['id']}" in message
    assert (
        f"the lock looks stale: process {child['pid']} is no longer running on {socket.gethostname()}; "
        f"run: mlops force-unlock {child['id']}"
    ) in message
    backend.force_unlock(child["id"])
    backend.lock("apply")


def test_a_live_holder_is_not_called_stale(backend: LocalBackend) -> None:
    backend.lock("apply")  # held by this (live) process
    with pytest.raises(LockedError) as caught:
        backend.lock("apply")
    assert "stale" not in str(caught.value)


def test_a_dead_pid_on_another_host_is_not_called_stale(run_child: RunChild) -> None:
    pid = int(run_child("import os; print(os.getpid())").stdout)
    here = LockInfo("id-1", "bob@elsewhere", "apply", "2026-11-25T10:00:00Z", pid, socket.gethostname())
    there = LockInfo("id-1", "bob@elsewhere", "apply", "2026-11-25T10:00:00Z", pid, "elsewhere")
    assert "looks stale" in locked_message(here)
    assert "stale" not in locked_message(there)
    assert locked_message(there).endswith("if that process is gone, run: mlops force-unlock id-1")


def test_another_process_is_refused_at_once(backend: LocalBackend, run_child: RunChild) -> None:
    held = backend.lock("apply")
    result = json.loads(run_child(TRY_LOCK, str(backend.directory), timeout=30).stdout)
    assert result["won"] is False
    assert result["id"] == held.id
    assert held.who in result["message"] and f"pid {os.getpid()}" in result["message"]
    assert f"since {held.created}" in result["message"]
    assert result["seconds"] < 2  # a refusal, not a wait for the holder
    assert backend.lock_info() == held


def test_processes_racing_for_the_lock_get_exactly_one_winner(tmp_path: Path, backend: LocalBackend) -> None:
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{n}" for n in range(8)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", TRY_LOCK, str(backend.directory), str(flag), str(go)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    try:
        deadline = time.monotonic() + 60
        while not all(flag.exists() for flag in ready):
            assert time.monotonic() < deadline, "children did not start"
            time.sleep(0.01)
        go.touch()
        results = [json.loads(child.communicate(timeout=30)[0]) for child in children]
    finally:
        for child in children:
            child.kill()
            child.wait()
    winners = [r for r in results if r["won"]]
    assert len(winners) == 1
    assert {r["id"] for r in results} == {winners[0]["id"]}
    assert backend.lock_info().id == winners[0]["id"]


def test_a_damaged_lock_file_is_reported_not_ignored(backend: LocalBackend) -> None:
    backend.directory.mkdir(parents=True)
    backend.lock_path.write_text("")
    with pytest.raises(StateError, match=r"state\.lock\.json is damaged: .*delete that file") as caught:
        backend.lock("apply")
    assert not isinstance(caught.value, LockedError)
    assert backend.lock_path.read_text() == ""


def test_a_lock_that_keeps_vanishing_gives_up(backend: LocalBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    backend.directory.mkdir(parents=True)
    backend.lock_path.write_text("{}")
    monkeypatch.setattr(backend, "lock_info", lambda: None)
    with pytest.raises(StateError, match="kept appearing and disappearing"):
        backend.lock("apply")


def test_lock_document_round_trip() -> None:
    info = LockInfo("id", "a@h", "apply", "2026-11-25T10:00:00Z", 42, "h", {"etag": "x"})
    text = lock_to_json(info)
    assert lock_from_json(text) == info
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    with pytest.raises(StateError, match="not a lock document"):
        lock_from_json('{"id": "x"}')
