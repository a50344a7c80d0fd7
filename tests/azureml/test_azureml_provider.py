"""The Azure ML provider end to end through the real `azure-ai-ml` MLClient (and Azure Monitor's
client) against the ARM emulator over TLS: what each kind makes in the workspace, blue/green
rollouts stepped by the core's driver, failures that restore the previous traffic, drift,
throttling, autoscaling, import, rollback and destroy."""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops.testing.context import RecordingContext
from mlops_gitops.testing.harness import StackHarness, actions

sys.path.insert(0, str(Path(__file__).parent))  # provider_kit, beside this file (importlib mode)
from provider_kit import (
    RESOURCE_GROUP,
    SMALL,
    STACK,
    WORKSPACE,
    applied,
    harness,
    leftovers,
    watch_traffic,
)

GREEN_V1 = "paths/churn/green/v1/"
GREEN_V2 = "paths/churn/green/v2/"


@pytest.fixture
def ml(azureml_emulator: Any, ml_client: Callable[..., Any]) -> Any:
    return ml_client(workspace=WORKSPACE)


def _endpoint(h: StackHarness, name: str = "endpoint.churn-api") -> dict[str, Any]:
    state = h.state()
    assert state is not None
    rs = state.get(name)
    assert rs is not None
    return dict(rs.attributes)


def _deployments(attrs: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["deployment"] for v in attrs["variants"]}


# ---- the whole stack ------------------------------------------------------------------------------
def test_the_stack_is_made_in_the_workspace_then_plans_no_change_and_destroys_to_nothing(
    tmp_path: Path, azureml_emulator: Any, ml: Any
) -> None:
    h = harness(tmp_path, azureml_emulator)
    plan = h.plan()
    # The endpoint, its deployments and its traffic are one logical change.
    assert actions(plan) == {
        "model.churn-blue": "create",
        "model.churn-green": "create",
        "endpoint.churn-api": "create",
        "monitor.churn-drift": "create",
        "schedule.churn-retrain": "create",
    }
    applied(h)
    deployments = _deployments(_endpoint(h))
    endpoint = ml.online_endpoints.get("churn-api")
    assert {k: v for k, v in endpoint.traffic.items() if v} == {
        deployments["blue"]: 90,
        deployments["green"]: 10,
    }
    blue = ml.online_deployments.get(deployments["blue"], "churn-api")
    assert blue.instance_type == "Standard_DS3_v2" and blue.instance_count == 1
    assert blue.environment_variables == {"LOG_LEVEL": "info"}
    assert set(blue.data_collector.collections) == {"model_inputs", "model_outputs"}
    model = ml.models.get("churn-blue", version=_state_attr(h, "model.churn-blue", "version"))
    assert model.tags["mlops-gitops:address"] == "model.churn-blue" and model.tags["team"] == "growth"
    env = ml.environments.get(
        "churn-blue-env", version=_state_attr(h, "model.churn-blue", "environment")["version"]
    )
    assert env.image == "mcr.microsoft.com/azureml/curated/sklearn-1.5:latest"
    assert env.conda_file["dependencies"][0] == "python=3.11"
    schedule = ml.schedules.get("churn-retrain")
    assert schedule.trigger.expression == "0 3 * * 1"
    assert (
        str(getattr(schedule.trigger.time_zone, "value", schedule.trigger.time_zone))
        == "Romance Standard Time"
    )
    monitor = ml.schedules.get("churn-drift")
    assert set(monitor.create_monitor.monitoring_signals) == {"data_drift", "data_quality"}
    assert monitor.create_monitor.alert_notification.emails == ["ml-oncall@example.com"]
    assert actions(h.plan()) == {}

    plan, result = h.apply(mode="destroy")
    assert result.ok, result.errors
    assert leftovers(ml) == []


def _state_attr(h: StackHarness, address: str, key: str) -> Any:
    state = h.state()
    assert state is not None
    rs = state.get(address)
    assert rs is not None
    return rs.attributes[key]


# ---- rollouts -------------------------------------------------------------------------------------
def test_a_green_model_change_rolls_out_in_steps_with_traffic_always_whole(
    tmp_path: Path, azureml_emulator: Any, ml: Any
) -> None:
    h = harness(tmp_path, azureml_emulator)
    applied(h)
    before = _deployments(_endpoint(h))
    h.edit(lambda s: s.replace(GREEN_V1, GREEN_V2))
    assert actions(h.plan()) == {"model.churn-green": "update", "endpoint.churn-api": "update"}
    with watch_traffic(ml, "churn-api") as seen:
        applied(h)
    after = _deployments(_endpoint(h))
    assert after["blue"] == before["blue"], "an unchanged variant keeps its deployment"
    assert after["green"] != before["green"], "a new model is a new deployment"
    assert seen.problems == []
    blue, old, new = before["blue"], before["green"], after["green"]
    # linear, step_percent 25: the green share moves 10 -> 0 on the old deployment in four steps.
    steps = [s for s in seen.distinct() if s]
    assert steps[0] == {blue: 90, old: 10}
    assert steps[-1] == {blue: 90, new: 10}
    assert {blue: 90, old: 5, new: 5} in steps
    assert len(steps) >= 4, steps
    assert {d.name for d in ml.online_deployments.list("churn-api")} == {blue, new}, "the old one is deleted"
    assert actions(h.plan()) == {}


def test_a_deployment_failing_to_provision_leaves_the_traffic_as_it_was(
    tmp_path: Path, azureml_emulator: Any, ml: Any
) -> None:
    h = harness(tmp_path, azureml_emulator)
    applied(h)
    before = _deployments(_endpoint(h))
    azureml_emulator.emulator.update_settings(
        {
            "fail_async": [
                {"operation": "OnlineDeployments_CreateOrUpdate", "path": "/deployments/green-", "times": 1}
            ]
        }
    )
    h.edit(lambda s: s.replace(GREEN_V1, GREEN_V2))
    _, result = h.apply()
    errors = dict(result.errors)
    assert "endpoint.churn-api" in errors
    assert "serves as before" in errors["endpoint.churn-api"]
    endpoint = ml.online_endpoints.get("churn-api")
    assert {k: v for k, v in endpoint.traffic.items() if v} == {before["blue"]: 90, before["green"]: 10}
    assert {d.name for d in ml.online_deployments.list("churn-api")} == set(before.values())
    # The next apply tries again, and succeeds.
    applied(h)
    assert actions(h.plan()) == {}


def test_a_step_refused_mid_rollout_restores_the_previous_traffic(
    tmp_path: Path, azureml_emulator: Any, ml: Any
) -> None:
    stack = STACK.replace("bake_minutes: 0}", "bake_minutes: 0, interval_minutes: 5}")
    h = harness(tmp_path, azureml_emulator, stack)
    applied(h)
    before = _deployments(_endpoint(h))
    start = {before["blue"]: 90, before["green"]: 10}
    h.edit(lambda s: s.replace(GREEN_V1, GREEN_V2))
    refused = threading.Event()

    def refuse_once_moving(seen_splits: list[dict[str, int]]) -> None:
        # Once the first step is served, the endpoint refuses its next traffic change.
        while not refused.is_set():
            if any(s and s != start for s in seen_splits):
                azureml_emulator.emulator.update_settings(
                    {
                        "fail": [
                            {
                                "method": "PUT",
                                "operation": "OnlineEndpoints_CreateOrUpdate",
                                "status": 400,
                                "code": "BadRequest",
                                "times": 1,
                            }
                        ]
                    }
                )
                refused.set()
            threading.Event().wait(0.002)

    with watch_traffic(ml, "churn-api") as seen:
        injector = threading.Thread(target=refuse_once_moving, args=(seen.splits,), daemon=True)
        injector.start()
        _, result = h.apply()
        refused.set()
        injector.join(5)
    errors = dict(result.errors)
    # Refused at the step after the first one served (the second, or the third if the second
    # was already on its way when the refusal was armed).
    assert re.search(r"rolled back at step [23] of 4", errors["endpoint.churn-api"]), errors
    assert seen.problems == []
    endpoint = ml.online_endpoints.get("churn-api")
    assert {k: v for k, v in endpoint.traffic.items() if v} == start
    assert {d.name for d in ml.online_deployments.list("churn-api")} == set(before.values())


def test_a_health_check_reason_at_step_2_rolls_the_traffic_back_and_deletes_the_new_deployment(
    tmp_path: Path, azureml_emulator: Any, ml: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness(tmp_path, azureml_emulator)
    applied(h)
    before = _deployments(_endpoint(h))
    start = {before["blue"]: 90, before["green"]: 10}
    h.edit(lambda s: s.replace(GREEN_V1, GREEN_V2))
    checks: list[tuple[str, dict[str, int], list[str]]] = []
    reason = "p99 latency 2.3 s over the 500 ms objective"

    def health_check(endpoint: str, split: Mapping[str, int], new: list[str]) -> str | None:
        checks.append((endpoint, dict(split), list(new)))
        return reason if len(checks) == 2 else None

    ws = h.workspace()
    ws.provider.health_check = health_check  # type: ignore[attr-defined]
    monkeypatch.setattr(h, "workspace", lambda: ws)
    with watch_traffic(ml, "churn-api") as seen:
        _, result = h.apply()
    errors = dict(result.errors)
    # The core's driver: the previous split set again, then the deployments this change made
    # retired (Azure ML: deleted, with their autoscale settings and data assets), and the apply
    # fails with code RolledBack, naming the step and the reason.
    assert f"rolled back at step 2 of 4: health check: {reason}" in errors["endpoint.churn-api"], errors
    assert "serves as before" in errors["endpoint.churn-api"]
    (new,) = {d for _, _, rolling in checks for d in rolling}
    assert new not in before.values()
    assert [(e, s) for e, s, _ in checks] == [
        ("churn-api", {before["blue"]: 90, before["green"]: 8, new: 2}),
        ("churn-api", {before["blue"]: 90, before["green"]: 5, new: 5}),
    ]
    assert seen.problems == []
    assert [s for s in seen.distinct() if s][-1] == start
    endpoint = ml.online_endpoints.get("churn-api")
    assert {k: v for k, v in endpoint.traffic.items() if v} == start
    assert {d.name for d in ml.online_deployments.list("churn-api")} == set(before.values())
    versions = [f"{d.name}:{v.version}" for d in ml.data.list() for v in ml.data.list(name=d.name)]
    assert [v for v in versions if new in v] == [], "its data assets go with it"
    # State records what exists: the endpoint as before (the new green model version, registered
    # before the endpoint's change, is the model's), and the next plan offers the rollout again.
    assert _deployments(_endpoint(h)) == before
    assert _endpoint(h)["variants"][1]["traffic_percent"] == 10
    state = h.state()
    assert state is not None
    green = state.get("model.churn-green")
    assert green is not None and green.attributes["artifact"].endswith(GREEN_V2)
    assert ml.models.get("churn-green", version=green.attributes["version"]) is not None
    assert actions(h.plan()) == {"endpoint.churn-api": "update"}


# ---- drift ------------------------------------------------------------------------------------------
def test_a_traffic_change_made_in_the_console_is_planned_as_drift_and_undone(
    tmp_path: Path, azureml_emulator: Any, ml: Any
) -> None:
    h = harness(tmp_path, azureml_emulator)
    applied(h)
    deployments = _deployments(_endpoint(h))
    endpoint = ml.online_endpoints.get("churn-api")
    endpoint.traffic = {deployments["blue"]: 50, deployments["green"]: 50}
    ml.online_endpoints.begin_create_or_update(endpoint).result()
    plan = h.plan()
    assert [d.address for d in plan.drift] == ["endpoint.churn-api"]
    (change,) = [c for c in plan.changes if c.action != "noop"]
    assert {c.path for c in change.changes} == {"variants[0].traffic_percent", "variants[1].traffic_percent"}
    applied(h)
    endpoint = ml.online_endpoints.get("churn-api")
    assert {k: v for k, v in endpoint.traffic.items() if v} == {
        deployments["blue"]: 90,
        deployments["green"]: 10,
    }


def test_server_filled_fields_are_no_drift(tmp_path: Path, azureml_emulator: Any, ml: Any) -> None:
    """Objects read and written back unchanged from the console (the SDK sends the server's fields
    back: createdBy/createdAt in `properties`, provisioning state, scoring URI) are no drift."""
    h = harness(tmp_path, azureml_emulator)
    applied(h)
    endpoint = ml.online_endpoints.get("churn-api")
    ml.online_endpoints.begin_create_or_update(endpoint).result()
    version = _state_attr(h, "model.churn-green", "version")
    ml.models.create_or_update(ml.models.get("churn-green", version=version))
    assert actions(h.plan()) == {}


# ---- faults ---------------------------------------------------------------------------------------------
def test_throttled_writes_are_retried(tmp_path: Path, azureml_emulator: Any, ml: Any) -> None:
    azureml_emulator.emulator.update_settings(
        {"throttle": [{"method": "PUT", "operation": "OnlineDeployments_CreateOrUpdate", "times": 2}]}
    )
    h = harness(tmp_path, azureml_emulator, SMALL)
    applied(h)
    statuses = [
        r["status"]
        for r in azureml_emulator.requests()
        if r.get("operation") == "OnlineDeployments_CreateOrUpdate"
    ]
    assert statuses.count(429) == 2 and statuses.count(201) == 2


def test_a_lost_reply_to_a_deployment_is_no_second_deployment(
    tmp_path: Path, azureml_emulator: Any, ml: Any
) -> None:
    azureml_emulator.emulator.update_settings(
        {
            "fail": [
                {
                    "method": "PUT",
                    "operation": "OnlineDeployments_CreateOrUpdate",
                    "status": 500,
                    "lose_reply": True,
                    "times": 1,
                }
            ]
        }
    )
    h = harness(tmp_path, azureml_emulator, SMALL)
    applied(h)
    assert len(list(ml.online_deployments.list("scorer-api"))) == 2
    assert actions(h.plan()) == {}


# ---- autoscaling ----------------------------------------------------------------------------------------
AUTOSCALED = SMALL.replace(
    "      - {name: green, model: scorer, instance_type: Standard_DS3_v2, instance_count: 1, weight: 20}\n",
    "      - {name: green, model: scorer, instance_type: Standard_DS3_v2, weight: 20,\n"
    "         autoscaling: {min: 2, max: 6, target_invocations_per_instance: 300, scale_in_cooldown: 600}}\n",
)


def test_autoscaling_is_an_azure_monitor_setting_whose_count_is_no_drift(
    tmp_path: Path, azureml_emulator: Any, ml: Any, monitor_client: Callable[..., Any]
) -> None:
    h = harness(tmp_path, azureml_emulator, AUTOSCALED)
    applied(h)
    green = _deployments(_endpoint(h, "endpoint.scorer-api"))["green"]
    monitor = monitor_client()
    setting = monitor.autoscale_settings.get(RESOURCE_GROUP, f"scorer-api-{green}-autoscale")
    assert setting.target_resource_uri.endswith(f"/onlineEndpoints/scorer-api/deployments/{green}")
    (profile,) = setting.profiles
    assert (profile.capacity.minimum, profile.capacity.maximum, profile.capacity.default) == ("2", "6", "2")
    out, back = profile.rules
    assert out.metric_trigger.metric_name == "RequestsPerMinute" and out.metric_trigger.threshold == 300
    assert str(back.scale_action.cooldown) in ("PT10M", "0:10:00")
    # The autoscaler scales out: the deployment's count is its, not the stack's.
    deployment = ml.online_deployments.get(green, "scorer-api")
    deployment.instance_count = 5
    ml.online_deployments.begin_create_or_update(deployment).result()
    assert actions(h.plan()) == {}
    # A change of the policy is an update of the setting in place.
    h.edit(lambda s: s.replace("max: 6", "max: 8"))
    assert actions(h.plan()) == {"endpoint.scorer-api": "update"}
    applied(h)
    setting = monitor.autoscale_settings.get(RESOURCE_GROUP, f"scorer-api-{green}-autoscale")
    assert setting.profiles[0].capacity.maximum == "8"
    assert ml.online_deployments.get(green, "scorer-api").instance_count == 5, "the autoscaler's count stays"
    _, result = h.apply(mode="destroy")
    assert result.ok, result.errors
    assert list(monitor.autoscale_settings.list_by_resource_group(RESOURCE_GROUP)) == []


# ---- monitors and schedules -----------------------------------------------------------------------------
def test_monitor_and_schedule_change_in_place(tmp_path: Path, azureml_emulator: Any, ml: Any) -> None:
    h = harness(tmp_path, azureml_emulator)
    applied(h)
    h.edit(lambda s: s.replace("threshold: 0.2", "threshold: 0.35").replace("epochs: 100", "epochs: 200"))
    assert actions(h.plan()) == {"monitor.churn-drift": "update", "schedule.churn-retrain": "update"}
    applied(h)
    assert actions(h.plan()) == {}
    h.edit(lambda s: s.replace("timezone: Europe/Paris", "timezone: America/New_York"))
    applied(h)
    schedule = ml.schedules.get("churn-retrain")
    assert (
        str(getattr(schedule.trigger.time_zone, "value", schedule.trigger.time_zone))
        == "Eastern Standard Time"
    )


def test_a_green_rollout_moves_the_monitor_to_the_new_deployment_when_it_watches_green(
    tmp_path: Path, azureml_emulator: Any, ml: Any
) -> None:
    stack = STACK.replace(
        "    type: data_quality\n", "    type: data_quality\n    azureml: {variant: green}\n"
    )
    h = harness(tmp_path, azureml_emulator, stack)
    applied(h)
    h.edit(lambda s: s.replace(GREEN_V1, GREEN_V2))
    assert actions(h.plan())["monitor.churn-drift"] == "update"
    applied(h)
    green = _deployments(_endpoint(h))["green"]
    target = ml.schedules.get("churn-drift").create_monitor.monitoring_target.endpoint_deployment_id
    assert target.endswith(green)


# ---- keys, import, rollback -----------------------------------------------------------------------------
def test_endpoint_keys_are_never_read_nor_stored(tmp_path: Path, azureml_emulator: Any, ml: Any) -> None:
    h = harness(tmp_path, azureml_emulator, SMALL)
    applied(h)
    h.plan()
    operations = {r.get("operation") for r in azureml_emulator.requests()}
    assert "OnlineEndpoints_ListKeys" not in operations
    state_text = "".join(p.read_text() for p in tmp_path.rglob("*.json"))
    assert "scorer-api" in state_text, "the state file was found"
    keys = ml.online_endpoints.get_keys("scorer-api")
    assert keys.primary_key and keys.primary_key not in state_text


def test_an_endpoint_imported_generates_the_config_that_plans_no_change(
    tmp_path: Path, azureml_emulator: Any, ml: Any
) -> None:
    h = harness(tmp_path, azureml_emulator, SMALL)
    applied(h)
    ws = h.workspace()
    imported = ws.provider.import_resource("endpoint", "scorer-api")
    spec = ws.provider.to_spec("endpoint", imported)
    assert [(v["name"], v["weight"], v["instance_type"]) for v in spec["variants"]] == [
        ("blue", 80, "Standard_DS3_v2"),
        ("green", 20, "Standard_DS3_v2"),
    ]
    refs = ws.provider.import_references("endpoint", imported)
    version = _state_attr(h, "model.scorer", "version")
    assert refs == [
        ("variants[0].model", "model", f"scorer:{version}"),
        ("variants[1].model", "model", f"scorer:{version}"),
    ]
    model = ws.provider.import_resource("model", f"scorer:{version}")
    assert ws.provider.to_spec("model", model) == {
        "artifact": "azureml://datastores/workspaceblobstore/paths/scorer/v1/",
        "image": "mcr.microsoft.com/azureml/curated/sklearn-1.5:latest",
        # Always written: the endpoint's import names the model `scorer-<version>` in the stack.
        "azureml": {"name": "scorer"},
    }


def test_rollback_puts_the_previous_deployments_back(tmp_path: Path, azureml_emulator: Any, ml: Any) -> None:
    h = harness(tmp_path, azureml_emulator)
    applied(h)
    earlier = _endpoint(h)
    h.edit(lambda s: s.replace(GREEN_V1, GREEN_V2))
    applied(h)
    current = _endpoint(h)
    ws = h.workspace()
    back = ws.provider.rollback(
        "endpoint", current, earlier, RecordingContext("endpoint.churn-api", stack="churn")
    )
    assert _deployments(back) == _deployments(earlier)
    endpoint = ml.online_endpoints.get("churn-api")
    old = _deployments(earlier)
    assert {k: v for k, v in endpoint.traffic.items() if v} == {old["blue"]: 90, old["green"]: 10}


def test_an_object_of_the_same_name_that_is_not_the_stacks_is_refused(
    tmp_path: Path, azureml_emulator: Any, ml: Any
) -> None:
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="scorer-api")).result()
    h = harness(tmp_path, azureml_emulator, SMALL)
    _, result = h.apply()
    errors = dict(result.errors)
    assert "already exists" in errors["endpoint.scorer-api"]
    assert "mlops import endpoint.scorer-api scorer-api" in errors["endpoint.scorer-api"]


# ---- private SDK members ----------------------------------------------------------------------------------
def test_the_private_sdk_members_the_provider_uses_are_still_there(ml: Any) -> None:
    """A new azure-ai-ml that drops one of them fails here, by name, not in a user's destroy."""
    from mlops_azureml import sdk_private

    gone = sdk_private.missing(ml)
    assert gone == [], (
        f"azure-ai-ml no longer has {', '.join(gone)}, which mlops_azureml.sdk_private uses (see the "
        "comment on each in PRIVATE_MEMBERS): find the SDK's new way and change sdk_private"
    )


def test_private_sdk_members_are_used_in_sdk_private_only() -> None:
    import mlops_azureml

    here = Path(mlops_azureml.__file__).parent
    private = re.compile(
        r"\b(?:ml|models|environments|data|online_endpoints)\._[a-z]\w*|azure\.ai\.ml\.\S*\._"
    )
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(here.glob("*.py"))
        if path.name != "sdk_private.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if private.search(line)
    ]
    assert found == [], "private azure-ai-ml members belong in sdk_private.py:\n" + "\n".join(found)
