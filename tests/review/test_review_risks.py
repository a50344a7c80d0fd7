"""The risks in ML terms the planner names (`Risk.code`), on the in-memory provider: traffic
shifts from -> to per variant, model swaps, capacity, approval, rollback signals, monitors,
alerts and retraining schedules removed or turned off, protection."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops.engine.operations import plan_locked
from mlops_gitops.engine.plan import Plan
from mlops_gitops.engine.planner import apply_moves, make_plan
from mlops_gitops.state.local import LocalBackend
from mlops_gitops.state.model import StateDoc
from mlops_gitops.testing import MemoryProvider, memory_stack


def base() -> dict[str, Any]:
    return {
        "models": {
            "m": {"artifact": "s3://ml/m/v1/", "image": "img"},
            "n": {"artifact": "s3://ml/n/v1/", "image": "img"},
        },
        "endpoints": {
            "e": {
                "variants": [
                    {"name": "a", "model": "m", "instance_type": "t", "instance_count": 2, "weight": 90},
                    {"name": "b", "model": "n", "instance_type": "t", "instance_count": 1, "weight": 10},
                ],
                "data_capture": {"destination": "s3://ml/capture/"},
            }
        },
        "monitors": {
            "mon": {
                "endpoint": "e",
                "type": "data_quality",
                "baseline": "s3://ml/baseline/",
                "alert": {"threshold": 0.2, "notify": ["oncall@example.com"]},
            }
        },
        "schedules": {
            "s": {"cron": "0 3 * * *", "pipeline": {"template_uri": "s3://ml/p.json"}, "also_on": ["mon"]}
        },
    }


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.provider = MemoryProvider()
        self.backend = LocalBackend(tmp_path / "state")

    def plan(self, doc: dict[str, Any], **kw: Any) -> Plan:
        ws = self.provider.workspace(memory_stack(doc, self.dir))
        state = self.backend.read() or StateDoc.new("test")
        return make_plan(ws, state, moves=apply_moves(state, ws.stack.moved), **kw)

    def apply(self, doc: dict[str, Any]) -> None:
        planned = plan_locked(self.provider.workspace(memory_stack(doc, self.dir)), self.backend)
        try:
            assert planned.apply().ok
        finally:
            planned.release()


@pytest.fixture
def env(tmp_path: Path) -> Env:
    e = Env(tmp_path)
    e.apply(base())
    return e


def codes(plan: Plan) -> list[tuple[str, str]]:
    return [(r.address, r.code) for r in plan.risks]


def test_a_new_variant_shifts_traffic_from_to_per_variant(env: Env) -> None:
    doc = base()
    doc["endpoints"]["e"]["variants"][0]["weight"] = 80
    doc["endpoints"]["e"]["variants"].append(
        {"name": "c", "model": "m", "instance_type": "t", "instance_count": 1, "weight": 10}
    )
    plan = env.plan(doc)
    assert codes(plan) == [("endpoint.e", "traffic_shift"), ("endpoint.e", "rollout_without_rollback")]
    shift = plan.risks[0]
    assert shift.detail["variants"] == [
        {"variant": "a", "from": 90.0, "to": 80.0, "mirror_from": None, "mirror_to": None},
        {"variant": "b", "from": 10.0, "to": 10.0, "mirror_from": None, "mirror_to": None},
        {"variant": "c", "from": None, "to": 10.0, "mirror_from": None, "mirror_to": None},
    ]
    assert shift.message == "shifts traffic: a 90% -> 80%, b 10% -> 10%, c (new) -> 10%"
    assert plan.document()["risks"][0]["code"] == "traffic_shift"


def test_a_new_model_behind_a_variant_is_a_swap_naming_its_share(env: Env) -> None:
    doc = base()
    doc["models"]["n"]["artifact"] = "s3://ml/n/v2/"
    plan = env.plan(doc)
    assert codes(plan) == [("endpoint.e", "model_changed"), ("endpoint.e", "rollout_without_rollback")]
    (swap,) = plan.risks[0].detail["variants"]
    assert swap["variant"] == "b" and swap["traffic_percent"] == 10.0 and swap["from"] != swap["to"]
    assert "variant b (10% of live traffic)" in plan.risks[0].message


def test_capacity_only_is_no_risk(env: Env) -> None:
    doc = base()
    doc["endpoints"]["e"]["variants"][0]["instance_count"] = 3
    assert env.plan(doc).risks == []


def test_a_removed_monitor_and_schedule(env: Env) -> None:
    doc = base()
    del doc["monitors"]
    doc["schedules"]["s"]["also_on"] = []
    plan = env.plan(doc)
    assert ("monitor.mon", "monitor_removed") in codes(plan)
    assert plan.risks[[a for a, _ in codes(plan)].index("monitor.mon")].detail == {"endpoint": "endpoint.e"}
    doc = base()
    del doc["schedules"]
    assert codes(env.plan(doc)) == [("schedule.s", "schedule_removed")]


def test_turned_off_and_alert_removed(env: Env) -> None:
    doc = base()
    doc["monitors"]["mon"]["enabled"] = False
    doc["schedules"]["s"]["enabled"] = False
    assert codes(env.plan(doc)) == [("monitor.mon", "monitor_disabled"), ("schedule.s", "schedule_disabled")]
    doc = base()
    del doc["monitors"]["mon"]["alert"]
    assert codes(env.plan(doc)) == [("monitor.mon", "alert_removed")]


def test_destroying_names_the_endpoint_not_each_part(env: Env) -> None:
    assert codes(env.plan(base(), mode="destroy")) == [("endpoint.e", "serving_destroyed")]


def test_protection(env: Env) -> None:
    doc = base()
    doc["schedules"]["s"]["lifecycle"] = {"prevent_destroy": True}
    doc["schedules"]["s"]["cron"] = "0 2 * * *"  # applied, so state records it protected
    env.apply(doc)
    changed = copy.deepcopy(doc)
    changed["schedules"]["s"]["cron"] = "0 4 * * *"
    assert codes(env.plan(changed)) == [("schedule.s", "protected")]
    lifted = copy.deepcopy(changed)
    lifted["schedules"]["s"]["lifecycle"] = {"prevent_destroy": False}
    # Named with a change of the resource: lifting it alone changes nothing in the cloud.
    assert codes(env.plan(lifted)) == [("schedule.s", "protection_removed")]
