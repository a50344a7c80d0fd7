"""A Vertex AI batch job through the installed `mlops` command on the sandbox: the example churn
stack with a daily batch job applies, its next runs show in the plan, a second plan is empty,
`mlops run` follows a BatchPredictionJob to its output (which the emulator holds), an injected
failure makes it exit 1 with the cloud's reason, and destroy leaves nothing. `mlops run` of the
example's retraining schedule starts the schedule's PipelineJob now and follows it the same way."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1 as v1
from sandbox_kit import example_on_sandbox, mlops

from mlops_gitops.sandbox.control import update_settings

PARENT = "projects/acme-ml/locations/europe-west4"
BATCH_JOB = """
batch_jobs:
  churn-nightly:
    model: churn-xgb
    input: {uri: "gs://${var.project}-data/churn/customers/latest.csv", format: csv}
    output: {uri: "gs://${var.project}-data/churn/scores/"}
    instance_type: n1-standard-4
    instance_count: 2
    mini_batch_size: 128
    cron: "30 1 * * *"
    timezone: Europe/Paris
"""


def _url(stack_dir: Path) -> str:
    return str(json.loads((stack_dir / ".mlops" / "sandbox" / "sandbox.json").read_text())["urls"]["vertex"])


def _jobs(url: str) -> v1.JobServiceClient:
    return v1.JobServiceClient(
        transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": url}
    )


def test_a_daily_vertex_batch_job_on_the_sandbox(tmp_path: Path) -> None:
    with example_on_sandbox(tmp_path, "vertex-churn", operation_delay=0.1) as stack_dir:
        stack = stack_dir / "stack.yaml"
        stack.write_text(stack.read_text() + BATCH_JOB)

        res = mlops(stack_dir, "--sandbox", "plan", "--no-color")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "batch_job.churn-nightly" in res.stdout
        assert "next runs (Europe/Paris)" in res.stdout and "01:30" in res.stdout

        res = mlops(stack_dir, "--sandbox", "apply", "--auto-approve")
        assert res.returncode == 0, res.stdout + res.stderr
        res = mlops(stack_dir, "--sandbox", "plan", "--detailed-exitcode")
        assert res.returncode == 0, res.stdout + res.stderr  # 0: no changes

        res = mlops(stack_dir, "--sandbox", "run", "batch_job.churn-nightly")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "succeeded" in res.stdout
        (output,) = [
            line.split(": ", 1)[1] for line in res.stdout.splitlines() if line.startswith("Output: ")
        ]
        assert output.startswith("gs://acme-ml-data/churn/scores/prediction-")

        url = _url(stack_dir)
        client = _jobs(url)
        (job,) = client.list_batch_prediction_jobs(parent=PARENT)
        assert job.state == v1.JobState.JOB_STATE_SUCCEEDED
        assert job.output_info.gcs_output_directory == output
        assert job.dedicated_resources.starting_replica_count == 2
        assert job.input_config.instances_format == "csv"

        update_settings(
            url,
            {
                "fail": [
                    {
                        "method": "POST",
                        "path": "/batchPredictionJobs$",
                        "status": "RESOURCE_EXHAUSTED",
                        "message": "Quota exceeded for custom_model_serving_cpus",
                        "in_operation": True,
                    }
                ]
            },
        )
        res = mlops(stack_dir, "--sandbox", "run", "churn-nightly")
        assert res.returncode == 1, res.stdout + res.stderr
        assert "custom_model_serving_cpus" in res.stdout + res.stderr
        update_settings(url, {"fail": []})

        res = mlops(stack_dir, "--sandbox", "plan", "--detailed-exitcode")
        assert res.returncode == 0, res.stdout + res.stderr

        res = mlops(stack_dir, "--sandbox", "destroy", "--auto-approve")
        assert res.returncode == 0, res.stdout + res.stderr
        schedules = v1.ScheduleServiceClient(
            transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": url}
        )
        assert list(schedules.list_schedules(parent=PARENT)) == []
        models = v1.ModelServiceClient(
            transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": url}
        )
        assert list(models.list_models(parent=PARENT)) == []


def test_mlops_run_starts_a_vertex_schedules_pipeline_now(tmp_path: Path) -> None:
    with example_on_sandbox(tmp_path, "vertex-churn", operation_delay=0.2) as stack_dir:
        # The example's schedule alone (its pipeline file is beside it): endpoints take long to roll out.
        text = (stack_dir / "stack.yaml").read_text()
        head, schedules = (
            text.split("\nmodels:", 1)[0],
            text.split("\nschedules:", 1)[1].split("\noutputs:")[0],
        )
        (stack_dir / "stack.yaml").write_text(f"{head}\nschedules:{schedules}")
        res = mlops(stack_dir, "--sandbox", "apply", "--auto-approve")
        assert res.returncode == 0, res.stdout + res.stderr

        res = mlops(stack_dir, "--sandbox", "run", "schedule.churn-retrain")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "schedule.churn-retrain: Starting a run..." in res.stdout
        assert "Still running..." in res.stdout and ": RUNNING" in res.stdout
        (run_id,) = re.findall(r"schedule\.churn-retrain: run (\S+) succeeded", res.stdout)
        url = _url(stack_dir)
        pipelines = v1.PipelineServiceClient(
            transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": url}
        )
        (job,) = pipelines.list_pipeline_jobs(parent=PARENT)
        assert job.name.endswith(f"/pipelineJobs/{run_id}")
        assert job.state == v1.PipelineState.PIPELINE_STATE_SUCCEEDED
        assert job.runtime_config.parameter_values["max_depth"] == 8
        assert job.service_account == "pipelines@acme-ml.iam.gserviceaccount.com"

        update_settings(
            url,
            {
                "fail": [
                    {
                        "method": "POST",
                        "path": "/pipelineJobs$",
                        "status": "FAILED_PRECONDITION",
                        "message": "The DAG failed because some tasks failed: [evaluate].",
                        "in_operation": True,
                    }
                ]
            },
        )
        res = mlops(stack_dir, "--sandbox", "run", "schedule.churn-retrain")
        assert res.returncode == 1, res.stdout + res.stderr
        assert "PIPELINE_STATE_FAILED" in res.stderr and "[evaluate]" in res.stderr
        update_settings(url, {"fail": []})

        started = time.monotonic()
        res = mlops(stack_dir, "--sandbox", "run", "schedule.churn-retrain", "--no-wait")
        assert res.returncode == 0, res.stdout + res.stderr
        (queued,) = re.findall(
            r"schedule\.churn-retrain: run (\S+) started \(QUEUED\); not followed", res.stdout
        )
        assert ": RUNNING" not in res.stdout  # not followed
        job = pipelines.get_pipeline_job(name=f"{job.name.rsplit('/', 1)[0]}/{queued}")
        assert job.state in (v1.PipelineState.PIPELINE_STATE_QUEUED, v1.PipelineState.PIPELINE_STATE_RUNNING)
        assert time.monotonic() - started < 30
