"""The Vertex AI emulator, driven by the real `google.cloud.aiplatform_v1` clients over HTTP
(fixtures in conftest.py).

Errors: over REST, the client picks the exception class from the HTTP status alone, so a
FAILED_PRECONDITION call error is a `BadRequest` like INVALID_ARGUMENT; the status name is in the
reply (`_status` below). An operation's error carries a gRPC code, which does map to
`FailedPrecondition` & co."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from google.api_core import exceptions
from google.api_core.retry import Retry
from google.cloud import aiplatform_v1 as v1
from google.protobuf import field_mask_pb2, json_format
from mlops_vertex_sandbox import core, jobs, models
from mlops_vertex_sandbox.server import VertexEmulator, reset, update_settings

PARENT = "projects/test-project/locations/europe-west4"
# Vertex answers with the project number where requests named the project by its ID.
NAMED = f"projects/{core.project_number('test-project')}/locations/europe-west4"
IMAGE = "europe-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.1-7:latest"
# Long enough that the calls right after an operation starts see it in flight, even on a slow runner.
OBSERVABLE_DELAY = 0.5


def _status(exc_info: pytest.ExceptionInfo[exceptions.GoogleAPICallError]) -> str:
    """The google.rpc status name of a failed call, from the error reply."""
    response = exc_info.value.response
    assert response is not None
    return str(response.json()["error"]["status"])


def _mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def _resources(low: int = 1, high: int = 0, gpu: bool = False) -> v1.DedicatedResources:
    machine = v1.MachineSpec(machine_type="n1-standard-4")
    if gpu:
        machine = v1.MachineSpec(
            machine_type="n1-standard-4",
            accelerator_type=v1.AcceleratorType.NVIDIA_TESLA_T4,
            accelerator_count=1,
        )
    return v1.DedicatedResources(machine_spec=machine, min_replica_count=low, max_replica_count=high)


@dataclass
class _Vertex:
    """The four service clients on the emulator, and shortcuts for the setup most tests need."""

    models: v1.ModelServiceClient
    endpoints: v1.EndpointServiceClient
    jobs: v1.JobServiceClient
    schedules: v1.ScheduleServiceClient
    polling: Retry

    def upload(
        self,
        model_id: str = "",
        *,
        parent_model: str = "",
        aliases: tuple[str, ...] = (),
        labels: dict[str, str] | None = None,
        display_name: str = "fraud-xgb",
    ) -> v1.UploadModelResponse:
        model = v1.Model(
            display_name=display_name,
            artifact_uri="gs://ml-artifacts/fraud/v7/",
            container_spec=v1.ModelContainerSpec(
                image_uri=IMAGE,
                env=[v1.EnvVar(name="MODEL_NAME", value="fraud")],
                ports=[v1.Port(container_port=8080)],
                predict_route="/predict",
                health_route="/health",
            ),
            labels=labels or {},
            version_aliases=list(aliases),
        )
        request = {"parent": PARENT, "model": model, "model_id": model_id, "parent_model": parent_model}
        return self.models.upload_model(request=request).result(polling=self.polling)

    def endpoint(self, endpoint_id: str = "fraud-api") -> v1.Endpoint:
        operation = self.endpoints.create_endpoint(
            parent=PARENT, endpoint=v1.Endpoint(display_name=endpoint_id), endpoint_id=endpoint_id
        )
        return operation.result(polling=self.polling)

    def deploy(
        self, endpoint: str, model: str, split: dict[str, int] | None = None, **resources: Any
    ) -> v1.DeployedModel:
        deployed = v1.DeployedModel(model=model, dedicated_resources=_resources(**resources))
        operation = self.endpoints.deploy_model(
            endpoint=endpoint, deployed_model=deployed, traffic_split=split
        )
        return operation.result(polling=self.polling).deployed_model

    def undeploy(self, endpoint: str, deployed_id: str, split: dict[str, int] | None = None) -> None:
        operation = self.endpoints.undeploy_model(
            endpoint=endpoint, deployed_model_id=deployed_id, traffic_split=split
        )
        operation.result(polling=self.polling)

    def serving(self) -> tuple[str, str, str]:
        """An endpoint serving two versions of a model, 80/20: (endpoint, id of v1, id of v2)."""
        model = self.upload("fraud-xgb").model
        self.upload(parent_model=model, aliases=("challenger",))
        endpoint = self.endpoint().name
        first = self.deploy(endpoint, f"{model}@1").id
        second = self.deploy(endpoint, f"{model}@2", split={"0": 20, first: 80}).id
        return endpoint, first, second


@pytest.fixture
def vx(vertex_client: Callable[[type], Any], polling: Retry) -> _Vertex:
    return _Vertex(
        models=vertex_client(v1.ModelServiceClient),
        endpoints=vertex_client(v1.EndpointServiceClient),
        jobs=vertex_client(v1.JobServiceClient),
        schedules=vertex_client(v1.ScheduleServiceClient),
        polling=polling,
    )


def _monitoring_job(
    endpoint: str, deployed_ids: list[str], **changes: Any
) -> v1.ModelDeploymentMonitoringJob:
    objective = v1.ModelMonitoringObjectiveConfig(
        training_dataset=v1.ModelMonitoringObjectiveConfig.TrainingDataset(
            gcs_source=v1.GcsSource(uris=["gs://ml-baselines/fraud/v7/train.csv"]), data_format="csv"
        ),
        training_prediction_skew_detection_config=(
            v1.ModelMonitoringObjectiveConfig.TrainingPredictionSkewDetectionConfig(
                skew_thresholds={"amount": v1.ThresholdConfig(value=0.3)}
            )
        ),
        prediction_drift_detection_config=v1.ModelMonitoringObjectiveConfig.PredictionDriftDetectionConfig(
            drift_thresholds={"amount": v1.ThresholdConfig(value=0.2)}
        ),
    )
    job = {
        "display_name": "fraud-drift",
        "endpoint": endpoint,
        "model_deployment_monitoring_objective_configs": [
            v1.ModelDeploymentMonitoringObjectiveConfig(deployed_model_id=i, objective_config=objective)
            for i in deployed_ids
        ],
        "model_deployment_monitoring_schedule_config": v1.ModelDeploymentMonitoringScheduleConfig(
            monitor_interval={"seconds": 3600}
        ),
        "logging_sampling_strategy": v1.SamplingStrategy(
            random_sample_config=v1.SamplingStrategy.RandomSampleConfig(sample_rate=0.2)
        ),
        "model_monitoring_alert_config": v1.ModelMonitoringAlertConfig(
            email_alert_config=v1.ModelMonitoringAlertConfig.EmailAlertConfig(
                user_emails=["ml-oncall@example.com"]
            ),
            enable_logging=True,
        ),
        "labels": {"stack": "fraud-detection"},
    }
    return v1.ModelDeploymentMonitoringJob(**{**job, **changes})


def _schedule(cron: str = "TZ=Europe/Paris 0 3 * * *", **changes: Any) -> v1.Schedule:
    schedule = {
        "display_name": "fraud-retrain",
        "cron": cron,
        "max_concurrent_run_count": 1,
        "create_pipeline_job_request": v1.CreatePipelineJobRequest(
            parent=PARENT,
            pipeline_job=v1.PipelineJob(
                display_name="fraud-train",
                template_uri="https://europe-west4-kfp.pkg.dev/ml/pipelines/fraud-train/v3",
                runtime_config=v1.PipelineJob.RuntimeConfig(
                    gcs_output_directory="gs://ml-pipelines/fraud/",
                    parameter_values={"epochs": 100, "region": "eu"},
                ),
            ),
        ),
    }
    return v1.Schedule(**{**schedule, **changes})


def _raw(emulator: VertexEmulator, path: str, int_enums: bool = True) -> dict[str, Any]:
    """A GET answered by the emulator, as JSON: what the client would parse."""
    query = "?%24alt=json%3Benum-encoding%3Dint" if int_enums else ""
    with urllib.request.urlopen(f"{emulator.url}{path}{query}") as response:
        return dict(json.loads(response.read()))


# ---- models --------------------------------------------------------------------------------------


def test_upload_is_an_operation_answering_the_model_and_its_version(vx: _Vertex) -> None:
    uploaded = vx.upload("fraud-xgb", labels={"stack": "fraud-detection", "address": "model-fraud-xgb"})
    assert (uploaded.model, uploaded.model_version_id) == (f"{NAMED}/models/fraud-xgb", "1")

    model = vx.models.get_model(name=uploaded.model)
    assert model.name == f"{NAMED}/models/fraud-xgb"
    assert (model.display_name, model.version_id, list(model.version_aliases)) == (
        "fraud-xgb",
        "1",
        ["default"],
    )
    assert model.artifact_uri == "gs://ml-artifacts/fraud/v7/"
    assert model.container_spec.image_uri == IMAGE
    assert [(e.name, e.value) for e in model.container_spec.env] == [("MODEL_NAME", "fraud")]
    assert [p.container_port for p in model.container_spec.ports] == [8080]
    assert (model.container_spec.predict_route, model.container_spec.health_route) == ("/predict", "/health")
    assert dict(model.labels) == {"stack": "fraud-detection", "address": "model-fraud-xgb"}
    assert v1.Model.DeploymentResourcesType.DEDICATED_RESOURCES in model.supported_deployment_resources_types
    assert model.etag and model.create_time and model.version_create_time
    assert list(model.deployed_models) == []


def test_a_model_id_is_generated_when_none_is_given(vx: _Vertex) -> None:
    name = vx.upload().model
    assert name.startswith(f"{NAMED}/models/") and name.rsplit("/", 1)[1].isdigit()
    assert vx.models.get_model(name=name).display_name == "fraud-xgb"


def test_new_versions_and_aliases(vx: _Vertex) -> None:
    model = vx.upload("fraud-xgb", labels={"stack": "fraud"}).model
    second = vx.upload(parent_model=model, aliases=("challenger",), labels={"version": "v8"})
    assert (second.model, second.model_version_id) == (model, "2")

    v2 = vx.models.get_model(name=f"{model}@2")
    assert (v2.name, v2.version_id, list(v2.version_aliases)) == (model, "2", ["challenger"])
    assert dict(v2.labels) == {"stack": "fraud", "version": "v8"}  # model labels + version labels
    assert vx.models.get_model(name=model).version_id == "1"  # the default version
    assert vx.models.get_model(name=f"{model}@challenger").version_id == "2"
    assert vx.models.get_model(name=f"{model}@default").version_id == "1"
    versions = vx.models.list_model_versions(name=model)
    assert [m.version_id for m in versions] == ["1", "2"]
    assert [m.version_id for m in vx.models.list_models(parent=PARENT)] == ["1"]

    # Giving `default` to version 2 takes it from version 1.
    merged = vx.models.merge_version_aliases(name=f"{model}@2", version_aliases=["default", "-challenger"])
    assert sorted(merged.version_aliases) == ["default"]
    assert vx.models.get_model(name=model).version_id == "2"
    assert list(vx.models.get_model(name=f"{model}@1").version_aliases) == []

    with pytest.raises(exceptions.BadRequest) as refused:
        vx.models.merge_version_aliases(name=f"{model}@2", version_aliases=["-default"])
    assert _status(refused) == "FAILED_PRECONDITION"
    with pytest.raises(exceptions.BadRequest) as invalid:
        vx.models.merge_version_aliases(name=f"{model}@1", version_aliases=["1st"])
    assert _status(invalid) == "INVALID_ARGUMENT"


@pytest.mark.parametrize("suffix", ["@9", "@nope", "-missing"])
def test_get_model_of_an_unknown_version_or_alias_is_not_found(vx: _Vertex, suffix: str) -> None:
    model = vx.upload("fraud-xgb").model
    with pytest.raises(exceptions.NotFound):
        vx.models.get_model(name=f"{model}{suffix}")


def test_upload_refuses_what_vertex_refuses(vx: _Vertex) -> None:
    vx.upload("fraud-xgb")
    with pytest.raises(exceptions.Conflict) as duplicate:
        vx.upload("fraud-xgb")
    assert _status(duplicate) == "ALREADY_EXISTS"
    with pytest.raises(exceptions.BadRequest, match="model_id"):
        vx.upload("Fraud_XGB")
    with pytest.raises(exceptions.BadRequest, match="invalid label key"):
        vx.upload("other", labels={"mlops-gitops:stack": "fraud"})
    with pytest.raises(exceptions.BadRequest, match="display_name"):
        vx.upload("other", display_name="")
    with pytest.raises(exceptions.NotFound):
        vx.upload(parent_model=f"{PARENT}/models/missing")


def test_list_models_filters_orders_and_pages(vx: _Vertex) -> None:
    vx.upload("fraud-a", labels={"team": "fraud"}, display_name="fraud-a")
    vx.upload("fraud-b", labels={"team": "fraud", "tier": "gold"}, display_name="fraud-b")
    vx.upload("churn", labels={"team": "growth"}, display_name="churn")

    def ids(filter_: str = "", order_by: str = "") -> list[str]:
        listed = vx.models.list_models(request={"parent": PARENT, "filter": filter_, "order_by": order_by})
        return [model.name.rsplit("/", 1)[1] for model in listed]

    assert ids("labels.team=fraud") == ["fraud-a", "fraud-b"]
    assert ids("labels.tier:*") == ["fraud-b"]
    assert ids('display_name="churn" OR labels.tier=gold') == ["fraud-b", "churn"]
    assert ids("labels.team=fraud AND NOT labels.tier:*") == ["fraud-a"]
    assert ids('displayName="fraud-*"') == ["fraud-a", "fraud-b"]
    assert ids(order_by="display_name desc") == ["fraud-b", "fraud-a", "churn"]

    pages = vx.models.list_models(request={"parent": PARENT, "page_size": 1}).pages
    assert [[m.display_name for m in page.models] for page in pages] == [["fraud-a"], ["fraud-b"], ["churn"]]
    with pytest.raises(exceptions.BadRequest, match="filter"):
        ids("labels.team=")
    with pytest.raises(exceptions.BadRequest, match="page token"):
        vx.models.list_models(request={"parent": PARENT, "page_token": "bogus"})


def test_update_model_at_model_and_version_level(vx: _Vertex) -> None:
    model = vx.upload("fraud-xgb", labels={"stack": "fraud"}).model
    vx.upload(parent_model=model, labels={"version": "v8"})

    updated = vx.models.update_model(
        model=v1.Model(
            name=model, display_name="fraud-xgb-renamed", labels={"stack": "fraud", "team": "risk"}
        ),
        update_mask=_mask("display_name", "labels"),
    )
    assert (updated.display_name, dict(updated.labels)) == (
        "fraud-xgb-renamed",
        {"stack": "fraud", "team": "risk"},
    )
    version = vx.models.update_model(
        model=v1.Model(name=f"{model}@2", version_description="retrained", labels={"version": "v8b"}),
        update_mask=_mask("version_description", "labels"),
    )
    assert version.version_description == "retrained"
    assert dict(version.labels) == {"stack": "fraud", "team": "risk", "version": "v8b"}

    with pytest.raises(exceptions.BadRequest) as mismatch:
        vx.models.update_model(
            model=v1.Model(name=f"{model}@2", display_name="x"), update_mask=_mask("display_name")
        )
    assert _status(mismatch) == "FAILED_PRECONDITION"
    with pytest.raises(exceptions.BadRequest, match="update_mask"):
        vx.models.update_model(model=v1.Model(name=model, display_name="x"), update_mask=_mask())
    with pytest.raises(exceptions.Conflict) as stale:
        vx.models.update_model(
            model=v1.Model(name=model, display_name="x", etag="stale"), update_mask=_mask("display_name")
        )
    assert _status(stale) == "ABORTED"


# ---- endpoints -----------------------------------------------------------------------------------


def test_create_endpoint(vx: _Vertex) -> None:
    created = vx.endpoint("fraud-api")
    assert created.name == f"{NAMED}/endpoints/fraud-api"
    assert (created.display_name, created.etag) == (
        "fraud-api",
        vx.endpoints.get_endpoint(name=created.name).etag,
    )
    generated = vx.endpoints.create_endpoint(parent=PARENT, endpoint=v1.Endpoint(display_name="x"))
    assert generated.result(polling=vx.polling).name.rsplit("/", 1)[1].isdigit()

    with pytest.raises(exceptions.Conflict):
        vx.endpoint("fraud-api")
    for bad_id in ("Fraud-API", "0123", "1234567890"):
        with pytest.raises(exceptions.BadRequest, match="endpoint_id"):
            vx.endpoint(bad_id)
    assert [e.display_name for e in vx.endpoints.list_endpoints(parent=PARENT)] == ["fraud-api", "x"]


def test_deploy_two_models_split_80_20(vx: _Vertex) -> None:
    model = vx.upload("fraud-xgb").model
    vx.upload(parent_model=model)
    endpoint = vx.endpoint().name

    blue = vx.deploy(endpoint, f"{model}@1", low=2, high=4, gpu=True)
    assert dict(vx.endpoints.get_endpoint(name=endpoint).traffic_split) == {
        blue.id: 100
    }  # the first takes all
    green = vx.deploy(endpoint, f"{model}@2", split={"0": 20, blue.id: 80})

    assert (blue.model, blue.model_version_id, blue.display_name) == (model, "1", "fraud-xgb")
    assert blue.dedicated_resources.machine_spec.accelerator_type == v1.AcceleratorType.NVIDIA_TESLA_T4
    assert (blue.dedicated_resources.min_replica_count, blue.dedicated_resources.max_replica_count) == (2, 4)
    assert green.dedicated_resources.max_replica_count == 1  # defaults to the minimum
    current = vx.endpoints.get_endpoint(name=endpoint)
    assert dict(current.traffic_split) == {blue.id: 80, green.id: 20}
    assert [(d.id, d.model_version_id) for d in current.deployed_models] == [(blue.id, "1"), (green.id, "2")]
    refs = vx.models.get_model(name=f"{model}@2").deployed_models
    assert [(r.endpoint, r.deployed_model_id) for r in refs] == [(endpoint, green.id)]

    # A model that is not there, a split naming another model or not adding up: refused at once.
    with pytest.raises(exceptions.NotFound):
        vx.deploy(endpoint, f"{model}@7")
    with pytest.raises(exceptions.BadRequest, match=r"\[42\] do not exist"):
        vx.deploy(endpoint, model, split={"0": 50, "42": 50})
    with pytest.raises(exceptions.BadRequest, match="add up to 100"):
        vx.deploy(endpoint, model, split={"0": 50, blue.id: 40})
    with pytest.raises(exceptions.BadRequest, match="max_replica_count"):
        vx.deploy(endpoint, model, low=3, high=2)


def test_update_traffic_split_is_immediate_and_validated(vx: _Vertex) -> None:
    endpoint, blue, green = vx.serving()
    updated = vx.endpoints.update_endpoint(
        endpoint=v1.Endpoint(name=endpoint, traffic_split={blue: 50, green: 50}, labels={"stack": "fraud"}),
        update_mask=_mask("traffic_split", "labels"),
    )
    assert (dict(updated.traffic_split), dict(updated.labels)) == ({blue: 50, green: 50}, {"stack": "fraud"})
    assert vx.endpoints.get_endpoint(name=endpoint).traffic_split == updated.traffic_split

    for split, message in [
        ({blue: 50, green: 40}, "add up to 100"),
        ({blue: 50, "12345": 50}, r"\[12345\] do not exist"),
        ({blue: 150, green: -50}, "percentage"),
    ]:
        with pytest.raises(exceptions.BadRequest, match=message):
            vx.endpoints.update_endpoint(
                endpoint=v1.Endpoint(name=endpoint, traffic_split=split), update_mask=_mask("traffic_split")
            )
    with pytest.raises(exceptions.BadRequest, match="update_mask"):
        vx.endpoints.update_endpoint(
            endpoint=v1.Endpoint(name=endpoint, display_name="x"), update_mask=_mask()
        )
    with pytest.raises(exceptions.BadRequest, match="cannot be updated"):
        vx.endpoints.update_endpoint(
            endpoint=v1.Endpoint(name=endpoint), update_mask=_mask("deployed_models")
        )
    assert dict(vx.endpoints.get_endpoint(name=endpoint).traffic_split) == {blue: 50, green: 50}


def test_undeploy_refuses_a_model_that_still_has_traffic(vx: _Vertex) -> None:
    endpoint, blue, green = vx.serving()
    with pytest.raises(exceptions.BadRequest, match="still receives 20%") as refused:
        vx.undeploy(endpoint, green)
    assert _status(refused) == "FAILED_PRECONDITION"

    vx.undeploy(endpoint, green, split={blue: 100})  # the request moves its traffic
    current = vx.endpoints.get_endpoint(name=endpoint)
    assert ([d.id for d in current.deployed_models], dict(current.traffic_split)) == ([blue], {blue: 100})

    vx.undeploy(endpoint, blue)  # the last one goes, whatever its traffic
    current = vx.endpoints.get_endpoint(name=endpoint)
    assert (list(current.deployed_models), dict(current.traffic_split)) == ([], {})
    with pytest.raises(exceptions.NotFound):
        vx.undeploy(endpoint, blue)


def test_deletions_are_refused_while_models_are_deployed(vx: _Vertex) -> None:
    endpoint, blue, green = vx.serving()
    model = f"{PARENT}/models/fraud-xgb"
    for delete in (
        lambda: vx.endpoints.delete_endpoint(name=endpoint),
        lambda: vx.models.delete_model(name=model),
        lambda: vx.models.delete_model_version(name=f"{model}@2"),
    ):
        with pytest.raises(exceptions.BadRequest, match="deployed") as refused:
            delete()
        assert _status(refused) == "FAILED_PRECONDITION"

    vx.undeploy(endpoint, green, split={blue: 100})
    with pytest.raises(exceptions.BadRequest, match="default version"):
        vx.models.delete_model_version(name=f"{model}@1")
    vx.models.delete_model_version(name=f"{model}@2").result(polling=vx.polling)
    with pytest.raises(exceptions.BadRequest, match="only version"):
        vx.models.delete_model_version(name=f"{model}@1")
    vx.undeploy(endpoint, blue)
    vx.endpoints.delete_endpoint(name=endpoint).result(polling=vx.polling)
    vx.models.delete_model(name=model).result(polling=vx.polling)
    with pytest.raises(exceptions.NotFound):
        vx.endpoints.get_endpoint(name=endpoint)
    with pytest.raises(exceptions.NotFound):
        vx.models.get_model(name=model)


def test_mutate_deployed_model_changes_replica_counts(vx: _Vertex) -> None:
    endpoint, blue, _ = vx.serving()
    changed = v1.DeployedModel(
        id=blue, dedicated_resources=v1.DedicatedResources(min_replica_count=2, max_replica_count=5)
    )
    operation = vx.endpoints.mutate_deployed_model(
        endpoint=endpoint,
        deployed_model=changed,
        update_mask=_mask("dedicated_resources.min_replica_count", "dedicated_resources.max_replica_count"),
    )
    mutated = operation.result(polling=vx.polling).deployed_model
    assert (mutated.dedicated_resources.min_replica_count, mutated.dedicated_resources.max_replica_count) == (
        2,
        5,
    )
    assert mutated.dedicated_resources.machine_spec.machine_type == "n1-standard-4"  # not in the mask: kept
    current = next(d for d in vx.endpoints.get_endpoint(name=endpoint).deployed_models if d.id == blue)
    assert current.dedicated_resources.max_replica_count == 5

    with pytest.raises(exceptions.BadRequest, match="max_replica_count"):
        vx.endpoints.mutate_deployed_model(
            endpoint=endpoint,
            deployed_model=v1.DeployedModel(
                id=blue, dedicated_resources=v1.DedicatedResources(min_replica_count=9)
            ),
            update_mask=_mask("dedicated_resources.min_replica_count"),
        )
    with pytest.raises(exceptions.BadRequest, match="cannot be updated"):
        vx.endpoints.mutate_deployed_model(
            endpoint=endpoint, deployed_model=v1.DeployedModel(id=blue, model="x"), update_mask=_mask("model")
        )


# ---- long-running operations ---------------------------------------------------------------------


def test_effects_show_only_when_the_operation_is_done(vx_emulator: VertexEmulator, vx: _Vertex) -> None:
    model = vx.upload("fraud-xgb").model
    endpoint = vx.endpoint().name
    vx_emulator.update_settings({"operation_delay_seconds": OBSERVABLE_DELAY})

    started = time.monotonic()
    operation = vx.endpoints.deploy_model(
        endpoint=endpoint, deployed_model=v1.DeployedModel(model=model, dedicated_resources=_resources())
    )
    assert not operation.done()
    assert operation.operation.name.startswith(f"{endpoint}/operations/")
    assert operation.metadata.deployment_stage == v1.DeploymentStage.STARTING_DEPLOYMENT
    assert list(vx.endpoints.get_endpoint(name=endpoint).deployed_models) == []
    with pytest.raises(exceptions.BadRequest, match="being deployed"):
        vx.models.delete_model(name=model)
    assert "done" not in _raw(vx_emulator, f"/ui/{operation.operation.name}")

    deployed = operation.result(polling=vx.polling).deployed_model
    assert time.monotonic() - started >= OBSERVABLE_DELAY
    assert operation.metadata.deployment_stage == v1.DeploymentStage.SUCCESSFULLY_DEPLOYED
    assert [d.id for d in vx.endpoints.get_endpoint(name=endpoint).deployed_models] == [deployed.id]


def test_wait_cancel_list_and_delete_operations(vx_emulator: VertexEmulator, vx: _Vertex) -> None:
    vx_emulator.update_settings({"operation_delay_seconds": OBSERVABLE_DELAY})
    endpoint = vx.endpoints.create_endpoint(
        parent=PARENT, endpoint=v1.Endpoint(display_name="a"), endpoint_id="a"
    )
    waited = vx.endpoints.wait_operation({"name": endpoint.operation.name, "timeout": {"seconds": 5}})
    assert waited.done and vx.endpoints.get_endpoint(name=f"{PARENT}/endpoints/a")

    upload = vx.models.upload_model(parent=PARENT, model=v1.Model(display_name="m", artifact_uri="gs://m/"))
    vx.models.cancel_operation({"name": upload.operation.name})
    with pytest.raises(exceptions.Cancelled):
        upload.result(polling=vx.polling)
    assert list(vx.models.list_models(parent=PARENT)) == []  # a cancelled upload creates nothing

    listed = vx.endpoints.list_operations({"name": f"{PARENT}/endpoints/a"})
    assert [op.name for op in listed.operations] == [endpoint.operation.name]
    vx.endpoints.delete_operation({"name": endpoint.operation.name})
    with pytest.raises(exceptions.NotFound):
        vx.endpoints.get_operation({"name": endpoint.operation.name})


def test_a_wait_does_not_hold_up_other_calls(vx_emulator: VertexEmulator, vx: _Vertex) -> None:
    vx_emulator.update_settings({"operation_delay_seconds": 1.0})
    operation = vx.endpoints.create_endpoint(parent=PARENT, endpoint=v1.Endpoint(display_name="a"))
    waiter = threading.Thread(
        target=vx.endpoints.wait_operation,
        args=({"name": operation.operation.name, "timeout": {"seconds": 5}},),
    )
    waiter.start()
    try:
        time.sleep(0.05)  # the wait is blocking in the emulator now
        started = time.monotonic()
        vx.models.list_models(parent=PARENT)
        assert time.monotonic() - started < 0.5
    finally:
        waiter.join()


# ---- monitoring jobs -----------------------------------------------------------------------------


def _wait_state(
    vx: _Vertex, name: str, state: v1.JobState, timeout: float = 5
) -> v1.ModelDeploymentMonitoringJob:
    deadline = time.monotonic() + timeout
    while (job := vx.jobs.get_model_deployment_monitoring_job(name=name)).state != state:
        if time.monotonic() > deadline:
            pytest.fail(f"{name} still {job.state.name}, not {state.name}, after {timeout} s")
        time.sleep(0.01)
    return job


def test_monitoring_job_lifecycle(vx_emulator: VertexEmulator, vx: _Vertex) -> None:
    endpoint, blue, green = vx.serving()
    vx_emulator.update_settings({"operation_delay_seconds": 0.2})
    job = vx.jobs.create_model_deployment_monitoring_job(
        parent=PARENT, model_deployment_monitoring_job=_monitoring_job(endpoint, [blue, green])
    )
    assert job.name.startswith(f"{NAMED}/modelDeploymentMonitoringJobs/")
    assert job.state == v1.JobState.JOB_STATE_PENDING
    assert job.model_deployment_monitoring_schedule_config.monitor_interval.total_seconds() == 3600
    assert job.next_schedule_time > datetime.now(UTC)
    assert vx.endpoints.get_endpoint(name=endpoint).model_deployment_monitoring_job == job.name
    running = _wait_state(vx, job.name, v1.JobState.JOB_STATE_RUNNING)
    skew = running.model_deployment_monitoring_objective_configs[0].objective_config
    assert skew.training_prediction_skew_detection_config.skew_thresholds["amount"].value == pytest.approx(
        0.3
    )
    assert list(running.model_monitoring_alert_config.email_alert_config.user_emails) == [
        "ml-oncall@example.com"
    ]

    vx.jobs.pause_model_deployment_monitoring_job(name=job.name)
    assert vx.jobs.get_model_deployment_monitoring_job(name=job.name).state == v1.JobState.JOB_STATE_PAUSED
    with pytest.raises(exceptions.BadRequest, match="cannot be paused"):
        vx.jobs.pause_model_deployment_monitoring_job(name=job.name)
    vx.jobs.resume_model_deployment_monitoring_job(name=job.name)
    assert vx.jobs.get_model_deployment_monitoring_job(name=job.name).state == v1.JobState.JOB_STATE_RUNNING
    with pytest.raises(exceptions.BadRequest, match="only a paused job"):
        vx.jobs.resume_model_deployment_monitoring_job(name=job.name)

    changes = v1.ModelDeploymentMonitoringJob(
        name=job.name,
        display_name="fraud-drift-v2",
        logging_sampling_strategy=v1.SamplingStrategy(
            random_sample_config=v1.SamplingStrategy.RandomSampleConfig(sample_rate=0.5)
        ),
    )
    update = vx.jobs.update_model_deployment_monitoring_job(
        model_deployment_monitoring_job=changes,
        update_mask=_mask("display_name", "logging_sampling_strategy"),
    )
    assert vx.jobs.get_model_deployment_monitoring_job(name=job.name).display_name == "fraud-drift"  # not yet
    updated = update.result(polling=vx.polling)
    assert updated.display_name == "fraud-drift-v2"
    assert updated.logging_sampling_strategy.random_sample_config.sample_rate == pytest.approx(0.5)
    assert dict(updated.labels) == {"stack": "fraud-detection"}  # not in the mask: kept

    vx.jobs.delete_model_deployment_monitoring_job(name=job.name).result(polling=vx.polling)
    with pytest.raises(exceptions.NotFound):
        vx.jobs.get_model_deployment_monitoring_job(name=job.name)
    assert vx.endpoints.get_endpoint(name=endpoint).model_deployment_monitoring_job == ""


def test_monitoring_job_validation(vx: _Vertex) -> None:
    endpoint, blue, green = vx.serving()

    def create(job: v1.ModelDeploymentMonitoringJob) -> v1.ModelDeploymentMonitoringJob:
        return vx.jobs.create_model_deployment_monitoring_job(
            parent=PARENT, model_deployment_monitoring_job=job
        )

    with pytest.raises(exceptions.NotFound):
        create(_monitoring_job(f"{PARENT}/endpoints/missing", [blue]))
    with pytest.raises(exceptions.BadRequest, match="is not deployed on endpoint"):
        create(_monitoring_job(endpoint, ["12345"]))
    with pytest.raises(exceptions.BadRequest, match="sample_rate"):
        create(
            _monitoring_job(
                endpoint,
                [blue],
                logging_sampling_strategy=v1.SamplingStrategy(
                    random_sample_config=v1.SamplingStrategy.RandomSampleConfig()
                ),
            )
        )
    no_baseline = v1.ModelDeploymentMonitoringObjectiveConfig(
        deployed_model_id=blue,
        objective_config=v1.ModelMonitoringObjectiveConfig(
            training_prediction_skew_detection_config=(
                v1.ModelMonitoringObjectiveConfig.TrainingPredictionSkewDetectionConfig(
                    skew_thresholds={"amount": v1.ThresholdConfig(value=0.3)}
                )
            )
        ),
    )
    with pytest.raises(exceptions.BadRequest, match="training_dataset"):
        create(_monitoring_job(endpoint, [], model_deployment_monitoring_objective_configs=[no_baseline]))

    job = create(_monitoring_job(endpoint, [blue]))
    with pytest.raises(exceptions.BadRequest, match="already monitored") as second:
        create(_monitoring_job(endpoint, [blue]))
    assert _status(second) == "FAILED_PRECONDITION"
    assert [j.name for j in vx.jobs.list_model_deployment_monitoring_jobs(parent=PARENT)] == [job.name]
    vx.undeploy(endpoint, green, split={blue: 100})
    vx.undeploy(endpoint, blue)
    with pytest.raises(exceptions.BadRequest, match="monitoring job"):
        vx.endpoints.delete_endpoint(name=endpoint)


# ---- schedules -----------------------------------------------------------------------------------


def test_schedule_lifecycle(vx: _Vertex) -> None:
    created = vx.schedules.create_schedule(parent=PARENT, schedule=_schedule())
    assert created.name.startswith(f"{NAMED}/schedules/")
    assert (created.state, created.max_concurrent_run_count) == (v1.Schedule.State.ACTIVE, 1)
    parameters = created.create_pipeline_job_request.pipeline_job.runtime_config.parameter_values
    assert dict(parameters) == {"epochs": 100, "region": "eu"}
    next_run = created.next_run_time
    assert datetime.now(UTC) < next_run <= datetime.now(UTC) + timedelta(days=1)
    paris = next_run.astimezone(ZoneInfo("Europe/Paris"))
    assert (paris.hour, paris.minute) == (3, 0)
    assert vx.schedules.get_schedule(name=created.name).cron == "TZ=Europe/Paris 0 3 * * *"

    patched = vx.schedules.update_schedule(
        schedule=v1.Schedule(
            name=created.name, cron="TZ=America/New_York 30 6 * * 1", max_concurrent_run_count=3
        ),
        update_mask=_mask("cron", "max_concurrent_run_count"),
    )
    new_york = patched.next_run_time.astimezone(ZoneInfo("America/New_York"))
    assert (new_york.weekday(), new_york.hour, new_york.minute) == (0, 6, 30)
    assert (patched.max_concurrent_run_count, patched.display_name) == (3, "fraud-retrain")

    vx.schedules.pause_schedule(name=created.name)
    paused = vx.schedules.get_schedule(name=created.name)
    assert (paused.state, paused.last_pause_time > created.create_time) == (v1.Schedule.State.PAUSED, True)
    assert "next_run_time" not in paused  # a paused schedule starts no run
    with pytest.raises(exceptions.BadRequest, match="only an active schedule"):
        vx.schedules.pause_schedule(name=created.name)
    vx.schedules.resume_schedule(name=created.name)
    resumed = vx.schedules.get_schedule(name=created.name)
    assert resumed.state == v1.Schedule.State.ACTIVE
    assert "last_resume_time" in resumed and "next_run_time" in resumed
    with pytest.raises(exceptions.BadRequest, match="only a paused schedule"):
        vx.schedules.resume_schedule(name=created.name)

    assert [s.name for s in vx.schedules.list_schedules(parent=PARENT)] == [created.name]
    vx.schedules.delete_schedule(name=created.name).result(polling=vx.polling)
    with pytest.raises(exceptions.NotFound):
        vx.schedules.get_schedule(name=created.name)


def test_schedule_runs_start_at_its_start_time(vx: _Vertex) -> None:
    start = (datetime.now(UTC) + timedelta(days=10)).replace(hour=0, minute=0, second=0, microsecond=0)
    created = vx.schedules.create_schedule(parent=PARENT, schedule=_schedule("0 * * * *", start_time=start))
    assert created.next_run_time == start  # a run falls on the start time itself
    ended = vx.schedules.create_schedule(
        parent=PARENT,
        schedule=_schedule("0 3 1 1 *", start_time=start, end_time=start + timedelta(days=1)),
    )
    assert "next_run_time" not in ended  # no run before the end time


@pytest.mark.parametrize(
    "cron",
    [
        "0 3 * *",  # four fields
        "0 3 * * * *",  # six (seconds are not supported)
        "61 * * * *",
        "@daily",
        "TZ=Mars/Olympus 0 3 * * *",
        "TZ= 0 3 * * *",
        "TZ=../../etc/passwd 0 3 * * *",
    ],
)
def test_invalid_crons_are_refused(vx: _Vertex, cron: str) -> None:
    with pytest.raises(exceptions.BadRequest, match="cron") as refused:
        vx.schedules.create_schedule(parent=PARENT, schedule=_schedule(cron))
    assert _status(refused) == "INVALID_ARGUMENT"


@pytest.mark.parametrize("cron", ["CRON_TZ=America/New_York 1 * * * *", "*/15 9-17 * * MON-FRI", "0 0 L * *"])
def test_valid_crons_are_accepted(vx: _Vertex, cron: str) -> None:
    assert vx.schedules.create_schedule(parent=PARENT, schedule=_schedule(cron)).next_run_time


def test_schedule_validation(vx: _Vertex) -> None:
    other_parent = v1.CreatePipelineJobRequest(
        parent="projects/other/locations/us-central1", pipeline_job=v1.PipelineJob(template_uri="gs://p.json")
    )
    no_template = v1.CreatePipelineJobRequest(parent=PARENT, pipeline_job=v1.PipelineJob(display_name="x"))
    start = datetime.now(UTC) + timedelta(days=1)
    for changes, message in [
        ({"create_pipeline_job_request": other_parent}, "parent"),
        ({"create_pipeline_job_request": no_template}, "template_uri"),
        ({"max_concurrent_run_count": 0}, "max_concurrent_run_count"),
        ({"start_time": start, "end_time": start - timedelta(hours=1)}, "end_time"),
    ]:
        with pytest.raises(exceptions.BadRequest, match=message):
            vx.schedules.create_schedule(parent=PARENT, schedule=_schedule(**changes))

    created = vx.schedules.create_schedule(parent=PARENT, schedule=_schedule())
    with pytest.raises(exceptions.BadRequest, match="cannot be unset"):
        vx.schedules.update_schedule(
            schedule=v1.Schedule(name=created.name), update_mask=_mask("display_name")
        )
    with pytest.raises(exceptions.BadRequest, match="cron"):
        vx.schedules.update_schedule(
            schedule=v1.Schedule(name=created.name, cron="nope"), update_mask=_mask("cron")
        )


# ---- injected latency, throttling and failures ---------------------------------------------------


def test_throttling_answers_429(vx_emulator: VertexEmulator, vx: _Vertex) -> None:
    endpoint = vx.endpoint().name
    vx_emulator.update_settings({"throttle": {"times": 2, "method": "GET", "path": "/endpoints/"}})
    vx.models.list_models(parent=PARENT)  # not matched
    for _ in range(2):
        with pytest.raises(exceptions.TooManyRequests) as throttled:
            vx.endpoints.get_endpoint(name=endpoint)
        assert _status(throttled) == "RESOURCE_EXHAUSTED"
    assert vx.endpoints.get_endpoint(name=endpoint).name == endpoint
    assert vx_emulator.settings["throttle"] is None


def test_fail_rules_fail_matching_calls(vx_emulator: VertexEmulator, vx: _Vertex) -> None:
    model = vx.upload("fraud-xgb").model
    endpoint = vx.endpoint().name
    vx_emulator.update_settings(
        {
            "fail": [
                {"method": "POST", "path": ":deployModel$", "status": "FAILED_PRECONDITION", "times": 1},
                {"method": "GET", "path": "/models/", "code": 503, "message": "backend unavailable"},
            ]
        }
    )
    with pytest.raises(exceptions.BadRequest, match="injected") as failed:
        vx.deploy(endpoint, model)
    assert _status(failed) == "FAILED_PRECONDITION"
    assert vx.deploy(endpoint, model).model == model  # `times` ran out
    with pytest.raises(exceptions.ServiceUnavailable, match="backend unavailable"):
        vx.models.get_model(name=model)
    assert [rule["path"] for rule in vx_emulator.settings["fail"]] == ["/models/"]


def test_a_failure_injected_into_an_operation(vx_emulator: VertexEmulator, vx: _Vertex) -> None:
    endpoint, blue, green = vx.serving()
    model = f"{PARENT}/models/fraud-xgb"
    rule = {
        "path": ":deployModel$",
        "in_operation": True,
        "status": "FAILED_PRECONDITION",
        "message": "Model server exited",
    }
    vx_emulator.update_settings({"fail": [{**rule, "times": 1}]})
    vx.endpoints.get_endpoint(name=endpoint)  # starts no operation: the rule stays
    operation = vx.endpoints.deploy_model(
        endpoint=endpoint,
        deployed_model=v1.DeployedModel(model=model, dedicated_resources=_resources()),
        traffic_split={"0": 100},
    )
    with pytest.raises(exceptions.FailedPrecondition, match="Model server exited"):
        operation.result(polling=vx.polling)
    assert operation.metadata.deployment_stage == v1.DeploymentStage.FAILED_TO_DEPLOY
    current = vx.endpoints.get_endpoint(name=endpoint)  # nothing changed
    assert ([d.id for d in current.deployed_models], dict(current.traffic_split)) == (
        [blue, green],
        {blue: 80, green: 20},
    )
    assert vx_emulator.settings["fail"] == []


def test_latency_is_added_to_api_calls(vx_emulator: VertexEmulator, vx: _Vertex) -> None:
    vx.models.list_models(parent=PARENT)  # connection and first-call costs out of the way
    vx_emulator.update_settings({"latency_ms": 150})
    started = time.perf_counter()
    vx.models.list_models(parent=PARENT)
    assert time.perf_counter() - started >= 0.15


# ---- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda vx: vx.models.get_model(name=f"{PARENT}/models/missing"),
        lambda vx: vx.endpoints.get_endpoint(name=f"{PARENT}/endpoints/missing"),
        lambda vx: vx.endpoints.delete_endpoint(name=f"{PARENT}/endpoints/missing"),
        lambda vx: vx.jobs.get_model_deployment_monitoring_job(
            name=f"{PARENT}/modelDeploymentMonitoringJobs/1"
        ),
        lambda vx: vx.schedules.get_schedule(name=f"{PARENT}/schedules/1"),
        lambda vx: vx.endpoints.get_operation({"name": f"{PARENT}/endpoints/1/operations/2"}),
    ],
)
def test_missing_resources_are_not_found(vx: _Vertex, call: Callable[[_Vertex], Any]) -> None:
    with pytest.raises(exceptions.NotFound) as missing:
        call(vx)
    assert _status(missing) == "NOT_FOUND"


def test_calls_the_emulator_lacks_are_unimplemented(vx: _Vertex) -> None:
    with pytest.raises(exceptions.MethodNotImplemented):
        vx.models.export_model(name=f"{PARENT}/models/x", output_config=v1.ExportModelRequest.OutputConfig())


def test_invalid_enum_values_are_refused(vx_emulator: VertexEmulator, vx: _Vertex) -> None:
    model = vx.upload("fraud-xgb").model
    endpoint = vx.endpoint().name
    body = {
        "deployedModel": {
            "model": model,
            "dedicatedResources": {
                "machineSpec": {"machineType": "n1", "acceleratorType": "TESLA_9000", "acceleratorCount": 1},
                "minReplicaCount": 1,
            },
        }
    }
    request = urllib.request.Request(
        f"{vx_emulator.url}/v1/{endpoint}:deployModel", data=json.dumps(body).encode(), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    error = json.loads(refused.value.read())["error"]
    assert (refused.value.code, error["status"]) == (400, "INVALID_ARGUMENT")
    assert "accelerator_type" in error["message"]


# ---- the wire format, checked against the client's own types -------------------------------------


@pytest.mark.parametrize(
    ("table", "client_enum"),
    [
        (models.ACCELERATOR_TYPE, v1.AcceleratorType),
        (models.DEPLOYMENT_RESOURCES_TYPE, v1.Model.DeploymentResourcesType),
        (models.RESERVATION_AFFINITY_TYPE, v1.ReservationAffinity.Type),
        (jobs.JOB_STATE, v1.JobState),
        (jobs.MONITORING_SCHEDULE_STATE, v1.ModelDeploymentMonitoringJob.MonitoringScheduleState),
        (
            jobs.PREDICTION_FORMAT,
            v1.ModelMonitoringObjectiveConfig.ExplanationConfig.ExplanationBaseline.PredictionFormat,
        ),
        (jobs.SCHEDULE_STATE, v1.Schedule.State),
        (jobs.PIPELINE_STATE, v1.PipelineState),
        (jobs.PIPELINE_FAILURE_POLICY, v1.PipelineFailurePolicy),
        (core.DEPLOYMENT_STAGE, v1.DeploymentStage),
    ],
)
def test_enum_tables_match_the_client(table: core.Enum, client_enum: Any) -> None:
    assert dict(table.values) == {member.name: member.value for member in client_enum}
    assert table.proto_name == client_enum._meta.full_name


@pytest.fixture
def everything(vx_emulator: VertexEmulator, vx: _Vertex) -> dict[str, tuple[str, type]]:
    """One resource of each kind (and an operation): path to GET -> the message type it answers."""
    endpoint, blue, green = vx.serving()
    job = vx.jobs.create_model_deployment_monitoring_job(
        parent=PARENT, model_deployment_monitoring_job=_monitoring_job(endpoint, [blue, green])
    )
    schedule = vx.schedules.create_schedule(parent=PARENT, schedule=_schedule())
    vx.schedules.pause_schedule(name=schedule.name)
    model = f"{PARENT}/models/fraud-xgb"
    deploy = vx.endpoints.deploy_model(
        endpoint=endpoint,
        deployed_model=v1.DeployedModel(model=model, dedicated_resources=_resources(gpu=True)),
    )
    deploy.result(polling=vx.polling)
    return {
        "model": (f"/v1/{model}", v1.Model),
        "version": (f"/v1/{model}%402", v1.Model),
        "models": (f"/v1/{PARENT}/models", v1.ListModelsResponse),
        "versions": (f"/v1/{model}:listVersions", v1.ListModelVersionsResponse),
        "endpoint": (f"/v1/{endpoint}", v1.Endpoint),
        "endpoints": (f"/v1/{PARENT}/endpoints", v1.ListEndpointsResponse),
        "job": (f"/v1/{job.name}", v1.ModelDeploymentMonitoringJob),
        "jobs": (f"/v1/{PARENT}/modelDeploymentMonitoringJobs", v1.ListModelDeploymentMonitoringJobsResponse),
        "schedule": (f"/v1/{schedule.name}", v1.Schedule),
        "schedules": (f"/v1/{PARENT}/schedules", v1.ListSchedulesResponse),
        "operation": (f"/ui/{deploy.operation.name}", None),
    }


@pytest.mark.parametrize("int_enums", [True, False])
def test_replies_are_canonical_proto3_json(
    vx_emulator: VertexEmulator, everything: dict[str, tuple[str, type]], int_enums: bool
) -> None:
    """Each reply parses strictly (no unknown field, every `@type` registered) and is exactly what
    protobuf's JSON printer writes for the parsed message: no default values, int64 as strings,
    enums as numbers when asked for, timestamps with 0, 3 or 6 fractional digits."""
    from google.longrunning import operations_pb2

    for what, (path, message_type) in everything.items():
        raw = _raw(vx_emulator, path, int_enums)
        message = message_type.pb(message_type()) if message_type is not None else operations_pb2.Operation()
        json_format.Parse(json.dumps(raw), message, ignore_unknown_fields=False)
        printed = json_format.MessageToDict(message, use_integers_for_enums=int_enums)
        assert printed == raw, what


# ---- settings, reset, lifecycle ------------------------------------------------------------------


def test_settings_control_api(vx_emulator: VertexEmulator) -> None:
    url = vx_emulator.url
    with urllib.request.urlopen(f"{url}/_emulator/settings") as response:
        assert json.loads(response.read()) == vx_emulator.settings

    current = update_settings(url, {"latency_ms": 5, "fail": [{"path": ":deployModel$", "code": 409}]})
    assert current["latency_ms"] == 5
    assert current["operation_delay_seconds"] == vx_emulator.settings["operation_delay_seconds"]  # kept
    assert current["fail"][0]["code"] == 409
    assert vx_emulator.settings == current

    for bad, message in [
        ({"latency_ms": -1}, "latency_ms"),
        ({"bogus": 1}, "bogus"),
        ({"fail": [{"status": "NOT_A_STATUS"}]}, "NOT_A_STATUS"),
        ({"fail": [{"status": "NOT_FOUND", "code": 400}]}, "HTTP 404"),
        ({"fail": [{"code": 418}]}, "418"),
        ({"throttle": {"path": "("}}, "regular expression"),
    ]:
        with pytest.raises(ValueError, match=message):
            update_settings(url, bad)
    assert vx_emulator.settings == current  # a refused change changes nothing

    for method, path, status in [("GET", "nothing", 404), ("GET", "reset", 405)]:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(f"{url}/_emulator/{path}", method=method))
        assert refused.value.code == status


def test_reset_wipes_state_and_restores_settings(vx_emulator: VertexEmulator, vx: _Vertex) -> None:
    initial = vx_emulator.settings
    vx.serving()
    vx.schedules.create_schedule(parent=PARENT, schedule=_schedule())
    update_settings(
        vx_emulator.url,
        {"latency_ms": 1, "throttle": {"times": 5, "path": "nothing"}, "operation_delay_seconds": 0.2},
    )
    pending = vx.endpoints.create_endpoint(parent=PARENT, endpoint=v1.Endpoint(display_name="late"))

    reset(vx_emulator.url)

    assert vx_emulator.settings == initial
    assert list(vx.models.list_models(parent=PARENT)) == []
    assert list(vx.schedules.list_schedules(parent=PARENT)) == []
    with pytest.raises(exceptions.NotFound):
        vx.endpoints.get_operation({"name": pending.operation.name})
    time.sleep(0.25)  # past the operation's due time: reset dropped it, so it never completes
    assert list(vx.endpoints.list_endpoints(parent=PARENT)) == []


def test_invalid_settings_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="operation_delay_seconds"):
        VertexEmulator({"operation_delay_seconds": "soon"})
    with pytest.raises(ValueError, match="rollout_minute_seconds"):
        VertexEmulator({"rollout_minute_seconds": 1})


def test_start_fails_on_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            VertexEmulator(port=taken.getsockname()[1]).start()


@pytest.fixture
def own_emulator() -> Iterator[VertexEmulator]:
    emulator = VertexEmulator()
    emulator.start()
    yield emulator
    emulator.stop()


def test_stop_ends_kept_alive_connections(own_emulator: VertexEmulator) -> None:
    host, port = own_emulator.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request("GET", f"/v1/{PARENT}/models")
        assert connection.getresponse().read() == b"{}"
        own_emulator.stop()
        # The connection was kept alive; a stopped emulator must not answer on it.
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            connection.request("GET", f"/v1/{PARENT}/models")
            connection.getresponse().read()
    finally:
        connection.close()


def test_importing_the_module_imports_no_google_library() -> None:
    # Namespace packages (`google`, `google.cloud`) are set up at start-up by a .pth file: only
    # what the import adds counts.
    code = (
        "import sys; before = set(sys.modules); import mlops_vertex_sandbox.server; "
        "print(sorted(m for m in set(sys.modules) - before if m.startswith(('google', 'grpc', 'croniter'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_calls_are_fast(vx: _Vertex) -> None:
    """A generous bound: Nagle's algorithm with delayed ACKs would cost 40-80 ms a call."""
    endpoint, _, _ = vx.serving()
    vx.endpoints.get_endpoint(name=endpoint)
    started = time.perf_counter()
    for _ in range(50):
        vx.endpoints.get_endpoint(name=endpoint)
    assert (time.perf_counter() - started) / 50 < 0.030


# ---- filters (pure) ------------------------------------------------------------------------------

_DOC = {
    "displayName": "fraud-api",
    "labels": {"team": "risk", "tier": "gold"},
    "state": "ACTIVE",
    "createTime": "2024-05-18T10:00:00.500Z",
    "versionAliases": ["default", "challenger"],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ('display_name="fraud-api"', True),
        ("displayName=fraud-api", True),
        ('display_name!="fraud-api"', False),
        ('display_name:"fraud-*"', True),
        ("labels.team=risk labels.tier=gold", True),  # juxtaposition is AND
        ("labels.team=risk AND labels.tier=silver", False),
        # OR binds tighter than AND: a AND (b OR c)
        ("labels.team=ops AND labels.tier=gold OR state=ACTIVE", False),
        ("(labels.team=ops AND labels.tier=gold) OR state=ACTIVE", True),
        ("NOT labels.owner:*", True),
        ("-labels.team:*", False),
        ("version_aliases:challenger", True),
        ('create_time>"2024-05-18T10:00:00Z"', True),
        ('create_time<="2024-05-18T10:00:00Z"', False),
    ],
)
def test_filters(text: str, expected: bool) -> None:
    assert core.parse_filter(text)(_DOC) is expected


@pytest.mark.parametrize("text", ["labels.team=", "(state=ACTIVE", "state=ACTIVE)", "fraud", "state=="])
def test_malformed_filters_are_refused(text: str) -> None:
    with pytest.raises(core.ApiError) as refused:
        core.parse_filter(text)
    assert refused.value.status == "INVALID_ARGUMENT"
