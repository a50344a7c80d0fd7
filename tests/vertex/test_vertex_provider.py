"""VertexProvider through the real aiplatform_v1 clients (REST) against the emulator: whole
stacks through StackHarness, as `mlops apply` runs them, and the provider driven directly where a
test needs to reach inside (health checks, rollback, import)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry
from google.cloud import aiplatform_v1 as v1
from mlops_vertex.config import EndpointSettings, ModelSettings, VertexConfig
from mlops_vertex.provider import VertexProvider
from mlops_vertex_sandbox.server import VertexEmulator

from mlops_gitops.engine.applier import ApplyEvent
from mlops_gitops.engine.diff import compare
from mlops_gitops.errors import ProviderError, StackError
from mlops_gitops.provider import UNKNOWN, SandboxEndpoints
from mlops_gitops.stack.loader import load_stack
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import EndpointSpec, ModelSpec, MonitorSpec
from mlops_gitops.testing import RecordingContext
from mlops_gitops.testing.harness import StackHarness, actions
from mlops_gitops.workspace import open_workspace

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "stacks" / "vertex-churn" / "pipelines" / "churn-train.json"
PROJECT, LOCATION = "acme-ml", "europe-west4"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
MINUTE = 0.02  # seconds in a rollout minute here: a 2-minute bake takes 40 ms
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
endpoints:
  churn-api:
    variants:
      - name: champion
        model: churn-xgb
        instance_type: n1-standard-4
        weight: 80
        autoscaling: {{min: 1, max: 3}}
      - name: challenger
        model: churn-challenger
        instance_type: n1-standard-2
        instance_count: 1
        weight: 20
    data_capture: {{destination: "bq://acme-ml.serving.churn_api", sample_percent: 20}}
    rollout: {{strategy: canary, canary_percent: 10, bake_minutes: 2}}
monitors:
  churn-drift:
    endpoint: churn-api
    type: data_quality
    every: hourly
    baseline: {{dataset: gs://acme-ml/churn/train/v1.csv, format: csv}}
    alert: {{threshold: 0.3, notify: [ml-oncall@acme.example]}}
    vertex: {{drift_thresholds: {{tenure_days: 0.2}}, target_field: churned}}
schedules:
  churn-retrain:
    cron: "0 3 * * 1"
    timezone: Europe/Paris
    pipeline:
      definition: churn-train.json
      parameters: {{training_table: "bq://acme-ml.crm.sessions", max_depth: 8}}
"""


# ---------------------------------------------------------------------------------------- fixtures
@pytest.fixture
def sandbox(vx_emulator: VertexEmulator) -> SandboxEndpoints:
    return SandboxEndpoints({"vertex": vx_emulator.url}, {"vertex": {"rollout_minute_seconds": MINUTE}})


@pytest.fixture
def cloud(vertex_client: Callable[[type], Any], polling: Retry) -> SimpleNamespace:
    """The test's own clients, to look at (and meddle with) what the provider made."""
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


@pytest.fixture
def provider(sandbox: SandboxEndpoints) -> VertexProvider:
    return VertexProvider(VertexConfig(project=PROJECT, location=LOCATION), stack="churn", sandbox=sandbox)


def applied(h: StackHarness) -> None:
    plan, result = h.apply()
    assert result.ok, result.errors
    assert plan.has_changes


def attrs_of(h: StackHarness, address: str) -> dict[str, Any]:
    state = h.state()
    assert state is not None and state.get(address) is not None
    return dict(state.get(address).attributes)  # type: ignore[union-attr]


def endpoint_of(cloud: SimpleNamespace, h: StackHarness) -> v1.Endpoint:
    return cloud.endpoints.get_endpoint(name=f"{PARENT}/endpoints/{attrs_of(h, 'endpoint.churn-api')['id']}")


def split_by_variant(endpoint: v1.Endpoint) -> dict[str, int]:
    names = {dm.id: dm.display_name for dm in endpoint.deployed_models}
    return {names[i]: p for i, p in endpoint.traffic_split.items() if p}


class Watcher:
    """Every traffic PATCH the provider sends, with the endpoint as it is right after (read with
    the test's own client), and when."""

    def __init__(self, cloud: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[tuple[float, dict[str, int], set[str]]] = []  # (time, split, deployed ids)
        self.deploys = 0
        original_patch = v1.EndpointServiceClient.update_endpoint
        original_deploy = v1.EndpointServiceClient.deploy_model
        watcher = self

        def update_endpoint(client: Any, *args: Any, **kwargs: Any) -> Any:
            answer = original_patch(client, *args, **kwargs)
            endpoint = cloud.endpoints.get_endpoint(name=answer.name)
            split = {i: p for i, p in endpoint.traffic_split.items() if p}
            watcher.seen.append((time.monotonic(), split, {dm.id for dm in endpoint.deployed_models}))
            return answer

        def deploy_model(client: Any, *args: Any, **kwargs: Any) -> Any:
            watcher.deploys += 1
            return original_deploy(client, *args, **kwargs)

        monkeypatch.setattr(v1.EndpointServiceClient, "update_endpoint", update_endpoint)
        monkeypatch.setattr(v1.EndpointServiceClient, "deploy_model", deploy_model)

    @property
    def splits(self) -> list[dict[str, int]]:
        return [split for _, split, _ in self.seen]

    def assert_always_served(self) -> None:
        for _, split, deployed in self.seen:
            assert sum(split.values()) == 100, split
            assert set(split) <= deployed, (split, deployed)


# ------------------------------------------------------------------------------------- whole stacks
def test_stack_applies_and_a_second_plan_shows_no_changes(
    harness: StackHarness, cloud: SimpleNamespace
) -> None:
    plan = harness.plan()
    assert actions(plan) == {
        "model.churn-xgb": "create",
        "model.churn-challenger": "create",
        "endpoint.churn-api": "create",
        "monitor.churn-drift": "create",
        "schedule.churn-retrain": "create",
    }
    (schedule,) = [c for c in plan.changes if c.address == "schedule.churn-retrain"]
    assert (
        schedule.notes[0].startswith("next runs (Europe/Paris): ") and schedule.notes[0].count(" 03:00") == 3
    )
    applied(harness)
    assert actions(harness.plan()) == {}

    endpoint = endpoint_of(cloud, harness)
    assert split_by_variant(endpoint) == {"champion": 80, "challenger": 20}
    assert (
        endpoint.labels["mlops-gitops-address"] == "endpoint_churn-api"
        and endpoint.labels["team"] == "growth-ml"
    )
    champion = next(dm for dm in endpoint.deployed_models if dm.display_name == "champion")
    assert (
        champion.dedicated_resources.min_replica_count,
        champion.dedicated_resources.max_replica_count,
    ) == (1, 3)
    assert endpoint.predict_request_response_logging_config.sampling_rate == 0.2

    model = cloud.models.get_model(name=f"{PARENT}/models/{attrs_of(harness, 'model.churn-xgb')['id']}")
    assert sorted(model.version_aliases) == ["champion", "default"]
    assert (
        model.container_spec.image_uri == "europe-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.1-7:latest"
    )

    (job,) = cloud.jobs.list_model_deployment_monitoring_jobs(parent=PARENT)
    assert job.endpoint.endswith(f"/endpoints/{endpoint.name.rsplit('/', 1)[-1]}")
    assert {c.deployed_model_id for c in job.model_deployment_monitoring_objective_configs} == {
        dm.id for dm in endpoint.deployed_models
    }
    objective = job.model_deployment_monitoring_objective_configs[0].objective_config
    assert objective.prediction_drift_detection_config.drift_thresholds["tenure_days"].value == 0.2
    assert objective.training_dataset.gcs_source.uris == ["gs://acme-ml/churn/train/v1.csv"]
    assert job.logging_sampling_strategy.random_sample_config.sample_rate == 0.2  # the data capture's
    assert list(job.model_monitoring_alert_config.email_alert_config.user_emails) == [
        "ml-oncall@acme.example"
    ]

    (scheduled,) = cloud.schedules.list_schedules(parent=PARENT)
    assert scheduled.cron == "TZ=Europe/Paris 0 3 * * 1" and scheduled.max_concurrent_run_count == 1
    job_spec = scheduled.create_pipeline_job_request.pipeline_job
    assert job_spec.runtime_config.gcs_output_directory == "gs://acme-ml-staging/pipeline-root"
    assert dict(job_spec.runtime_config.parameter_values) == {
        "training_table": "bq://acme-ml.crm.sessions",
        "max_depth": 8,
    }


def test_a_new_model_version_rolls_out_in_canary_steps(
    harness: StackHarness, cloud: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied(harness)
    before = endpoint_of(cloud, harness)
    old = {dm.display_name: dm.id for dm in before.deployed_models}

    harness.edit(lambda s: s.replace("churn/xgb/v1/", "churn/xgb/v2/"))
    plan = harness.plan()
    assert actions(plan) == {
        "model.churn-xgb": "update",
        "endpoint.churn-api": "update",
        "monitor.churn-drift": "update",  # its objectives name the deployed models
    }
    (model_change,) = [c for c in plan.changes if c.address == "model.churn-xgb"]
    assert {c.path: c.after for c in model_change.changes}["version_id"] is UNKNOWN

    watcher = Watcher(cloud, monkeypatch)
    applied(harness)
    watcher.assert_always_served()
    after = endpoint_of(cloud, harness)
    new = {dm.display_name: dm.id for dm in after.deployed_models}
    # The canary: a tenth of the champion's 80% on the new version, the challenger untouched.
    assert watcher.splits == [
        {old["champion"]: 72, old["challenger"]: 20, new["champion"]: 8},
        {new["champion"]: 80, old["challenger"]: 20},
    ]
    (t1, _, _), (t2, _, _) = watcher.seen
    assert t2 - t1 >= 2 * MINUTE, "the canary was not baked"
    # The old champion is undeployed at the end; the challenger kept its deployed model.
    assert new["challenger"] == old["challenger"] and new["champion"] != old["champion"]
    assert len(after.deployed_models) == 2 and split_by_variant(after) == {"champion": 80, "challenger": 20}
    assert next(dm for dm in after.deployed_models if dm.display_name == "champion").model_version_id == "2"

    model_id = attrs_of(harness, "model.churn-xgb")["id"]
    versions = {
        m.version_id: sorted(m.version_aliases)
        for m in cloud.models.list_model_versions(name=f"{PARENT}/models/{model_id}")
    }
    assert versions == {"1": [], "2": ["champion", "default"]}
    (job,) = cloud.jobs.list_model_deployment_monitoring_jobs(parent=PARENT)
    assert {c.deployed_model_id for c in job.model_deployment_monitoring_objective_configs} == set(
        new.values()
    )
    messages = [
        e.message for e in harness.events if e.address == "endpoint.churn-api" and e.phase == "progress"
    ]
    assert any(m.startswith("step 1/2: traffic") for m in messages)
    assert actions(harness.plan()) == {}


def test_a_failure_mid_rollout_restores_the_previous_split(
    harness: StackHarness,
    cloud: SimpleNamespace,
    vx_emulator: VertexEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    applied(harness)
    before = endpoint_of(cloud, harness)
    harness.edit(lambda s: s.replace("churn/xgb/v1/", "churn/xgb/v2/"))

    class FailTheNextStep(list[ApplyEvent]):
        """Once the canary is out, the next traffic PATCH is refused (the restoring one succeeds).
        A refusal, not a transient error: that one would be retried."""

        armed = True

        def append(self, event: ApplyEvent) -> None:
            super().append(event)
            if self.armed and event.message.startswith("step 1/"):
                self.armed = False
                vx_emulator.update_settings(
                    {
                        "fail": [
                            {
                                "method": "PATCH",
                                "path": "/endpoints/",
                                "status": "FAILED_PRECONDITION",
                                "times": 1,
                            }
                        ]
                    }
                )

    harness.events = FailTheNextStep()
    watcher = Watcher(cloud, monkeypatch)
    _, result = harness.apply()
    assert [a for a, _ in result.errors] == ["endpoint.churn-api"]
    assert "rolled back at step 2 of 2" in result.errors[0][1]
    assert "Traffic is back on the previous split" in result.errors[0][1]

    watcher.assert_always_served()
    assert len(watcher.splits) == 2  # the canary, then the restore (the failed PATCH changed nothing)
    after = endpoint_of(cloud, harness)
    assert {dm.id for dm in after.deployed_models} == {dm.id for dm in before.deployed_models}
    assert dict(after.traffic_split) == dict(before.traffic_split)
    # State says what runs: the old deployed models, so the next plan tries the rollout again.
    assert actions(harness.plan()) == {"endpoint.churn-api": "update", "monitor.churn-drift": "update"}
    applied(harness)
    assert actions(harness.plan()) == {}


def test_a_deployment_that_fails_leaves_the_endpoint_as_it_was(
    harness: StackHarness, cloud: SimpleNamespace, vx_emulator: VertexEmulator
) -> None:
    applied(harness)
    before = endpoint_of(cloud, harness)
    harness.edit(lambda s: s.replace("instance_type: n1-standard-2", "instance_type: n1-highmem-2"))
    vx_emulator.update_settings(
        {
            "fail": [
                {
                    "path": ":deployModel$",
                    "status": "RESOURCE_EXHAUSTED",
                    "in_operation": True,
                    "times": 1,
                    "message": "The zone does not have enough resources available.",
                }
            ]
        }
    )
    _, result = harness.apply()
    assert [a for a, _ in result.errors] == ["endpoint.churn-api"]
    assert "does not have enough resources" in result.errors[0][1]
    assert "the endpoint serves as before" in result.errors[0][1]
    after = endpoint_of(cloud, harness)
    assert [dm.id for dm in after.deployed_models] == [dm.id for dm in before.deployed_models]
    assert dict(after.traffic_split) == dict(before.traffic_split)


def test_a_weight_change_is_one_patch(
    harness: StackHarness, cloud: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied(harness)
    harness.edit(lambda s: s.replace("weight: 80", "weight: 3").replace("weight: 20\n", "weight: 1\n"))
    assert actions(harness.plan()) == {"endpoint.churn-api": "update"}
    watcher = Watcher(cloud, monkeypatch)
    applied(harness)
    assert watcher.deploys == 0 and len(watcher.splits) == 1
    assert split_by_variant(endpoint_of(cloud, harness)) == {"champion": 75, "challenger": 25}
    assert actions(harness.plan()) == {}


def test_a_console_change_is_drift_and_the_next_apply_undoes_it(
    harness: StackHarness, cloud: SimpleNamespace
) -> None:
    applied(harness)
    endpoint = endpoint_of(cloud, harness)
    challenger = next(dm.id for dm in endpoint.deployed_models if dm.display_name == "challenger")
    champion = next(dm.id for dm in endpoint.deployed_models if dm.display_name == "champion")
    cloud.endpoints.undeploy_model(
        endpoint=endpoint.name, deployed_model_id=challenger, traffic_split={champion: 100}
    ).result(polling=cloud.polling)
    plan = harness.plan()
    assert [d.address for d in plan.drift] == ["endpoint.churn-api"]
    assert actions(plan) == {"endpoint.churn-api": "update", "monitor.churn-drift": "update"}
    applied(harness)
    assert split_by_variant(endpoint_of(cloud, harness)) == {"champion": 80, "challenger": 20}
    assert actions(harness.plan()) == {}


def test_pausing_the_monitor_and_the_schedule(harness: StackHarness, cloud: SimpleNamespace) -> None:
    applied(harness)
    harness.edit(lambda s: s.replace("    every: hourly\n", "    every: daily\n    enabled: false\n"))
    harness.edit(
        lambda s: s.replace("    timezone: Europe/Paris\n", "    timezone: UTC\n    enabled: false\n")
    )
    plan = harness.plan()
    assert actions(plan) == {"monitor.churn-drift": "update", "schedule.churn-retrain": "update"}
    (schedule,) = [c for c in plan.changes if c.address == "schedule.churn-retrain"]
    assert schedule.notes == ["paused: the cron starts no runs"]
    applied(harness)
    (job,) = cloud.jobs.list_model_deployment_monitoring_jobs(parent=PARENT)
    assert job.state == v1.JobState.JOB_STATE_PAUSED
    assert job.model_deployment_monitoring_schedule_config.monitor_interval.total_seconds() == 86400
    (scheduled,) = cloud.schedules.list_schedules(parent=PARENT)
    assert scheduled.state == v1.Schedule.State.PAUSED and scheduled.cron == "TZ=UTC 0 3 * * 1"
    assert actions(harness.plan()) == {}


def test_destroy_leaves_the_emulator_empty(harness: StackHarness, cloud: SimpleNamespace) -> None:
    applied(harness)
    plan, result = harness.apply(mode="destroy")
    assert result.ok, result.errors
    assert set(actions(plan).values()) == {"delete"}
    assert list(cloud.models.list_models(parent=PARENT)) == []
    assert list(cloud.endpoints.list_endpoints(parent=PARENT)) == []
    assert list(cloud.jobs.list_model_deployment_monitoring_jobs(parent=PARENT)) == []
    assert list(cloud.schedules.list_schedules(parent=PARENT)) == []


def test_the_example_stack_applies_and_destroys(tmp_path: Path, sandbox: SandboxEndpoints) -> None:
    shutil.copytree(
        ROOT / "stacks" / "vertex-churn", tmp_path / "vertex-churn", ignore=shutil.ignore_patterns(".mlops")
    )
    h = StackHarness(tmp_path / "vertex-churn" / "stack.yaml", sandbox)
    applied(h)
    assert actions(h.plan()) == {}
    h.edit(lambda s: s.replace("/xgb/2026-11/", "/xgb/2026-12/"))
    applied(h)
    assert actions(h.plan()) == {}
    _, result = h.apply(mode="destroy")
    assert result.ok, result.errors


# ------------------------------------------------------------------------------- the provider itself
def model(name: str = "churn-xgb", artifact: str = "gs://acme-ml/churn/v1/", **spec: Any) -> Resource:
    spec.setdefault("image", {"framework": "xgboost", "version": "1.7"})
    return Resource("model", name, ModelSpec(artifact=artifact, **spec))


def endpoint(**spec: Any) -> Resource:
    spec.setdefault(
        "variants",
        [{"name": "main", "model": "churn-xgb", "instance_type": "n1-standard-4", "instance_count": 1}],
    )
    return Resource("endpoint", "churn-api", EndpointSpec(**spec))


def create(
    provider: VertexProvider, res: Resource, refs: Mapping[str, Any] | None = None, settings: Any = None
) -> dict[str, Any]:
    return provider.create(
        res.kind, provider.desired(res, settings, refs or {}, None), RecordingContext(res.address)
    )


def update(
    provider: VertexProvider,
    res: Resource,
    prior: Mapping[str, Any],
    refs: Mapping[str, Any] | None = None,
    settings: Any = None,
) -> dict[str, Any]:
    return provider.update(
        res.kind, prior, provider.desired(res, settings, refs or {}, prior), RecordingContext(res.address)
    )


def test_a_health_check_rolls_a_rollout_back(
    provider: VertexProvider, cloud: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1_attrs = create(provider, model())
    rollout = {"strategy": "linear", "step_percent": 40, "bake_minutes": 1}
    served = create(provider, endpoint(rollout=rollout), {"model.churn-xgb": v1_attrs})
    v2_attrs = update(provider, model(artifact="gs://acme-ml/churn/v2/"), v1_attrs)
    checks: list[tuple[dict[str, int], list[str]]] = []

    def health_check(endpoint_id: str, split: Mapping[str, int], new: list[str]) -> str | None:
        assert endpoint_id == served["id"]
        checks.append((dict(split), list(new)))
        return "p99 latency 2.3 s over the 500 ms objective" if split.get(new[0], 0) >= 80 else None

    provider.health_check = health_check
    watcher = Watcher(cloud, monkeypatch)
    with pytest.raises(
        ProviderError, match=r"rolled back at step 2 of 3: health check: p99 latency"
    ) as raised:
        update(provider, endpoint(rollout=rollout), served, {"model.churn-xgb": v2_attrs})
    assert raised.value.code == "RolledBack"
    old = served["variants"][0]["deployed_model_id"]
    (new,) = checks[0][1]
    assert watcher.splits == [{old: 60, new: 40}, {old: 20, new: 80}, {old: 100}]
    watcher.assert_always_served()
    assert provider.read("endpoint", served) == served  # as it was before


def test_model_rollback_moves_the_aliases_back_without_uploading(
    provider: VertexProvider, cloud: SimpleNamespace
) -> None:
    settings = ModelSettings(aliases=["champion"])
    first = create(provider, model(), settings=settings)
    second = update(provider, model(artifact="gs://acme-ml/churn/v2/"), first, settings=settings)
    assert (first["version_id"], second["version_id"]) == ("1", "2")
    back = provider.rollback("model", second, first, RecordingContext("model.churn-xgb"))
    assert back == {**first, "version_count": 2, "latest_version": "2"}  # the registry holds both
    versions = {
        m.version_id: sorted(m.version_aliases)
        for m in cloud.models.list_model_versions(name=f"{PARENT}/models/{first['id']}")
    }
    assert versions == {"1": ["champion", "default"], "2": []}


def test_endpoint_rollback_goes_back_in_one_shift(
    provider: VertexProvider, cloud: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = create(provider, model())
    rollout = {"strategy": "canary", "canary_percent": 10, "bake_minutes": 30}
    old = create(provider, endpoint(rollout=rollout), {"model.churn-xgb": first})
    second = update(provider, model(artifact="gs://acme-ml/churn/v2/"), first)
    current = update(provider, endpoint(rollout=rollout), old, {"model.churn-xgb": second})
    watcher = Watcher(cloud, monkeypatch)
    back = provider.rollback("endpoint", current, old, RecordingContext("endpoint.churn-api"))
    assert len(watcher.splits) == 1, "no canary on the way back"
    assert back["variants"][0]["model_version"] == "1"
    assert back["variants"][0]["deployed_model_id"] != old["variants"][0]["deployed_model_id"]


def test_import_and_generated_spec_plan_no_changes(provider: VertexProvider, cloud: SimpleNamespace) -> None:
    upload = cloud.models.upload_model(
        request={
            "parent": PARENT,
            "model_id": "legacy",
            "model": {
                "display_name": "legacy",
                "artifact_uri": "gs://acme-ml/legacy/",
                "container_spec": {"image_uri": "us-docker.pkg.dev/acme-ml/serving/legacy:3"},
            },
        }
    ).result(polling=cloud.polling)
    cloud.endpoints.create_endpoint(
        parent=PARENT, endpoint_id="legacy-api", endpoint={"display_name": "legacy-api"}
    ).result(polling=cloud.polling)
    cloud.endpoints.deploy_model(
        endpoint=f"{PARENT}/endpoints/legacy-api",
        deployed_model={
            "model": upload.model,
            "display_name": "main",
            "dedicated_resources": {
                "machine_spec": {
                    "machine_type": "n1-standard-2",
                    "accelerator_type": "NVIDIA_TESLA_T4",
                    "accelerator_count": 1,
                },
                "min_replica_count": 1,
                "max_replica_count": 4,
            },
        },
    ).result(polling=cloud.polling)
    monitored = cloud.jobs.create_model_deployment_monitoring_job(
        parent=PARENT,
        model_deployment_monitoring_job={
            "display_name": "legacy-drift",
            "endpoint": f"{PARENT}/endpoints/legacy-api",
            "model_deployment_monitoring_objective_configs": [
                {
                    "deployed_model_id": cloud.endpoints.get_endpoint(name=f"{PARENT}/endpoints/legacy-api")
                    .deployed_models[0]
                    .id,
                    "objective_config": {
                        "prediction_drift_detection_config": {"default_drift_threshold": {"value": 0.25}}
                    },
                }
            ],
            "model_deployment_monitoring_schedule_config": {"monitor_interval": {"seconds": 86400}},
            "logging_sampling_strategy": {"random_sample_config": {"sample_rate": 0.5}},
        },
    )

    imported = provider.import_resource("endpoint", "legacy-api")
    assert provider.import_references("endpoint", imported) == [("variants[0].model", "model", "legacy@1")]
    imported_model = provider.import_resource("model", "legacy@1")
    imported_monitor = provider.import_resource("monitor", monitored.name.rsplit("/", 1)[-1])
    assert provider.import_references("monitor", imported_monitor) == [("endpoint", "endpoint", "legacy-api")]

    model_yaml = provider.to_spec("model", imported_model)
    endpoint_yaml = provider.to_spec("endpoint", imported)
    assert endpoint_yaml["variants"][0]["model"] == "legacy"  # the model's ID: imported under that name
    monitor_yaml = provider.to_spec("monitor", imported_monitor)
    m = Resource("model", "legacy", ModelSpec.model_validate(model_yaml))
    e = Resource("endpoint", "legacy-api", EndpointSpec.model_validate(endpoint_yaml))
    mon = Resource(
        "monitor", "legacy-drift", MonitorSpec.model_validate({**monitor_yaml, "endpoint": "legacy-api"})
    )
    planned_model = provider.desired(m, None, {}, imported_model)
    planned = provider.desired(
        e, EndpointSettings.model_validate(endpoint_yaml["vertex"]), {"model.legacy": planned_model}, imported
    )
    planned_monitor = provider.desired(
        mon,
        provider.settings_models["monitor"].model_validate(monitor_yaml["vertex"]),
        {"endpoint.legacy-api": planned},
        imported_monitor,
    )
    # Identical but for the ownership labels the first apply adds, whose absence alone is no
    # change: the plan after an import is empty.
    for kind, want, got in (
        ("model", planned_model, imported_model),
        ("endpoint", planned, imported),
        ("monitor", planned_monitor, imported_monitor),
    ):
        assert {k: v for k, v in want.items() if k != "labels"} == {
            k: v for k, v in got.items() if k != "labels"
        }
        assert want["labels"] != got.get("labels")
        rtype = provider.kinds[kind]
        assert compare(got, want, skip=rtype.computed + rtype.not_drift) == [], kind


def test_create_refuses_an_endpoint_that_is_not_ours(
    provider: VertexProvider, cloud: SimpleNamespace
) -> None:
    created = create(provider, model())
    desired = provider.desired(endpoint(), None, {"model.churn-xgb": created}, None)
    cloud.endpoints.create_endpoint(
        parent=PARENT, endpoint_id=desired["id"], endpoint={"display_name": "theirs"}
    ).result(polling=cloud.polling)
    ctx = RecordingContext("endpoint.churn-api")
    with pytest.raises(
        ProviderError, match=r"already exists .* and is not this stack's: import it"
    ) as raised:
        provider.create("endpoint", desired, ctx)
    assert raised.value.code == "AlreadyExists" and ctx.checkpoints == []


def test_reads_tell_absence_from_other_errors(provider: VertexProvider, vx_emulator: VertexEmulator) -> None:
    assert provider.read("endpoint", {"id": "ghost"}) is None
    assert provider.read("model", {"id": "ghost", "version_id": "1"}) is None
    assert provider.read("monitor", {"id": "404"}) is None
    assert provider.read("schedule", {"id": "404"}) is None
    vx_emulator.update_settings({"fail": [{"method": "GET", "status": "PERMISSION_DENIED", "times": 1}]})
    with pytest.raises(ProviderError, match="Forbidden") as raised:
        provider.read("endpoint", {"id": "ghost"})
    assert not raised.value.retryable


def test_throttling_is_retried_then_reported_as_retryable(
    provider: VertexProvider, vx_emulator: VertexEmulator
) -> None:
    vx_emulator.update_settings({"throttle": {"times": 3, "method": "GET"}})
    assert provider.read("endpoint", {"id": "ghost"}) is None  # the fourth try answers
    vx_emulator.update_settings({"throttle": {"method": "GET"}})
    with pytest.raises(ProviderError, match="TooManyRequests") as raised:
        provider.read("endpoint", {"id": "ghost"})
    assert raised.value.retryable


def test_a_cancelled_apply_stops_waiting(provider: VertexProvider, vx_emulator: VertexEmulator) -> None:
    vx_emulator.update_settings({"operation_delay_seconds": 5})
    ctx = RecordingContext("model.churn-xgb")
    ctx.cancel.set()
    started = time.monotonic()
    with pytest.raises(ProviderError, match="apply was cancelled") as raised:
        provider.create("model", provider.desired(model(), None, {}, None), ctx)
    assert raised.value.code == "Cancelled" and time.monotonic() - started < 3
    assert ctx.checkpoints and ctx.checkpoints[0]["id"].startswith("churn-xgb-"), "state names the model"


def test_google_errors_become_provider_errors() -> None:
    from mlops_vertex.client import NotFoundError, provider_error

    assert isinstance(provider_error(gexc.NotFound("gone"), "GetModel m"), NotFoundError)
    throttled = provider_error(gexc.ResourceExhausted("quota"), "GetModel m")
    assert throttled.retryable and str(throttled) == "GetModel m: ResourceExhausted: quota"
    assert not provider_error(gexc.FailedPrecondition("deployed"), "DeleteModel m").retryable


# ----------------------------------------------------------------------------------- offline checks
def validate(tmp_path: Path, stack: str) -> list[str]:
    (tmp_path / "stack.yaml").write_text(stack)
    shutil.copy(SPEC, tmp_path / "churn-train.json")
    try:
        open_workspace(load_stack(tmp_path / "stack.yaml", environ={}))
    except StackError as exc:
        return exc.lines()
    return []


def test_validate_refuses_what_vertex_cannot_do(tmp_path: Path) -> None:
    stack = (
        STACK.replace("gs://acme-ml/churn/sklearn/v1/", "s3://acme-ml/churn/sklearn/v1/")
        .replace("instance_type: n1-standard-2", "instance_type: ml.m5.large")
        .replace(
            "rollout: {strategy: canary, canary_percent: 10, bake_minutes: 2}",
            "rollout: {strategy: canary, canary_percent: 10, rollback_on: [p99-high]}",
        )
        .replace("type: data_quality", "type: model_quality\n    ground_truth: gs://acme-ml/labels/")
        .replace("every: hourly", "every: '0 * * * *'")
        .replace("max_depth: 8", "max_depth: eight")
        + "    also_on: [churn-drift]\n"
    )
    lines = validate(tmp_path, stack)
    expected = [
        "models.churn-challenger.artifact: Vertex AI loads model artifacts from Cloud Storage",
        "endpoints.churn-api.variants[1].instance_type: ml.m5.large is not a Vertex AI machine type "
        "(did you mean n1-standard-2?)",
        "endpoints.churn-api.rollout.rollback_on: Vertex AI has no alarms",
        "monitors.churn-drift.type: Vertex AI model monitoring watches input features",
        "monitors.churn-drift.every: Vertex AI runs model monitoring at an interval",
        "schedules.churn-retrain.also_on: Vertex AI has no trigger",
        "schedules.churn-retrain.pipeline.parameters: max_depth: the pipeline declares it NUMBER_INTEGER",
    ]
    for want in expected:
        assert any(want in line for line in lines), (want, lines)
    assert len(lines) == len(expected), lines


def test_validate_refuses_serverless_and_registries(tmp_path: Path) -> None:
    stack = STACK.replace("    vertex: {aliases: [champion]}\n", "    registry: {group: churn}\n").replace(
        "        instance_type: n1-standard-2\n        instance_count: 1\n",
        "        serverless: {memory_mb: 2048}\n",
    )
    lines = validate(tmp_path, stack)
    assert len(lines) == 2, lines
    assert "models.churn-xgb.registry: Vertex AI keeps versions inside the model" in lines[0]
    assert "endpoints.churn-api.variants[1].serverless: Vertex AI has no serverless deployments" in lines[1]


def test_validate_refuses_precomputed_baseline_statistics(tmp_path: Path) -> None:
    # A string baseline names precomputed statistics (as on SageMaker): Vertex has no use for them.
    stack = STACK.replace(
        "baseline: {dataset: gs://acme-ml/churn/train/v1.csv, format: csv}",
        "baseline: gs://acme-ml/churn/baseline/v1/",
    )
    (line,) = validate(tmp_path, stack)
    assert "monitors.churn-drift.baseline: gs://acme-ml/churn/baseline/v1/: Vertex AI cannot monitor" in line
    assert "give baseline: {dataset: gs://.../train.csv, format: csv}" in line


def test_autoscaling_fields_vertex_ignores_are_a_warning(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text(
        STACK.replace(
            "autoscaling: {min: 1, max: 3}",
            "autoscaling: {min: 1, max: 3, target_invocations_per_instance: 500}",
        )
    )
    shutil.copy(SPEC, tmp_path / "churn-train.json")
    ws = open_workspace(load_stack(tmp_path / "stack.yaml", environ={}))
    (warning,) = ws.warnings
    assert warning.severity == "warning" and warning.path == "endpoints.churn-api.variants[0].autoscaling"
    assert "target_invocations_per_instance and the cooldowns are ignored" in warning.message


def test_validate_needs_a_pipeline_root(tmp_path: Path) -> None:
    lines = validate(tmp_path, STACK.replace(", staging_bucket: gs://acme-ml-staging", ""))
    assert len(lines) == 1 and "set staging_bucket in the vertex provider block" in lines[0]


def test_settings_blocks_refuse_unknown_keys() -> None:
    with pytest.raises(ValueError, match="regoin"):
        VertexConfig.model_validate({"project": PROJECT, "location": LOCATION, "regoin": "x"})
    with pytest.raises(ValueError, match="network"):
        EndpointSettings.model_validate({"network": "projects/1/global/networks/default"})


def test_importing_the_provider_loads_no_google_library() -> None:
    # `google` and `google.cloud` are namespace packages the interpreter may preload (.pth files).
    heavy = ("google.cloud.", "google.api_core", "google.auth", "google.protobuf", "grpc", "croniter")
    code = (
        f"import sys, mlops_vertex.provider; print(sorted(m for m in sys.modules if m.startswith({heavy!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
