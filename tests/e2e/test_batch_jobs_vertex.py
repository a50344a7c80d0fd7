"""A Vertex AI batch job through the installed `mlops` command on the sandbox: the example churn
stack with a daily batch job applies, its next runs show in the plan, a second plan is empty,
`mlops run` follows a BatchPredictionJob to its output (which the emulator holds), an injected
failure makes it exit 1 with the cloud's reason, and destroy leaves nothing."""

from __future__ import annotations

import json
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
