"""VertexProvider when the API misbehaves or an apply died half way, through the real aiplatform_v1
clients (REST) against the emulator: 503s and lost replies (the call happened, its answer did not
come back) retried only where that is safe or its effect can be recognised; rollouts an
interrupted apply left half way, resumed without dropping traffic; what such an apply left
behind, cleaned up by `finish_interrupted`."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from google.api_core.retry import Retry
from google.cloud import aiplatform_v1 as v1
from mlops_vertex.config import VertexConfig
from mlops_vertex.provider import VertexProvider
from mlops_vertex_sandbox.server import VertexEmulator

from mlops_gitops.errors import ProviderError
from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import EndpointSpec, ModelSpec, MonitorSpec, ScheduleSpec
from mlops_gitops.testing import RecordingContext
from mlops_gitops.testing.harness import StackHarness, actions

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "stacks" / "vertex-churn" / "pipelines" / "churn-train.json"
PROJECT, LOCATION = "acme-ml", "europe-west4"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
MINUTE = 0.02  # seconds in a rollout minute
LABELS = {"mlops-gitops-stack": "churn", "mlops-gitops-address": "model_churn-xgb"}
STACK = f"""\
apiVersion: mlops-gitops/v1
name: churn
provider:
  vertex: {{project: {PROJECT}, location: {LOCATION}, staging_bucket: gs://acme-ml-staging}}
models:
  churn-xgb:
    artifact: gs://acme-ml/churn/xgb/v1/
    image: {{framework: xgboost, version: "1.7"}}
    vertex: {{aliases: [champion]}}
  churn-challenger:
    artifact: gs://acme-ml/churn/sklearn/v1/
    image: {{framework: sklearn, version: "1.3"}}
endpoints:
  churn-api:
    variants:
      - name: champion
        model: churn-xgb
        instance_type: n1-standard-4
        weight: 80
        autoscaling: {{min: 1, max: 3}}
      - {{name: challenger, model: churn-challenger, instance_type: n1-standard-2, instance_count: 1,
         weight: 20}}
    data_capture: {{destination: "bq://acme-ml.serving.churn_api", sample_percent: 20}}
    rollout: {{strategy: canary, canary_percent: 10, bake_minutes: 2}}
monitors:
  churn-drift:
    endpoint: churn-api
    type: data_quality
    baseline: {{dataset: gs://acme-ml/churn/train/v1.csv, format: csv}}
    alert: {{threshold: 0.3, notify: [ml-oncall@acme.example]}}
    enabled: true
schedules:
  churn-retrain:
    cron: "0 3 * * 1"
    timezone: Europe/Paris
    pipeline:
      definition: churn-train.json
      parameters: {{training_table: "bq://acme-ml.crm.sessions"}}
    enabled: true
"""


@pytest.fixture
def sandbox(vx_emulator: VertexEmulator) -> SandboxEndpoints:
    return SandboxEndpoints({"vertex": vx_emulator.url}, {"vertex": {"rollout_minute_seconds": MINUTE}})


@pytest.fixture
def provider(sandbox: SandboxEndpoints) -> VertexProvider:
    return VertexProvider(VertexConfig(project=PROJECT, location=LOCATION), stack="churn", sandbox=sandbox)


@pytest.fixture
def cloud(vertex_client: Callable[[type], Any], polling: Retry) -> SimpleNamespace:
    return SimpleNamespace(
        models=vertex_client(v1.ModelServiceClient),
        endpoints=vertex_client(v1.EndpointServiceClient),
        jobs=vertex_client(v1.JobServiceClient),
        schedules=vertex_client(v1.ScheduleServiceClient),
        polling=polling,
    )


@pytest.fixture
def harness(tmp_path: Path, sandbox: SandboxEndpoints) -> StackHarness:
    (tmp_path / "stack.yaml").write_text(STACK)
    shutil.copy(SPEC, tmp_path / "churn-train.json")
    return StackHarness(tmp_path / "stack.yaml", sandbox)


def model(artifact: str = "gs://acme-ml/churn/v1/") -> Resource:
    return Resource(
        "model", "churn-xgb", ModelSpec(artifact=artifact, image={"framework": "xgboost", "version": "1.7"})
    )


def endpoint(rollout: dict[str, Any] | None = None) -> Resource:
    spec: dict[str, Any] = {
        "variants": [
            {"name": "main", "model": "churn-xgb", "instance_type": "n1-standard-4", "instance_count": 1}
        ]
    }
    if rollout:
        spec["rollout"] = rollout
    return Resource("endpoint", "churn-api", EndpointSpec(**spec))


def desired(
    provider: VertexProvider, res: Resource, refs: Mapping[str, Any], prior: Any = None
) -> dict[str, Any]:
    return provider.desired(res, None, refs, prior)


def splits_sent(monkeypatch: pytest.MonkeyPatch, cloud: SimpleNamespace) -> list[dict[str, int]]:
    """Every traffic split the provider PATCHes, as the endpoint holds it right after."""
    seen: list[dict[str, int]] = []
    original = v1.EndpointServiceClient.update_endpoint

    def update_endpoint(client: Any, *args: Any, **kwargs: Any) -> Any:
        answer = original(client, *args, **kwargs)
        live = cloud.endpoints.get_endpoint(name=answer.name)
        seen.append({i: p for i, p in live.traffic_split.items() if p})
        return answer

    monkeypatch.setattr(v1.EndpointServiceClient, "update_endpoint", update_endpoint)
    return seen


def deploys_sent(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    sent: list[Any] = []
    original = v1.EndpointServiceClient.deploy_model

    def deploy_model(client: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(kwargs.get("request"))
        return original(client, *args, **kwargs)

    monkeypatch.setattr(v1.EndpointServiceClient, "deploy_model", deploy_model)
    return sent


def versions(cloud: SimpleNamespace, model_id: str) -> dict[str, list[str]]:
    return {
        m.version_id: sorted(m.version_aliases)
        for m in cloud.models.list_model_versions(name=f"{PARENT}/models/{model_id}")
    }


def serving(cloud: SimpleNamespace, endpoint_id: str) -> v1.Endpoint:
    return cloud.endpoints.get_endpoint(name=f"{PARENT}/endpoints/{endpoint_id}")


# ------------------------------------------------------------------------------------- retries
def test_reads_are_retried_through_503s_and_dropped_connections(
    provider: VertexProvider, vx_emulator: VertexEmulator
) -> None:
    created = provider.create("model", desired(provider, model(), {}), RecordingContext("model.churn-xgb"))
    vx_emulator.update_settings(
        {
            "transient": [
                {"rate": 1, "method": "GET", "status": "UNAVAILABLE", "times": 2},
                {"rate": 1, "method": "GET", "disconnect": True, "times": 1},
                {"rate": 1, "method": "GET", "status": "DEADLINE_EXCEEDED", "times": 1},
            ]
        }
    )
    assert provider.read("model", created) == created
    assert vx_emulator.settings["transient"] == [], "every injected failure was met and retried"
    # Bounded: a service that stays down is an error, marked retryable for whoever runs us.
    vx_emulator.update_settings({"transient": [{"rate": 1, "method": "GET"}]})
    started = time.monotonic()
    with pytest.raises(ProviderError, match="ServiceUnavailable") as raised:
        provider.read("model", created)
    assert raised.value.retryable and time.monotonic() - started < 5


def test_a_read_that_keeps_failing_is_sent_as_often_as_the_policy_says(
    provider: VertexProvider, vx_emulator: VertexEmulator
) -> None:
    # Every call says `retry=None`, so the core policy's attempts alone reach the server.
    created = provider.create("model", desired(provider, model(), {}), RecordingContext("model.churn-xgb"))
    vx_emulator.update_settings(
        {"transient": [{"rate": 1, "method": "GET", "status": "UNAVAILABLE", "times": 50}]}
    )
    with pytest.raises(ProviderError, match="ServiceUnavailable") as raised:
        provider.read("model", created)
    assert raised.value.retryable
    assert vx_emulator.settings["transient"][0]["times"] == 50 - provider.api.retry.attempts


def test_polls_of_an_operation_are_retried(provider: VertexProvider, vx_emulator: VertexEmulator) -> None:
    vx_emulator.update_settings(
        {
            "transient": [
                {"rate": 1, "method": "GET", "path": "^/ui/.*/operations/", "status": "INTERNAL", "times": 3}
            ]
        }
    )
    created = provider.create("model", desired(provider, model(), {}), RecordingContext("model.churn-xgb"))
    assert created["version_id"] == "1" and vx_emulator.settings["transient"] == []


def test_a_refusal_is_not_retried(provider: VertexProvider, vx_emulator: VertexEmulator) -> None:
    vx_emulator.update_settings({"fail": [{"method": "GET", "status": "PERMISSION_DENIED", "times": 2}]})
    with pytest.raises(ProviderError, match="Forbidden"):
        provider.read("endpoint", {"id": "ghost"})
    assert len(vx_emulator.settings["fail"]) == 1 and vx_emulator.settings["fail"][0]["times"] == 1


def test_a_lost_upload_reply_makes_one_model_and_one_version(
    provider: VertexProvider, vx_emulator: VertexEmulator, cloud: SimpleNamespace
) -> None:
    lost_upload = {"rate": 1, "method": "POST", "path": "models:upload$", "lost_reply": True, "times": 1}
    vx_emulator.update_settings({"transient": [lost_upload]})
    first = provider.create("model", desired(provider, model(), {}), RecordingContext("model.churn-xgb"))
    assert versions(cloud, first["id"]) == {"1": ["default"]}

    vx_emulator.update_settings({"transient": [{**lost_upload, "disconnect": True}]})
    second = provider.update(
        "model",
        first,
        desired(provider, model("gs://acme-ml/churn/v2/"), {}, first),
        RecordingContext("model.churn-xgb"),
    )
    assert second["version_id"] == "2" and second["version_count"] == 2
    assert versions(cloud, first["id"]) == {"1": [], "2": ["default"]}, (
        "the lost upload was found, not repeated"
    )


def test_a_lost_deploy_reply_deploys_once(
    provider: VertexProvider, vx_emulator: VertexEmulator, cloud: SimpleNamespace
) -> None:
    first = provider.create("model", desired(provider, model(), {}), RecordingContext("model.churn-xgb"))
    vx_emulator.update_settings(
        {
            "transient": [
                {"rate": 1, "method": "POST", "path": "/endpoints$", "lost_reply": True, "times": 1},
                {"rate": 1, "method": "POST", "path": ":deployModel$", "lost_reply": True, "times": 1},
            ]
        }
    )
    served = provider.create(
        "endpoint",
        desired(provider, endpoint(), {"model.churn-xgb": first}),
        RecordingContext("endpoint.churn-api"),
    )
    live = serving(cloud, served["id"])
    assert [dm.id for dm in live.deployed_models] == [served["variants"][0]["deployed_model_id"]]
    assert dict(live.traffic_split) == {served["variants"][0]["deployed_model_id"]: 100}
    assert len(list(cloud.endpoints.list_endpoints(parent=PARENT))) == 1


def test_lost_replies_of_calls_vertex_names_itself_are_recognised(
    provider: VertexProvider, vx_emulator: VertexEmulator, cloud: SimpleNamespace, tmp_path: Path
) -> None:
    first = provider.create("model", desired(provider, model(), {}), RecordingContext("model.churn-xgb"))
    served = provider.create(
        "endpoint",
        desired(provider, endpoint(), {"model.churn-xgb": first}),
        RecordingContext("endpoint.churn-api"),
    )
    shutil.copy(SPEC, tmp_path / "churn-train.json")
    monitor = Resource(
        "monitor",
        "churn-drift",
        MonitorSpec(endpoint="churn-api", type="data_quality", enabled=False, alert={"threshold": 0.3}),
    )
    schedule = Resource(
        "schedule",
        "churn-retrain",
        ScheduleSpec(cron="0 3 * * 1", pipeline={"definition": "churn-train.json"}, enabled=False),
        base_dir=str(tmp_path),
    )
    vx_emulator.update_settings(
        {
            "transient": [
                {
                    "rate": 1,
                    "method": "POST",
                    "path": "/modelDeploymentMonitoringJobs$",
                    "lost_reply": True,
                    "times": 1,
                },
                {"rate": 1, "method": "POST", "path": "/schedules$", "lost_reply": True, "times": 1},
                {"rate": 1, "method": "POST", "path": ":pause$", "lost_reply": True, "times": 2},
            ]
        }
    )
    job = provider.create(
        "monitor",
        provider.desired(monitor, None, {"endpoint.churn-api": served}, None),
        RecordingContext("monitor.churn-drift"),
    )
    scheduled = provider.create(
        "schedule", provider.desired(schedule, None, {}, None), RecordingContext("schedule.churn-retrain")
    )
    assert vx_emulator.settings["transient"] == []
    assert [
        j.name.rsplit("/", 1)[-1] for j in cloud.jobs.list_model_deployment_monitoring_jobs(parent=PARENT)
    ] == [job["id"]]
    assert [s.name.rsplit("/", 1)[-1] for s in cloud.schedules.list_schedules(parent=PARENT)] == [
        scheduled["id"]
    ]
    assert job["enabled"] is False and scheduled["enabled"] is False


def test_a_stack_applies_and_destroys_through_503s_and_lost_replies(
    harness: StackHarness, vx_emulator: VertexEmulator, cloud: SimpleNamespace
) -> None:
    # At most four injected failures can meet one call (it is tried five times), so the outcome
    # does not depend on the draw; which calls they hit does.
    chaos = [
        {"rate": 0.3, "method": "GET", "path": "^/v1/", "times": 4},
        {"rate": 0.3, "method": "GET", "path": "^/ui/", "status": "DEADLINE_EXCEEDED", "times": 4},
        {"rate": 0.3, "method": "POST", "lost_reply": True, "times": 2},
        {"rate": 0.3, "method": "POST", "lost_reply": True, "disconnect": True, "times": 2},
        {"rate": 0.5, "method": "PATCH", "lost_reply": True, "times": 4},
        {"rate": 0.5, "method": "DELETE", "lost_reply": True, "times": 4},
    ]
    vx_emulator.update_settings({"seed": 11, "transient": chaos})
    _, result = harness.apply()
    assert result.ok, result.errors
    left = vx_emulator.settings["transient"]
    assert sum(r["times"] for r in left) <= sum(r["times"] for r in chaos) - 8, ("too few injected", left)
    harness.edit(lambda s: s.replace("churn/xgb/v1/", "churn/xgb/v2/"))
    vx_emulator.update_settings({"transient": chaos})
    _, result = harness.apply()
    assert result.ok, result.errors
    vx_emulator.update_settings({"transient": []})
    assert actions(harness.plan()) == {}

    state = harness.state()
    assert state is not None
    ids = {a: state.get(a).attributes for a in state.addresses()}  # type: ignore[union-attr]
    assert len(list(cloud.endpoints.list_endpoints(parent=PARENT))) == 1
    live = serving(cloud, ids["endpoint.churn-api"]["id"])
    assert sorted(dm.display_name for dm in live.deployed_models) == ["challenger", "champion"]
    assert sorted(live.traffic_split.values()) == [20, 80]
    assert versions(cloud, ids["model.churn-xgb"]["id"]) == {"1": [], "2": ["champion", "default"]}
    assert len(list(cloud.models.list_models(parent=PARENT))) == 2
    assert len(list(cloud.jobs.list_model_deployment_monitoring_jobs(parent=PARENT))) == 1
    assert len(list(cloud.schedules.list_schedules(parent=PARENT))) == 1

    vx_emulator.update_settings({"transient": chaos})
    _, result = harness.apply(mode="destroy")
    assert result.ok, result.errors
    vx_emulator.update_settings({"transient": []})
    assert list(cloud.models.list_models(parent=PARENT)) == []
    assert list(cloud.endpoints.list_endpoints(parent=PARENT)) == []


# ------------------------------------------------------------------------------ traffic splits
def test_every_deployment_says_the_split_it_means(
    provider: VertexProvider, cloud: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = provider.create("model", desired(provider, model(), {}), RecordingContext("model.churn-xgb"))
    sent = deploys_sent(monkeypatch)
    served = provider.create(
        "endpoint",
        desired(provider, endpoint(), {"model.churn-xgb": first}),
        RecordingContext("endpoint.churn-api"),
    )
    second = provider.update(
        "model",
        first,
        desired(provider, model("gs://acme-ml/churn/v2/"), {}, first),
        RecordingContext("model.churn-xgb"),
    )
    provider.update(
        "endpoint",
        served,
        desired(provider, endpoint(), {"model.churn-xgb": second}, served),
        RecordingContext("endpoint.churn-api"),
    )
    old = served["variants"][0]["deployed_model_id"]
    # The first model takes all traffic; the next one none, said explicitly.
    assert [dict(r["traffic_split"]) for r in sent] == [{"0": 100}, {old: 100}]


# ----------------------------------------------------------------------- interrupted rollouts
def _half_way(
    provider: VertexProvider, cloud: SimpleNamespace, rollout: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], str, str]:
    """An endpoint serving v1, and a v2 deployed beside it by an apply that died: (endpoint as
    recorded before that apply, model v2, old deployed model, new deployed model)."""
    first = provider.create("model", desired(provider, model(), {}), RecordingContext("model.churn-xgb"))
    served = provider.create(
        "endpoint",
        desired(provider, endpoint(rollout), {"model.churn-xgb": first}),
        RecordingContext("endpoint.churn-api"),
    )
    second = provider.update(
        "model",
        first,
        desired(provider, model("gs://acme-ml/churn/v2/"), {}, first),
        RecordingContext("model.churn-xgb"),
    )
    old = served["variants"][0]["deployed_model_id"]
    name = f"{PARENT}/endpoints/{served['id']}"
    new = (
        cloud.endpoints.deploy_model(
            endpoint=name,
            deployed_model={
                "id": "1000000001",
                "model": f"{PARENT}/models/{second['id']}@2",
                "display_name": "main",
                "dedicated_resources": {
                    "machine_spec": {"machine_type": "n1-standard-4"},
                    "min_replica_count": 1,
                    "max_replica_count": 1,
                },
            },
            traffic_split={old: 100},
        )
        .result(polling=cloud.polling)
        .deployed_model.id
    )
    return served, second, old, new


def test_a_rollout_left_half_way_is_resumed_in_steps(
    provider: VertexProvider, cloud: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    rollout = {"strategy": "linear", "step_percent": 25, "bake_minutes": 1}
    recorded, second, old, new = _half_way(provider, cloud, rollout)
    cloud.endpoints.update_endpoint(
        endpoint={"name": f"{PARENT}/endpoints/{recorded['id']}", "traffic_split": {old: 75, new: 25}},
        update_mask={"paths": ["traffic_split"]},
    )
    splits = splits_sent(monkeypatch, cloud)
    sent = deploys_sent(monkeypatch)
    live = provider.read("endpoint", recorded)
    assert live is not None
    ctx = RecordingContext("endpoint.churn-api")
    after = provider.update(
        "endpoint", live, desired(provider, endpoint(rollout), {"model.churn-xgb": second}, live), ctx
    )
    assert sent == [], "the deployed model the dead apply made is kept"
    # On from 25%, in the rollout's four steps, never back, every split whole.
    shares = [split.get(new, 0) for split in splits]
    assert len(splits) == 4 and splits[-1] == {new: 100}
    assert 25 < shares[0] < shares[1] < shares[2] < 100, splits
    assert all(sum(split.values()) == 100 and set(split) <= {old, new} for split in splits)
    assert [v["deployed_model_id"] for v in after["variants"]] == [new]
    assert [dm.id for dm in serving(cloud, recorded["id"]).deployed_models] == [new]
    assert any(m.startswith("resuming the rollout of") for m in ctx.messages)


def test_the_old_model_left_without_traffic_is_undeployed(
    provider: VertexProvider, cloud: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded, second, _, new = _half_way(provider, cloud, {"strategy": "canary", "canary_percent": 10})
    cloud.endpoints.update_endpoint(
        endpoint={"name": f"{PARENT}/endpoints/{recorded['id']}", "traffic_split": {new: 100}},
        update_mask={"paths": ["traffic_split"]},
    )
    splits = splits_sent(monkeypatch, cloud)
    live = provider.read("endpoint", recorded)
    assert live is not None
    after = provider.update(
        "endpoint",
        live,
        desired(provider, endpoint(), {"model.churn-xgb": second}, live),
        RecordingContext("endpoint.churn-api"),
    )
    assert splits == [] and [v["deployed_model_id"] for v in after["variants"]] == [new]


def test_a_deployment_still_running_when_the_apply_died_is_not_made_twice(
    provider: VertexProvider, cloud: SimpleNamespace, vx_emulator: VertexEmulator
) -> None:
    first = provider.create("model", desired(provider, model(), {}), RecordingContext("model.churn-xgb"))
    served = provider.create(
        "endpoint",
        desired(provider, endpoint(), {"model.churn-xgb": first}),
        RecordingContext("endpoint.churn-api"),
    )
    second = provider.update(
        "model",
        first,
        desired(provider, model("gs://acme-ml/churn/v2/"), {}, first),
        RecordingContext("model.churn-xgb"),
    )
    vx_emulator.update_settings({"operation_delay_seconds": 0.4})
    # The dead apply's deployment, still running when the next apply starts.
    cloud.endpoints.deploy_model(
        endpoint=f"{PARENT}/endpoints/{served['id']}",
        deployed_model={
            "model": f"{PARENT}/models/{second['id']}@2",
            "display_name": "main",
            "dedicated_resources": {
                "machine_spec": {"machine_type": "n1-standard-4"},
                "min_replica_count": 1,
                "max_replica_count": 1,
            },
        },
        traffic_split={served["variants"][0]["deployed_model_id"]: 100},
    )
    live = provider.read("endpoint", served)
    assert live is not None and len(live["variants"]) == 1  # not there yet
    after = provider.update(
        "endpoint",
        live,
        desired(provider, endpoint(), {"model.churn-xgb": second}, live),
        RecordingContext("endpoint.churn-api"),
    )
    deployed = serving(cloud, served["id"]).deployed_models
    assert len(deployed) == 1 and deployed[0].id == after["variants"][0]["deployed_model_id"]
    assert deployed[0].model_version_id == "2"


def test_finish_interrupted_undeploys_what_the_dead_rollout_left(
    provider: VertexProvider, cloud: SimpleNamespace
) -> None:
    recorded, _, old, _ = _half_way(provider, cloud, {"strategy": "canary", "canary_percent": 10})
    # The new deployed model takes no traffic, and the endpoint the engine read after `update`
    # does not list it: the dead apply's deployment of it finished after that read.
    live = provider.read("endpoint", recorded)
    assert live is not None
    live = {**live, "variants": [v for v in live["variants"] if v["deployed_model_id"] == old]}
    ctx = RecordingContext("endpoint.churn-api")
    provider.finish_interrupted("endpoint", recorded, live, ctx)
    now = serving(cloud, recorded["id"])
    assert [dm.id for dm in now.deployed_models] == [old] and dict(now.traffic_split) == {old: 100}
    assert any("left without traffic by an interrupted apply" in m for m in ctx.messages)
    # Nothing left to do: a second call changes nothing.
    provider.finish_interrupted("endpoint", recorded, live, ctx)
    assert [dm.id for dm in serving(cloud, recorded["id"]).deployed_models] == [old]


def test_finish_interrupted_never_undeploys_a_serving_model(
    provider: VertexProvider, cloud: SimpleNamespace
) -> None:
    recorded, _, old, new = _half_way(provider, cloud, {"strategy": "canary", "canary_percent": 10})
    cloud.endpoints.update_endpoint(
        endpoint={"name": f"{PARENT}/endpoints/{recorded['id']}", "traffic_split": {old: 90, new: 10}},
        update_mask={"paths": ["traffic_split"]},
    )
    live = provider.read("endpoint", recorded)
    assert live is not None
    provider.finish_interrupted(
        "endpoint",
        recorded,
        {**live, "variants": live["variants"][:1]},
        RecordingContext("endpoint.churn-api"),
    )
    assert {dm.id for dm in serving(cloud, recorded["id"]).deployed_models} == {old, new}


# --------------------------------------------------------------------- model versions left over
def _upload_version(cloud: SimpleNamespace, model_id: str, artifact: str, **extra: Any) -> str:
    image = "europe-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.1-7:latest"
    request = {
        "parent": PARENT,
        "parent_model": f"{PARENT}/models/{model_id}",
        "model": {
            "display_name": "churn-xgb",
            "artifact_uri": artifact,
            "container_spec": {"image_uri": image},
            "labels": LABELS,
            **extra,
        },
    }
    return str(cloud.models.upload_model(request=request).result(polling=cloud.polling).model_version_id)


def test_a_version_a_dead_apply_uploaded_is_used_not_uploaded_again(
    provider: VertexProvider, cloud: SimpleNamespace
) -> None:
    first = provider.create("model", desired(provider, model(), {}), RecordingContext("model.churn-xgb"))
    assert _upload_version(cloud, first["id"], "gs://acme-ml/churn/v2/") == "2"
    ctx = RecordingContext("model.churn-xgb")
    second = provider.update(
        "model", first, desired(provider, model("gs://acme-ml/churn/v2/"), {}, first), ctx
    )
    assert second["version_id"] == "2"
    assert versions(cloud, first["id"]) == {"1": [], "2": ["default"]}


def test_finish_interrupted_deletes_versions_nothing_uses(
    provider: VertexProvider, cloud: SimpleNamespace
) -> None:
    first = provider.create("model", desired(provider, model(), {}), RecordingContext("model.churn-xgb"))
    # The dead apply uploaded v2, someone uploaded v3 with an alias, and the stack moved on (v4).
    _upload_version(cloud, first["id"], "gs://acme-ml/churn/v2/")
    _upload_version(cloud, first["id"], "gs://acme-ml/churn/other/", version_aliases=["keep-me"])
    ctx = RecordingContext("model.churn-xgb")
    live = provider.update("model", first, desired(provider, model("gs://acme-ml/churn/v3/"), {}, first), ctx)
    assert live["version_id"] == "4"
    provider.finish_interrupted("model", first, live, ctx)
    assert versions(cloud, first["id"]) == {"1": [], "3": ["keep-me"], "4": ["default"]}, (
        "v1 is history and v3 has an alias: only the unused v2 goes"
    )


def test_an_apply_killed_mid_rollout_is_finished_by_the_next_one(
    harness: StackHarness, cloud: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, result = harness.apply()
    assert result.ok, result.errors
    harness.edit(lambda s: s.replace("churn/xgb/v1/", "churn/xgb/v2/"))
    # The killed apply: it uploaded the new version (recorded), deployed it beside the champion and
    # moved the canary's share onto it, then died before the bake ended.
    _, result = harness.apply(targets=["model.churn-xgb"])
    assert result.ok, result.errors
    backend = harness.backend()
    state = backend.read()
    assert state is not None
    recorded = dict(state.get("endpoint.churn-api").attributes)  # type: ignore[union-attr]
    version = state.get("model.churn-xgb").attributes  # type: ignore[union-attr]
    ids = {v["name"]: v["deployed_model_id"] for v in recorded["variants"]}
    name = f"{PARENT}/endpoints/{recorded['id']}"
    canary = (
        cloud.endpoints.deploy_model(
            endpoint=name,
            deployed_model={
                "id": "1000000002",
                "model": f"{PARENT}/models/{version['id']}@{version['version_id']}",
                "display_name": "champion",
                "dedicated_resources": {
                    "machine_spec": {"machine_type": "n1-standard-4"},
                    "min_replica_count": 1,
                    "max_replica_count": 3,
                },
            },
            traffic_split={ids["champion"]: 80, ids["challenger"]: 20},
        )
        .result(polling=cloud.polling)
        .deployed_model.id
    )
    cloud.endpoints.update_endpoint(
        endpoint={"name": name, "traffic_split": {ids["champion"]: 72, canary: 8, ids["challenger"]: 20}},
        update_mask={"paths": ["traffic_split"]},
    )
    state.get("endpoint.churn-api").pending = {  # type: ignore[union-attr]
        "action": "update",
        "since": "2026-11-25T10:00:00Z",
        "recorded": recorded,
    }
    backend.write(state)

    plan = harness.plan()
    (change,) = [c for c in plan.changes if c.address == "endpoint.churn-api"]
    assert change.action == "update" and "interrupted" in change.reason
    deploys = deploys_sent(monkeypatch)
    splits = splits_sent(monkeypatch, cloud)
    _, result = harness.apply()
    assert result.ok, result.errors
    assert deploys == [], "the canary the killed apply deployed is kept"
    # Resumed as a canary (a step, its bake, then the rest), never back, always whole.
    assert len(splits) == 2 and splits[-1] == {canary: 80, ids["challenger"]: 20}
    assert 8 < splits[0][canary] < 80 and all(sum(s.values()) == 100 for s in splits)
    live = serving(cloud, recorded["id"])
    assert {dm.id for dm in live.deployed_models} == {canary, ids["challenger"]}
    assert actions(harness.plan()) == {}


def test_finish_interrupted_keeps_history_newer_than_the_recorded_version(
    provider: VertexProvider, cloud: SimpleNamespace
) -> None:
    # The stack was rolled back to v1 while v2 and v3 stayed in the registry: history, kept.
    first = provider.create("model", desired(provider, model(), {}), RecordingContext("model.churn-xgb"))
    _upload_version(cloud, first["id"], "gs://acme-ml/churn/v2/")
    _upload_version(cloud, first["id"], "gs://acme-ml/churn/v3/")
    recorded = provider.read("model", first)
    assert recorded is not None and (recorded["version_id"], recorded["latest_version"]) == ("1", "3")
    _upload_version(cloud, first["id"], "gs://acme-ml/churn/v4/")  # by the killed apply
    ctx = RecordingContext("model.churn-xgb")
    live = provider.update(
        "model", recorded, desired(provider, model("gs://acme-ml/churn/v5/"), {}, recorded), ctx
    )
    # State recorded without `latest_version`: nothing can be told apart, nothing is deleted.
    provider.finish_interrupted(
        "model", {k: v for k, v in recorded.items() if k != "latest_version"}, live, ctx
    )
    assert sorted(versions(cloud, first["id"]), key=int) == ["1", "2", "3", "4", "5"]
    provider.finish_interrupted("model", recorded, live, ctx)
    assert sorted(versions(cloud, first["id"]), key=int) == ["1", "2", "3", "5"]
