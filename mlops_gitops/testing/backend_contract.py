"""The state backend contract suite.

Every state backend (local directory, S3, GCS, Azure Blob, a third party's) must give users the
same behaviour, whatever the storage underneath: missing state reads as nothing and creates
nothing, every write bumps the serial and keeps the previous version, a write from another
lineage, an older serial or a stale read is refused, and the lock never waits, names its holder
and is removed by ID only, with exactly one winner when several processes race for it. This
suite checks all of it through the `StateBackend` API.

To run it for a backend, subclass `BackendContract` in a test module and give two fixtures:

    import functools
    import pytest
    from mlops_gitops.testing.backend_contract import BackendContract

    class TestMyBackendContract(BackendContract):
        @pytest.fixture
        def make_backend(self, my_store) -> Callable[[], StateBackend]:
            # A fresh, empty store for this test; each call builds a new backend object on it.
            # Picklable (a functools.partial of the class and its config) so the race tests
            # can build one in each child process.
            return functools.partial(MyBackend, my_store.fresh_config())

        @pytest.fixture
        def backend(self, make_backend) -> StateBackend:
            return make_backend()

The fixtures, all function-scoped:

`backend` (required)
    A backend on a fresh, empty store: no state, no lock, no previous version.
`make_backend` (required)
    A zero-argument callable returning another backend object on the same store as `backend`,
    as another command, process or CI runner would build from the same stack settings. Objects
    it returns must share nothing with `backend` but the store.
`child_factory` (optional; default: `make_backend`)
    A picklable zero-argument callable that builds a backend on the same store, called in
    child processes (fresh interpreters, `sys.executable`, with the parent's `sys.path`): it
    and its arguments must be importable there (a module-level class or function with plain
    or pydantic arguments, e.g. `functools.partial(MyBackend, config)`), and anything the
    backend needs from the environment (credentials, emulator variables) must be in
    `os.environ`. When it cannot be pickled, the process race tests are skipped saying so:
    give a picklable `child_factory` then. The store must be reachable from another process
    (an emulator over loopback, a directory: not an in-process fake).
`read_previous` (optional)
    A callable returning the previous version the backend kept (the state before the last
    write) as a `StateDoc`, or None when there is none, read from the store directly (the
    backup file or object, the prior object version...). Without it, the check that the
    previous version is kept is skipped, and so is the check that a refused racing writer
    leaves it alone.
`stored_names` (optional)
    A callable returning the set of names (files, object keys, blob names) in the store, read
    from the store directly. Without it, the check that reading creates nothing is skipped.

A backend that genuinely cannot refuse a write landing between its own read and its replace
(it has no compare-and-swap, and relies on the lock alone) says why in the class attribute
`unconditional_replace`; those tests are then skipped with that reason.

Backends may put storage details (an ETag, a generation) in `LockInfo.extra` of what
`lock_info` returns; the suite compares every other field.

The conditional-write checks make another writer land between a backend's own read and its
replace by shadowing `read` on that one backend object (the real read still runs): a backend
whose `write` goes through `self.read()`, as `StateBackend.write` does, needs nothing more."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import getpass
import json
import os
import pickle
import select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_gitops.errors import LockedError, LockInfo, StateError
from mlops_gitops.state.backend import StateBackend
from mlops_gitops.state.model import ResourceState, StateDoc

BackendFactory = Callable[[], StateBackend]

RACERS = 4  # processes racing in the race tests
# Racers import the backend and its SDK before they say they are ready; a slow CI machine may
# take seconds for that, but not minutes.
_CHILD_TIMEOUT = 120.0


def sample_doc(stack: str = "fraud-detection", **attributes: Any) -> StateDoc:
    """A fresh state document (serial 0, new lineage) holding one resource."""
    doc = StateDoc.new(stack)
    doc.put(ResourceState(address="model.m", kind="model", name="m", provider="p", attributes=attributes))
    return doc


def _same_lock(a: LockInfo | None, b: LockInfo | None) -> bool:
    # `extra` may carry storage details (an ETag, a generation) on what a backend reads back.
    if a is None or b is None:
        return a is b
    return dataclasses.replace(a, extra={}) == dataclasses.replace(b, extra={})


class BackendContract:
    """The behaviours every state backend owes its users. See the module docstring."""

    #: Why this backend cannot refuse a write landing between its read and its replace; None
    #: when it can (a conditional replace: an ETag, a generation match).
    unconditional_replace: str | None = None

    # -- fixtures a backend gives -------------------------------------------------------------

    @pytest.fixture
    def backend(self) -> StateBackend:
        raise NotImplementedError("give a `backend` fixture: a backend on a fresh, empty store")

    @pytest.fixture
    def make_backend(self) -> BackendFactory:
        raise NotImplementedError("give a `make_backend` fixture: a factory of backends on the same store")

    @pytest.fixture
    def child_factory(self, make_backend: BackendFactory) -> BackendFactory:
        return make_backend

    @pytest.fixture
    def read_previous(self) -> Callable[[], StateDoc | None] | None:
        return None

    @pytest.fixture
    def stored_names(self) -> Callable[[], set[str]] | None:
        return None

    # -- reading ------------------------------------------------------------------------------

    def test_missing_state_reads_as_none(self, backend: StateBackend, make_backend: BackendFactory) -> None:
        assert backend.read() is None
        assert backend.lock_info() is None
        assert make_backend().read() is None

    def test_reading_missing_state_creates_nothing(
        self, backend: StateBackend, stored_names: Callable[[], set[str]] | None
    ) -> None:
        if stored_names is None:
            pytest.skip("no `stored_names` fixture: cannot look at the store directly")
        before = stored_names()
        assert backend.read() is None
        assert backend.lock_info() is None
        assert stored_names() == before == set()

    def test_location_names_the_store(self, backend: StateBackend) -> None:
        assert isinstance(backend.location, str) and backend.location

    # -- writing ------------------------------------------------------------------------------

    def test_write_then_read_round_trips(self, backend: StateBackend, make_backend: BackendFactory) -> None:
        doc = sample_doc(arn="arn:cloud:ml:eu-west-1:123456789012:model/m", replicas=2, tags={"a": "b"})
        backend.write(doc)
        assert backend.read() == doc
        assert make_backend().read() == doc

    def test_every_write_bumps_the_serial(self, backend: StateBackend, make_backend: BackendFactory) -> None:
        doc = sample_doc(v=1)
        assert doc.serial == 0
        backend.write(doc)
        assert doc.serial == 1
        assert backend.read().serial == 1
        doc.get("model.m").record({"v": 2})
        backend.write(doc)
        assert doc.serial == 2
        assert make_backend().read().serial == 2
        backend.write(doc)  # an unchanged document is still a new version
        assert doc.serial == 3 == backend.read().serial

    def test_the_previous_version_is_kept(
        self, backend: StateBackend, read_previous: Callable[[], StateDoc | None] | None
    ) -> None:
        if read_previous is None:
            pytest.skip("no `read_previous` fixture: cannot read the kept version")
        doc = sample_doc(v=1)
        backend.write(doc)
        assert read_previous() is None
        first = backend.read()
        doc.get("model.m").record({"v": 2})
        backend.write(doc)
        assert read_previous() == first
        assert backend.read().get("model.m").attributes == {"v": 2}
        second = backend.read()
        doc.get("model.m").record({"v": 3})
        backend.write(doc)
        assert read_previous() == second

    def test_state_of_another_lineage_is_refused(self, backend: StateBackend) -> None:
        mine = sample_doc(v=1)
        backend.write(mine)
        other = sample_doc(v=9)  # same stack name, another lineage
        with pytest.raises(StateError, match="lineage") as caught:
            backend.write(other)
        assert mine.lineage in str(caught.value) and other.lineage in str(caught.value)
        assert other.serial == 0
        assert backend.read() == mine

    def test_an_older_serial_is_refused(self, backend: StateBackend) -> None:
        doc = sample_doc(v=1)
        backend.write(doc)
        old = doc.model_copy(deep=True)
        doc.get("model.m").record({"v": 2})
        backend.write(doc)
        with pytest.raises(StateError, match="state changed since it was read"):
            backend.write(old)
        assert old.serial == 1
        assert backend.read() == doc

    def test_a_writer_whose_read_is_stale_is_refused(
        self, backend: StateBackend, make_backend: BackendFactory
    ) -> None:
        backend.write(sample_doc(v=1))
        other = make_backend()
        mine, theirs = backend.read(), other.read()
        theirs.get("model.m").record({"v": "theirs"})
        other.write(theirs)
        mine.get("model.m").record({"v": "mine"})
        with pytest.raises(StateError, match="state changed since it was read"):
            backend.write(mine)
        assert backend.read() == theirs
        assert other.read() == theirs

    def test_a_write_landing_between_read_and_replace_is_refused(
        self,
        backend: StateBackend,
        make_backend: BackendFactory,
        read_previous: Callable[[], StateDoc | None] | None,
    ) -> None:
        if self.unconditional_replace:
            pytest.skip(self.unconditional_replace)
        backend.write(sample_doc(v=1))
        other = make_backend()
        theirs = other.read()
        theirs.get("model.m").record({"v": "theirs"})
        real_read = backend.read

        # The real read runs; another command's write is then made to land in the window
        # between the serial check and the replace, which only a conditional replace can catch.
        def read_then_someone_writes() -> StateDoc | None:
            seen = real_read()
            other.write(theirs)
            return seen

        first = backend.read()
        mine = first.model_copy(deep=True)
        mine.get("model.m").record({"v": "mine"})
        with _reading_through(backend, read_then_someone_writes), pytest.raises(StateError) as caught:
            backend.write(mine)
        assert not isinstance(caught.value, LockedError)
        assert mine.serial == 1  # unchanged: the write can be retried after a fresh read
        assert backend.read() == theirs
        assert "\n" not in str(caught.value)
        if read_previous is not None:
            # The refused writer must not have left its own view as the previous version either.
            assert read_previous() == first

    def test_the_first_write_racing_another_first_write_is_refused(
        self, backend: StateBackend, make_backend: BackendFactory
    ) -> None:
        if self.unconditional_replace:
            pytest.skip(self.unconditional_replace)
        other = make_backend()
        theirs = sample_doc(v="theirs")
        real_read = backend.read

        def read_then_someone_creates() -> StateDoc | None:
            seen = real_read()
            other.write(theirs)
            return seen

        mine = sample_doc(v="mine")
        with _reading_through(backend, read_then_someone_creates), pytest.raises(StateError):
            backend.write(mine)
        assert backend.read() == theirs

    # -- locking ------------------------------------------------------------------------------

    def test_lock_records_who_what_and_when(
        self, backend: StateBackend, make_backend: BackendFactory
    ) -> None:
        before = datetime.now(UTC).replace(microsecond=0)
        info = backend.lock("apply")
        host = socket.gethostname()
        assert uuid.UUID(info.id).version == 4
        assert info.who == f"{_user()}@{host}"
        assert (info.operation, info.pid, info.host) == ("apply", os.getpid(), host)
        created = datetime.strptime(info.created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert before <= created <= datetime.now(UTC) + timedelta(seconds=1)
        assert _same_lock(backend.lock_info(), info)
        assert _same_lock(make_backend().lock_info(), info)

    def test_locking_leaves_the_state_alone(self, backend: StateBackend) -> None:
        backend.lock("plan")
        assert backend.read() is None
        doc = sample_doc(v=1)
        backend.write(doc)  # the holder writes while it holds the lock
        assert backend.read() == doc

    def test_a_second_lock_is_refused_at_once_naming_the_holder(
        self, backend: StateBackend, make_backend: BackendFactory
    ) -> None:
        held = backend.lock("apply")
        for contender in (backend, make_backend()):
            started = time.monotonic()
            with pytest.raises(LockedError) as caught:
                contender.lock("plan")
            assert time.monotonic() - started < 5  # a refusal, not a wait for the holder
            assert _same_lock(caught.value.info, held)
            message = str(caught.value)
            assert f"state is locked by {held.who} (pid {held.pid}) for apply since {held.created}" in message
            assert f"lock ID {held.id}" in message
            assert f"mlops force-unlock {held.id}" in message
        assert _same_lock(backend.lock_info(), held)

    def test_unlock_releases_only_its_own_lock(
        self, backend: StateBackend, make_backend: BackendFactory
    ) -> None:
        info = backend.lock("apply")
        with pytest.raises(StateError, match=f"state is now locked by .*lock ID {info.id}"):
            make_backend().unlock("not-my-lock")
        assert _same_lock(backend.lock_info(), info)
        make_backend().unlock(info.id)  # the ID is what counts, not the object that locked
        assert backend.lock_info() is None
        with pytest.raises(StateError, match=f"lock {info.id} was no longer held"):
            backend.unlock(info.id)
        again = backend.lock("apply")
        assert again.id != info.id

    def test_force_unlock_removes_only_the_lock_named(
        self, backend: StateBackend, make_backend: BackendFactory
    ) -> None:
        with pytest.raises(StateError, match="state is not locked"):
            backend.force_unlock("anything")
        info = backend.lock("apply")
        rescuer = make_backend()
        with pytest.raises(StateError) as caught:
            rescuer.force_unlock("7c1e0000-0000-4000-8000-000000000000")
        assert "does not match the current lock" in str(caught.value)
        assert f"lock ID {info.id}" in str(caught.value)
        assert _same_lock(backend.lock_info(), info)
        rescuer.force_unlock(info.id)
        assert backend.lock_info() is None
        with pytest.raises(StateError, match=f"lock {info.id} was no longer held .* force-unlocked it"):
            backend.unlock(info.id)
        assert _same_lock(rescuer.lock("apply"), rescuer.lock_info())

    def test_locked_releases_after_the_block(self, backend: StateBackend) -> None:
        with backend.locked("apply") as info:
            assert _same_lock(backend.lock_info(), info)
        assert backend.lock_info() is None
        with pytest.raises(RuntimeError, match="boom"), backend.locked("apply"):
            raise RuntimeError("boom")
        assert backend.lock_info() is None
        with pytest.raises(StateError, match="no longer held"), backend.locked("apply") as info:
            backend.force_unlock(info.id)

    # -- several processes --------------------------------------------------------------------

    def test_processes_racing_for_the_lock_get_exactly_one_winner(
        self, backend: StateBackend, child_factory: BackendFactory
    ) -> None:
        results = _race(child_factory, "lock", RACERS)
        winners = [r for r in results if r["won"]]
        assert len(winners) == 1, results
        assert {r["id"] for r in results} == {winners[0]["id"]}
        assert all(r["seconds"] < 10 for r in results), results  # refused at once, not queued
        held = backend.lock_info()
        assert held is not None and held.id == winners[0]["id"]
        pids = {r["pid"] for r in results}
        assert len(pids) == RACERS and os.getpid() not in pids
        assert held.pid == winners[0]["pid"]

    def test_processes_racing_to_write_get_exactly_one_winner(
        self, backend: StateBackend, child_factory: BackendFactory
    ) -> None:
        if self.unconditional_replace:
            pytest.skip(self.unconditional_replace)
        backend.write(sample_doc(v=0))
        results = _race(child_factory, "write", RACERS)
        winners = [r for r in results if r["won"]]
        assert len(winners) == 1, results
        final = backend.read()
        assert final.serial == 2
        assert final.get("model.m").attributes == {"v": winners[0]["pid"]}


@contextlib.contextmanager
def _reading_through(backend: StateBackend, read: Callable[[], StateDoc | None]) -> Iterator[None]:
    # An instance attribute, shadowing the method for `write`'s own read, and removed after:
    # not the test's monkeypatch, whose undo would also revert the backend's fixtures' patches.
    backend.read = read  # type: ignore[method-assign]
    try:
        yield
    finally:
        del backend.read


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


# The race: each racer is a fresh interpreter (as another command would be), started with
# `sys.executable`, which builds its own backend from the pickled factory, says it is ready, and
# acts when the parent writes "go" to every racer's stdin at once: a barrier. A subprocess rather
# than multiprocessing's spawn, because spawn would import this module (and pytest, and the
# testing package) in every child before the race, seconds of start-up on a small CI machine.
# Each racer prints one JSON line: its result, or the error that stopped it.
_RACER = r"""
import base64, json, os, pickle, sys, time
sys.path[:0] = [entry for entry in json.loads(sys.stdin.readline()) if entry not in sys.path]
try:
    from mlops_gitops.errors import LockedError, StateError
    backend = pickle.loads(base64.b64decode(sys.stdin.readline()))()
    if sys.argv[1] == "write":
        doc = backend.read()  # every racer starts from the same serial
        doc.get("model.m").record({"v": os.getpid()})
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.monotonic()
    if sys.argv[1] == "lock":
        try:
            result = {"won": True, "id": backend.lock("apply").id}
        except LockedError as err:
            result = {"won": False, "id": err.info.id, "message": str(err)}
    else:
        try:
            backend.write(doc)
            result = {"won": True}
        except LockedError as err:
            result = {"error": f"a write took a lock: {err}"}
        except StateError as err:
            result = {"won": False, "message": str(err)}
    result["seconds"] = time.monotonic() - started
except BaseException as err:  # reported to the parent, which fails the test with it
    result = {"error": f"{type(err).__name__}: {err}"}
result["pid"] = os.getpid()
print(json.dumps(result), flush=True)
"""


def _race(factory: BackendFactory, action: str, count: int) -> list[dict[str, Any]]:
    try:
        payload = base64.b64encode(pickle.dumps(factory)).decode()
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        pytest.skip(
            f"the backend factory cannot be sent to a child process ({err}): give a picklable `child_factory`"
        )
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, action],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for racer in racers:
            racer.stdin.write(json.dumps(sys.path) + "\n" + payload + "\n")
            racer.stdin.flush()
        early: list[dict[str, Any]] = []
        for racer in racers:
            line = _read_line(racer)
            if line != "ready":
                early.append(json.loads(line) if line else {"error": "exited before the race"})
        assert not early, early
        for racer in racers:
            racer.stdin.write("go\n")
            racer.stdin.flush()
        results = [json.loads(_read_line(racer) or '{"error": "no result"}') for racer in racers]
    finally:
        for racer in racers:
            with contextlib.suppress(OSError):
                racer.stdin.close()
            try:
                racer.wait(timeout=_CHILD_TIMEOUT)
            except subprocess.TimeoutExpired:
                racer.kill()
                racer.wait()
    failed = [r for r in results if "error" in r]
    assert not failed, failed
    return results


def _read_line(racer: subprocess.Popen[str]) -> str:
    # A racer that hangs (a lock that waits instead of refusing) must fail the test, not stall it.
    ready, _, _ = select.select([racer.stdout], [], [], _CHILD_TIMEOUT)
    if not ready:
        pytest.fail(f"racing process {racer.pid} said nothing for {_CHILD_TIMEOUT:.0f} s")
    return racer.stdout.readline().strip()
