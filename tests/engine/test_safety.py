"""Serving and crash safety of plan and apply, on the in-memory provider: a failure beside
healthy work, renames (`moved:`), protection that outlives the key, interrupted changes,
deposed objects as pending work, secrets recorded in state, and plans that no longer hold."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops.engine.applier import ApplyResult
from mlops_gitops.engine.operations import plan_locked
from mlops_gitops.engine.plan import Plan
from mlops_gitops.errors import StackError
from mlops_gitops.render.text import render_plan
from mlops_gitops.stack import schema
from mlops_gitops.stack.model import Stack
from mlops_gitops.state.local import LocalBackend
from mlops_gitops.state.model import StateDoc
from mlops_gitops.testing import MemoryProvider, memory_stack


def make_stack(
    tmp_path: Path, models: dict[str, str], endpoints: dict[str, list[tuple[str, str, int]]], **extra: Any
) -> Stack:
    """models: name -> artifact; endpoints: name -> [(variant, model, instance count)]; `extra`
    goes to the top of the stack document (variables, outputs, moved)."""
    document: dict[str, Any] = {
        "models": {name: {"artifact": artifact, "image": "img"} for name, artifact in models.items()},
        "endpoints": {
            name: {
                "variants": [
                    {"name": v, "model": m, "instance_type": "t", "instance_count": c} for v, m, c in vs
                ]
            }
            for name, vs in endpoints.items()
        },
        **extra,
    }
    return memory_stack(document, tmp_path)


def run(
    stack: Stack, provider: MemoryProvider, tmp_path: Path, mode: str = "normal", **kw: Any
) -> tuple[Plan, ApplyResult, StateDoc]:
    backend = LocalBackend(tmp_path / "state")
    planned = plan_locked(provider.workspace(stack), backend, mode=mode, parallelism=5, **kw)  # type: ignore[arg-type]
    try:
        result = planned.apply(parallelism=5)
    finally:
        planned.release()
    state = backend.read()
    assert state is not None
    return planned.plan, result, state


def plan_only(
    stack: Stack, provider: MemoryProvider, tmp_path: Path, mode: str = "normal", **kw: Any
) -> Plan:
    planned = plan_locked(provider.workspace(stack), LocalBackend(tmp_path / "state"), mode=mode, **kw)  # type: ignore[arg-type]
    planned.release()
    return planned.plan


def pairs(tmp_path: Path, n: int) -> Stack:
    return make_stack(
        tmp_path, {f"m{i}": f"s3://m{i}" for i in range(n)}, {f"e{i}": [("v", f"m{i}", 1)] for i in range(n)}
    )


def with_moved(stack: Stack, *moves: tuple[str, str]) -> Stack:
    return dataclasses.replace(stack, moved=list(moves))


def endpoint(p: MemoryProvider, name: str) -> dict[str, Any]:
    found = p.cloud.get("endpoint", name)
    assert found is not None, f"no endpoint {name}"
    return found


def test_one_failed_create_leaves_the_healthy_ones_beside_it_alone(tmp_path: Path) -> None:
    p = MemoryProvider()
    stack = pairs(tmp_path, 5)
    run(make_stack(tmp_path, {f"m{i}": f"s3://m{i}" for i in range(5)}, {}), p, tmp_path)
    for i in range(5):
        p.cloud.delays[f"e{i}"] = 0.4  # endpoints take a while to come up
    p.cloud.fail("create", name="e2", message="ResourceLimitExceeded")
    p.cloud.delays["e2"] = 0.0
    _, result, state = run(stack, p, tmp_path)
    assert [a for a, _ in result.errors] == ["endpoint.e2"]
    # The four creates in flight were waited for and recorded as what they are: healthy.
    for i in (0, 1, 3, 4):
        assert state.get(f"endpoint.e{i}").status == "ok"
        assert endpoint(p, f"e{i}")["status"] == "InService"
    plan = plan_only(stack, p, tmp_path)
    actions = {c.address: c.action for c in plan.changes if c.action != "noop"}
    assert actions == {"endpoint.e2": "create"}, "nothing healthy is replaced"
    assert not plan.drift


def test_a_tainted_object_the_cloud_holds_healthy_is_kept(tmp_path: Path) -> None:
    p = MemoryProvider()
    stack = pairs(tmp_path, 1)
    run(stack, p, tmp_path)
    backend = LocalBackend(tmp_path / "state")
    state = backend.read()
    state.get("endpoint.e0").status = "tainted"  # as a killed apply that was waiting leaves it
    backend.write(state)
    plan = plan_only(stack, p, tmp_path)
    change = next(c for c in plan.changes if c.address == "endpoint.e0")
    assert change.action == "update" and change.changes == [] and "healthy" in change.reason
    arn = endpoint(p, "e0")["arn"]
    _, result, state = run(stack, p, tmp_path)
    assert result.ok and state.get("endpoint.e0").status == "ok"
    assert endpoint(p, "e0")["arn"] == arn, "kept, not replaced"
    assert [k for k, _, _ in p.cloud.finished] == ["endpoint"], "what the attempt left is cleaned up"
    assert not plan_only(stack, p, tmp_path).has_changes


def test_a_tainted_record_of_an_object_never_made_is_not_called_deleted_outside(tmp_path: Path) -> None:
    p = MemoryProvider()
    stack = pairs(tmp_path, 1)
    run(make_stack(tmp_path, {"m0": "s3://m0"}, {}), p, tmp_path)
    # Recorded (checkpointed), then the create fails before the endpoint exists.
    p.cloud.fail("create", name="e0", message="boom", half_way="recorded")
    _, result, state = run(stack, p, tmp_path)
    assert not result.ok and state.get("endpoint.e0").status == "tainted"
    assert p.cloud.get("endpoint", "e0") is None
    plan = plan_only(stack, p, tmp_path)
    change = next(c for c in plan.changes if c.address == "endpoint.e0")
    assert change.action == "create"
    assert change.reason == "a previous apply failed before it was created"
    assert not plan.drift


def test_a_failed_endpoint_is_replaced_without_asking_for_downtime(tmp_path: Path) -> None:
    p = MemoryProvider()
    stack = pairs(tmp_path, 1)
    run(stack, p, tmp_path)
    p.cloud.set_status("endpoint", "e0", "Failed")
    plan, result, _ = run(stack, p, tmp_path)
    change = next(c for c in plan.changes if c.address == "endpoint.e0")
    assert change.action == "replace" and "Failed" in change.reason
    assert result.ok and endpoint(p, "e0")["status"] == "InService"


def test_moved_block_makes_a_rename_a_no_op(tmp_path: Path) -> None:
    p = MemoryProvider()
    run(make_stack(tmp_path, {"m": "s3://a"}, {"fraud": [("v", "m", 1)]}), p, tmp_path)
    arn = endpoint(p, "fraud")["arn"]
    renamed = with_moved(
        make_stack(tmp_path, {"m": "s3://a"}, {"fraud-api": [("v", "m", 1)]}),
        ("endpoint.fraud", "endpoint.fraud-api"),
    )
    plan, result, state = run(renamed, p, tmp_path)
    assert [(m.from_, m.to) for m in plan.moves] == [("endpoint.fraud", "endpoint.fraud-api")]
    assert all(c.action == "noop" for c in plan.changes) and plan.has_changes
    assert result.ok and not [c for c in p.cloud.calls if c.op != "create"]
    assert state.get("endpoint.fraud") is None
    assert state.get("endpoint.fraud-api").attributes["arn"] == arn  # the same serving endpoint
    again = plan_only(renamed, p, tmp_path)
    assert not again.has_changes and not again.moves, "a move is done once"


def test_rename_without_moved_is_a_named_risk_and_serves_before_destroying(tmp_path: Path) -> None:
    p = MemoryProvider()
    run(make_stack(tmp_path, {"m": "s3://a"}, {"fraud": [("v", "m", 1)]}), p, tmp_path)
    p.cloud.calls.clear()
    p.cloud.delays["fraud-api"] = 0.3
    plan, result, _ = run(make_stack(tmp_path, {"m": "s3://a"}, {"fraud-api": [("v", "m", 1)]}), p, tmp_path)
    assert any("destroys serving endpoint fraud" in r.message for r in plan.risks)
    assert result.ok
    created = next(c.end for c in p.cloud.calls if (c.op, c.name) == ("create", "fraud-api"))
    deleted = next(c.start for c in p.cloud.calls if (c.op, c.name) == ("delete", "fraud"))
    assert created <= deleted, "the old endpoint goes only once the new one is up"


def test_prevent_destroy_outlives_the_key(tmp_path: Path) -> None:
    p = MemoryProvider()
    stack = make_stack(tmp_path, {"m": "s3://a"}, {"fraud": [("v", "m", 1)]})
    stack.resources["endpoint.fraud"].spec.lifecycle.prevent_destroy = True  # type: ignore[attr-defined]
    run(stack, p, tmp_path)
    renamed = make_stack(tmp_path, {"m": "s3://a"}, {"fraud-api": [("v", "m", 1)]})
    with pytest.raises(
        StackError, match=r"endpoint.fraud: it was applied with lifecycle.prevent_destroy.*moved"
    ):
        plan_only(renamed, p, tmp_path)
    # With the move declared there is nothing to destroy.
    plan = plan_only(with_moved(renamed, ("endpoint.fraud", "endpoint.fraud-api")), p, tmp_path)
    assert not [c for c in plan.changes if c.action == "delete"]


def test_a_new_physical_name_of_a_serving_endpoint_needs_allow_downtime(tmp_path: Path) -> None:
    p = MemoryProvider()
    stack = pairs(tmp_path, 1)
    run(stack, p, tmp_path)
    backend = LocalBackend(tmp_path / "state")
    state = backend.read()
    state.get("endpoint.e0").attributes["name"] = "other"  # state names another object
    p.cloud.put("endpoint", "other", {**endpoint(p, "e0"), "name": "other"})
    p.cloud.delete_outside("endpoint", "e0")
    backend.write(state)
    original = p.desired

    def rename(resource, settings, refs, prior, resolved=None):  # type: ignore[no-untyped-def]
        out = original(resource, settings, refs, prior, resolved)
        if resource.kind == "endpoint":
            out["name"] = resource.name  # a provider whose names follow the key
        return out

    p.desired = rename  # type: ignore[method-assign]
    with pytest.raises(StackError, match="--allow-downtime"):
        plan_only(stack, p, tmp_path)
    plan = plan_only(stack, p, tmp_path, allow_downtime=True)
    change = next(c for c in plan.changes if c.address == "endpoint.e0")
    assert change.action == "replace"
    assert any("by deleting it first" in r.message for r in plan.risks)


def test_an_interrupted_update_is_finished_not_called_drift(tmp_path: Path) -> None:
    p = MemoryProvider()
    stack = pairs(tmp_path, 1)
    run(stack, p, tmp_path)
    backend = LocalBackend(tmp_path / "state")
    state = backend.read()
    rs = state.get("endpoint.e0")
    recorded = dict(rs.attributes)
    # What a SIGKILL while waiting on an update leaves: the write-ahead record, the old
    # attributes in state, and the cloud having carried the change through.
    rs.pending = {"action": "update", "since": "2026-12-01T00:00:00Z", "recorded": recorded}
    backend.write(state)
    p.cloud.drift("endpoint", "e0", "variants[0].instance_count", 3)
    bigger = make_stack(tmp_path, {"m0": "s3://m0"}, {"e0": [("v", "m0", 3)]})
    plan = plan_only(bigger, p, tmp_path)
    assert [d.reason for d in plan.drift] == [
        "changed by an interrupted apply of mlops (started 2026-12-01T00:00:00Z)"
    ]
    change = next(c for c in plan.changes if c.address == "endpoint.e0")
    assert change.action == "update" and "interrupted" in change.reason and plan.has_changes
    text = render_plan(plan.document())
    assert "An interrupted apply left these objects changed" in text
    assert "outside of mlops" not in text
    _, result, state = run(bigger, p, tmp_path)
    assert result.ok and state.get("endpoint.e0").pending is None
    assert p.cloud.finished == [("endpoint", recorded, endpoint(p, "e0"))]
    assert not plan_only(bigger, p, tmp_path).has_changes


def test_apply_writes_ahead_and_clears_the_record(tmp_path: Path) -> None:
    p = MemoryProvider()
    run(pairs(tmp_path, 1), p, tmp_path)
    seen: list[object] = []
    original = p.update

    def spy(kind, prior, desired, ctx):  # type: ignore[no-untyped-def]
        seen.append(LocalBackend(tmp_path / "state").read().get(f"{kind}.e0").pending)
        return original(kind, prior, desired, ctx)

    p.update = spy  # type: ignore[method-assign]
    _, result, state = run(make_stack(tmp_path, {"m0": "s3://m0"}, {"e0": [("v", "m0", 2)]}), p, tmp_path)
    assert result.ok
    assert (
        seen and seen[0]["action"] == "update" and seen[0]["recorded"]["variants"][0]["instance_count"] == 1
    )  # type: ignore[index]
    assert state.get("endpoint.e0").pending is None


def test_deposed_objects_are_pending_work_even_with_no_other_change(tmp_path: Path) -> None:
    p = MemoryProvider()
    stack = pairs(tmp_path, 1)
    run(stack, p, tmp_path)
    backend = LocalBackend(tmp_path / "state")
    state = backend.read()
    old = {
        "name": "m0-old",
        "arn": "arn:old",
        "tags": {},
        "artifact": "s3://old",
        "image": "img",
        "environment": {},
    }
    p.cloud.put("model", "m0-old", old)
    state.get("model.m0").deposed = [old]
    backend.write(state)
    plan = plan_only(stack, p, tmp_path)
    assert plan.has_changes and [d.object_id for d in plan.deposed] == ["m0-old"]
    assert plan.counts()["destroy"] == 1
    _, result, state = run(stack, p, tmp_path)
    assert result.ok and "m0-old" not in p.cloud.names("model") and state.get("model.m0").deposed == []


def secret_stack(tmp_path: Path) -> Stack:
    stack = pairs(tmp_path, 1)
    stack.resources["model.m0"].sensitive_paths = {"tags.api_key"}
    stack.resources["model.m0"].spec.tags = {"api_key": "S3cr3t"}  # type: ignore[attr-defined]
    return stack


def test_secrets_stay_hidden_once_the_resource_left_the_stack(tmp_path: Path) -> None:
    import json

    p = MemoryProvider()
    run(secret_stack(tmp_path), p, tmp_path)
    assert LocalBackend(tmp_path / "state").read().get("model.m0").sensitive_paths == ["tags.api_key"]
    for mode, stack in (("destroy", secret_stack(tmp_path)), ("normal", make_stack(tmp_path, {}, {}))):
        doc = json.dumps(plan_only(stack, p, tmp_path, mode=mode).document())
        assert "S3cr3t" not in doc and "(sensitive)" in doc, mode


def test_an_output_of_a_sensitive_attribute_is_sensitive(tmp_path: Path) -> None:
    p = MemoryProvider()
    stack = secret_stack(tmp_path)
    stack.outputs = {"key": schema.OutputSpec(value="${model.m0.tags.api_key}")}
    plan, result, state = run(stack, p, tmp_path)
    assert result.ok
    assert state.outputs["key"] == {"value": "S3cr3t", "sensitive": True}
    assert "S3cr3t" not in str(plan.document())


def test_apply_refuses_what_the_plan_did_not_say(tmp_path: Path) -> None:
    p = MemoryProvider()
    stack = pairs(tmp_path, 1)
    backend = LocalBackend(tmp_path / "state")
    planned = plan_locked(p.workspace(stack), backend)
    p.cloud.model_suffix = "-newer"  # the provider's desired attributes moved on since the plan
    try:
        result = planned.apply()
    finally:
        planned.release()
    assert not result.ok
    assert "the plan no longer holds" in result.errors[0][1] and "-newer" in result.errors[0][1]
    assert p.cloud.inventory() == [], "nothing the plan did not show was made"


def test_moves_into_a_taken_address_are_refused(tmp_path: Path) -> None:
    p = MemoryProvider()
    both = make_stack(tmp_path, {"m": "s3://a"}, {"a": [("v", "m", 1)], "b": [("v", "m", 1)]})
    run(both, p, tmp_path)
    moved = with_moved(
        make_stack(tmp_path, {"m": "s3://a"}, {"b": [("v", "m", 1)]}), ("endpoint.a", "endpoint.b")
    )
    with pytest.raises(StackError, match="state holds both addresses"):
        plan_only(moved, p, tmp_path)
