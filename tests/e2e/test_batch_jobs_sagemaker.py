"""stacks/churn-batch through the installed `mlops` command on the sandbox: a daily batch job
applies, its next runs show in the plan, a second plan shows no changes, `mlops run` completes a
transform job and prints where it wrote (the emulator's S3 holds the object), an injected failure
exits 1 with the reason, the retraining schedule's pipeline runs on demand too, and destroy leaves
no pipeline, schedule or rule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_kit import VARS, aws_client, example_on_sandbox, mlops

from mlops_gitops.sandbox.control import update_settings


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    with example_on_sandbox(tmp_path, "churn-batch", operation_delay=0.2) as dest:
        yield dest


def test_churn_batch_lifecycle(stack_dir: Path) -> None:
    plan = mlops(stack_dir, "--sandbox", "plan", *VARS)
    assert plan.returncode == 0, plan.stderr
    assert "batch_job.churn-daily will be created" in plan.stdout
    assert "next runs (Europe/Paris): " in plan.stdout and "05:30" in plan.stdout
    assert "also after each successful run of schedule.churn-retrain" in plan.stdout

    res = mlops(stack_dir, "--sandbox", "apply", *VARS, "--auto-approve")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "3 added, 0 changed, 0 destroyed" in res.stdout
    res = mlops(stack_dir, "--sandbox", "plan", *VARS, "--detailed-exitcode")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "No changes." in res.stdout

    res = mlops(stack_dir, "--sandbox", "run", "batch_job.churn-daily", *VARS)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "succeeded" in res.stdout
    assert "Output: s3://ml-churn-batch/predictions/" in res.stdout
    s3 = aws_client(stack_dir, "s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="ml-churn-batch", Prefix="predictions/")["Contents"]]
    assert keys == ["predictions/part-00000.out"]
    assert json.loads(s3.get_object(Bucket="ml-churn-batch", Key=keys[0])["Body"].read())["emulated"] is True

    # The retraining schedule's pipeline runs now too, with the schedule's parameters.
    res = mlops(stack_dir, "--sandbox", "run", "schedule.churn-retrain", *VARS)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "schedule.churn-retrain: run " in res.stdout and "succeeded" in res.stdout
    executions = aws_client(stack_dir).list_pipeline_executions(PipelineName="churn-retrain")
    assert len(executions["PipelineExecutionSummaries"]) == 1
    wrong = mlops(stack_dir, "--sandbox", "run", "model.churn-xgb", *VARS)
    assert wrong.returncode == 1
    assert "only batch jobs and schedules run on demand" in wrong.stderr

    url = json.loads((stack_dir / ".mlops" / "sandbox" / "sandbox.json").read_text())["urls"]["sagemaker"]
    update_settings(url, {"fail_transform_jobs": ["churn-daily"]})
    res = mlops(stack_dir, "--sandbox", "run", "churn-daily", *VARS)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "failure injected by the sandbox emulator" in res.stderr
    update_settings(url, {"fail_transform_jobs": False})

    res = mlops(stack_dir, "--sandbox", "destroy", *VARS, "--auto-approve")
    assert res.returncode == 0, res.stdout + res.stderr
    assert aws_client(stack_dir).list_pipelines()["PipelineSummaries"] == []
    assert aws_client(stack_dir, "scheduler").list_schedules()["Schedules"] == []
    assert aws_client(stack_dir, "events").list_rules()["Rules"] == []
