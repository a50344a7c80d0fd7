"""Batch jobs on SageMaker (Transform jobs run by a one-step pipeline), with the real boto3
against the emulator: the translation, whole stacks through StackHarness, `run`, the emulator's
transform jobs, and the contract suite for the kind."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mlops_sagemaker import batch_jobs_translate as bt
from mlops_sagemaker.client import SANDBOX_RETRY
from mlops_sagemaker_sandbox.server import SageMakerEmulator

from mlops_gitops.errors import ProviderError
from mlops_gitops.provider import SandboxEndpoints
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

ADDRESS = "batch_job.churn-daily"
TRAIN = {
    "Version": "2020-12-01",
    "Parameters": [],
    "Steps": [{"Name": "Train", "Type": "Training", "Arguments": {}}],
}

STACK = """\
apiVersion: mlops-gitops/v1
name: churn
provider:
  sagemaker:
    region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/sagemaker
models:
  churn-xgb:
    artifact: s3://ml/churn/v3/model.tar.gz
    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1
schedules:
  churn-retrain:
    cron: "0 2 1 * *"
    pipeline: {definition: train.json}
batch_jobs:
  churn-daily:
    model: churn-xgb
    input: {uri: "s3://ml-churn/customers/", format: csv}
    output: {uri: "s3://ml-churn/predictions/"}
    instance_type: ml.m5.xlarge
    instance_count: 2
    mini_batch_size: 100
    max_payload_mb: 6
    max_concurrency: 4
    timeout_minutes: 10
    retries: 2
    cron: "0 6 * * *"
    timezone: Europe/Paris
    also_on: [churn-retrain]
    tags: {team: churn}
"""


def harness_for(tmp_path: Path, sm_emulator: SageMakerEmulator, stack: str = STACK) -> StackHarness:
    (tmp_path / "train.json").write_text(json.dumps(TRAIN))
    (tmp_path / "stack.yaml").write_text(stack)
    return StackHarness(tmp_path / "stack.yaml", SandboxEndpoints({"sagemaker": sm_emulator.url}))


def attrs_of(h: StackHarness, address: str = ADDRESS) -> dict[str, Any]:
    state = h.state()
    assert state is not None and state.get(address) is not None
    return dict(state.get(address).attributes)  # type: ignore[union-attr]


# ============================================================================================ pure
def test_the_definition_round_trips_through_its_attributes() -> None:
    attrs = {
        "model_name": "churn-xgb-1a2b3c4d",
        "input_uri": "s3://ml/in/",
        "input_format": "jsonl",
        "split": "line",
        "output_uri": "s3://ml/out/",
        "assemble": "none",
        "instance_type": "ml.m5.large",
        "instance_count": 1,
        "batch_strategy": "MultiRecord",
        "max_payload_mb": 6,
        "max_concurrent_transforms": 2,
        "invocation_timeout_seconds": 600,
        "invocation_max_retries": 1,
        "environment": {"A": "1"},
    }
    body = json.loads(bt.definition_text("churn-daily", attrs))
    (step,) = body["Steps"]
    args = step["Arguments"]
    assert step["Type"] == "Transform"
    assert args["TransformJobName"] == {
        "Std:Join": {"On": "-", "Values": ["churn-daily", {"Get": "Execution.PipelineExecutionId"}]}
    }
    assert args["TransformInput"]["ContentType"] == "application/jsonlines"
    assert args["TransformInput"]["SplitType"] == "Line"
    assert args["TransformOutput"]["AssembleWith"] == "None"
    assert args["ModelClientConfig"] == {"InvocationsTimeoutInSeconds": 600, "InvocationsMaxRetries": 1}
    assert bt.from_definition(body) == attrs
    assert bt.job_name_prefix(body) == "churn-daily"
    assert len(bt.job_prefix("x" * 80)) == bt.MAX_JOB_PREFIX


# ====================================================================================== emulator
def _transform_pipeline(sm: Any, name: str = "p") -> None:
    sm.create_model(
        ModelName="m",
        PrimaryContainer={"Image": "img", "ModelDataUrl": "s3://ml/m.tar.gz"},
        ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
    )
    attrs = {
        "model_name": "m",
        "input_uri": "s3://data/in/customers.csv",
        "input_format": "csv",
        "split": "line",
        "output_uri": "s3://data/out/",
        "assemble": "line",
        "instance_type": "ml.m5.large",
        "instance_count": 1,
        "environment": {},
    }
    sm.create_pipeline(
        PipelineName=name,
        PipelineDefinition=bt.definition_text(name, attrs),
        RoleArn="arn:aws:iam::123456789012:role/r",
    )


def _settled(sm: Any, arn: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        desc = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        if desc["PipelineExecutionStatus"] not in ("Executing", "Stopping"):
            return desc
        assert time.monotonic() < deadline, desc
        time.sleep(0.01)


def test_emulator_runs_a_transform_step_once_per_token(
    sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]
) -> None:
    sm, s3 = sm_client(), sm_client("s3")
    _transform_pipeline(sm)
    token = "t" * 32
    first = sm.start_pipeline_execution(PipelineName="p", ClientRequestToken=token)["PipelineExecutionArn"]
    again = sm.start_pipeline_execution(PipelineName="p", ClientRequestToken=token)["PipelineExecutionArn"]
    assert again == first
    assert (
        sm.describe_pipeline_execution(PipelineExecutionArn=first)["PipelineExecutionStatus"] == "Executing"
    )
    (step,) = sm.list_pipeline_execution_steps(PipelineExecutionArn=first)["PipelineExecutionSteps"]
    job = step["Metadata"]["TransformJob"]["Arn"].rsplit("/", 1)[1]
    assert job == f"p-{first.rsplit('/', 1)[1]}"
    assert sm.describe_transform_job(TransformJobName=job)["TransformJobStatus"] == "InProgress"
    assert _settled(sm, first)["PipelineExecutionStatus"] == "Succeeded"
    assert sm.describe_transform_job(TransformJobName=job)["TransformJobStatus"] == "Completed"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="data")["Contents"]] == ["out/customers.csv.out"]
    assert len(sm.list_transform_jobs()["TransformJobSummaries"]) == 1


def test_emulator_fails_and_stops_transform_jobs(
    sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]
) -> None:
    sm = sm_client()
    _transform_pipeline(sm)
    sm_emulator.update_settings({"fail_transform_jobs": ["p"]})
    arn = sm.start_pipeline_execution(PipelineName="p")["PipelineExecutionArn"]
    desc = _settled(sm, arn)
    assert desc["PipelineExecutionStatus"] == "Failed"
    assert desc["FailureReason"].startswith("Step failure")
    (step,) = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    assert step["StepStatus"] == "Failed" and "fail_transform_jobs" in step["FailureReason"]

    sm_emulator.update_settings({"fail_transform_jobs": False, "endpoint_delay_seconds": 5})
    arn = sm.start_pipeline_execution(PipelineName="p")["PipelineExecutionArn"]
    (step,) = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    job = step["Metadata"]["TransformJob"]["Arn"].rsplit("/", 1)[1]
    sm_emulator.update_settings({"endpoint_delay_seconds": 0})
    sm.stop_transform_job(TransformJobName=job)
    assert sm.describe_transform_job(TransformJobName=job)["TransformJobStatus"] == "Stopped"
    assert _settled(sm, arn)["PipelineExecutionStatus"] == "Failed"
    with pytest.raises(sm.exceptions.ClientError, match="already exists"):
        sm.create_transform_job(
            TransformJobName=job,
            ModelName="m",
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://d/i"}}},
            TransformOutput={"S3OutputPath": "s3://d/o"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        )


# ======================================================================================= stacks
def test_apply_plan_notes_and_no_changes(
    tmp_path: Path, sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]
) -> None:
    h = harness_for(tmp_path, sm_emulator)
    plan = h.plan()
    change = next(c for c in plan.changes if c.address == ADDRESS)
    assert change.notes[0].startswith("next runs (Europe/Paris): ")
    assert change.notes[0].count(", ") == 2 and "06:00" in change.notes[0]
    assert change.notes[1] == "also after each successful run of schedule.churn-retrain"
    _, result = h.apply()
    assert result.ok, result.errors
    assert actions(h.plan()) == {}

    sm = sm_client()
    attrs = attrs_of(h)
    body = json.loads(sm.describe_pipeline(PipelineName="churn-daily")["PipelineDefinition"])
    args = body["Steps"][0]["Arguments"]
    assert args["ModelName"] == attrs["model_name"] and attrs["model_name"].startswith("churn-xgb")
    assert args["BatchStrategy"] == "MultiRecord" and args["MaxConcurrentTransforms"] == 4
    assert args["TransformResources"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2}
    schedule = sm_client("scheduler").get_schedule(Name="churn-daily")
    assert schedule["ScheduleExpression"] == "cron(0 6 * * ? *)"
    assert schedule["Target"]["Arn"] == attrs["pipeline_arn"]
    rule = sm_client("events").describe_rule(Name="churn-daily-after-retrain")
    retrain_arn = attrs_of(h, "schedule.churn-retrain")["pipeline_arn"]
    assert bt.retrain_pipelines(rule["EventPattern"]) == [retrain_arn]

    # A new model artifact: the model is replaced and the batch job's pipeline follows it.
    h.edit(lambda s: s.replace("churn/v3/", "churn/v4/"))
    assert actions(h.plan()) == {"model.churn-xgb": "replace", ADDRESS: "update"}
    _, result = h.apply()
    assert result.ok, result.errors
    assert attrs_of(h)["model_name"] != attrs["model_name"]
    assert actions(h.plan()) == {}

    # No cron, no also_on: the schedule and the rule go.
    h.edit(lambda s: s.replace('    cron: "0 6 * * *"\n', "").replace("    also_on: [churn-retrain]\n", ""))
    _, result = h.apply()
    assert result.ok, result.errors
    assert sm_client("scheduler").list_schedules()["Schedules"] == [
        s for s in sm_client("scheduler").list_schedules()["Schedules"] if s["Name"] != "churn-daily"
    ]
    assert actions(h.plan()) == {}

    _, result = h.apply(mode="destroy")
    assert result.ok, result.errors
    assert sm.list_pipelines()["PipelineSummaries"] == []
    assert sm_client("scheduler").list_schedules()["Schedules"] == []
    assert sm_client("events").list_rules()["Rules"] == []


def test_pipeline_edited_outside_is_drift(
    tmp_path: Path, sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]
) -> None:
    h = harness_for(tmp_path, sm_emulator)
    _, result = h.apply()
    assert result.ok, result.errors
    sm = sm_client()
    body = json.loads(sm.describe_pipeline(PipelineName="churn-daily")["PipelineDefinition"])
    body["Steps"][0]["Arguments"]["TransformResources"]["InstanceCount"] = 5
    sm.update_pipeline(PipelineName="churn-daily", PipelineDefinition=json.dumps(body))
    plan = h.plan()
    assert [d.address for d in plan.drift] == [ADDRESS]
    assert actions(plan) == {ADDRESS: "update"}
    _, result = h.apply()
    assert result.ok, result.errors
    assert actions(h.plan()) == {}


def test_run_follows_the_job_and_reports_failure(
    tmp_path: Path, sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]
) -> None:
    h = harness_for(tmp_path, sm_emulator)
    _, result = h.apply()
    assert result.ok, result.errors
    ws = h.workspace()
    ctx = RecordingContext(ADDRESS, stack="churn")
    done = ws.provider.run("batch_job", attrs_of(h), ctx, wait=True)
    assert done["status"] == "Succeeded"
    assert done["output"] == "s3://ml-churn/predictions/"
    assert done["job"].startswith("churn-daily-") and done["id"] in done["job"]
    assert ctx.messages and "InProgress" in " ".join(ctx.messages)
    keys = [o["Key"] for o in sm_client("s3").list_objects_v2(Bucket="ml-churn")["Contents"]]
    assert keys == ["predictions/part-00000.out"]

    started = ws.provider.run("batch_job", attrs_of(h), RecordingContext(ADDRESS), wait=False)
    assert started["status"] == "Executing" and started["id"] != done["id"]

    sm_emulator.update_settings({"fail_transform_jobs": ["churn-daily"]})
    with pytest.raises(ProviderError, match="failure injected by the sandbox emulator"):
        ws.provider.run("batch_job", attrs_of(h), RecordingContext(ADDRESS), wait=True)


def test_a_lost_start_reply_does_not_start_twice(
    tmp_path: Path, sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]
) -> None:
    h = harness_for(tmp_path, sm_emulator)
    _, result = h.apply()
    assert result.ok, result.errors
    sm_emulator.update_settings(
        {"fail": [{"action": "StartPipelineExecution", "code": "InternalFailure", "status": 500,
                   "times": 1, "lose_reply": True}]}
    )  # fmt: skip
    done = h.workspace().provider.run("batch_job", attrs_of(h), RecordingContext(ADDRESS), wait=True)
    assert done["status"] == "Succeeded"
    summaries = sm_client().list_pipeline_executions(PipelineName="churn-daily")["PipelineExecutionSummaries"]
    assert len(summaries) == 1
    assert len(sm_client().list_transform_jobs()["TransformJobSummaries"]) == 1


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("    instance_count: 2\n", "    replicas: {min: 1, max: 3}\n", "fixed number of instances"),
        ("    retries: 2\n", "    retries: 5\n", "at most 3 times"),
        ("    timeout_minutes: 10\n", "    timeout_minutes: 90\n", "at most 60 minutes"),
        ("format: csv", "format: parquet, split: line", "whole file per request"),
    ],
)
def test_what_sagemaker_cannot_do_is_refused(
    tmp_path: Path, sm_emulator: SageMakerEmulator, old: str, new: str, expected: str
) -> None:
    h = harness_for(tmp_path, sm_emulator, STACK.replace(old, new))
    with pytest.raises(Exception) as caught:
        h.plan()
    assert expected in str(caught.value), str(caught.value)


# ====================================================================================== contract
CONTRACT_STACK = """\
apiVersion: mlops-gitops/v1
name: contract
provider:
  sagemaker:
    region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/contract
models:
  scorer:
    artifact: s3://contract/scorer/v1/model.tar.gz
    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3
batch_jobs:
  scoring:
    model: scorer
    input: {uri: "s3://contract/in/"}
    output: {uri: "s3://contract/out/"}
    instance_type: ml.m5.large
    cron: "0 6 * * *"
"""


class TestSageMakerBatchJobContract(ProviderContract):
    @pytest.fixture
    def contract_case(self, sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]) -> ContractCase:
        sm, scheduler = sm_client(), sm_client("scheduler")

        def leftovers() -> list[str]:
            return (
                [m["ModelName"] for m in sm.list_models()["Models"]]
                + [p["PipelineName"] for p in sm.list_pipelines()["PipelineSummaries"]]
                + [s["Name"] for s in scheduler.list_schedules()["Schedules"]]
            )

        def change_out_of_band(attrs: dict[str, Any]) -> None:
            body = json.loads(sm.describe_pipeline(PipelineName=attrs["name"])["PipelineDefinition"])
            body["Steps"][0]["Arguments"]["TransformResources"]["InstanceType"] = "ml.c5.xlarge"
            sm.update_pipeline(PipelineName=attrs["name"], PipelineDefinition=json.dumps(body))

        def delete_out_of_band(attrs: dict[str, Any]) -> None:
            scheduler.delete_schedule(Name=attrs["name"])
            sm.delete_pipeline(PipelineName=attrs["name"])

        def throttle(times: int) -> None:
            sm_emulator.update_settings(
                {"fail": [{"action": "DescribePipeline", "code": "ThrottlingException", "times": times}]}
            )

        sandbox = SandboxEndpoints({"sagemaker": sm_emulator.url})
        # The pipeline and the schedule are made (and checkpointed), then the read-back of the
        # pipeline's tags fails on every attempt of the apply's retry policy, and only then
        # (Scheduler speaks REST, which failure rules do not match).
        pipeline_arn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/scoring"
        refuse = emulator_settings(
            sandbox,
            "sagemaker",
            {
                "fail": [
                    {
                        "action": "ListTags",
                        "name": pipeline_arn,
                        "code": "InternalFailure",
                        "times": SANDBOX_RETRY.attempts,
                    }
                ]
            },
        )
        return ContractCase(
            sandbox=sandbox,
            stack_yaml=CONTRACT_STACK,
            in_place=Edit(
                lambda s: s.replace("ml.m5.large", "ml.m5.xlarge"), {"batch_job.scoring": "update"}
            ),
            replace=Edit(
                lambda s: s.replace("scorer/v1/", "scorer/v2/"),
                {"model.scorer": "replace", "batch_job.scoring": "update"},
            ),
            import_address="batch_job.scoring",
            cloud_id=lambda attrs: attrs["name"],
            drift_address="batch_job.scoring",
            change_out_of_band=change_out_of_band,
            delete_out_of_band=delete_out_of_band,
            leftovers=leftovers,
            throttle=throttle,
            partial_create=PartialCreate("batch_job.scoring", refuse),
            reset=sm_emulator.reset,
            retire=Unsupported(
                "this case covers the batch_job kind; retirement is covered by the SageMaker model contract"
            ),
        )


def test_import_generates_the_stack_it_came_from(
    tmp_path: Path, sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]
) -> None:
    h = harness_for(tmp_path, sm_emulator)
    _, result = h.apply()
    assert result.ok, result.errors
    attrs = attrs_of(h)
    provider = h.workspace().provider
    imported = provider.import_resource("batch_job", attrs["name"])
    spec = provider.to_spec("batch_job", imported)
    (ref,) = provider.import_references("batch_job", imported)
    assert ref == ("model", "model", attrs["model_name"])
    # As `import --generate-config` writes it, the model named by its stack address.
    spec["model"] = "churn-xgb"
    assert spec == {
        "model": "churn-xgb",
        "input": {"uri": "s3://ml-churn/customers/"},
        "output": {"uri": "s3://ml-churn/predictions/"},
        "instance_type": "ml.m5.xlarge",
        "instance_count": 2,
        "mini_batch_size": 100,
        "max_payload_mb": 6,
        "max_concurrency": 4,
        "timeout_minutes": 10,
        "retries": 2,
        "cron": "0 6 * * *",
        "timezone": "Europe/Paris",
        "also_on": ["churn-retrain"],
        "tags": {"team": "churn"},
    }
    # The generated spec plans no change against what runs.
    import yaml

    doc = yaml.safe_load(STACK)
    doc["batch_jobs"]["churn-daily"] = spec
    h.edit(lambda _s: yaml.safe_dump(doc, sort_keys=False))
    assert actions(h.plan()) == {}
