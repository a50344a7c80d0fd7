"""SIGKILL of the installed `mlops apply` at its kill points (mlops_gitops/faults.py: before and
after every cloud call and state-store call, before and after every state write), on the create,
update, replace and delete paths of a small stack, for each provider's sandbox.

Each path is run once without a kill, counting its points and noting what the cloud then holds.
Each chosen point k is then one test: from the path's starting state, apply with
MLOPS_FAULT_KILL_AT=k; the process dies by SIGKILL; the stored state and its backup still parse;
the lock is left exactly when the process died holding it, and the next command names its holder
(user, host, pid, operation) and age (when it was taken) and calls it stale; after force-unlock,
one apply finishes the change, the next plan has no changes, and the emulator holds exactly what
the path's run without a kill left: no orphan, no duplicate.

By default a spread of points is killed at (crash_kit.chosen); MLOPS_KILL_POINTS=all kills at
every point of every path. The cases run ahead of their tests, a provider's at a time on its own
sandbox (crash_kit.Runner): a test reports its case's outcome."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from crash_kit import KillCase, Lane, Runner, StateError, lock_expected, start

from mlops_gitops.state.model import StateDoc


def scenario(lane: Lane, kill: KillCase) -> None:
    assert kill.counted is not None
    path = lane.provider.paths()[kill.path]
    start(lane, path)

    killed, reached = lane.traced_apply(kill.k)
    died_at = reached[-1] if reached else "no point"
    # Named as counted; a poll more or less in this run would move the kill by one request.
    counted = "" if died_at == kill.label else f"; counted as {kill.label}"
    where = f"{kill.provider} {kill.path}, killed at point {kill.k} ({died_at}{counted})"
    assert killed.returncode == -signal.SIGKILL, (
        f"{where}: the apply was not killed (exit {killed.returncode}; the path counted "
        f"{len(kill.counted.points)} points): {killed.stdout}\n{killed.stderr}"
    )

    for name, doc in lane.states().items():
        assert not isinstance(doc, StateError), f"{where}: the stored {name} does not parse: {doc}"

    lock = lane.lock()
    held = lock_expected(reached, lane.lock_label())
    assert (lock is not None) == held, (
        f"{where}: the lock is {'left' if lock else 'gone'}, while the process died "
        f"{'holding' if held else 'not holding'} it"
    )

    again = lane.apply()
    if lock is not None:
        # The next command refuses, naming who holds the lock, since when, and that it is stale.
        assert again.returncode == 1, f"{where}: the next apply ran despite the lock: {again.stdout}"
        message = " ".join(again.stderr.split())
        for part in (
            f"state is locked by {lock.who} (pid {lock.pid}) for apply",
            f"since {lock.created}",
            f"lock ID {lock.id}",
            f"the lock looks stale: process {lock.pid} is no longer running on {lock.host}",
            f"mlops force-unlock {lock.id}",
        ):
            assert part in message, f"{where}: the lock message lacks {part!r}: {message}"
        unlocked = lane.mlops("--sandbox", "force-unlock", lock.id, "--force")
        assert unlocked.returncode == 0, f"{where}: force-unlock: {unlocked.stderr}"
        again = lane.apply()
    assert again.returncode == 0, f"{where}: the re-apply failed:\n{again.stdout}\n{again.stderr}"

    plan = lane.mlops("--sandbox", "plan", "--detailed-exitcode", "--no-color")
    assert plan.returncode == 0, f"{where}: the re-apply did not converge:\n{plan.stdout}\n{plan.stderr}"
    state = lane.states()["state.json"]
    assert isinstance(state, StateDoc | None), f"{where}: the state does not parse after the re-apply"
    left, expected = lane.inventory(), kill.counted.inventory
    assert left == expected, (
        f"{where}: the emulator holds other objects than the path leaves without a kill: "
        f"{_difference(left, expected)}"
    )


def _difference(left: dict[str, list[str]], expected: dict[str, list[str]]) -> str:
    parts = []
    for kind in sorted(set(left) | set(expected)):
        extra = sorted(set(left.get(kind, [])) - set(expected.get(kind, [])))
        missing = sorted(set(expected.get(kind, [])) - set(left.get(kind, [])))
        twice = sorted({x for x in left.get(kind, []) if left[kind].count(x) > 1})
        for what, items in (("left over", extra), ("missing", missing), ("duplicated", twice)):
            if items:
                parts.append(f"{kind} {what}: {', '.join(items)}")
    return "; ".join(parts) or f"{left} != {expected}"


@pytest.fixture(scope="session")
def runner(request: pytest.FixtureRequest) -> Iterator[Runner]:
    """The session's selected cases (deselected ones are not run), started at the first test."""
    cases = [
        item.callspec.params["kill"]
        for item in request.session.items
        if hasattr(item, "callspec") and isinstance(item.callspec.params.get("kill"), KillCase)
    ]
    run = Runner(cases, scenario)
    yield run
    run.close()


def test_killed_apply_recovers(kill: KillCase, runner: Runner) -> None:
    assert kill.error is None, kill.error
    runner.result(kill)
