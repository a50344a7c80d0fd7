"""`mlops run schedule.X` on Azure ML: the emulator running submitted pipeline jobs (NotStarted,
Running, Completed; an injected failure with the run's error in the run history) through the real
MLClient, and `AzureMLProvider.run` on an applied JobSchedule (its pipeline job submitted now and
followed; its failure with the run's reason; a lost answer; no wait; a cancelled wait)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mlops_azureml.schedules import SCHEDULE_TAG, _input_value, run_name

from mlops_gitops.errors import ProviderError
from mlops_gitops.testing.context import RecordingContext
from mlops_gitops.testing.harness import StackHarness

sys.path.insert(0, str(Path(__file__).parent))  # provider_kit, beside this file (importlib mode)
from provider_kit import PROVIDER, WORKSPACE, harness

ADDRESS = "schedule.churn-retrain"
STACK = f"""\
apiVersion: mlops-gitops/v1
name: churn
{PROVIDER}tags: {{team: growth}}
schedules:
  churn-retrain:
    cron: "0 3 * * 1"
    timezone: Europe/Paris
    pipeline: {{definition: pipelines/train.yaml, parameters: {{epochs: 100}}}}
    azureml: {{experiment_name: churn-retraining}}
"""
ENDED = ("Completed", "Failed", "Canceled")


@pytest.fixture
def ml(azureml_emulator: Any, ml_client: Callable[..., Any]) -> Any:
    return ml_client(workspace=WORKSPACE)


@pytest.fixture
def h(tmp_path: Path, azureml_emulator: Any, ml: Any) -> StackHarness:
    stack = harness(tmp_path, azureml_emulator, STACK)
    _, result = stack.apply()
    assert result.ok, result.errors
    return stack


def run(h: StackHarness, ctx: RecordingContext, *, wait: bool = True) -> dict[str, Any]:
    state = h.state()
    assert state is not None and state.get(ADDRESS) is not None
    return h.workspace().provider.run("schedule", state.get(ADDRESS).attributes, ctx, wait=wait)  # type: ignore[union-attr]


def fail_runs(handle: Any, message: str, **rule: Any) -> None:
    handle.emulator.update_settings(
        {
            "fail_async": [
                {"operation": "Jobs_CreateOrUpdate", "code": "UserError", "message": message, **rule}
            ]
        }
    )


def status(job: Any) -> str:
    return str(getattr(job.status, "value", job.status))  # a str Enum, whose str() is its name


def submitted(ml: Any) -> list[Any]:
    return [j for j in ml.jobs.list() if j.name.startswith("churn-retrain-")]


# -------------------------------------------------------------------------------------- emulator
def test_a_submitted_pipeline_job_runs_to_completed(h: StackHarness, ml: Any) -> None:
    job = ml.schedules.get("churn-retrain").create_job
    job.name = "by-hand"
    ml.jobs.create_or_update(job)
    seen = []
    while not seen or seen[-1] not in ENDED:
        seen.append(status(ml.jobs.get("by-hand")))
        time.sleep(0.005)
    assert seen[0] == "NotStarted" and "Running" in seen and seen[-1] == "Completed"
    assert ml.jobs._runs_operations.get_run("by-hand").error is None


def test_an_injected_failure_fails_the_job_with_the_runs_error(
    h: StackHarness, ml: Any, azureml_emulator: Any
) -> None:
    fail_runs(azureml_emulator, "train.py exited with code 1: ValueError: no rows", times=1)
    job = ml.schedules.get("churn-retrain").create_job
    job.name = "by-hand"
    ml.jobs.create_or_update(job)
    while status(ml.jobs.get("by-hand")) not in ENDED:
        time.sleep(0.005)
    assert status(ml.jobs.get("by-hand")) == "Failed"
    error = ml.jobs._runs_operations.get_run("by-hand").error.error
    assert error.code == "UserError" and "no rows" in error.message


# ---------------------------------------------------------------------------------- the provider
def test_run_submits_the_schedules_pipeline_job_and_follows_it(h: StackHarness, ml: Any) -> None:
    ctx = RecordingContext(address=ADDRESS)
    result = run(h, ctx)
    assert result["status"] == "Completed" and result["id"].startswith("churn-retrain-")
    assert any(m.endswith(": NotStarted") for m in ctx.messages)
    assert any(m.endswith(": Running") for m in ctx.messages)

    (job,) = submitted(ml)
    assert job.name == result["id"] and status(job) == "Completed"
    assert job.tags[SCHEDULE_TAG] == "churn-retrain"
    # The job the schedule's trigger would submit: its experiment, inputs and steps.
    scheduled = ml.schedules.get("churn-retrain").create_job
    got = ml.jobs.get(result["id"])
    assert got.experiment_name == scheduled.experiment_name == "churn-retraining"
    assert _input_value(got.inputs["epochs"]) == _input_value(scheduled.inputs["epochs"])
    assert str(_input_value(got.inputs["epochs"])) == "100"
    assert list(got.jobs) == list(scheduled.jobs) == ["train"]


def test_a_failed_run_raises_the_runs_reason(h: StackHarness, azureml_emulator: Any) -> None:
    fail_runs(azureml_emulator, "train.py exited with code 1: ValueError: no rows")
    with pytest.raises(
        ProviderError, match=r"failed: train.py exited with code 1: ValueError: no rows \(UserError\)"
    ):
        run(h, RecordingContext(address=ADDRESS))


def test_a_lost_submission_answer_names_the_same_job(h: StackHarness, ml: Any, azureml_emulator: Any) -> None:
    azureml_emulator.emulator.update_settings(
        {"fail": [{"operation": "Jobs_CreateOrUpdate", "lose_reply": True, "status": 503, "times": 1}]}
    )
    result = run(h, RecordingContext(address=ADDRESS))
    assert result["status"] == "Completed"
    assert [j.name for j in submitted(ml)] == [result["id"]]


def test_no_wait_returns_the_submitted_job(h: StackHarness, ml: Any) -> None:
    result = run(h, RecordingContext(address=ADDRESS), wait=False)
    assert result["status"] == "NotStarted"
    (job,) = submitted(ml)
    assert job.name == result["id"] and status(job) not in ENDED


def test_a_cancelled_wait_leaves_the_job_running(h: StackHarness, ml: Any) -> None:
    ctx = RecordingContext(address=ADDRESS)
    ctx.cancel.set()
    result = run(h, ctx)
    assert "goes on in Azure ML" in result["message"]
    (job,) = submitted(ml)
    assert job.name == result["id"] and status(job) not in ENDED


def test_a_schedule_gone_from_azure_is_reported(h: StackHarness, ml: Any) -> None:
    ml.schedules.begin_delete("churn-retrain").result()
    with pytest.raises(ProviderError, match="no job schedule churn-retrain"):
        run(h, RecordingContext(address=ADDRESS))


def test_run_names() -> None:
    moment = datetime(2026, 12, 4, 3, 0, 5, tzinfo=UTC)
    assert run_name("churn-retrain", moment, "0a1b") == "churn-retrain-20261204030005-0a1b"
    assert run_name("a.b c", moment, "0a1b") == "a-b-c-20261204030005-0a1b"
