"""The planner (`mlops_gitops.engine.planner`) on the in-memory provider: which action each
resource gets and why, in what order, with which field changes, risks, deposed objects, moves
and outputs. State is made by a real apply, then edited where a test needs a record an apply
leaves only when it fails or dies; plans are made with `make_plan` directly (no lock, no CLI)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops.engine.operations import plan_locked
from mlops_gitops.engine.plan import Move, Plan, Reason, ResourceChange, Risk
from mlops_gitops.engine.planner import apply_moves, make_plan
from mlops_gitops.errors import StackError
from mlops_gitops.provider import UNKNOWN
from mlops_gitops.state.local import LocalBackend
from mlops_gitops.state.model import StateDoc
from mlops_gitops.testing import MemoryProvider, memory_stack
from mlops_gitops.testing.harness import actions
from mlops_gitops.workspace import Workspace

ALL = ["model.m", "endpoint.e", "monitor.mon", "schedule.s"]


def base() -> dict[str, Any]:
    """A model served by an endpoint, a monitor of that endpoint, a schedule its alert starts."""
    return {
        "models": {"m": {"artifact": "s3://ml/m/v1/", "image": "img", "tags": {"team": "fraud"}}},
        "endpoints": {
            "e": {
                "variants": [{"name": "v", "model": "m", "instance_type": "t", "instance_count": 1}],
                "data_capture": {"destination": "s3://ml/capture/"},
            }
        },
        "monitors": {"mon": {"endpoint": "e", "type": "data_quality", "baseline": "s3://ml/baseline/"}},
        "schedules": {
            "s": {"cron": "0 3 * * *", "pipeline": {"template_uri": "s3://ml/p.json"}, "also_on": ["mon"]}
        },
    }


class Env:
    """One provider, its cloud, and the state of one stack."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.provider = MemoryProvider()
        self.cloud = self.provider.cloud
        self.backend = LocalBackend(tmp_path / "state")

    def ws(self, doc: dict[str, Any]) -> Workspace:
        return self.provider.workspace(memory_stack(doc, self.dir))

    def state(self) -> StateDoc:
        return self.backend.read() or StateDoc.new("test")

    def save(self, state: StateDoc) -> None:
        self.backend.write(state)

    def plan(self, doc: dict[str, Any], state: StateDoc | None = None, **kw: Any) -> Plan:
        """The plan `mlops plan` makes: moves applied to state (in memory), refresh, plan."""
        ws = self.ws(doc)
        state = self.state() if state is None else state
        return make_plan(ws, state, moves=apply_moves(state, ws.stack.moved), **kw)

    def apply(self, doc: dict[str, Any], **kw: Any) -> StateDoc:
        planned = plan_locked(self.ws(doc), self.backend, **kw)
        try:
            result = planned.apply()
        finally:
            planned.release()
        assert result.ok, result.errors
        return self.state()


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def change(plan: Plan, address: str) -> ResourceChange:
    return next(c for c in plan.changes if c.address == address)


def order(plan: Plan) -> list[tuple[str, str]]:
    return [(c.address, c.action) for c in plan.changes]


def fields(c: ResourceChange) -> dict[str, tuple[Any, Any, bool]]:
    return {f.path: (f.before, f.after, f.forces_replacement) for f in c.changes}


# ================================================================ create, no-op, update, replace
def test_a_new_stack_is_created_in_dependency_order_with_unknowns_marked(env: Env) -> None:
    plan = env.plan(base())
    assert order(plan) == [(a, "create") for a in ALL]
    model, endpoint, schedule = (
        change(plan, "model.m"),
        change(plan, "endpoint.e"),
        change(plan, "schedule.s"),
    )
    assert model.after is not None and model.after["arn"] is UNKNOWN
    # A name the provider derives is known at plan time, and flows into what refers to it.
    assert model.after["name"].startswith("m-")
    assert endpoint.after["variants"][0]["model"] == model.after["name"]  # type: ignore[index]
    assert endpoint.depends_on == ["model.m"] and change(plan, "monitor.mon").depends_on == ["endpoint.e"]
    assert schedule.after["id"] is UNKNOWN  # type: ignore[index]
    assert {c.address: c.document()["after_unknown"] for c in plan.changes} == {
        "model.m": ["arn"],
        "endpoint.e": ["arn", "status"],
        "monitor.mon": ["arn"],
        "schedule.s": ["id"],
    }
    assert all(c.before is None and c.reason_code == Reason.NONE for c in plan.changes)
    assert plan.counts() == {"add": 4, "change": 0, "destroy": 0, "retire": 0, "move": 0, "drift": 0}
    assert plan.risks == [] and plan.deposed == [] and plan.drift == []


def test_an_applied_stack_plans_no_changes(env: Env) -> None:
    state = env.apply(base())
    plan = env.plan(base())
    assert order(plan) == [(a, "noop") for a in ALL]
    assert all(c.changes == [] and c.notes == [] for c in plan.changes)
    assert not plan.has_changes and plan.drift == [] and plan.risks == []
    # A no-op's planned attributes are what state holds: computed values known.
    assert change(plan, "model.m").after == state.get("model.m").attributes  # type: ignore[union-attr]


def test_an_in_place_change_is_an_update_that_keeps_computed_values(env: Env) -> None:
    state = env.apply(base())
    doc = base()
    doc["models"]["m"]["tags"] = {"team": "risk"}
    plan = env.plan(doc)
    assert actions(plan) == {"model.m": "update"}
    model = change(plan, "model.m")
    assert fields(model) == {"tags.team": ("fraud", "risk", False)}
    recorded = state.get("model.m").attributes  # type: ignore[union-attr]
    assert model.after["arn"] == recorded["arn"] and model.after["name"] == recorded["name"]  # type: ignore[index]
    assert model.replace_order is None and plan.counts()["change"] == 1


def test_a_force_new_change_replaces_and_what_refers_to_it_is_updated(env: Env) -> None:
    state = env.apply(base())
    old = state.get("model.m").attributes  # type: ignore[union-attr]
    doc = base()
    doc["models"]["m"]["artifact"] = "s3://ml/m/v2/"
    plan = env.plan(doc)
    assert order(plan) == [
        ("model.m", "replace"),
        ("endpoint.e", "update"),
        ("monitor.mon", "noop"),
        ("schedule.s", "noop"),
    ]
    model = change(plan, "model.m")
    new_name = model.after["name"]  # type: ignore[index]
    assert new_name != old["name"]
    # The changed field and the identity force the replacement; the ARN is new, not forced.
    assert fields(model) == {
        "name": (old["name"], new_name, True),
        "arn": (old["arn"], UNKNOWN, False),
        "artifact": ("s3://ml/m/v1/", "s3://ml/m/v2/", True),
    }
    assert model.replace_order == "create_before_destroy"
    assert fields(change(plan, "endpoint.e")) == {"variants[0].model": (old["name"], new_name, False)}
    assert not [r for r in plan.risks if r.address == "model.m"], "replacing a model is no risk of its own"
    # What it serves changes: the endpoint names the swap, with nothing to roll it back.
    assert [r.code for r in plan.risks] == ["model_changed", "rollout_without_rollback"]
    assert plan.counts() == {"add": 1, "change": 1, "destroy": 1, "retire": 0, "move": 0, "drift": 0}


def test_force_new_covers_the_paths_below_it(env: Env) -> None:
    env.apply(base())
    doc = base()
    doc["schedules"]["s"]["pipeline"]["template_uri"] = "s3://ml/p2.json"
    plan = env.plan(doc)
    schedule = change(plan, "schedule.s")
    assert actions(plan) == {"schedule.s": "replace"}
    assert fields(schedule)["pipeline.template_uri"] == ("s3://ml/p.json", "s3://ml/p2.json", True)
    # Its id is the cloud's: a new schedule gets a new one.
    assert schedule.after["id"] is UNKNOWN and fields(schedule)["id"][2] is True  # type: ignore[index]
    assert schedule.replace_order == "create_before_destroy"


def test_replacements_run_in_the_order_their_kind_asks(env: Env) -> None:
    env.apply(base())
    (old_model,) = env.cloud.names("model")
    doc = base()
    doc["models"]["m"]["artifact"] = "s3://ml/m/v2/"
    doc["monitors"]["mon"]["type"] = "bias"  # a monitor's name is fixed: the old one goes first
    plan = env.plan(doc)
    # The schedule starts on the monitor's alert by name: the same after the replacement.
    assert actions(plan) == {"model.m": "replace", "endpoint.e": "update", "monitor.mon": "replace"}
    assert change(plan, "model.m").replace_order == "create_before_destroy"
    assert change(plan, "monitor.mon").replace_order == "delete_before_create"
    env.cloud.calls.clear()
    env.apply(doc)
    (new_model,) = env.cloud.names("model")
    calls = [(c.op, c.kind, c.name) for c in env.cloud.calls]

    def at(call: tuple[str, str, str]) -> int:
        return calls.index(call)

    # The new model first, the endpoint moved onto it, the old model last.
    assert (
        at(("create", "model", new_model))
        < at(("update", "endpoint", "e"))
        < at(("delete", "model", old_model))
    )
    # The monitor is deleted, then made again under its name.
    assert at(("delete", "monitor", "mon")) < at(("create", "monitor", "mon"))
    assert not env.plan(doc).has_changes


# ========================================================================= computed and unknown
def test_outputs_are_unknown_until_what_they_name_is_known(env: Env) -> None:
    doc = base()
    doc["outputs"] = {
        "model_arn": {"value": "${model.m.arn}"},
        "model_name": {"value": "${model.m.name}"},
        "schedule_url": {"value": "https://console/${schedule.s.id}"},
        "literal": {"value": "$${model.m.arn}"},
    }
    plan = env.plan(doc)
    outputs = {o.name: (o.action, o.after) for o in plan.outputs}
    name = change(plan, "model.m").after["name"]  # type: ignore[index]
    assert outputs == {
        "model_arn": ("create", UNKNOWN),
        "model_name": ("create", name),
        "schedule_url": ("create", UNKNOWN),
        "literal": ("create", "${model.m.arn}"),
    }
    state = env.apply(doc)
    arn = state.get("model.m").attributes["arn"]  # type: ignore[union-attr]
    assert state.outputs["model_arn"] == {"value": arn, "sensitive": False}
    assert {o.name: o.action for o in env.plan(doc).outputs} == dict.fromkeys(outputs, "noop")
    doc["models"]["m"]["artifact"] = "s3://ml/m/v2/"
    replaced = {o.name: (o.action, o.after) for o in env.plan(doc).outputs}
    assert replaced["model_arn"] == ("update", UNKNOWN), "a replaced model's ARN is known after apply"
    del doc["outputs"]["literal"]
    assert {o.name: o.action for o in env.plan(doc).outputs}["literal"] == "delete"


# ======================================================================= not_drift, ignore_changes
def test_not_drift_paths_are_never_compared(env: Env) -> None:
    env.apply(base())
    env.cloud.set_status("endpoint", "e", "Updating")  # the cloud's own business
    plan = env.plan(base())
    assert plan.drift == [] and actions(plan) == {}


def test_ignore_changes_keeps_the_clouds_value_and_plans_the_rest(env: Env) -> None:
    doc = base()
    doc["endpoints"]["e"]["lifecycle"] = {"ignore_changes": ["variants[*].instance_count"]}
    env.apply(doc)
    env.cloud.drift("endpoint", "e", "variants[0].instance_count", 3)  # the autoscaler's doing
    doc["endpoints"]["e"]["variants"][0]["instance_count"] = 2
    plan = env.plan(doc)
    # The change outside mlops is still reported, but nothing is planned to undo it.
    assert [(d.address, d.reason_code) for d in plan.drift] == [("endpoint.e", Reason.CHANGED_OUTSIDE)]
    endpoint = change(plan, "endpoint.e")
    assert endpoint.action == "noop" and endpoint.after["variants"][0]["instance_count"] == 3  # type: ignore[index]
    doc["endpoints"]["e"]["variants"][0]["weight"] = 2
    endpoint = change(env.plan(doc), "endpoint.e")
    assert endpoint.action == "update"
    assert fields(endpoint) == {"variants[0].weight": (1.0, 2.0, False)}
    assert endpoint.after["variants"][0]["instance_count"] == 3  # type: ignore[index]


# ================================================================================ prevent_destroy
def test_prevent_destroy_refuses_a_replace_and_a_destroy_but_not_an_update(env: Env) -> None:
    doc = base()
    doc["models"]["m"]["lifecycle"] = {"prevent_destroy": True}
    env.apply(doc)
    doc["models"]["m"]["tags"] = {"team": "risk"}
    assert actions(env.plan(doc)) == {"model.m": "update"}
    doc["models"]["m"]["artifact"] = "s3://ml/m/v2/"
    with pytest.raises(StackError, match=r"^model\.m: .*would replace it \(changed: name, artifact\)$"):
        env.plan(doc)
    with pytest.raises(
        StackError, match=r"^model\.m: lifecycle.prevent_destroy is set, but this plan would destroy it$"
    ):
        env.plan(base() | {"models": doc["models"]}, mode="destroy")
    # Protection is recorded in state: leaving the stack does not lift it.
    with pytest.raises(StackError, match=r"^model\.m: it was applied with lifecycle.prevent_destroy"):
        env.plan({})


def test_prevent_destroy_does_not_reach_what_is_not_destroyed(env: Env) -> None:
    doc = base()
    doc["models"]["m"]["lifecycle"] = {"prevent_destroy": True}
    env.apply(doc)
    # Only the schedule leaves the stack: the protected model is untouched, the plan goes ahead.
    del doc["schedules"]
    assert actions(env.plan(doc)) == {"schedule.s": "delete"}
    # A targeted destroy of the schedule does not reach the model either.
    plan = env.plan(base() | {"models": doc["models"]}, mode="destroy", targets=["schedule.s"])
    assert actions(plan) == {"schedule.s": "delete"}


def test_a_prevent_destroy_refusal_says_why_when_no_field_forces_it(env: Env) -> None:
    doc = base()
    doc["endpoints"]["e"]["lifecycle"] = {"prevent_destroy": True}
    env.apply(doc)
    env.cloud.set_status("endpoint", "e", "Failed")
    with pytest.raises(StackError) as refused:
        env.plan(doc)
    assert "(changed: )" not in str(refused.value) and "Failed" in str(refused.value)


# ======================================================================================= ordering
def test_creates_follow_dependencies_whatever_the_file_order(env: Env) -> None:
    doc = base()
    doc["models"]["n"] = {"artifact": "s3://ml/n/v1/", "image": "img"}
    doc["endpoints"]["f"] = {"variants": [{"name": "v", "model": "n", "instance_type": "t"}]}
    reordered = {k: doc[k] for k in ("schedules", "monitors", "endpoints", "models")}
    plan = env.plan(reordered)
    created = [c.address for c in plan.changes]
    assert sorted(created) == sorted([*ALL, "model.n", "endpoint.f"])
    for c in plan.changes:
        for dependency in c.depends_on:
            assert created.index(dependency) < created.index(c.address), (dependency, c.address)


def test_deletes_go_dependents_first(env: Env) -> None:
    env.apply(base())
    only_model = {"models": base()["models"]}
    plan = env.plan(only_model)
    assert order(plan) == [
        ("model.m", "noop"),
        ("schedule.s", "delete"),
        ("monitor.mon", "delete"),
        ("endpoint.e", "delete"),
    ]
    assert {change(plan, a).reason_code for a in ("schedule.s", "monitor.mon", "endpoint.e")} == {
        Reason.REMOVED_FROM_STACK
    }
    # Dependencies of a delete are what state recorded (the stack no longer says).
    assert change(plan, "monitor.mon").depends_on == ["endpoint.e"]
    assert change(plan, "endpoint.e").before == env.state().get("endpoint.e").attributes  # type: ignore[union-attr]


def test_a_destroy_plan_deletes_all_of_state_in_reverse_and_creates_nothing(env: Env) -> None:
    doc = base()
    doc["outputs"] = {"model": {"value": "${model.m.name}"}}
    env.apply(doc)
    doc["models"]["new"] = {"artifact": "s3://ml/new/", "image": "img"}  # not applied yet
    plan = env.plan(doc, mode="destroy")
    assert order(plan) == [(a, "delete") for a in reversed(ALL)]
    assert all(c.reason_code == Reason.NONE and c.after is None for c in plan.changes)
    assert [(o.name, o.action) for o in plan.outputs] == [("model", "delete")]
    assert plan.counts() == {"add": 0, "change": 0, "destroy": 4, "retire": 0, "move": 0, "drift": 0}


def test_targets_bring_dependencies_and_a_destroy_target_its_dependents(env: Env) -> None:
    plan = env.plan(base(), targets=["endpoint.e"])
    assert order(plan) == [("model.m", "create"), ("endpoint.e", "create")]
    env.apply(base())
    plan = env.plan(base(), mode="destroy", targets=["endpoint.e"])
    assert order(plan) == [("schedule.s", "delete"), ("monitor.mon", "delete"), ("endpoint.e", "delete")]
    with pytest.raises(StackError, match=r"--target endpoint\.ee: no resource with that address"):
        env.plan(base(), targets=["endpoint.ee"])


# ====================================================================== tainted and failed records
def taint(env: Env, address: str) -> None:
    state = env.state()
    state.get(address).status = "tainted"  # type: ignore[union-attr]
    env.save(state)


def test_a_tainted_record_is_replaced_without_downtime_warnings(env: Env) -> None:
    env.apply(base())
    taint(env, "endpoint.e")
    env.cloud.drift("endpoint", "e", "variants[0].instance_count", 0)  # half made
    plan = env.plan(base())  # no allow_downtime: a half-made endpoint serves nothing
    endpoint = change(plan, "endpoint.e")
    assert endpoint.action == "replace" and endpoint.reason_code == Reason.TAINTED
    assert endpoint.reason == "tainted: a previous apply failed part way"
    assert endpoint.replace_order == "delete_before_create"
    assert plan.risks == [] and plan.drift == [], "a half-made object is not drift, nor a risk to name"


def test_a_tainted_record_the_cloud_holds_as_asked_is_kept(env: Env) -> None:
    env.apply(base())
    taint(env, "model.m")
    model = change(env.plan(base()), "model.m")
    assert model.action == "update" and model.reason_code == Reason.TAINTED_BUT_HEALTHY
    assert model.changes == []


def test_a_tainted_record_of_an_object_never_made_is_created(env: Env) -> None:
    env.apply(base())
    taint(env, "schedule.s")
    (schedule,) = env.cloud.names("schedule")
    env.cloud.delete_outside("schedule", schedule)
    plan = env.plan(base())
    assert actions(plan) == {"schedule.s": "create"}
    assert change(plan, "schedule.s").reason_code == Reason.NEVER_CREATED and plan.drift == []


def test_a_destroy_does_not_call_an_object_never_made_deleted_outside(env: Env) -> None:
    env.apply(base())
    taint(env, "schedule.s")
    (schedule,) = env.cloud.names("schedule")
    env.cloud.delete_outside("schedule", schedule)
    assert change(env.plan(base(), mode="destroy"), "schedule.s").reason_code != Reason.ALREADY_DELETED


def test_a_failed_object_is_replaced_whatever_the_stack_says(env: Env) -> None:
    state = env.apply(base())
    env.cloud.set_status("endpoint", "e", "Failed")
    plan = env.plan(base())  # no allow_downtime: a failed endpoint serves nothing
    endpoint = change(plan, "endpoint.e")
    assert endpoint.action == "replace" and endpoint.reason_code == Reason.FAILED_IN_CLOUD
    assert endpoint.reason_detail == {"status": "Failed"}
    assert "the cloud reports it Failed" in endpoint.reason
    # Nothing in the stack changed: only the cloud's values are new.
    arn = state.get("endpoint.e").attributes["arn"]  # type: ignore[union-attr]
    assert fields(endpoint) == {"arn": (arn, UNKNOWN, False)}
    assert plan.drift == [], "the status is the cloud's, not drift"
    assert [c.address for c in plan.changes if c.action != "noop"] == ["endpoint.e"]


# ==================================================================================== drift
def test_an_object_deleted_outside_mlops_is_drift_and_made_again(env: Env) -> None:
    state = env.apply(base())
    env.cloud.delete_outside("endpoint", "e")
    plan = env.plan(base())
    assert [(d.address, d.action, d.reason_code) for d in plan.drift] == [
        ("endpoint.e", "delete", Reason.DELETED_OUTSIDE)
    ]
    assert plan.drift[0].before == state.get("endpoint.e").attributes  # type: ignore[union-attr]
    endpoint = change(plan, "endpoint.e")
    assert (endpoint.action, endpoint.reason_code, endpoint.before) == (
        "create",
        Reason.DELETED_OUTSIDE,
        None,
    )
    assert actions(plan) == {"endpoint.e": "create"}, "the monitor keeps pointing at the same name"
    destroy = env.plan(base(), mode="destroy")
    gone = change(destroy, "endpoint.e")
    assert (gone.action, gone.reason_code, gone.before) == ("delete", Reason.ALREADY_DELETED, None)


def test_a_console_change_is_drift_and_planned_back(env: Env) -> None:
    env.apply(base())
    env.cloud.drift("endpoint", "e", "variants[0].instance_count", 3)
    plan = env.plan(base())
    (drift,) = plan.drift
    assert (drift.address, drift.action, drift.reason_code) == (
        "endpoint.e",
        "update",
        Reason.CHANGED_OUTSIDE,
    )
    assert fields(drift) == {"variants[0].instance_count": (1, 3, False)}
    assert fields(change(plan, "endpoint.e")) == {"variants[0].instance_count": (3, 1, False)}
    refresh_only = env.plan(base(), mode="refresh-only")
    assert refresh_only.changes == [] and len(refresh_only.drift) == 1 and refresh_only.has_changes


# ==================================================================================== moves
def renamed() -> dict[str, Any]:
    doc = base()
    doc["endpoints"] = {"api": doc["endpoints"]["e"]}
    doc["monitors"]["mon"]["endpoint"] = "api"
    doc["moved"] = [{"from": "endpoint.e", "to": "endpoint.api"}]
    return doc


def test_a_moved_block_moves_the_record_and_plans_nothing_else(env: Env) -> None:
    before = env.apply(base()).get("endpoint.e").attributes  # type: ignore[union-attr]
    state = env.state()
    moves = apply_moves(state, [("endpoint.e", "endpoint.api")])
    assert moves == [Move("endpoint.e", "endpoint.api")]
    assert state.get("endpoint.e") is None and state.get("endpoint.api").attributes == before  # type: ignore[union-attr]
    assert state.get("monitor.mon").dependencies == ["endpoint.api"], "dependencies follow the move"  # type: ignore[union-attr]
    plan = env.plan(renamed())
    assert plan.moves == [Move("endpoint.e", "endpoint.api")]
    assert actions(plan) == {} and plan.has_changes and plan.counts()["move"] == 1
    assert plan.risks == [], "a move destroys nothing"
    env.apply(renamed())
    again = env.plan(renamed())
    assert again.moves == [] and not again.has_changes, "a move is done once"


def test_without_the_moved_block_a_rename_destroys_and_creates(env: Env) -> None:
    env.apply(base())
    doc = renamed()
    del doc["moved"]
    plan = env.plan(doc)
    assert actions(plan) == {"endpoint.api": "create", "monitor.mon": "replace", "endpoint.e": "delete"}
    message = (
        "destroys serving endpoint e: its traffic stops; to keep its record, mark it retired instead "
        "(endpoints.e.retired: {reason: ..., by: ...})"
    )
    assert Risk("endpoint.e", message) in plan.risks


def test_moving_a_record_an_apply_was_interrupted_changing_is_a_risk(env: Env) -> None:
    state = env.apply(base())
    rs = state.get("endpoint.e")
    rs.pending = {"action": "update", "since": "2026-01-01T00:00:00Z", "recorded": dict(rs.attributes)}  # type: ignore[union-attr]
    env.save(state)
    plan = env.plan(renamed())
    assert Risk("endpoint.api", "moved from endpoint.e while a change of it was interrupted") in plan.risks
    assert change(plan, "endpoint.api").reason_code == Reason.INTERRUPTED


# =================================================================================== deposed
def test_deposed_objects_are_planned_for_deletion_by_their_id(env: Env) -> None:
    state = env.apply(base())
    model, schedule = state.get("model.m"), state.get("schedule.s")
    assert model is not None and schedule is not None
    old_model = {**model.attributes, "name": "m-old"}
    old_schedule = {**schedule.attributes, "id": "schedule-old"}
    # The same object as the live one, recorded twice: only forgotten, never planned.
    model.deposed = [old_model, dict(model.attributes)]
    schedule.deposed = [old_schedule]
    env.save(state)
    plan = env.plan(base())
    assert [(d.address, d.kind, d.object_id) for d in plan.deposed] == [
        ("model.m", "model", "m-old"),
        ("schedule.s", "schedule", "schedule-old"),
    ]
    assert plan.deposed[0].attributes == old_model
    assert actions(plan) == {} and plan.has_changes and plan.counts()["destroy"] == 2
    assert [d.object_id for d in env.plan(base(), targets=["endpoint.e"]).deposed] == ["m-old"]


# ====================================================================================== risks
def test_destroying_a_serving_endpoint_is_the_named_risk(env: Env) -> None:
    env.apply(base())
    assert env.plan(base(), mode="destroy").risks == [
        Risk("endpoint.e", "destroys serving endpoint e: its traffic stops")
    ]
    doc = base()
    doc["endpoints"]["e"]["variants"][0]["instance_count"] = 2
    assert env.plan(doc).risks == [], "an update in place is no risk"


# ================================================================================== secrets
def secret(doc: dict[str, Any], sensitive: bool = True) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["variables"] = {"token": {"default": "S3cr3t", "sensitive": sensitive}}
    doc["models"]["m"]["environment"] = {"TOKEN": "${var.token}"}
    return doc


def test_sensitive_values_are_marked_and_never_in_the_document(env: Env) -> None:
    plan = env.plan(secret(base()))
    model = change(plan, "model.m")
    assert model.sensitive_paths == ["environment.TOKEN"]
    assert [f.path for f in model.changes if f.sensitive] == ["environment.TOKEN"]
    assert "S3cr3t" not in json.dumps(plan.document()) and "(sensitive)" in json.dumps(plan.document())
    env.apply(secret(base()))
    rotated = secret(base())
    rotated["variables"]["token"]["default"] = "N3w"
    model = change(env.plan(rotated), "model.m")
    assert model.action == "replace"
    hidden = {f.path: (f.sensitive, f.forces_replacement) for f in model.changes}
    assert hidden["environment.TOKEN"] == (True, True)
    assert "S3cr3t" not in json.dumps(model.document()) and "N3w" not in json.dumps(model.document())


def test_a_value_recorded_as_sensitive_stays_hidden(env: Env) -> None:
    env.apply(secret(base()))
    # The variable is no longer marked sensitive, but state remembers the path was.
    doc = secret(base(), sensitive=False)
    doc["variables"]["token"]["default"] = "N3w"
    plan = env.plan(doc)
    assert change(plan, "model.m").sensitive_paths == ["environment.TOKEN"]
    assert "S3cr3t" not in json.dumps(plan.document())
    destroy = env.plan({}, mode="destroy")
    assert change(destroy, "model.m").sensitive_paths == ["environment.TOKEN"]
    assert "S3cr3t" not in json.dumps(destroy.document())


# ================================================================================ interrupted
def interrupted(env: Env, address: str, action: str) -> dict[str, Any]:
    state = env.state()
    rs = state.get(address)
    assert rs is not None
    recorded = dict(rs.attributes)
    rs.pending = {"action": action, "since": "2026-12-01T00:00:00Z", "recorded": recorded}
    env.save(state)
    return recorded


def test_an_interrupted_change_is_finished_even_with_nothing_left_to_change(env: Env) -> None:
    env.apply(base())
    interrupted(env, "endpoint.e", "update")
    plan = env.plan(base())
    endpoint = change(plan, "endpoint.e")
    assert (endpoint.action, endpoint.reason_code, endpoint.changes) == ("update", Reason.INTERRUPTED, [])
    assert endpoint.reason_detail == {"action": "update", "since": "2026-12-01T00:00:00Z"}
    assert "interrupted while it updated this resource (at 2026-12-01T00:00:00Z)" in endpoint.reason
    assert plan.drift == [] and actions(plan) == {"endpoint.e": "update"}


def test_what_an_interrupted_apply_changed_is_not_called_a_change_outside(env: Env) -> None:
    env.apply(base())
    interrupted(env, "endpoint.e", "update")
    env.cloud.drift("endpoint", "e", "variants[0].instance_count", 2)  # the cloud carried it through
    doc = base()
    doc["endpoints"]["e"]["variants"][0]["instance_count"] = 2
    plan = env.plan(doc)
    (drift,) = plan.drift
    assert drift.reason_code == Reason.INTERRUPTED_OUTSIDE
    assert drift.reason == "changed by an interrupted apply of mlops (started 2026-12-01T00:00:00Z)"
    endpoint = change(plan, "endpoint.e")
    assert (endpoint.action, endpoint.reason_code, endpoint.changes) == ("update", Reason.INTERRUPTED, [])


def test_an_object_an_interrupted_apply_deleted_is_not_called_deleted_outside(env: Env) -> None:
    env.apply(base())
    interrupted(env, "monitor.mon", "replace")
    env.cloud.delete_outside("monitor", "mon")
    plan = env.plan(base())
    assert [d.reason_code for d in plan.drift] == [Reason.INTERRUPTED_OUTSIDE]
    monitor = change(plan, "monitor.mon")
    assert monitor.action == "create"
    assert monitor.reason_code != Reason.DELETED_OUTSIDE


def test_a_rolled_back_resource_says_so_when_the_stack_asks_otherwise(env: Env) -> None:
    env.apply(base())
    state = env.state()
    state.get("endpoint.e").rolled_back = {"by": "ana", "at": "2026-12-02T00:00:00Z"}  # type: ignore[union-attr]
    env.save(state)
    assert change(env.plan(base()), "endpoint.e").action == "noop", "nothing to say while it matches"
    env.cloud.drift("endpoint", "e", "variants[0].instance_count", 4)
    endpoint = change(env.plan(base()), "endpoint.e")
    assert (endpoint.action, endpoint.reason_code) == ("update", Reason.ROLLED_BACK)
    assert endpoint.reason == "rolled back by ana at 2026-12-02T00:00:00Z; the stack still asks for this"
