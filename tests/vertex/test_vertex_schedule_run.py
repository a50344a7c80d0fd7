"""`mlops run schedule.X` on Vertex AI: the emulator's PipelineJobs through the real aiplatform_v1
PipelineServiceClient (queued, running, succeeded; an injected failure; cancel and delete), and
`VertexProvider.run` on an applied schedule (the schedule's own PipelineJob created now and
followed; its failure with the cloud's reason; a lost answer; no wait; a cancelled wait)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry
from google.cloud import aiplatform_v1 as v1
from mlops_vertex.schedules import run_id
from mlops_vertex_sandbox.server import VertexEmulator

from mlops_gitops.errors import ProviderError
from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.testing import RecordingContext
from mlops_gitops.testing.harness import StackHarness

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "stacks" / "vertex-churn" / "pipelines" / "churn-train.json"
PROJECT, LOCATION = "acme-ml", "europe-west4"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
ADDRESS = "schedule.churn-retrain"
STACK = f"""\
apiVersion: mlops-gitops/v1
name: churn
provider:
  vertex:
    project: {PROJECT}
    location: {LOCATION}
    staging_bucket: gs://acme-ml-staging
    service_account: pipelines@acme-ml.iam.gserviceaccount.com
tags: {{team: growth-ml}}
schedules:
  churn-retrain:
    cron: "0 3 * * 1"
    timezone: Europe/Paris
    pipeline:
      definition: pipelines/churn-train.json
      parameters:
        training_table: bq://acme-ml.crm.churn_sessions
        max_depth: 8
        min_auc: 0.82
"""
ENDED = (
    v1.PipelineState.PIPELINE_STATE_SUCCEEDED,
    v1.PipelineState.PIPELINE_STATE_FAILED,
    v1.PipelineState.PIPELINE_STATE_CANCELLED,
)


# ---------------------------------------------------------------------------------------- fixtures
@pytest.fixture
def sandbox(vx_emulator: VertexEmulator) -> SandboxEndpoints:
    return SandboxEndpoints({"vertex": vx_emulator.url}, {"vertex": {}})


@pytest.fixture
def cloud(vertex_client: Callable[[type], Any], polling: Retry) -> SimpleNamespace:
    return SimpleNamespace(
        pipelines=vertex_client(v1.PipelineServiceClient),
        schedules=vertex_client(v1.ScheduleServiceClient),
        polling=polling,
    )


@pytest.fixture
def harness(tmp_path: Path, sandbox: SandboxEndpoints) -> StackHarness:
    (tmp_path / "pipelines").mkdir()
    shutil.copy(SPEC, tmp_path / "pipelines" / "churn-train.json")
    (tmp_path / "stack.yaml").write_text(STACK)
    h = StackHarness(tmp_path / "stack.yaml", sandbox)
    _, result = h.apply()
    assert result.ok, result.errors
    return h


def attrs_of(h: StackHarness) -> dict[str, Any]:
    state = h.state()
    assert state is not None and state.get(ADDRESS) is not None
    return dict(state.get(ADDRESS).attributes)  # type: ignore[union-attr]


def run(h: StackHarness, ctx: RecordingContext, *, wait: bool = True) -> dict[str, Any]:
    return h.workspace().provider.run("schedule", attrs_of(h), ctx, wait=wait)


def job_request(**changes: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "display_name": "train",
        "template_uri": "https://europe-west4-kfp.pkg.dev/ml/pipelines/train/v3",
        "runtime_config": {"gcs_output_directory": "gs://acme-ml/root", "parameter_values": {"epochs": 3}},
        "labels": {"team": "growth-ml"},
    }
    job.update(changes)
    return job


def wait_until_ended(cloud: SimpleNamespace, name: str, timeout: float = 5.0) -> v1.PipelineJob:
    deadline = time.monotonic() + timeout
    while True:
        job = cloud.pipelines.get_pipeline_job(name=name)
        if job.state in ENDED:
            return job
        assert time.monotonic() < deadline, job.state
        time.sleep(0.005)


def fail_runs(emulator: VertexEmulator, message: str, **rule: Any) -> None:
    emulator.update_settings(
        {
            "fail": [
                {
                    "method": "POST",
                    "path": "/pipelineJobs$",
                    "status": "FAILED_PRECONDITION",
                    "message": message,
                    "in_operation": True,
                    **rule,
                }
            ]
        }
    )


# -------------------------------------------------------------------------------------- emulator
def test_a_pipeline_job_goes_queued_running_succeeded(cloud: SimpleNamespace) -> None:
    created = cloud.pipelines.create_pipeline_job(
        parent=PARENT, pipeline_job=job_request(), pipeline_job_id="train-1"
    )
    assert created.name.endswith("/pipelineJobs/train-1")
    assert created.state == v1.PipelineState.PIPELINE_STATE_QUEUED
    seen = {created.state}
    job = created
    while job.state not in ENDED:
        job = cloud.pipelines.get_pipeline_job(name=created.name)
        seen.add(job.state)
        time.sleep(0.002)
    assert v1.PipelineState.PIPELINE_STATE_RUNNING in seen
    assert job.state == v1.PipelineState.PIPELINE_STATE_SUCCEEDED
    assert job.start_time and job.end_time and not job.error.message
    assert job.runtime_config.parameter_values["epochs"] == 3
    (listed,) = cloud.pipelines.list_pipeline_jobs(parent=PARENT)
    assert listed.name == created.name


def test_a_repeated_id_is_already_exists_and_a_bad_one_is_refused(cloud: SimpleNamespace) -> None:
    cloud.pipelines.create_pipeline_job(parent=PARENT, pipeline_job=job_request(), pipeline_job_id="train-1")
    with pytest.raises(gexc.Conflict, match="already exists"):
        cloud.pipelines.create_pipeline_job(
            parent=PARENT, pipeline_job=job_request(), pipeline_job_id="train-1"
        )
    with pytest.raises(gexc.BadRequest, match="pipeline_job_id"):
        cloud.pipelines.create_pipeline_job(
            parent=PARENT, pipeline_job=job_request(), pipeline_job_id="Train_1"
        )
    with pytest.raises(gexc.BadRequest, match="template_uri"):
        cloud.pipelines.create_pipeline_job(parent=PARENT, pipeline_job=job_request(template_uri=""))
    # Without an id, Vertex makes one.
    made = cloud.pipelines.create_pipeline_job(parent=PARENT, pipeline_job=job_request())
    assert made.name.rsplit("/", 1)[-1].isdigit()


def test_an_injected_failure_fails_the_job_with_the_cloud_error(
    cloud: SimpleNamespace, vx_emulator: VertexEmulator
) -> None:
    fail_runs(vx_emulator, "The DAG failed because some tasks failed: train.", times=1)
    created = cloud.pipelines.create_pipeline_job(parent=PARENT, pipeline_job=job_request())
    job = wait_until_ended(cloud, created.name)
    assert job.state == v1.PipelineState.PIPELINE_STATE_FAILED
    assert job.error.code == 9 and "some tasks failed" in job.error.message


def test_cancel_then_delete(cloud: SimpleNamespace) -> None:
    created = cloud.pipelines.create_pipeline_job(parent=PARENT, pipeline_job=job_request())
    with pytest.raises(gexc.BadRequest, match="cancel it"):
        cloud.pipelines.delete_pipeline_job(name=created.name)
    cloud.pipelines.cancel_pipeline_job(name=created.name)
    job = wait_until_ended(cloud, created.name)
    assert job.state == v1.PipelineState.PIPELINE_STATE_CANCELLED
    with pytest.raises(gexc.BadRequest, match="cannot be cancelled"):
        cloud.pipelines.cancel_pipeline_job(name=created.name)
    cloud.pipelines.delete_pipeline_job(name=created.name).result(polling=cloud.polling)
    with pytest.raises(gexc.NotFound):
        cloud.pipelines.get_pipeline_job(name=created.name)


# ---------------------------------------------------------------------------------- the provider
def test_run_creates_the_schedules_pipeline_job_and_follows_it(
    harness: StackHarness, cloud: SimpleNamespace
) -> None:
    ctx = RecordingContext(address=ADDRESS, stack="churn")
    result = run(harness, ctx)
    assert result["status"] == "SUCCEEDED"
    assert result["id"].startswith("churn-retrain-")
    assert ctx.messages[0].endswith(": QUEUED") and any(m.endswith(": RUNNING") for m in ctx.messages)

    (job,) = cloud.pipelines.list_pipeline_jobs(parent=PARENT)
    assert job.name.endswith(f"/pipelineJobs/{result['id']}")
    assert job.state == v1.PipelineState.PIPELINE_STATE_SUCCEEDED
    number = job.name.split("/")[1]
    assert result["output"] == f"gs://acme-ml-staging/pipeline-root/{number}/{result['id']}/"
    # The very job the schedule's trigger would create.
    (schedule,) = cloud.schedules.list_schedules(parent=PARENT)
    scheduled = schedule.create_pipeline_job_request.pipeline_job
    assert job.pipeline_spec == scheduled.pipeline_spec
    assert dict(job.runtime_config.parameter_values) == dict(scheduled.runtime_config.parameter_values)
    assert job.runtime_config.parameter_values["max_depth"] == 8
    assert job.service_account == "pipelines@acme-ml.iam.gserviceaccount.com"
    assert job.labels["mlops-gitops-address"] == "schedule_churn-retrain"
    assert dict(job.labels) == dict(scheduled.labels)


def test_a_failed_run_raises_the_cloud_reason(harness: StackHarness, vx_emulator: VertexEmulator) -> None:
    fail_runs(vx_emulator, "The DAG failed because some tasks failed. The failed tasks are: [evaluate].")
    ctx = RecordingContext(address=ADDRESS, stack="churn")
    with pytest.raises(ProviderError, match=r"PIPELINE_STATE_FAILED: The DAG failed .*\[evaluate\]"):
        run(harness, ctx)


def test_a_lost_create_answer_finds_the_job_instead_of_starting_another(
    harness: StackHarness, cloud: SimpleNamespace, vx_emulator: VertexEmulator
) -> None:
    vx_emulator.update_settings(
        {
            "transient": [
                {"rate": 1, "method": "POST", "path": "/pipelineJobs$", "lost_reply": True, "times": 1}
            ]
        }
    )
    result = run(harness, RecordingContext(address=ADDRESS, stack="churn"))
    assert result["status"] == "SUCCEEDED"
    assert len(list(cloud.pipelines.list_pipeline_jobs(parent=PARENT))) == 1


def test_no_wait_returns_the_queued_job(harness: StackHarness, cloud: SimpleNamespace) -> None:
    result = run(harness, RecordingContext(address=ADDRESS, stack="churn"), wait=False)
    assert result["status"] == "QUEUED"
    (job,) = cloud.pipelines.list_pipeline_jobs(parent=PARENT)
    assert job.name.endswith(f"/{result['id']}")
    assert job.state == v1.PipelineState.PIPELINE_STATE_QUEUED


def test_a_cancelled_wait_leaves_the_job_running(harness: StackHarness, cloud: SimpleNamespace) -> None:
    ctx = RecordingContext(address=ADDRESS, stack="churn")
    ctx.cancel.set()
    result = run(harness, ctx)
    assert "goes on in Vertex AI" in result["message"]
    (job,) = cloud.pipelines.list_pipeline_jobs(parent=PARENT)
    assert job.name.endswith(f"/{result['id']}") and job.state not in ENDED


def test_a_schedule_gone_from_vertex_is_reported(harness: StackHarness, cloud: SimpleNamespace) -> None:
    attrs = attrs_of(harness)
    cloud.schedules.delete_schedule(name=f"{PARENT}/schedules/{attrs['id']}").result(polling=cloud.polling)
    with pytest.raises(ProviderError, match="is gone"):
        run(harness, RecordingContext(address=ADDRESS, stack="churn"))


def test_run_ids_are_what_vertex_takes() -> None:
    moment = datetime(2026, 12, 4, 3, 0, 5, tzinfo=UTC)
    assert run_id("churn-retrain", moment, "0a1b") == "churn-retrain-20261204030005-0a1b"
    assert run_id("9_Lives", moment, "0a1b") == "run-9-lives-20261204030005-0a1b"
    long = run_id("x" * 200, moment, "0a1b")
    assert len(long) == 128 and long.endswith("-20261204030005-0a1b")
