"""The applier on the in-memory provider: ordering, parallelism, failure handling, replacements."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from mlops_gitops.engine.applier import Applier, ApplyResult
from mlops_gitops.engine.operations import plan_locked
from mlops_gitops.engine.plan import Mode, Plan
from mlops_gitops.stack.model import Stack
from mlops_gitops.state.local import LocalBackend
from mlops_gitops.state.model import StateDoc
from mlops_gitops.testing import MemoryProvider, memory_stack


def make_stack(
    tmp_path: Path, models: dict[str, str], endpoints: dict[str, list[tuple[str, str, int]]]
) -> Stack:
    """models: name -> artifact; endpoints: name -> [(variant, model, instance count)]."""
    return memory_stack(
        {
            "models": {name: {"artifact": artifact, "image": "img"} for name, artifact in models.items()},
            "endpoints": {
                name: {
                    "variants": [
                        {"name": v, "model": m, "instance_type": "t", "instance_count": c}
                        for v, m, c in variants
                    ]
                }
                for name, variants in endpoints.items()
            },
        },
        tmp_path,
    )


def run(
    stack: Stack, provider: MemoryProvider, tmp_path: Path, mode: Mode = "normal", parallelism: int = 4
) -> tuple[Plan, ApplyResult, StateDoc]:
    backend = LocalBackend(tmp_path / "state")
    planned = plan_locked(provider.workspace(stack), backend, mode=mode, parallelism=parallelism)
    try:
        result = planned.apply(parallelism=parallelism)
    finally:
        planned.release()
    state = backend.read()
    assert state is not None
    return planned.plan, result, state


def ops(provider: MemoryProvider) -> list[tuple[str, str]]:
    return [(c.op, c.name) for c in provider.cloud.calls]


def models(provider: MemoryProvider) -> list[str]:
    return provider.cloud.names("model")


def test_dependencies_first_and_deletes_in_reverse(tmp_path: Path) -> None:
    p = MemoryProvider()
    stack = make_stack(tmp_path, {"m": "s3://a"}, {"e": [("v", "m", 1)]})
    plan, result, state = run(stack, p, tmp_path)
    model = plan.changes[0].after["name"]  # type: ignore[index]
    assert result.ok and ops(p) == [("create", model), ("create", "e")]
    assert set(state.addresses()) == {"model.m", "endpoint.e"}
    p.cloud.calls.clear()
    _, result, state = run(stack, p, tmp_path, mode="destroy")
    assert result.ok and ops(p) == [("delete", "e"), ("delete", model)]
    assert state.addresses() == [] and p.cloud.inventory() == []


def test_independent_branches_run_in_parallel(tmp_path: Path) -> None:
    p = MemoryProvider()
    stack = make_stack(tmp_path, {"a": "s3://a", "b": "s3://b", "c": "s3://c"}, {})
    for name in [c.after["name"] for c in _plan(stack, p, tmp_path).changes]:  # type: ignore[index]
        p.cloud.delays[name] = 0.3
    _, result, _ = run(stack, p, tmp_path, parallelism=3)
    assert result.ok and len(p.cloud.calls) == 3
    starts = sorted(c.start for c in p.cloud.calls)
    ends = sorted(c.end for c in p.cloud.calls)
    assert starts[-1] < ends[0], "all three creates must overlap"


def _plan(stack: Stack, provider: MemoryProvider, tmp_path: Path) -> Plan:
    planned = plan_locked(provider.workspace(stack), LocalBackend(tmp_path / "state"))
    planned.release()
    return planned.plan


def test_failure_stops_new_work_and_records_what_exists(tmp_path: Path) -> None:
    p = MemoryProvider()
    stack = make_stack(tmp_path, {"m": "s3://a"}, {"e": [("v", "m", 1)], "f": [("v", "m", 1)]})
    # The endpoint is made, then comes up Failed.
    p.cloud.fail(
        "create",
        name="e",
        message="ValidationException: instance type not allowed",
        half_way="made",
        status="Failed",
    )
    _, result, state = run(stack, p, tmp_path, parallelism=1)
    assert not result.ok
    assert result.errors[0][0] == "endpoint.e" and "instance type not allowed" in result.errors[0][1]
    assert state.get("model.m").status == "ok"  # type: ignore[union-attr]
    # The endpoint was partly created: recorded, tainted, so the next plan replaces it.
    assert state.get("endpoint.e").status == "tainted"  # type: ignore[union-attr]
    assert state.get("endpoint.f") is None, "no new work after the failure"
    assert p.cloud.get("endpoint", "e")["status"] == "Failed"  # type: ignore[index]
    plan, result, state = run(stack, p, tmp_path)
    assert {c.address: c.action for c in plan.changes if c.action != "noop"} == {
        "endpoint.e": "replace",
        "endpoint.f": "create",
    }
    assert result.ok and state.get("endpoint.e").status == "ok"  # type: ignore[union-attr]
    assert p.cloud.get("endpoint", "e")["status"] == "InService"  # type: ignore[index]


def test_replacement_creates_first_moves_dependents_then_deletes_old(tmp_path: Path) -> None:
    p = MemoryProvider()
    run(make_stack(tmp_path, {"m": "s3://a"}, {"e": [("v", "m", 1)]}), p, tmp_path)
    (old,) = models(p)
    p.cloud.calls.clear()
    plan, result, state = run(make_stack(tmp_path, {"m": "s3://b"}, {"e": [("v", "m", 1)]}), p, tmp_path)
    assert {c.address: c.action for c in plan.changes} == {"model.m": "replace", "endpoint.e": "update"}
    assert result.ok
    (new,) = models(p)
    assert new != old
    assert ops(p) == [("create", new), ("update", "e"), ("delete", old)]
    assert state.get("model.m").deposed == []  # type: ignore[union-attr]


def test_cloud_ignoring_a_change_is_an_error(tmp_path: Path) -> None:
    p = MemoryProvider()
    run(make_stack(tmp_path, {"m": "s3://a"}, {"e": [("v", "m", 1)]}), p, tmp_path)
    p.cloud.ignore_updates.add("e")
    _, result, _ = run(make_stack(tmp_path, {"m": "s3://a"}, {"e": [("v", "m", 3)]}), p, tmp_path)
    assert not result.ok
    message = result.errors[0][1]
    assert "reads back differently" in message and "variants[0].instance_count" in message


def test_reverting_a_failed_replacement_keeps_the_readopted_model(tmp_path: Path) -> None:
    p = MemoryProvider()
    run(make_stack(tmp_path, {"m": "s3://a"}, {"e": [("v", "m", 1)]}), p, tmp_path)
    (original,) = models(p)
    p.cloud.fail("update", name="e", message="rolled back: alarm p99 in ALARM")
    _, result, state = run(make_stack(tmp_path, {"m": "s3://b"}, {"e": [("v", "m", 1)]}), p, tmp_path)
    assert not result.ok
    assert [d["name"] for d in state.get("model.m").deposed] == [original], "the old model is kept"  # type: ignore[union-attr]
    # The change is reverted: the model goes back to the original, still-existing object.
    _, result, state = run(make_stack(tmp_path, {"m": "s3://a"}, {"e": [("v", "m", 1)]}), p, tmp_path)
    assert result.ok, result.errors
    assert state.get("model.m").attributes["name"] == original  # type: ignore[union-attr]
    assert models(p) == [original], "the live model must not be deleted as a deposed one"
    assert state.get("model.m").deposed == []  # type: ignore[union-attr]


def test_an_interrupt_stops_waiting_and_keeps_what_was_made(tmp_path: Path) -> None:
    p = MemoryProvider()
    stack = make_stack(tmp_path, {"m": "s3://a"}, {"e": [("v", "m", 1)]})
    p.cloud.delays["e"] = 30.0  # the endpoint takes long to come up
    backend = LocalBackend(tmp_path / "state")
    planned = plan_locked(p.workspace(stack), backend)
    applier = Applier(planned.ws, backend, planned.state, planned.plan, refreshed=planned.refreshed)

    def interrupt_once_made() -> None:
        # What Ctrl-C does to the work in flight (the applier sets `cancel` on KeyboardInterrupt),
        # once the endpoint exists and is being waited for.
        while p.cloud.get("endpoint", "e") is None:
            time.sleep(0.01)
        applier.cancel.set()

    threading.Thread(target=interrupt_once_made, daemon=True).start()
    started = time.monotonic()
    try:
        result = applier.run()
    finally:
        planned.release()
    assert time.monotonic() - started < 10, "the provider must stop waiting when cancelled"
    assert [a for a, _ in result.errors] == ["endpoint.e"] and "cancelled" in result.errors[0][1]
    state = backend.read()
    assert state is not None and state.get("model.m").status == "ok"  # type: ignore[union-attr]
    # Checkpointed before the wait: state names the endpoint the cloud is still bringing up.
    assert state.get("endpoint.e").status == "tainted"  # type: ignore[union-attr]
    assert p.cloud.get("endpoint", "e") is not None


def test_each_deposed_object_is_deleted_once(tmp_path: Path) -> None:
    p = MemoryProvider()
    stack = make_stack(tmp_path, {"m": "s3://a"}, {})
    _, _, state = run(stack, p, tmp_path)
    backend = LocalBackend(tmp_path / "state")
    rs = state.get("model.m")
    assert rs is not None
    old = {**rs.attributes, "name": "m-old"}
    p.cloud.put("model", "m-old", old)
    rs.deposed = [old]
    backend.write(state)
    p.cloud.delays["m-old"] = 1.0  # a delete that takes a while, as on a cloud
    p.cloud.calls.clear()
    _, result, _ = run(stack, p, tmp_path, mode="destroy")
    assert result.ok and p.cloud.inventory() == []
    assert [c.name for c in p.cloud.calls].count("m-old") == 1
