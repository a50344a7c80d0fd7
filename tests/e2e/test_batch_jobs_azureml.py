"""An Azure ML batch job through the installed `mlops` command on the sandbox: apply a stack with a
daily batch job, the plan's next runs, a second plan without changes, `mlops run` following a job
to Completed and printing its output location, an injected failure making `mlops run` exit 1 with
the run's reason, and destroy leaving the emulator without batch endpoints, clusters or schedules.
`mlops run` of a retraining schedule submits the schedule's pipeline job now and follows it the
same way."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sandbox_kit import mlops

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
OUTPUT = "azureml://datastores/workspaceblobstore/paths/churn/predictions/"
STACK = f"""\
apiVersion: mlops-gitops/v1
name: churn-batch
provider:
  azureml: {{subscription_id: {SUBSCRIPTION}, resource_group: rg, workspace: batch-ws}}
models:
  scorer:
    artifact: azureml://datastores/workspaceblobstore/paths/scorer/v1/
    image: mcr.microsoft.com/azureml/curated/sklearn-1.5:latest
    azureml: {{type: mlflow_model}}
batch_jobs:
  churn-nightly:
    model: scorer
    input: {{uri: "azureml://datastores/workspaceblobstore/paths/churn/input/"}}
    output: {{uri: "{OUTPUT}"}}
    instance_type: Standard_DS3_v2
    instance_count: 2
    mini_batch_size: 10
    cron: "30 1 * * *"
    timezone: Europe/Paris
"""


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "stack.yaml").write_text(STACK)
    up = mlops(tmp_path, "sandbox", "up", "--operation-delay", "0.3")
    assert up.returncode == 0, up.stderr
    try:
        yield tmp_path
    finally:
        mlops(tmp_path, "sandbox", "down")


class Arm:
    def __init__(self, stack_dir: Path) -> None:
        info = json.loads((stack_dir / ".mlops" / "sandbox" / "sandbox.json").read_text())
        self.url = info["urls"]["azureml"]
        self.ca_file = info["settings"]["azureml"]["tls_ca_file"]
        self.workspace = (
            f"{self.url}/subscriptions/{SUBSCRIPTION}/resourceGroups/rg"
            "/providers/Microsoft.MachineLearningServices/workspaces/batch-ws"
        )

    def get(self, path: str) -> Any:
        res = requests.get(
            f"{self.workspace}/{path}",
            params={"api-version": "2024-04-01", "listViewType": "All"},
            headers={"Authorization": "Bearer sandbox"},
            verify=self.ca_file,
            timeout=10,
        )
        res.raise_for_status()
        return res.json()

    def names(self, collection: str) -> list[str]:
        return sorted(item["name"] for item in self.get(collection)["value"])

    def settings(self, changes: dict[str, Any]) -> None:
        res = requests.post(f"{self.url}/_emulator/settings", json=changes, verify=self.ca_file, timeout=10)
        res.raise_for_status()


def test_a_daily_batch_job_applies_runs_fails_with_a_reason_and_destroys(stack_dir: Path) -> None:
    plan = mlops(stack_dir, "--sandbox", "plan")
    assert plan.returncode == 0, plan.stderr
    assert "batch_job.churn-nightly" in plan.stdout
    assert "next runs (Europe/Paris): " in plan.stdout

    res = mlops(stack_dir, "--sandbox", "apply", "--auto-approve")
    assert res.returncode == 0, res.stdout + res.stderr
    res = mlops(stack_dir, "--sandbox", "plan", "--detailed-exitcode")
    assert res.returncode == 0, res.stdout + res.stderr  # 0: no changes

    arm = Arm(stack_dir)
    assert arm.names("batchEndpoints") == ["churn-nightly"]
    assert arm.names("batchEndpoints/churn-nightly/deployments") == ["scoring"]
    assert arm.names("schedules") == ["churn-nightly-schedule"]

    res = mlops(stack_dir, "--sandbox", "run", "batch_job.churn-nightly")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"Output: {OUTPUT}" in res.stdout
    assert "Running" in res.stdout and "completed" in res.stdout
    jobs = [j for j in arm.get("jobs")["value"] if j["name"].startswith("churn-nightly-")]
    assert len(jobs) == 1
    assert jobs[0]["properties"]["status"] == "Completed"
    assert jobs[0]["properties"]["outputs"]["score"]["uri"] == OUTPUT

    arm.settings(
        {
            "fail_async": [
                {
                    "operation": "BatchEndpoints_Invoke",
                    "code": "UserError",
                    "message": "run() in score.py raised KeyError: 'tenure'",
                }
            ]
        }
    )
    res = mlops(stack_dir, "--sandbox", "run", "churn-nightly")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "KeyError: 'tenure'" in res.stdout + res.stderr

    res = mlops(stack_dir, "--sandbox", "destroy", "--auto-approve")
    assert res.returncode == 0, res.stdout + res.stderr
    assert arm.names("batchEndpoints") == []
    assert arm.names("schedules") == []
    assert arm.names("computes") == []
    assert arm.names("models") == [] or all(
        v.get("properties", {}).get("isArchived") for v in arm.get("models/scorer/versions")["value"]
    )


SCHEDULE_STACK = f"""\
apiVersion: mlops-gitops/v1
name: churn-retraining
provider:
  azureml: {{subscription_id: {SUBSCRIPTION}, resource_group: rg, workspace: batch-ws}}
schedules:
  churn-retrain:
    cron: "0 3 * * 1"
    timezone: Europe/Paris
    pipeline: {{definition: pipelines/train.yaml, parameters: {{epochs: 100}}}}
"""
PIPELINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
display_name: churn-train
inputs:
  epochs: 10
settings:
  default_compute: azureml:cpu-cluster
jobs:
  train:
    type: command
    component: azureml:churn_train:1
    inputs:
      epochs: ${{parent.inputs.epochs}}
"""


def test_mlops_run_submits_an_azureml_schedules_pipeline_now(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "train.yaml").write_text(PIPELINE)
    (tmp_path / "stack.yaml").write_text(SCHEDULE_STACK)
    up = mlops(tmp_path, "sandbox", "up", "--operation-delay", "0.5")
    assert up.returncode == 0, up.stderr
    try:
        res = mlops(tmp_path, "--sandbox", "apply", "--auto-approve")
        assert res.returncode == 0, res.stdout + res.stderr

        res = mlops(tmp_path, "--sandbox", "run", "schedule.churn-retrain")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "schedule.churn-retrain: Starting a run..." in res.stdout
        assert "Still running..." in res.stdout and ": Running" in res.stdout
        (run_id,) = re.findall(r"schedule\.churn-retrain: run (\S+) completed", res.stdout)
        arm = Arm(tmp_path)
        job = arm.get(f"jobs/{run_id}")
        assert job["properties"]["status"] == "Completed"
        assert job["properties"]["jobType"] == "Pipeline"
        assert list(job["properties"]["jobs"]) == ["train"]

        arm.settings(
            {
                "fail_async": [
                    {
                        "operation": "Jobs_CreateOrUpdate",
                        "code": "UserError",
                        "message": "train.py exited with code 1: ValueError: no rows",
                    }
                ]
            }
        )
        res = mlops(tmp_path, "--sandbox", "run", "schedule.churn-retrain")
        assert res.returncode == 1, res.stdout + res.stderr
        assert "ValueError: no rows" in res.stderr and "failed" in res.stderr
        arm.settings({"fail_async": []})

        res = mlops(tmp_path, "--sandbox", "run", "schedule.churn-retrain", "--no-wait")
        assert res.returncode == 0, res.stdout + res.stderr
        (started,) = re.findall(
            r"schedule\.churn-retrain: run (\S+) started \(NotStarted\); not followed", res.stdout
        )
        assert ": Running" not in res.stdout  # not followed
        assert arm.get(f"jobs/{started}")["properties"]["status"] in ("NotStarted", "Running")
    finally:
        mlops(tmp_path, "sandbox", "down")
