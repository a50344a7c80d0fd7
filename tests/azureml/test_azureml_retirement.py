"""Retiring a model on Azure ML, through the real `azure-ai-ml` MLClient against the ARM emulator
over TLS: the variant serving it leaves its endpoint (the traffic moved off it before its
deployment is deleted), the monitor about it goes with its alert, and the model version stays
registered, archived and tagged, its artifact and environment untouched. Taking the `retired:`
block out again restores it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops.errors import StackError
from mlops_gitops.stack.retire import TAG_AT, TAG_BY, TAG_REASON
from mlops_gitops.testing.harness import StackHarness, actions

sys.path.insert(0, str(Path(__file__).parent))  # provider_kit, beside this file (importlib mode)
from provider_kit import STACK, WORKSPACE, applied, harness, watch_traffic

RETIRED = "    retired: {reason: green lost the A/B test, by: ml-team}\n"
# The monitor is about the green model (10% of the traffic), not the endpoint's main variant.
ABOUT_GREEN = STACK.replace("    type: data_quality\n", "    type: data_quality\n    model: churn-green\n")


@pytest.fixture
def ml(azureml_emulator: Any, ml_client: Callable[..., Any]) -> Any:
    return ml_client(workspace=WORKSPACE)


def _attrs(h: StackHarness, address: str) -> dict[str, Any]:
    state = h.state()
    assert state is not None
    rs = state.get(address)
    assert rs is not None
    return dict(rs.attributes)


def _deployments(h: StackHarness) -> dict[str, str]:
    return {v["name"]: v["deployment"] for v in _attrs(h, "endpoint.churn-api")["variants"]}


def _retire_green(text: str) -> str:
    anchor = "    image: mcr.microsoft.com/azureml/curated/sklearn-1.5:latest\n"
    assert text.count(anchor) == 1
    return text.replace(anchor, anchor + RETIRED)


def _versions(ml: Any, name: str, view: str) -> set[str]:
    from azure.ai.ml.constants import ListViewType

    kind = {"active": ListViewType.ACTIVE_ONLY, "archived": ListViewType.ARCHIVED_ONLY}[view]
    return {str(m.version) for m in ml.models.list(name=name, list_view_type=kind)}


def test_a_monitor_about_a_model_watches_the_variant_serving_it(
    tmp_path: Path, azureml_emulator: Any, ml: Any
) -> None:
    h = harness(tmp_path, azureml_emulator, ABOUT_GREEN)
    applied(h)
    green = _deployments(h)["green"]
    target = ml.schedules.get("churn-drift").create_monitor.monitoring_target.endpoint_deployment_id
    # Without `model:` the monitor would watch blue, the variant with most traffic.
    assert (
        target.endswith(f"/deployments/{green}") and _attrs(h, "monitor.churn-drift")["deployment"] == green
    )


def test_a_monitor_variant_that_does_not_serve_its_model_is_refused_at_the_variant(
    tmp_path: Path, azureml_emulator: Any
) -> None:
    stack = ABOUT_GREEN.replace(
        "    model: churn-green\n", "    model: churn-green\n    azureml: {variant: blue}\n"
    )
    h = harness(tmp_path, azureml_emulator, stack)
    with pytest.raises(StackError) as caught:
        h.plan()
    lines = caught.value.lines()
    assert any(
        "monitors.churn-drift.azureml.variant: variant 'blue' of endpoint 'churn-api' does not serve model "
        "'churn-green'" in line
        for line in lines
    ), lines
    # Agreeing, both are fine.
    h.edit(lambda s: s.replace("{variant: blue}", "{variant: green}"))
    assert actions(h.plan())["monitor.churn-drift"] == "create"


def test_retiring_the_10_percent_model_moves_its_traffic_deletes_its_monitor_and_archives_it(
    tmp_path: Path, azureml_emulator: Any, ml: Any
) -> None:
    h = harness(tmp_path, azureml_emulator, ABOUT_GREEN)
    applied(h)
    deployments = _deployments(h)
    green = _attrs(h, "model.churn-green")
    env = green["environment"]
    h.edit(_retire_green)
    plan = h.plan()
    assert actions(plan) == {
        "endpoint.churn-api": "update",
        "monitor.churn-drift": "delete",
        "model.churn-green": "retire",
    }
    (retirement,) = plan.document()["retirements"]
    assert retirement["address"] == "model.churn-green"
    with watch_traffic(ml, "churn-api") as seen:
        _, result = h.apply()
    assert result.ok, result.errors
    # Every split read while it ran was whole and named deployments that existed: the traffic
    # left green before its deployment was deleted (the emulator refuses it otherwise).
    assert seen.problems == []
    assert seen.distinct()[-1] == {deployments["blue"]: 100}

    endpoint = ml.online_endpoints.get("churn-api")
    assert {k: v for k, v in endpoint.traffic.items() if v} == {deployments["blue"]: 100}
    assert {d.name for d in ml.online_deployments.list("churn-api")} == {deployments["blue"]}
    from azure.core.exceptions import ResourceNotFoundError

    with pytest.raises(ResourceNotFoundError):
        ml.schedules.get("churn-drift")
    assert ml.schedules.get("churn-retrain") is not None  # started by cron, not by the monitor

    model = ml.models.get("churn-green", version=green["version"])
    assert model.path.endswith("/datastores/workspaceblobstore/paths/churn/green/v1/")
    assert model.tags[TAG_REASON] == "green lost the A/B test" and model.tags[TAG_BY] == "ml-team"
    assert model.tags[TAG_AT]
    assert green["version"] in _versions(ml, "churn-green", "archived")
    assert green["version"] not in _versions(ml, "churn-green", "active")
    environment = ml.environments.get(env["name"], version=env["version"])
    assert environment.image == env["image"] and TAG_REASON not in (environment.tags or {})
    assert _attrs(h, "model.churn-green")["archived"] is True
    assert actions(h.plan()) == {}
    # Hidden from Azure's lists and its `latest` label, the archived version is still what an
    # import of the model by name finds.
    imported = h.workspace().provider.import_resource("model", "churn-green")
    assert imported["version"] == green["version"] and imported["archived"] is True

    # Taken back: the version is restored, its retirement tags dropped, its variant and monitor back.
    h.edit(lambda s: s.replace(RETIRED, ""))
    assert actions(h.plan()) == {
        "model.churn-green": "update",
        "endpoint.churn-api": "update",
        "monitor.churn-drift": "create",
    }
    applied(h)
    model = ml.models.get("churn-green", version=green["version"])
    assert TAG_REASON not in model.tags and green["version"] in _versions(ml, "churn-green", "active")
    assert {k: v for k, v in ml.online_endpoints.get("churn-api").traffic.items() if v} == {
        deployments["blue"]: 90,
        deployments["green"]: 10,
    }
    assert actions(h.plan()) == {}


def test_retiring_the_model_of_a_mirrored_variant_takes_it_out_of_the_mirror_first(
    tmp_path: Path, azureml_emulator: Any, ml: Any
) -> None:
    stack = ABOUT_GREEN.replace(
        "instance_count: 1, weight: 10}", "instance_count: 1, weight: 0, mirror_percent: 20}"
    )
    h = harness(tmp_path, azureml_emulator, stack)
    applied(h)
    deployments = _deployments(h)
    endpoint = ml.online_endpoints.get("churn-api")
    assert {k: v for k, v in (endpoint.mirror_traffic or {}).items() if v} == {deployments["green"]: 20}
    h.edit(_retire_green)
    plan, result = h.apply()
    assert result.ok, result.errors
    assert actions(plan)["model.churn-green"] == "retire"
    endpoint = ml.online_endpoints.get("churn-api")
    assert {k: v for k, v in (endpoint.mirror_traffic or {}).items() if v} == {}
    assert {d.name for d in ml.online_deployments.list("churn-api")} == {deployments["blue"]}
    assert actions(h.plan()) == {}


def test_retiring_without_archive_only_tags_the_version(
    tmp_path: Path, azureml_emulator: Any, ml: Any
) -> None:
    h = harness(tmp_path, azureml_emulator, ABOUT_GREEN)
    applied(h)
    version = _attrs(h, "model.churn-green")["version"]
    h.edit(lambda s: _retire_green(s).replace("by: ml-team}", "by: ml-team, archive: false}"))
    applied(h)
    model = ml.models.get("churn-green", version=version)
    assert model.tags[TAG_REASON] == "green lost the A/B test"
    assert version in _versions(ml, "churn-green", "active")
    assert actions(h.plan()) == {}


def test_an_archived_version_restored_in_the_console_is_drift_archived_again(
    tmp_path: Path, azureml_emulator: Any, ml: Any
) -> None:
    h = harness(tmp_path, azureml_emulator, ABOUT_GREEN)
    applied(h)
    version = _attrs(h, "model.churn-green")["version"]
    h.edit(_retire_green)
    applied(h)
    ml.models.restore("churn-green", version=version)
    assert actions(h.plan()) == {"model.churn-green": "update"}
    applied(h)
    assert version in _versions(ml, "churn-green", "archived")
    assert actions(h.plan()) == {}


def test_a_retired_version_keeps_everything_azure_holds_immutable(azureml_emulator: Any, ml: Any) -> None:
    """What the emulator allows on an archived version is what Azure allows: tags, description
    and the archived state change; the artifact does not (409, Azure's UserError)."""
    from azure.ai.ml.entities import Model
    from azure.core.exceptions import HttpResponseError

    path = "azureml://datastores/workspaceblobstore/paths/m/v1/"
    ml.models.create_or_update(Model(name="m", version="1", path=path, tags={"a": "1"}))
    ml.models.archive("m", version="1")
    assert _versions(ml, "m", "archived") == {"1"}
    with pytest.raises(HttpResponseError) as caught:
        ml.models.create_or_update(Model(name="m", version="1", path=path.replace("v1", "v2")))
    assert caught.value.status_code == 409 and "immutable" in str(caught.value)
    ml.models.create_or_update(Model(name="m", version="1", path=path, tags={"a": "2"}, description="d"))
    model = ml.models.get("m", version="1")
    assert model.tags == {"a": "2"} and model.description == "d" and model.path.endswith("/paths/m/v1/")
    # Registering the version again sends it unarchived, as Azure takes it.
    assert _versions(ml, "m", "active") == {"1"}
    ml.models.archive("m", version="1")
    ml.models.restore("m", version="1")
    assert _versions(ml, "m", "active") == {"1"} and _versions(ml, "m", "archived") == set()
