"""Retiring a model on Vertex AI, through the real aiplatform_v1 clients (REST) against the
emulator: the variant serving it stops serving (its traffic moved to the variant left before its
deployed model is undeployed), the monitor about it goes with its alert, and the Model stays with
every version and its artifact, archived: the stack's aliases and labels removed, the retirement
labels added. Taking the `retired:` block out gives everything back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from google.api_core.retry import Retry
from google.cloud import aiplatform_v1 as v1
from mlops_vertex import labels
from mlops_vertex_sandbox.server import VertexEmulator

from mlops_gitops.errors import StackError
from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.stack.loader import load_stack
from mlops_gitops.testing.harness import StackHarness, actions
from mlops_gitops.workspace import open_workspace

PROJECT, LOCATION = "acme-ml", "europe-west4"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
MINUTE = 0.02  # seconds in a rollout minute here
STACK = f"""\
apiVersion: mlops-gitops/v1
name: churn
provider:
  vertex: {{project: {PROJECT}, location: {LOCATION}, staging_bucket: gs://acme-ml-staging}}
tags: {{team: growth-ml}}
models:
  churn-xgb:
    artifact: gs://acme-ml/churn/xgb/v1/
    image: {{framework: xgboost, version: "1.7"}}
    vertex: {{aliases: [champion]}}
  churn-challenger:
    artifact: gs://acme-ml/churn/sklearn/v1/
    image: {{framework: sklearn, version: "1.3"}}
    tags: {{stage: canary}}
    vertex: {{aliases: [challenger]}}
endpoints:
  churn-api:
    variants:
      - {{name: champion, model: churn-xgb, instance_type: n1-standard-4, instance_count: 1, weight: 90}}
      - {{name: challenger, model: churn-challenger, instance_type: n1-standard-2, instance_count: 1,
          weight: 10}}
    data_capture: {{destination: "bq://acme-ml.serving.churn_api", sample_percent: 20}}
    rollout: {{strategy: canary, canary_percent: 10, bake_minutes: 2}}
monitors:
  challenger-drift:
    endpoint: churn-api
    model: churn-challenger
    type: data_quality
    every: hourly
    alert: {{threshold: 0.3, notify: [ml-oncall@acme.example]}}
"""
CHALLENGER = "    tags: {stage: canary}\n"
RETIRED = "    retired: {reason: Superseded by churn-xgb v2, by: growth-ml}\n"


@pytest.fixture
def cloud(vertex_client: Callable[[type], Any], polling: Retry) -> SimpleNamespace:
    return SimpleNamespace(
        models=vertex_client(v1.ModelServiceClient),
        endpoints=vertex_client(v1.EndpointServiceClient),
        jobs=vertex_client(v1.JobServiceClient),
        polling=polling,
    )


@pytest.fixture
def harness(tmp_path: Path, vx_emulator: VertexEmulator) -> StackHarness:
    (tmp_path / "stack.yaml").write_text(STACK)
    sandbox = SandboxEndpoints({"vertex": vx_emulator.url}, {"vertex": {"rollout_minute_seconds": MINUTE}})
    return StackHarness(tmp_path / "stack.yaml", sandbox)


def applied(h: StackHarness) -> Any:
    plan, result = h.apply()
    assert result.ok, result.errors
    return plan


def attrs_of(h: StackHarness, address: str) -> dict[str, Any]:
    state = h.state()
    assert state is not None and state.get(address) is not None
    return dict(state.get(address).attributes)  # type: ignore[union-attr]


def endpoint_of(cloud: SimpleNamespace, h: StackHarness) -> v1.Endpoint:
    return cloud.endpoints.get_endpoint(name=f"{PARENT}/endpoints/{attrs_of(h, 'endpoint.churn-api')['id']}")


def challenger_model(cloud: SimpleNamespace, h: StackHarness) -> v1.Model:
    return cloud.models.get_model(name=f"{PARENT}/models/{attrs_of(h, 'model.churn-challenger')['id']}")


def retire(h: StackHarness, block: str = RETIRED) -> None:
    h.edit(lambda s: s.replace(CHALLENGER, CHALLENGER + block))


def test_a_monitor_about_a_model_watches_only_the_deployed_models_serving_it(
    harness: StackHarness, cloud: SimpleNamespace
) -> None:
    applied(harness)
    assert actions(harness.plan()) == {}
    endpoint = endpoint_of(cloud, harness)
    ids = {dm.display_name: dm.id for dm in endpoint.deployed_models}
    (job,) = cloud.jobs.list_model_deployment_monitoring_jobs(parent=PARENT)
    assert [c.deployed_model_id for c in job.model_deployment_monitoring_objective_configs] == [
        ids["challenger"]
    ]
    assert attrs_of(harness, "monitor.challenger-drift")["deployed_models"] == {
        "challenger": ids["challenger"]
    }

    # Without `model`, the monitor watches every deployed model of the endpoint.
    harness.edit(lambda s: s.replace("    model: churn-challenger\n", ""))
    assert actions(harness.plan()) == {"monitor.challenger-drift": "update"}
    applied(harness)
    (job,) = cloud.jobs.list_model_deployment_monitoring_jobs(parent=PARENT)
    assert {c.deployed_model_id for c in job.model_deployment_monitoring_objective_configs} == set(
        ids.values()
    )
    assert actions(harness.plan()) == {}


def test_retiring_a_model_takes_it_off_its_endpoint_and_archives_it(
    harness: StackHarness, cloud: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied(harness)
    before = endpoint_of(cloud, harness)
    ids = {dm.display_name: dm.id for dm in before.deployed_models}
    model_before = challenger_model(cloud, harness)
    assert sorted(model_before.version_aliases) == ["challenger", "default"]

    # Each undeploy, with the endpoint's split at that moment and the split the request carries.
    undeploys: list[tuple[str, dict[str, int], dict[str, int]]] = []
    original = v1.EndpointServiceClient.undeploy_model

    def undeploy_model(client: Any, *args: Any, **kwargs: Any) -> Any:
        request = kwargs.get("request") or kwargs
        now = cloud.endpoints.get_endpoint(name=request["endpoint"])
        live = {i: p for i, p in now.traffic_split.items() if p}
        undeploys.append((request["deployed_model_id"], live, dict(request.get("traffic_split") or {})))
        return original(client, *args, **kwargs)

    monkeypatch.setattr(v1.EndpointServiceClient, "undeploy_model", undeploy_model)

    retire(harness)
    plan = harness.plan()
    assert actions(plan) == {
        "endpoint.churn-api": "update",
        "monitor.challenger-drift": "delete",
        "model.churn-challenger": "retire",
    }
    (retirement,) = plan.document()["retirements"]
    assert retirement["address"] == "model.churn-challenger"
    assert retirement["stops_serving"][0]["variant"] == "challenger"
    assert retirement["stops_serving"][0]["traffic_percent"] == 10.0
    assert retirement["removes"] == ["monitor.challenger-drift"]

    applied(harness)
    assert actions(harness.plan()) == {}, "a retirement applied plans no changes"

    # The challenger's traffic went to the champion before its deployed model was undeployed.
    (undeployed,) = undeploys
    dm_id, live, carried = undeployed
    assert dm_id == ids["challenger"]
    assert live.get(dm_id, 0) == 0 and carried.get(dm_id, 0) == 0
    after = endpoint_of(cloud, harness)
    assert [dm.id for dm in after.deployed_models] == [ids["champion"]]
    assert dict(after.traffic_split) == {ids["champion"]: 100}

    # The monitoring job, and the alert it carries, are gone.
    assert list(cloud.jobs.list_model_deployment_monitoring_jobs(parent=PARENT)) == []

    # The Model stays, same version, same artifact, archived.
    model = challenger_model(cloud, harness)
    assert model.version_id == model_before.version_id
    assert model.artifact_uri == model_before.artifact_uri == "gs://acme-ml/churn/sklearn/v1/"
    assert list(model.version_aliases) == ["default"]
    state = harness.state()
    assert state is not None
    recorded = state.get("model.churn-challenger")
    assert recorded is not None and recorded.retired is not None
    assert dict(model.labels) == {
        "mlops-gitops-stack": "churn",
        "mlops-gitops-address": "model_churn-challenger",
        "mlops-gitops-retired-reason": "superseded_by_churn-xgb_v2",
        "mlops-gitops-retired-by": "growth-ml",
        "mlops-gitops-retired-at": labels.sanitize_value(str(recorded.retired["at"])),
    }
    versions = list(cloud.models.list_model_versions(name=model.name.split("@")[0]))
    assert [v.version_id for v in versions] == [model_before.version_id]
    assert [e.event for e in state.events if e.address == "model.churn-challenger"][-1] == "retired"
    # The champion's model is untouched.
    xgb = cloud.models.get_model(name=f"{PARENT}/models/{attrs_of(harness, 'model.churn-xgb')['id']}")
    assert sorted(xgb.version_aliases) == ["champion", "default"] and xgb.labels["team"] == "growth-ml"


def test_taking_the_retirement_back_restores_aliases_labels_variant_and_monitor(
    harness: StackHarness, cloud: SimpleNamespace
) -> None:
    applied(harness)
    labels_before = dict(challenger_model(cloud, harness).labels)
    retire(harness)
    applied(harness)

    harness.edit(lambda s: s.replace(RETIRED, ""))
    assert actions(harness.plan()) == {
        "model.churn-challenger": "update",
        "endpoint.churn-api": "update",
        "monitor.challenger-drift": "create",
    }
    applied(harness)
    assert actions(harness.plan()) == {}
    model = challenger_model(cloud, harness)
    assert sorted(model.version_aliases) == ["challenger", "default"]
    assert dict(model.labels) == labels_before
    assert labels_before["stage"] == "canary" and labels_before["team"] == "growth-ml"
    endpoint = endpoint_of(cloud, harness)
    names = {dm.id: dm.display_name for dm in endpoint.deployed_models}
    assert {names[i]: p for i, p in endpoint.traffic_split.items() if p} == {"champion": 90, "challenger": 10}
    (job,) = cloud.jobs.list_model_deployment_monitoring_jobs(parent=PARENT)
    assert [names[c.deployed_model_id] for c in job.model_deployment_monitoring_objective_configs] == [
        "challenger"
    ]
    state = harness.state()
    assert state is not None
    assert state.get("model.churn-challenger").retired is None  # type: ignore[union-attr]
    assert [e.event for e in state.events if e.address == "model.churn-challenger"][-1] == "unretired"


def test_retiring_without_archive_keeps_aliases_and_tags_and_adds_the_retirement_labels(
    harness: StackHarness, cloud: SimpleNamespace
) -> None:
    applied(harness)
    reason = "Replaced by the gradient-boosted model after the Q3 review: AUC 0.81 against 0.86 (see MLR-42)"
    retire(harness, f"    retired: {{reason: '{reason}', by: Growth ML, archive: false}}\n")
    assert actions(harness.plan())["model.churn-challenger"] == "retire"
    applied(harness)
    assert actions(harness.plan()) == {}
    model = challenger_model(cloud, harness)
    assert sorted(model.version_aliases) == ["challenger", "default"]
    assert model.labels["stage"] == "canary" and model.labels["team"] == "growth-ml"
    # A label value is at most 63 characters, lowercase: the reason is cut (state keeps it whole).
    assert model.labels["mlops-gitops-retired-reason"] == labels.sanitize_value(reason)
    assert len(model.labels["mlops-gitops-retired-reason"]) == 63
    assert model.labels["mlops-gitops-retired-by"] == "growth_ml"
    state = harness.state()
    assert state is not None and state.get("model.churn-challenger").retired["reason"] == reason  # type: ignore[union-attr,index]


def test_retiring_the_endpoint_deletes_it_with_its_monitor_and_keeps_the_models(
    harness: StackHarness, cloud: SimpleNamespace
) -> None:
    applied(harness)
    harness.edit(
        lambda s: s.replace(
            "  churn-api:\n",
            "  churn-api:\n    retired: {reason: churn scores move to batch, by: growth-ml}\n",
        )
    )
    assert actions(harness.plan()) == {"endpoint.churn-api": "retire", "monitor.challenger-drift": "delete"}
    applied(harness)
    assert actions(harness.plan()) == {}
    assert list(cloud.endpoints.list_endpoints(parent=PARENT)) == []
    assert list(cloud.jobs.list_model_deployment_monitoring_jobs(parent=PARENT)) == []
    assert len(list(cloud.models.list_models(parent=PARENT))) == 2


def test_validate_accepts_retired_and_refuses_too_many_labels_without_archive(tmp_path: Path) -> None:
    def problems(stack: str) -> list[str]:
        (tmp_path / "stack.yaml").write_text(stack)
        try:
            open_workspace(load_stack(tmp_path / "stack.yaml", environ={}))
        except StackError as exc:
            return exc.lines()
        return []

    assert problems(STACK.replace(CHALLENGER, CHALLENGER + RETIRED)) == []
    many = "{" + ", ".join(f"t{i}: v" for i in range(60)) + "}"
    crowded = STACK.replace(CHALLENGER, f"    tags: {many}\n")
    assert problems(crowded.replace("    tags: {t0", "    retired: {reason: r, by: me}\n    tags: {t0")) == []
    refused = problems(
        crowded.replace("    tags: {t0", "    retired: {reason: r, by: me, archive: false}\n    tags: {t0")
    )
    assert any("models.churn-challenger.retired.archive" in line and "64" in line for line in refused), (
        refused
    )
