"""Batch jobs on Vertex AI: the emulator's BatchPredictionJobs through the real aiplatform_v1
JobServiceClient, and the `batch_job` kind through StackHarness (apply, plan notes, drift, pause,
destroy) and `VertexProvider.run` (a job followed to its end, its failure, a lost answer)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry
from google.cloud import aiplatform_v1 as v1
from mlops_vertex import batch_jobs
from mlops_vertex_sandbox.server import VertexEmulator

from mlops_gitops.errors import ProviderError, StackError
from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.stack.loader import load_stack
from mlops_gitops.testing import RecordingContext
from mlops_gitops.testing.contract import (
    ContractCase,
    Edit,
    PartialCreate,
    ProviderContract,
    Unsupported,
    emulator_settings,
)
from mlops_gitops.testing.harness import StackHarness, actions
from mlops_gitops.workspace import open_workspace

PROJECT, LOCATION = "acme-ml", "europe-west4"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
IMAGE = "europe-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.1-7:latest"
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
batch_jobs:
  churn-daily:
    model: churn-xgb
    input: {{uri: "gs://acme-ml/churn/customers/today.jsonl", format: jsonl}}
    output: {{uri: "gs://acme-ml/churn/predictions/"}}
    instance_type: n1-standard-4
    replicas: {{min: 1, max: 4}}
    mini_batch_size: 64
    cron: "0 2 * * *"
    timezone: Europe/Paris
"""


# ---------------------------------------------------------------------------------------- fixtures
@pytest.fixture
def sandbox(vx_emulator: VertexEmulator) -> SandboxEndpoints:
    return SandboxEndpoints({"vertex": vx_emulator.url}, {"vertex": {"rollout_minute_seconds": 0.05}})


@pytest.fixture
def cloud(vertex_client: Callable[[type], Any], polling: Retry) -> SimpleNamespace:
    return SimpleNamespace(
        models=vertex_client(v1.ModelServiceClient),
        jobs=vertex_client(v1.JobServiceClient),
        schedules=vertex_client(v1.ScheduleServiceClient),
        polling=polling,
    )


@pytest.fixture
def harness(tmp_path: Path, sandbox: SandboxEndpoints) -> StackHarness:
    (tmp_path / "stack.yaml").write_text(STACK)
    return StackHarness(tmp_path / "stack.yaml", sandbox)


def applied(h: StackHarness) -> None:
    plan, result = h.apply()
    assert result.ok, result.errors
    assert plan.has_changes


def attrs_of(h: StackHarness, address: str = "batch_job.churn-daily") -> dict[str, Any]:
    state = h.state()
    assert state is not None and state.get(address) is not None
    return dict(state.get(address).attributes)  # type: ignore[union-attr]


def upload(cloud: SimpleNamespace, model_id: str = "churn-1") -> str:
    model = {
        "display_name": "churn",
        "artifact_uri": "gs://acme-ml/m/",
        "container_spec": {"image_uri": IMAGE},
    }
    op = cloud.models.upload_model(request={"parent": PARENT, "model": model, "model_id": model_id})
    return str(op.result(polling=cloud.polling).model)


def job_request(model: str, **changes: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "display_name": "score",
        "model": model,
        "input_config": {"instances_format": "jsonl", "gcs_source": {"uris": ["gs://acme-ml/in.jsonl"]}},
        "output_config": {
            "predictions_format": "jsonl",
            "gcs_destination": {"output_uri_prefix": "gs://acme-ml/out"},
        },
        "dedicated_resources": {
            "machine_spec": {"machine_type": "n1-standard-4"},
            "starting_replica_count": 1,
            "max_replica_count": 2,
        },
    }
    job.update(changes)
    return job


def wait_until_ended(cloud: SimpleNamespace, name: str, timeout: float = 5.0) -> v1.BatchPredictionJob:
    deadline = time.monotonic() + timeout
    while True:
        job = cloud.jobs.get_batch_prediction_job(name=name)
        if job.state in (
            v1.JobState.JOB_STATE_SUCCEEDED,
            v1.JobState.JOB_STATE_FAILED,
            v1.JobState.JOB_STATE_CANCELLED,
        ):
            return job
        assert time.monotonic() < deadline, job.state
        time.sleep(0.01)


# -------------------------------------------------------------------------------------- emulator
def test_a_batch_prediction_job_goes_pending_running_succeeded(cloud: SimpleNamespace) -> None:
    model = upload(cloud)
    created = cloud.jobs.create_batch_prediction_job(parent=PARENT, batch_prediction_job=job_request(model))
    assert created.state == v1.JobState.JOB_STATE_PENDING
    assert created.model_version_id == "1"
    seen = {created.state}
    job = created
    while job.state != v1.JobState.JOB_STATE_SUCCEEDED:
        job = cloud.jobs.get_batch_prediction_job(name=created.name)
        seen.add(job.state)
        time.sleep(0.005)
    assert v1.JobState.JOB_STATE_RUNNING in seen
    assert job.output_info.gcs_output_directory.startswith("gs://acme-ml/out/prediction-churn-")
    assert job.completion_stats.successful_count > 0
    assert job.start_time and job.end_time
    (listed,) = cloud.jobs.list_batch_prediction_jobs(parent=PARENT)
    assert listed.name == created.name


def test_an_injected_failure_fails_the_job_with_the_cloud_error(
    cloud: SimpleNamespace, vx_emulator: VertexEmulator
) -> None:
    model = upload(cloud)
    vx_emulator.update_settings(
        {
            "fail": [
                {
                    "method": "POST",
                    "path": "/batchPredictionJobs$",
                    "status": "RESOURCE_EXHAUSTED",
                    "message": "Quota 'custom_model_serving_cpus' exhausted in europe-west4.",
                    "in_operation": True,
                    "times": 1,
                }
            ]
        }
    )
    created = cloud.jobs.create_batch_prediction_job(parent=PARENT, batch_prediction_job=job_request(model))
    job = wait_until_ended(cloud, created.name)
    assert job.state == v1.JobState.JOB_STATE_FAILED
    assert job.error.code == 8 and "custom_model_serving_cpus" in job.error.message
    assert not job.output_info.gcs_output_directory


def test_the_emulator_refuses_what_vertex_refuses(cloud: SimpleNamespace) -> None:
    with pytest.raises(gexc.NotFound):
        cloud.jobs.create_batch_prediction_job(
            parent=PARENT, batch_prediction_job=job_request(f"{PARENT}/models/missing")
        )
    model = upload(cloud)
    bad_machine = job_request(model, dedicated_resources={"machine_spec": {"machine_type": "ml.m5.xlarge"}})
    with pytest.raises(gexc.BadRequest, match="not a Vertex AI machine type"):
        cloud.jobs.create_batch_prediction_job(parent=PARENT, batch_prediction_job=bad_machine)
    parquet = job_request(
        model, input_config={"instances_format": "parquet", "gcs_source": {"uris": ["gs://a/b"]}}
    )
    with pytest.raises(gexc.BadRequest, match="instances_format"):
        cloud.jobs.create_batch_prediction_job(parent=PARENT, batch_prediction_job=parquet)


def test_cancel_then_delete(cloud: SimpleNamespace) -> None:
    model = upload(cloud)
    created = cloud.jobs.create_batch_prediction_job(parent=PARENT, batch_prediction_job=job_request(model))
    with pytest.raises(gexc.BadRequest, match="cancel it"):  # FAILED_PRECONDITION, over REST a 400
        cloud.jobs.delete_batch_prediction_job(name=created.name)
    cloud.jobs.cancel_batch_prediction_job(name=created.name)
    job = wait_until_ended(cloud, created.name)
    assert job.state == v1.JobState.JOB_STATE_CANCELLED
    with pytest.raises(gexc.BadRequest, match="cannot be cancelled"):
        cloud.jobs.cancel_batch_prediction_job(name=created.name)
    cloud.jobs.delete_batch_prediction_job(name=created.name).result(polling=cloud.polling)
    with pytest.raises(gexc.NotFound):
        cloud.jobs.get_batch_prediction_job(name=created.name)


def test_bigquery_in_and_out(cloud: SimpleNamespace) -> None:
    model = upload(cloud)
    request = job_request(
        model,
        input_config={"instances_format": "bigquery", "bigquery_source": {"input_uri": "bq://acme-ml.crm.t"}},
        output_config={
            "predictions_format": "bigquery",
            "bigquery_destination": {"output_uri": "bq://acme-ml"},
        },
    )
    created = cloud.jobs.create_batch_prediction_job(parent=PARENT, batch_prediction_job=request)
    job = wait_until_ended(cloud, created.name)
    assert job.output_info.bigquery_output_dataset == "bq://acme-ml"
    assert job.output_info.bigquery_output_table.startswith("predictions_")


# ---------------------------------------------------------------------------------- the provider
def test_a_daily_batch_job_applies_shows_its_next_runs_and_a_second_plan_is_empty(
    harness: StackHarness, cloud: SimpleNamespace
) -> None:
    plan = harness.plan()
    (change,) = [c for c in plan.changes if c.address == "batch_job.churn-daily"]
    assert change.action == "create"
    assert change.notes and change.notes[0].startswith("next runs (Europe/Paris): ")
    assert change.notes[0].count("02:00") == 3
    applied(harness)
    assert actions(harness.plan()) == {}

    attrs = attrs_of(harness)
    schedule = cloud.schedules.get_schedule(name=f"{PARENT}/schedules/{attrs['id']}")
    assert schedule.cron == "TZ=Europe/Paris 0 2 * * *"
    assert schedule.max_concurrent_run_count == 1
    job = schedule.create_pipeline_job_request.pipeline_job
    assert job.labels["mlops-gitops-address"] == "batch_job_churn-daily"
    assert job.runtime_config.gcs_output_directory == "gs://acme-ml-staging/pipeline-root"
    spec = type(job).to_dict(job)["pipeline_spec"]
    assert spec["pipelineInfo"]["name"] == "batch-churn-daily"
    assert list(spec["root"]["dag"]["tasks"]) == ["model-batch-predict"]
    container = spec["deploymentSpec"]["executors"]["exec-model-batch-predict"]["container"]
    assert container["command"][-1] == batch_jobs.LAUNCHER
    payload = json.loads(container["args"][container["args"].index("--payload") + 1])
    model = attrs_of(harness, "model.churn-xgb")
    assert payload["model"] == f"{PARENT}/models/{model['id']}@{model['version_id']}"
    assert payload["inputConfig"] == {
        "instancesFormat": "jsonl",
        "gcsSource": {"uris": ["gs://acme-ml/churn/customers/today.jsonl"]},
    }
    assert payload["dedicatedResources"]["startingReplicaCount"] == 1
    assert payload["dedicatedResources"]["maxReplicaCount"] == 4
    assert payload["manualBatchTuningParameters"] == {"batchSize": 64}


def test_mlops_run_follows_a_job_to_its_output(harness: StackHarness, cloud: SimpleNamespace) -> None:
    applied(harness)
    ws = harness.workspace()
    ctx = RecordingContext(address="batch_job.churn-daily", stack="churn")
    result = ws.provider.run("batch_job", attrs_of(harness), ctx, wait=True)
    assert result["status"] == "SUCCEEDED"
    assert result["output"].startswith("gs://acme-ml/churn/predictions/prediction-")
    assert ctx.messages[0].endswith(": PENDING") and any(m.endswith(": RUNNING") for m in ctx.messages)
    (job,) = cloud.jobs.list_batch_prediction_jobs(parent=PARENT)
    assert job.name.endswith(f"/{result['id']}")
    assert job.state == v1.JobState.JOB_STATE_SUCCEEDED
    assert job.output_info.gcs_output_directory == result["output"]
    assert job.display_name.startswith("churn-daily-run-")
    assert job.labels["mlops-gitops-stack"] == "churn"
    assert job.dedicated_resources.max_replica_count == 4
    assert job.manual_batch_tuning_parameters.batch_size == 64


def test_a_failed_run_raises_the_cloud_reason(
    harness: StackHarness, cloud: SimpleNamespace, vx_emulator: VertexEmulator
) -> None:
    applied(harness)
    vx_emulator.update_settings(
        {
            "fail": [
                {
                    "method": "POST",
                    "path": "/batchPredictionJobs$",
                    "status": "INVALID_ARGUMENT",
                    "message": "Unable to parse line 3 of gs://acme-ml/churn/customers/today.jsonl.",
                    "in_operation": True,
                }
            ]
        }
    )
    ctx = RecordingContext(address="batch_job.churn-daily", stack="churn")
    with pytest.raises(ProviderError, match="JOB_STATE_FAILED: Unable to parse line 3"):
        harness.workspace().provider.run("batch_job", attrs_of(harness), ctx, wait=True)


def test_a_lost_create_answer_finds_the_job_instead_of_starting_another(
    harness: StackHarness, cloud: SimpleNamespace, vx_emulator: VertexEmulator
) -> None:
    applied(harness)
    vx_emulator.update_settings(
        {
            "transient": [
                {"rate": 1, "method": "POST", "path": "/batchPredictionJobs$", "lost_reply": True, "times": 1}
            ]
        }
    )
    ctx = RecordingContext(address="batch_job.churn-daily", stack="churn")
    result = harness.workspace().provider.run("batch_job", attrs_of(harness), ctx, wait=True)
    assert result["status"] == "SUCCEEDED"
    assert len(list(cloud.jobs.list_batch_prediction_jobs(parent=PARENT))) == 1


def test_a_cancelled_wait_leaves_the_job_running(harness: StackHarness, cloud: SimpleNamespace) -> None:
    applied(harness)
    ctx = RecordingContext(address="batch_job.churn-daily", stack="churn")
    ctx.cancel.set()
    with pytest.raises(ProviderError, match="stopped following"):
        harness.workspace().provider.run("batch_job", attrs_of(harness), ctx, wait=True)
    (job,) = cloud.jobs.list_batch_prediction_jobs(parent=PARENT)
    assert job.state in (v1.JobState.JOB_STATE_PENDING, v1.JobState.JOB_STATE_RUNNING)


def test_no_wait_returns_the_started_job(harness: StackHarness, cloud: SimpleNamespace) -> None:
    applied(harness)
    ctx = RecordingContext(address="batch_job.churn-daily", stack="churn")
    result = harness.workspace().provider.run("batch_job", attrs_of(harness), ctx, wait=False)
    assert result["status"] == "PENDING"
    (job,) = cloud.jobs.list_batch_prediction_jobs(parent=PARENT)
    assert job.name.endswith(result["id"])


def test_a_new_model_version_and_a_pause_update_the_schedule_in_place(
    harness: StackHarness, cloud: SimpleNamespace
) -> None:
    applied(harness)
    first = attrs_of(harness)
    harness.edit(lambda s: s.replace("churn/xgb/v1/", "churn/xgb/v2/"))
    assert actions(harness.plan()) == {"model.churn-xgb": "update", "batch_job.churn-daily": "update"}
    applied(harness)
    assert actions(harness.plan()) == {}
    second = attrs_of(harness)
    assert second["id"] == first["id"] and second["model_version"] != first["model_version"]

    harness.edit(
        lambda s: s.replace("    timezone: Europe/Paris\n", "    timezone: UTC\n    enabled: false\n")
    )
    plan = harness.plan()
    (change,) = [c for c in plan.changes if c.address == "batch_job.churn-daily"]
    assert change.notes == ["paused: the cron starts no runs"]
    applied(harness)
    schedule = cloud.schedules.get_schedule(name=f"{PARENT}/schedules/{first['id']}")
    assert schedule.state == v1.Schedule.State.PAUSED and schedule.cron == "TZ=UTC 0 2 * * *"
    assert actions(harness.plan()) == {}


def test_a_console_change_is_drift(harness: StackHarness, cloud: SimpleNamespace) -> None:
    applied(harness)
    name = f"{PARENT}/schedules/{attrs_of(harness)['id']}"
    cloud.schedules.update_schedule(
        schedule={"name": name, "cron": "TZ=UTC 0 5 * * *"}, update_mask={"paths": ["cron"]}
    )
    assert actions(harness.plan()) == {"batch_job.churn-daily": "update"}
    applied(harness)
    assert cloud.schedules.get_schedule(name=name).cron == "TZ=Europe/Paris 0 2 * * *"


def test_a_job_without_cron_owns_nothing_until_run(harness: StackHarness, cloud: SimpleNamespace) -> None:
    harness.edit(lambda s: s.replace('    cron: "0 2 * * *"\n    timezone: Europe/Paris\n', ""))
    plan = harness.plan()
    (change,) = [c for c in plan.changes if c.address == "batch_job.churn-daily"]
    assert change.notes == ["no cron: runs only when started with mlops run"]
    applied(harness)
    assert actions(harness.plan()) == {}
    assert list(cloud.schedules.list_schedules(parent=PARENT)) == []
    ctx = RecordingContext(address="batch_job.churn-daily", stack="churn")
    result = harness.workspace().provider.run("batch_job", attrs_of(harness), ctx, wait=True)
    assert result["status"] == "SUCCEEDED"
    # A cron added later makes the schedule, in place.
    harness.edit(
        lambda s: s.replace("    mini_batch_size: 64\n", '    mini_batch_size: 64\n    cron: "0 4 * * *"\n')
    )
    assert actions(harness.plan()) == {"batch_job.churn-daily": "update"}
    applied(harness)
    (schedule,) = cloud.schedules.list_schedules(parent=PARENT)
    assert schedule.cron == "TZ=UTC 0 4 * * *"
    assert actions(harness.plan()) == {}


def test_destroy_leaves_no_schedule_and_no_job(harness: StackHarness, cloud: SimpleNamespace) -> None:
    applied(harness)
    provider = harness.workspace().provider
    ctx = RecordingContext(address="batch_job.churn-daily", stack="churn")
    provider.run("batch_job", attrs_of(harness), ctx, wait=True)
    provider.run("batch_job", attrs_of(harness), ctx, wait=False)  # still running at destroy
    other = cloud.jobs.create_batch_prediction_job(  # not this stack's: left alone
        parent=PARENT, batch_prediction_job=job_request(f"{PARENT}/models/{attrs_of(harness)['model']}")
    )
    plan, result = harness.apply(mode="destroy")
    assert result.ok, result.errors
    assert set(actions(plan).values()) == {"delete"}
    assert list(cloud.schedules.list_schedules(parent=PARENT)) == []
    assert [j.name for j in cloud.jobs.list_batch_prediction_jobs(parent=PARENT)] == [other.name]


def test_import_reads_the_schedule_back(harness: StackHarness, cloud: SimpleNamespace) -> None:
    applied(harness)
    attrs = attrs_of(harness)
    provider = harness.workspace().provider
    imported = provider.import_resource("batch_job", attrs["id"])
    assert {k: v for k, v in imported.items() if k != "timeout_minutes"} == attrs
    spec = provider.to_spec("batch_job", imported)
    assert spec["replicas"] == {"min": 1, "max": 4} and spec["cron"] == "0 2 * * *"
    assert spec["input"] == {"uri": "gs://acme-ml/churn/customers/today.jsonl", "format": "jsonl"}
    (ref,) = provider.import_references("batch_job", imported)
    assert ref[:2] == ("model", "model")


# ------------------------------------------------------------------------------- validate time
def problems(tmp_path: Path, stack: str) -> str:
    (tmp_path / "stack.yaml").write_text(stack)
    try:
        open_workspace(load_stack(tmp_path / "stack.yaml", environ={}))
    except StackError as exc:
        return "\n".join(exc.lines())
    return ""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("    mini_batch_size: 64\n", "    mini_batch_size: 64\n    retries: 2\n"), "no retry setting"),
        (("    mini_batch_size: 64\n", "    max_payload_mb: 6\n"), "mini_batch_size"),
        (("    mini_batch_size: 64\n", "    max_concurrency: 4\n"), "scale the job with replicas"),
        (("    model: churn-xgb\n", "    model_package: churn@3\n"), "name a model of this stack"),
        (("format: jsonl", "format: parquet"), "not parquet"),
        (("instance_type: n1-standard-4", "instance_type: ml.m5.xlarge"), "SageMaker instance type"),
        (("    mini_batch_size: 64\n", "    timeout_minutes: 30\n"), "no time limit"),
        (("    mini_batch_size: 64\n", "    environment: {A: b}\n"), "set environment on the model"),
        (('uri: "gs://acme-ml/churn/predictions/"', 'uri: "s3://acme/p/"'), "gs:// or bq://"),
    ],
)
def test_validate_refuses_what_vertex_batch_prediction_lacks(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    assert change[0] in STACK
    found = problems(tmp_path, STACK.replace(*change))
    assert expected in found, found
    assert "batch_jobs.churn-daily" in found


def test_validate_accepts_the_stack(tmp_path: Path) -> None:
    assert problems(tmp_path, STACK) == ""
    shutil.rmtree(tmp_path / ".mlops", ignore_errors=True)


def test_a_run_past_its_timeout_is_cancelled(
    harness: StackHarness, cloud: SimpleNamespace, vx_emulator: VertexEmulator
) -> None:
    """`timeout_minutes` (a job without cron) is kept by `mlops run`: here a minute is 0.05 s."""
    harness.edit(
        lambda s: s.replace('    cron: "0 2 * * *"\n    timezone: Europe/Paris\n', "    timeout_minutes: 1\n")
    )
    applied(harness)
    vx_emulator.update_settings({"operation_delay_seconds": 0.5})
    ctx = RecordingContext(address="batch_job.churn-daily", stack="churn")
    with pytest.raises(ProviderError, match=r"longer than timeout_minutes \(1\)"):
        harness.workspace().provider.run("batch_job", attrs_of(harness), ctx, wait=True)
    (job,) = cloud.jobs.list_batch_prediction_jobs(parent=PARENT)
    assert job.state == v1.JobState.JOB_STATE_CANCELLED


def test_a_schedule_of_another_pipeline_is_no_batch_job(
    harness: StackHarness, cloud: SimpleNamespace
) -> None:
    applied(harness)
    spec = {"root": {"dag": {"tasks": {}}}, "pipelineInfo": {"name": "train"}}
    other = cloud.schedules.create_schedule(
        parent=PARENT,
        schedule={
            "display_name": "train",
            "cron": "0 3 * * *",
            "max_concurrent_run_count": 1,
            "create_pipeline_job_request": {"parent": PARENT, "pipeline_job": {"pipeline_spec": spec}},
        },
    )
    with pytest.raises(ProviderError, match="running a batch prediction"):
        harness.workspace().provider.import_resource("batch_job", other.name.rsplit("/", 1)[-1])


# ====================================================================================== contract
CONTRACT_PARENT = "projects/contract/locations/us-central1"
CONTRACT_KEY = f"{CONTRACT_PARENT}/keyRings/ml/cryptoKeys"
CONTRACT_STACK = f"""\
apiVersion: mlops-gitops/v1
name: contract
provider:
  vertex: {{project: contract, location: us-central1, staging_bucket: gs://contract-staging}}
models:
  scorer:
    artifact: gs://contract/scorer/v1/
    image: us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest
    vertex: {{kms_key_name: {CONTRACT_KEY}/first}}
batch_jobs:
  scoring:
    model: scorer
    input: {{uri: "gs://contract/in/rows.jsonl", format: jsonl}}
    output: {{uri: "gs://contract/out/"}}
    instance_type: n1-standard-2
    replicas: {{min: 1, max: 2}}
    cron: "0 6 * * *"
    timezone: Europe/Paris
"""


class TestVertexBatchJobContract(ProviderContract):
    @pytest.fixture
    def contract_case(
        self, vx_emulator: VertexEmulator, vertex_client: Callable[[type], Any], polling: Retry
    ) -> ContractCase:
        models = vertex_client(v1.ModelServiceClient)
        schedules = vertex_client(v1.ScheduleServiceClient)
        jobs = vertex_client(v1.JobServiceClient)

        def schedule_name(attrs: Mapping[str, Any]) -> str:
            return f"{CONTRACT_PARENT}/schedules/{attrs['id']}"

        def leftovers() -> list[str]:
            return (
                [m.name for m in models.list_models(parent=CONTRACT_PARENT)]
                + [s.name for s in schedules.list_schedules(parent=CONTRACT_PARENT)]
                + [j.name for j in jobs.list_batch_prediction_jobs(parent=CONTRACT_PARENT)]
            )

        def change_out_of_band(attrs: Mapping[str, Any]) -> None:
            # A console user moves the runs to another hour.
            schedules.update_schedule(
                schedule={"name": schedule_name(attrs), "cron": "TZ=UTC 0 9 * * *"},
                update_mask={"paths": ["cron"]},
            )

        def delete_out_of_band(attrs: Mapping[str, Any]) -> None:
            schedules.delete_schedule(name=schedule_name(attrs)).result(polling=polling)

        def throttle(times: int) -> None:
            vx_emulator.update_settings({"throttle": {"times": times, "method": "GET"}})

        sandbox = SandboxEndpoints({"vertex": vx_emulator.url})
        # The schedule is made (and checkpointed), then reading it back is refused once: the
        # create fails with the schedule in Vertex. (Only a schedule's GET matches, not the list.)
        read_back = {"method": "GET", "path": "/schedules/[^/]+$", "code": 400, "times": 1}
        refuse_read_back = emulator_settings(sandbox, "vertex", {"fail": [read_back]})
        return ContractCase(
            sandbox=sandbox,
            stack_yaml=CONTRACT_STACK,
            in_place=Edit(
                lambda s: s.replace("n1-standard-2", "n1-standard-4"), {"batch_job.scoring": "update"}
            ),
            # Vertex cannot change a model's encryption key: a new model is uploaded, the schedule
            # moves to it (in place), and the old model is deleted.
            replace=Edit(
                lambda s: s.replace(f"{CONTRACT_KEY}/first", f"{CONTRACT_KEY}/second"),
                {"model.scorer": "replace", "batch_job.scoring": "update"},
            ),
            import_address="batch_job.scoring",
            cloud_id=lambda attrs: attrs["id"],
            drift_address="batch_job.scoring",
            change_out_of_band=change_out_of_band,
            delete_out_of_band=delete_out_of_band,
            leftovers=leftovers,
            throttle=throttle,
            partial_create=PartialCreate("batch_job.scoring", refuse_read_back),
            reset=vx_emulator.reset,
            retire=Unsupported(
                "this case covers the batch_job kind; retirement is covered by the Vertex AI model contract "
                "(tests/vertex/test_vertex_contract.py)"
            ),
        )
