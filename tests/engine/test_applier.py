from pathlib import Path

from memory_provider import MemoryProvider, make_stack, workspace

from mlops_gitops.engine.operations import plan_locked
from mlops_gitops.state.local import LocalBackend


def run(stack, provider, tmp_path: Path, mode="normal", parallelism=4):
    backend = LocalBackend(tmp_path / "state")
    planned = plan_locked(workspace(stack, provider), backend, mode=mode, parallelism=parallelism)
    try:
        result = planned.apply(parallelism=parallelism)
    finally:
        planned.release()
    return planned.plan, result, backend.read()


def test_dependencies_first_and_deletes_in_reverse(tmp_path: Path) -> None:
    p = MemoryProvider()
    stack = make_stack({"m": "s3://a"}, {"e": [("v", "m", 1)]})
    plan, result, state = run(stack, p, tmp_path)
    assert result.ok and [op[:2] for op in p.log] == [
        ("create", plan.changes[0].after["name"]),
        ("create", "e"),
    ]
    assert set(state.addresses()) == {"model.m", "endpoint.e"}
    p.log.clear()
    _, result, state = run(stack, p, tmp_path, mode="destroy")
    assert result.ok and [op[1] for op in p.log] == ["e", plan.changes[0].after["name"]]
    assert state.addresses() == [] and p.objects == {}


def test_independent_branches_run_in_parallel(tmp_path: Path) -> None:
    p = MemoryProvider()
    stack = make_stack({"a": "s3://a", "b": "s3://b", "c": "s3://c"}, {})
    for name in ("a", "b", "c"):
        p.delay[f"{name}-{abs(hash('s3://' + name)) % 10_000}"] = 0.3
    _, result, _ = run(stack, p, tmp_path, parallelism=3)
    assert result.ok
    starts = sorted(s for _, _, s, _ in p.log)
    ends = sorted(e for _, _, _, e in p.log)
    assert starts[-1] < ends[0], "all three creates must overlap"


def test_failure_stops_new_work_and_records_what_exists(tmp_path: Path) -> None:
    p = MemoryProvider()
    stack = make_stack({"m": "s3://a"}, {"e": [("v", "m", 1)], "f": [("v", "m", 1)]})
    p.fail["create:e"] = "ValidationException: instance type not allowed"
    p.checkpoint_before_fail.add("e")
    _, result, state = run(stack, p, tmp_path, parallelism=1)
    assert not result.ok
    assert result.errors[0][0] == "endpoint.e" and "instance type not allowed" in result.errors[0][1]
    assert state.get("model.m").status == "ok"
    # The endpoint was partly created: recorded, tainted, so the next plan replaces it.
    assert state.get("endpoint.e").status == "tainted"
    assert state.get("endpoint.f") is None, "no new work after the failure"
    del p.fail["create:e"]
    p.objects["e"] = {"name": "e", "arn": "arn:partial:e", "variants": [], "tags": {}}
    plan, result, state = run(stack, p, tmp_path)
    assert {c.address: c.action for c in plan.changes if c.action != "noop"} == {
        "endpoint.e": "replace",
        "endpoint.f": "create",
    }
    assert result.ok and state.get("endpoint.e").status == "ok"


def test_replacement_creates_first_moves_dependents_then_deletes_old(tmp_path: Path) -> None:
    p = MemoryProvider()
    run(make_stack({"m": "s3://a"}, {"e": [("v", "m", 1)]}), p, tmp_path)
    old = next(n for n in p.objects if n.startswith("m-"))
    p.log.clear()
    plan, result, state = run(make_stack({"m": "s3://b"}, {"e": [("v", "m", 1)]}), p, tmp_path)
    assert {c.address: c.action for c in plan.changes} == {"model.m": "replace", "endpoint.e": "update"}
    assert result.ok
    assert [(op, n == old) for op, n, _, _ in p.log] == [
        ("create", False),
        ("update", False),
        ("delete", True),
    ]
    assert old not in p.objects and state.get("model.m").deposed == []


def test_cloud_ignoring_a_change_is_an_error(tmp_path: Path) -> None:
    p = MemoryProvider()
    run(make_stack({"m": "s3://a"}, {"e": [("v", "m", 1)]}), p, tmp_path)
    p.ignore_updates.add("e")
    _, result, _ = run(make_stack({"m": "s3://a"}, {"e": [("v", "m", 3)]}), p, tmp_path)
    assert not result.ok
    assert "reads back differently" in result.errors[0][1] and "variants[0].count" in result.errors[0][1]


def test_reverting_a_failed_replacement_keeps_the_readopted_model(tmp_path: Path) -> None:
    p = MemoryProvider()
    run(make_stack({"m": "s3://a"}, {"e": [("v", "m", 1)]}), p, tmp_path)
    original = next(n for n in p.objects if n.startswith("m-"))
    p.fail["update:e"] = "rolled back: alarm p99 in ALARM"
    _, result, state = run(make_stack({"m": "s3://b"}, {"e": [("v", "m", 1)]}), p, tmp_path)
    assert not result.ok
    assert [d["name"] for d in state.get("model.m").deposed] == [original], "the old model is kept"
    del p.fail["update:e"]
    # The change is reverted: the model goes back to the original, still-existing object.
    _, result, state = run(make_stack({"m": "s3://a"}, {"e": [("v", "m", 1)]}), p, tmp_path)
    assert result.ok, result.errors
    assert state.get("model.m").attributes["name"] == original
    assert original in p.objects, "the live model must not be deleted as a deposed one"
    assert state.get("model.m").deposed == []
    assert [n for n in p.objects if n.startswith("m-")] == [original]
