"""The Vertex AI emulator behaving as Vertex does where a provider can trip over the difference:
resource names with the project number, the split a deployment leaves, machine types and
accelerators, and the transient failures (503s, lost replies, dropped connections) it injects at a
rate. Driven by the real `google.cloud.aiplatform_v1` clients over HTTP (fixtures in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from google.api_core import exceptions
from google.api_core.retry import Retry
from google.cloud import aiplatform_v1 as v1
from mlops_vertex_sandbox.core import project_number
from mlops_vertex_sandbox.server import VertexEmulator

PROJECT = "fidelity-project"
PARENT = f"projects/{PROJECT}/locations/us-central1"
NUMBER = project_number(PROJECT)
NAMED = f"projects/{NUMBER}/locations/us-central1"
IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest"


@pytest.fixture
def vx(vertex_client: Callable[[type], Any], polling: Retry) -> SimpleNamespace:
    return SimpleNamespace(
        models=vertex_client(v1.ModelServiceClient),
        endpoints=vertex_client(v1.EndpointServiceClient),
        jobs=vertex_client(v1.JobServiceClient),
        schedules=vertex_client(v1.ScheduleServiceClient),
        polling=polling,
    )


def _upload(vx: SimpleNamespace, model_id: str = "scorer", parent: str = PARENT) -> v1.UploadModelResponse:
    model = {"display_name": model_id, "artifact_uri": "gs://b/m/", "container_spec": {"image_uri": IMAGE}}
    return vx.models.upload_model(request={"parent": parent, "model_id": model_id, "model": model}).result(
        polling=vx.polling
    )


def _endpoint(vx: SimpleNamespace, endpoint_id: str = "api") -> v1.Endpoint:
    return vx.endpoints.create_endpoint(
        parent=PARENT, endpoint_id=endpoint_id, endpoint={"display_name": endpoint_id}
    ).result(polling=vx.polling)


def _machine(machine_type: str = "n1-standard-2", accelerator: str = "", count: int = 0) -> dict[str, Any]:
    spec: dict[str, Any] = {"machine_type": machine_type}
    if accelerator:
        spec.update(accelerator_type=accelerator, accelerator_count=count)
    return {"machine_spec": spec, "min_replica_count": 1}


def _deploy(
    vx: SimpleNamespace, model: str, split: dict[str, int] | None = None, **machine: Any
) -> v1.DeployedModel:
    deployed = {"model": model, "display_name": "main", "dedicated_resources": _machine(**machine)}
    operation = vx.endpoints.deploy_model(
        endpoint=f"{PARENT}/endpoints/api", deployed_model=deployed, traffic_split=split
    )
    return operation.result(polling=vx.polling).deployed_model


def _status(exc_info: pytest.ExceptionInfo[exceptions.GoogleAPICallError]) -> str:
    response = exc_info.value.response
    assert response is not None
    return str(response.json()["error"]["status"])


# ----------------------------------------------------------------------------- project numbers
def test_names_carry_the_project_number_and_requests_may_use_either(vx: SimpleNamespace) -> None:
    assert NUMBER.isdigit() and len(NUMBER) == 12 and project_number(PROJECT) == NUMBER
    uploaded = _upload(vx)
    assert uploaded.model == f"{NAMED}/models/scorer"
    assert vx.models.get_model(name=f"{PARENT}/models/scorer").name == f"{NAMED}/models/scorer"
    assert vx.models.get_model(name=f"{NAMED}/models/scorer@1").version_id == "1"

    operation = vx.endpoints.create_endpoint(
        parent=PARENT, endpoint_id="api", endpoint={"display_name": "api"}
    )
    assert operation.operation.name.startswith(f"{NAMED}/endpoints/api/operations/")
    assert operation.result(polling=vx.polling).name == f"{NAMED}/endpoints/api"
    # A model named with the project ID deploys on an endpoint named with the number.
    deployed = _deploy(vx, f"{PARENT}/models/scorer@1")
    assert deployed.model == f"{NAMED}/models/scorer"
    refs = vx.models.get_model(name=f"{PARENT}/models/scorer").deployed_models
    assert [r.endpoint for r in refs] == [f"{NAMED}/endpoints/api"]

    job = vx.jobs.create_model_deployment_monitoring_job(
        parent=PARENT,
        model_deployment_monitoring_job={
            "display_name": "drift",
            "endpoint": f"{PARENT}/endpoints/api",
            "model_deployment_monitoring_objective_configs": [
                {
                    "deployed_model_id": deployed.id,
                    "objective_config": {
                        "prediction_drift_detection_config": {"default_drift_threshold": {"value": 0.3}}
                    },
                }
            ],
            "model_deployment_monitoring_schedule_config": {"monitor_interval": {"seconds": 3600}},
            "logging_sampling_strategy": {"random_sample_config": {"sample_rate": 1.0}},
        },
    )
    assert job.name.startswith(f"{NAMED}/modelDeploymentMonitoringJobs/")
    assert job.endpoint == f"{NAMED}/endpoints/api"

    schedule = vx.schedules.create_schedule(
        parent=PARENT,
        schedule={
            "display_name": "retrain",
            "cron": "0 3 * * 1",
            "max_concurrent_run_count": 1,
            # The pipeline's parent names the project by ID, the schedule's by number: the same.
            "create_pipeline_job_request": {
                "parent": PARENT,
                "pipeline_job": {"display_name": "train", "template_uri": "https://x-kfp.pkg.dev/p/r/t/v1"},
            },
        },
    )
    assert schedule.name.startswith(f"{NAMED}/schedules/")
    assert vx.schedules.get_schedule(name=schedule.name.replace(NAMED, PARENT)).name == schedule.name


# ------------------------------------------------------------------------------ traffic splits
def test_a_deployment_without_a_split_leaves_the_split_alone(vx: SimpleNamespace) -> None:
    model = _upload(vx).model
    _endpoint(vx)
    first = _deploy(vx, f"{model}@1")
    endpoint = vx.endpoints.get_endpoint(name=f"{PARENT}/endpoints/api")
    assert dict(endpoint.traffic_split) == {first.id: 100}, "the first model takes all traffic"
    second = _deploy(vx, f"{model}@1")
    endpoint = vx.endpoints.get_endpoint(name=f"{PARENT}/endpoints/api")
    assert dict(endpoint.traffic_split) == {first.id: 100}, "later ones take none"
    assert {dm.id for dm in endpoint.deployed_models} == {first.id, second.id}


def test_a_deployed_model_id_being_deployed_is_taken(
    vx_emulator: VertexEmulator, vx: SimpleNamespace
) -> None:
    model = _upload(vx).model
    _endpoint(vx)
    vx_emulator.update_settings({"operation_delay_seconds": 0.5})
    deployed = {"id": "4242", "model": f"{model}@1", "dedicated_resources": _machine()}
    first = vx.endpoints.deploy_model(endpoint=f"{PARENT}/endpoints/api", deployed_model=deployed)
    with pytest.raises(exceptions.Conflict) as raised:  # a repeat while the first runs
        vx.endpoints.deploy_model(endpoint=f"{PARENT}/endpoints/api", deployed_model=deployed)
    assert _status(raised) == "ALREADY_EXISTS"
    assert first.result(polling=vx.polling.with_timeout(5)).deployed_model.id == "4242"
    with pytest.raises(exceptions.Conflict):  # and once it is done
        vx.endpoints.deploy_model(endpoint=f"{PARENT}/endpoints/api", deployed_model=deployed)


# -------------------------------------------------------------------- machines and accelerators
@pytest.mark.parametrize(
    ("machine", "message"),
    [
        ({"machine_type": "ml.m5.large"}, 'Machine type "ml.m5.large" is not supported'),
        ({"machine_type": "n1-standard-3"}, 'Machine type "n1-standard-3" is not supported'),
        (
            {"machine_type": "n1-standard-4", "accelerator": "NVIDIA_L4", "count": 1},
            'Accelerator "NVIDIA_L4" is not supported for machine type "n1-standard-4"',
        ),
        (
            {"machine_type": "e2-standard-4", "accelerator": "NVIDIA_TESLA_T4", "count": 1},
            'Accelerator "NVIDIA_TESLA_T4" is not supported for machine type "e2-standard-4"',
        ),
        (
            {"machine_type": "n1-standard-4", "accelerator": "NVIDIA_TESLA_T4", "count": 3},
            "3 accelerators of type",
        ),
        ({"machine_type": "g2-standard-8"}, 'requires accelerator_type "NVIDIA_L4"'),
    ],
)
def test_unknown_machines_and_accelerators_are_refused(
    vx: SimpleNamespace, machine: dict[str, Any], message: str
) -> None:
    model = _upload(vx).model
    _endpoint(vx)
    with pytest.raises(exceptions.BadRequest, match=message) as raised:
        _deploy(vx, f"{model}@1", **machine)
    assert _status(raised) == "INVALID_ARGUMENT"
    assert not vx.endpoints.get_endpoint(name=f"{PARENT}/endpoints/api").deployed_models


@pytest.mark.parametrize(
    "machine",
    [
        {"machine_type": "n1-highmem-8", "accelerator": "NVIDIA_TESLA_T4", "count": 2},
        {"machine_type": "g2-standard-8", "accelerator": "NVIDIA_L4", "count": 1},
        {"machine_type": "a2-highgpu-2g", "accelerator": "NVIDIA_TESLA_A100", "count": 2},
        {"machine_type": "e2-standard-4"},
        {"machine_type": "c2-standard-8"},
    ],
)
def test_real_machines_and_accelerators_deploy(vx: SimpleNamespace, machine: dict[str, Any]) -> None:
    model = _upload(vx).model
    _endpoint(vx)
    assert (
        _deploy(vx, f"{model}@1", **machine).dedicated_resources.machine_spec.machine_type
        == machine["machine_type"]
    )


# ------------------------------------------------------------------------------ transient faults
def test_transient_failures_hit_a_share_of_the_calls(
    vx_emulator: VertexEmulator, vx: SimpleNamespace
) -> None:
    _upload(vx)
    vx_emulator.update_settings(
        {"seed": 7, "transient": [{"rate": 0.5, "method": "GET", "path": "/models/"}]}
    )
    outcomes = []
    for _ in range(40):
        try:
            vx.models.get_model(name=f"{PARENT}/models/scorer", retry=None)
            outcomes.append("ok")
        except exceptions.ServiceUnavailable as exc:
            assert "injected by the Vertex AI emulator" in str(exc)
            outcomes.append("503")
    assert 8 <= outcomes.count("503") <= 32, outcomes
    vx_emulator.update_settings({"seed": 7})  # the same seed draws the same failures again
    again = []
    for _ in range(40):
        try:
            vx.models.get_model(name=f"{PARENT}/models/scorer", retry=None)
            again.append("ok")
        except exceptions.ServiceUnavailable:
            again.append("503")
    assert again == outcomes
    vx_emulator.update_settings({"transient": []})
    assert vx.models.list_models(parent=PARENT, retry=None)  # other calls are untouched


def test_a_lost_reply_means_the_call_took_effect(vx_emulator: VertexEmulator, vx: SimpleNamespace) -> None:
    vx_emulator.update_settings(
        {"transient": [{"rate": 1, "method": "POST", "path": "/endpoints$", "lost_reply": True, "times": 1}]}
    )
    with pytest.raises(exceptions.ServiceUnavailable, match="its reply was lost"):
        vx.endpoints.create_endpoint(parent=PARENT, endpoint_id="api", endpoint={"display_name": "api"})
    assert vx_emulator.settings["transient"] == []  # `times` used up
    # The endpoint is being created all the same: a repeat is refused, and it shows once done.
    with pytest.raises(exceptions.Conflict) as raised:
        vx.endpoints.create_endpoint(parent=PARENT, endpoint_id="api", endpoint={"display_name": "api"})
    assert _status(raised) == "ALREADY_EXISTS"


def test_a_dropped_connection_answers_nothing(vx_emulator: VertexEmulator, vx: SimpleNamespace) -> None:
    vx_emulator.update_settings(
        {
            "transient": [
                {
                    "rate": 1,
                    "method": "POST",
                    "path": "/endpoints$",
                    "lost_reply": True,
                    "disconnect": True,
                    "times": 1,
                }
            ]
        }
    )
    with pytest.raises(requests.ConnectionError):
        vx.endpoints.create_endpoint(parent=PARENT, endpoint_id="api", endpoint={"display_name": "api"})
    # Done nonetheless; the client's next call opens a new connection.
    with pytest.raises(exceptions.Conflict):
        vx.endpoints.create_endpoint(parent=PARENT, endpoint_id="api", endpoint={"display_name": "api"})


def test_polls_can_fail_too(vx_emulator: VertexEmulator, vx: SimpleNamespace) -> None:
    vx_emulator.update_settings(
        {
            "transient": [
                {"rate": 1, "method": "GET", "path": "^/ui/.*/operations/", "status": "DEADLINE_EXCEEDED"}
            ]
        }
    )
    operation = vx.endpoints.create_endpoint(
        parent=PARENT, endpoint_id="api", endpoint={"display_name": "api"}
    )
    with pytest.raises(exceptions.GatewayTimeout):
        operation.result(polling=vx.polling, retry=None)


def test_transient_rules_are_validated(vx_emulator: VertexEmulator) -> None:
    for bad in ({"rate": 0}, {"rate": 1.5}, {"rate": 0.5, "status": "NOT_FOUND"}, {"rate": 0.5, "path": "("}):
        with pytest.raises(ValueError):
            vx_emulator.update_settings({"transient": [bad]})
