"""The SageMaker emulator's monitoring schedules, deployment guardrails, model registry and the other
services the provider uses, driven by the real boto3 over HTTP (fixtures in conftest.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from mlops_sagemaker_sandbox.server import SageMakerEmulator

ROLE_ARN = "arn:aws:iam::123456789012:role/sagemaker-execution"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/xgb:1.7-1"
MONITOR_IMAGE = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
HOURLY = {"ScheduleExpression": "cron(0 * ? * * *)"}
DAILY = {"ScheduleExpression": "cron(0 3 ? * * *)"}
# Long enough that the calls right after an operation see it in progress, even on a slow runner.
OBSERVABLE_DELAY = 0.5
ALARM = "fraud-p99-latency"
BAKE_SECONDS = 600  # WaitIntervalInSeconds, as a user would write it
BAKE = 0.5  # what a bake lasts in these tests


def _error(exc_info: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc_info.value.response["Error"]
    return error["Code"], error["Message"]


# ---- monitoring schedules ------------------------------------------------------------------------


def _capturing_endpoint(sm: Any, name: str = "fraud-api", *, capture: bool = True) -> None:
    """An endpoint for a schedule to watch: SageMaker refuses one on an endpoint that is missing
    or does not capture data."""
    sm.create_model(
        ModelName=f"{name}-model",
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://ml/model.tar.gz"},
    )
    config: dict[str, Any] = {
        "EndpointConfigName": f"{name}-config",
        "ProductionVariants": [
            {
                "VariantName": "main",
                "ModelName": f"{name}-model",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    }
    if capture:
        config["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": "s3://ml-capture/",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        }
    sm.create_endpoint_config(**config)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")


def _data_quality_job(sm: Any, name: str, endpoint: str = "fraud-api") -> str:
    if not sm.list_endpoints(NameContains=endpoint)["Endpoints"]:
        _capturing_endpoint(sm, endpoint)
    return sm.create_data_quality_job_definition(
        JobDefinitionName=name,
        DataQualityAppSpecification={"ImageUri": MONITOR_IMAGE},
        DataQualityJobInput={
            "EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input"}
        },
        DataQualityJobOutputConfig={
            "MonitoringOutputs": [
                {"S3Output": {"S3Uri": "s3://ml-monitoring/fraud/", "LocalPath": "/opt/ml/processing/output"}}
            ]
        },
        JobResources={
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}
        },
        RoleArn=ROLE_ARN,
    )["JobDefinitionArn"]


def _model_quality_job(sm: Any, name: str, endpoint: str = "fraud-api") -> None:
    if not sm.list_endpoints(NameContains=endpoint)["Endpoints"]:
        _capturing_endpoint(sm, endpoint)
    sm.create_model_quality_job_definition(
        JobDefinitionName=name,
        ModelQualityAppSpecification={"ImageUri": MONITOR_IMAGE, "ProblemType": "BinaryClassification"},
        ModelQualityJobInput={
            "EndpointInput": {
                "EndpointName": endpoint,
                "LocalPath": "/opt/ml/processing/input",
                "ProbabilityAttribute": "0",
            },
            "GroundTruthS3Input": {"S3Uri": "s3://ml-labels/fraud/"},
        },
        ModelQualityJobOutputConfig={
            "MonitoringOutputs": [
                {"S3Output": {"S3Uri": "s3://ml-monitoring/fraud/", "LocalPath": "/opt/ml/processing/output"}}
            ]
        },
        JobResources={
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}
        },
        RoleArn=ROLE_ARN,
    )


def _schedule(sm: Any, name: str, job: str, kind: str = "DataQuality", **extra: Any) -> str:
    config = {"ScheduleConfig": HOURLY, "MonitoringJobDefinitionName": job, "MonitoringType": kind}
    return sm.create_monitoring_schedule(
        MonitoringScheduleName=name, MonitoringScheduleConfig=config, **extra
    )["MonitoringScheduleArn"]


def _wait_schedule(sm: Any, name: str, status: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        description = sm.describe_monitoring_schedule(MonitoringScheduleName=name)
        if description["MonitoringScheduleStatus"] == status:
            return description
        if time.monotonic() > deadline:
            pytest.fail(f"schedule {name} still {description['MonitoringScheduleStatus']} after {timeout} s")
        time.sleep(0.01)


def test_schedule_lifecycle(sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]) -> None:
    sm_emulator.update_settings({"endpoint_delay_seconds": OBSERVABLE_DELAY})
    sm = sm_client()
    _data_quality_job(sm, "fraud-drift-1")
    arn = _schedule(sm, "fraud-drift", "fraud-drift-1")
    assert arn == "arn:aws:sagemaker:us-east-1:123456789012:monitoring-schedule/fraud-drift"

    created = sm.describe_monitoring_schedule(MonitoringScheduleName="fraud-drift")
    assert created["MonitoringScheduleStatus"] == "Pending"
    assert {
        key: created[key] for key in ("MonitoringScheduleArn", "MonitoringScheduleName", "MonitoringType")
    } == {
        "MonitoringScheduleArn": arn,
        "MonitoringScheduleName": "fraud-drift",
        "MonitoringType": "DataQuality",
    }
    assert created["EndpointName"] == "fraud-api"  # from the job definition's endpoint input
    assert created["MonitoringScheduleConfig"] == {
        "ScheduleConfig": HOURLY,
        "MonitoringJobDefinitionName": "fraud-drift-1",
        "MonitoringType": "DataQuality",
    }
    assert created["CreationTime"] == created["LastModifiedTime"]
    assert abs(time.time() - created["CreationTime"].timestamp()) < 60
    assert "LastMonitoringExecutionSummary" not in created and "FailureReason" not in created
    assert _wait_schedule(sm, "fraud-drift", "Scheduled")["MonitoringScheduleStatus"] == "Scheduled"

    _data_quality_job(sm, "fraud-drift-2")
    config = {
        "ScheduleConfig": DAILY,
        "MonitoringJobDefinitionName": "fraud-drift-2",
        "MonitoringType": "DataQuality",
    }
    assert (
        sm.update_monitoring_schedule(MonitoringScheduleName="fraud-drift", MonitoringScheduleConfig=config)[
            "MonitoringScheduleArn"
        ]
        == arn
    )
    updated = sm.describe_monitoring_schedule(MonitoringScheduleName="fraud-drift")
    assert updated["MonitoringScheduleStatus"] == "Pending"
    assert updated["MonitoringScheduleConfig"] == config
    assert updated["LastModifiedTime"] > created["LastModifiedTime"]
    assert updated["CreationTime"] == created["CreationTime"]
    _wait_schedule(sm, "fraud-drift", "Scheduled")

    sm.stop_monitoring_schedule(MonitoringScheduleName="fraud-drift")
    assert _wait_schedule(sm, "fraud-drift", "Stopped", timeout=0)["MonitoringScheduleStatus"] == "Stopped"
    sm.update_monitoring_schedule(MonitoringScheduleName="fraud-drift", MonitoringScheduleConfig=config)
    time.sleep(OBSERVABLE_DELAY)
    # An update leaves a stopped schedule stopped.
    assert sm.describe_monitoring_schedule(MonitoringScheduleName="fraud-drift")[
        "MonitoringScheduleStatus"
    ] == ("Stopped")
    sm.start_monitoring_schedule(MonitoringScheduleName="fraud-drift")
    _wait_schedule(sm, "fraud-drift", "Scheduled", timeout=0)
    assert (
        sm.list_monitoring_executions(MonitoringScheduleName="fraud-drift")["MonitoringExecutionSummaries"]
        == []
    )

    sm.delete_monitoring_schedule(MonitoringScheduleName="fraud-drift")
    for operation in (
        sm.describe_monitoring_schedule,
        sm.delete_monitoring_schedule,
        sm.stop_monitoring_schedule,
    ):
        with pytest.raises(ClientError) as missing:
            operation(MonitoringScheduleName="fraud-drift")
        assert _error(missing)[0] == "ResourceNotFound"
    assert sm.list_monitoring_schedules()["MonitoringScheduleSummaries"] == []


def test_duplicate_schedule_is_refused(sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    _data_quality_job(sm, "fraud-drift-1")
    arn = _schedule(sm, "fraud-drift", "fraud-drift-1")
    with pytest.raises(ClientError) as duplicate:
        _schedule(sm, "fraud-drift", "fraud-drift-1")
    code, message = _error(duplicate)
    assert code == "ResourceInUse" and arn in message


def test_schedule_needs_an_existing_job_definition_of_its_type(sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    with pytest.raises(ClientError) as missing:
        _schedule(sm, "fraud-drift", "no-such-job")
    code, message = _error(missing)
    assert code == "ValidationException"
    assert "data quality job definition" in message and "no-such-job" in message

    _model_quality_job(sm, "fraud-quality-1")
    with pytest.raises(ClientError) as wrong_type:
        _schedule(sm, "fraud-quality", "fraud-quality-1", kind="DataQuality")
    assert _error(wrong_type)[0] == "ValidationException"
    assert sm.list_monitoring_schedules()["MonitoringScheduleSummaries"] == []

    # Without a MonitoringType, the type is the definition's.
    sm.create_monitoring_schedule(
        MonitoringScheduleName="fraud-quality",
        MonitoringScheduleConfig={"ScheduleConfig": DAILY, "MonitoringJobDefinitionName": "fraud-quality-1"},
    )
    described = sm.describe_monitoring_schedule(MonitoringScheduleName="fraud-quality")
    assert described["MonitoringType"] == "ModelQuality"
    assert described["MonitoringScheduleConfig"]["MonitoringType"] == "ModelQuality"


@pytest.mark.parametrize(
    "config",
    [
        {
            "ScheduleConfig": {"ScheduleExpression": "0 * * * *"},
            "MonitoringJobDefinitionName": "fraud-drift-1",
        },
        {"ScheduleConfig": HOURLY},  # neither a job definition nor its name
        {"ScheduleConfig": HOURLY, "MonitoringJobDefinitionName": "fraud-drift-1", "MonitoringType": "Drift"},
    ],
    ids=["five-field-cron", "no-job", "unknown-type"],
)
def test_invalid_schedule_config_is_refused(sm_client: Callable[..., Any], config: dict[str, Any]) -> None:
    sm = sm_client()
    _data_quality_job(sm, "fraud-drift-1")
    with pytest.raises(ClientError) as refused:
        sm.create_monitoring_schedule(MonitoringScheduleName="fraud-drift", MonitoringScheduleConfig=config)
    assert _error(refused)[0] == "ValidationException"


@pytest.mark.parametrize(
    ("expression", "accepted"),
    [
        ("cron(0 * ? * * *)", True),  # hourly
        ("cron(0 0 ? * * *)", True),  # daily at midnight
        ("cron(0 17 ? * * *)", True),
        ("cron(0 00 ? * * *)", True),  # the documented [00-23]
        ("cron(0 17/12 ? * * *)", True),  # every 12 hours from 5 PM
        ("cron(0 0/2 ? * * *)", True),
        ("cron(0 0/24 ? * * *)", True),
        ("NOW", True),
        ("cron(30 * ? * * *)", False),  # not at minute 0
        ("cron(0 24 ? * * *)", False),
        ("cron(0 0/25 ? * * *)", False),
        ("cron(0 0/0 ? * * *)", False),
        ("cron(0 */6 ? * * *)", False),  # undocumented: hours are H or H/N
        ("cron(0 3 ? * MON *)", False),  # weekly
        ("cron(0 3 1 * ? *)", False),  # monthly
        ("cron(0 1,13 ? * * *)", False),
        ("rate(1 hour)", False),
    ],
)
def test_only_model_monitor_schedule_expressions_are_accepted(
    sm_client: Callable[..., Any], expression: str, accepted: bool
) -> None:
    sm = sm_client()
    _data_quality_job(sm, "fraud-drift-1")
    config = {
        "ScheduleConfig": {"ScheduleExpression": expression},
        "MonitoringJobDefinitionName": "fraud-drift-1",
    }
    if accepted:
        sm.create_monitoring_schedule(MonitoringScheduleName="fraud-drift", MonitoringScheduleConfig=config)
        return
    with pytest.raises(ClientError) as refused:
        sm.create_monitoring_schedule(MonitoringScheduleName="fraud-drift", MonitoringScheduleConfig=config)
    code, message = _error(refused)
    assert code == "ValidationException" and expression in message and "cron(0 H/N ? * * *)" in message


def test_a_schedule_needs_an_endpoint_that_captures_data(sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    _capturing_endpoint(sm, "quiet-api", capture=False)
    for endpoint, says in (("quiet-api", "does not capture data"), ("no-such-api", "does not exist")):
        sm.create_data_quality_job_definition(
            JobDefinitionName=f"{endpoint}-job",
            DataQualityAppSpecification={"ImageUri": MONITOR_IMAGE},
            DataQualityJobInput={
                "EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input"}
            },
            DataQualityJobOutputConfig={
                "MonitoringOutputs": [
                    {"S3Output": {"S3Uri": "s3://ml-monitoring/", "LocalPath": "/opt/ml/processing/output"}}
                ]
            },
            JobResources={
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}
            },
            RoleArn=ROLE_ARN,
        )
        with pytest.raises(ClientError) as refused:
            _schedule(sm, f"{endpoint}-drift", f"{endpoint}-job")
        code, message = _error(refused)
        assert code == "ValidationException" and endpoint in message and says in message
    assert sm.list_monitoring_schedules()["MonitoringScheduleSummaries"] == []


def test_inline_job_definition_is_recorded_as_sagemaker_does(sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    _capturing_endpoint(sm)
    job = {
        "MonitoringInputs": [
            {"EndpointInput": {"EndpointName": "fraud-api", "LocalPath": "/opt/ml/processing/input"}}
        ],
        "MonitoringOutputConfig": {
            "MonitoringOutputs": [{"S3Output": {"S3Uri": "s3://ml-monitoring/", "LocalPath": "/opt/ml/out"}}]
        },
        "MonitoringResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}
        },
        "MonitoringAppSpecification": {"ImageUri": MONITOR_IMAGE},
        "RoleArn": ROLE_ARN,
    }
    sm.create_monitoring_schedule(
        MonitoringScheduleName="fraud-drift",
        MonitoringScheduleConfig={"ScheduleConfig": HOURLY, "MonitoringJobDefinition": job},
    )
    described = sm.describe_monitoring_schedule(MonitoringScheduleName="fraud-drift")
    assert described["MonitoringType"] == "DataQuality"
    assert described["EndpointName"] == "fraud-api"
    config = described["MonitoringScheduleConfig"]
    assert config["MonitoringType"] == "DataQuality"
    assert config["MonitoringJobDefinition"] == {**job, "StoppingCondition": {"MaxRuntimeInSeconds": 3600}}


def test_list_schedules_filters_sorts_and_pages(sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    _data_quality_job(sm, "fraud-job", endpoint="fraud-api")
    _data_quality_job(sm, "churn-job", endpoint="churn-api")
    names = ["fraud-a", "churn-a", "fraud-b", "churn-b", "fraud-c"]
    for name in names:
        _schedule(sm, name, f"{name.split('-')[0]}-job")
        time.sleep(0.002)  # distinct creation times

    def listed(**kwargs: Any) -> list[str]:
        return [
            s["MonitoringScheduleName"]
            for s in sm.list_monitoring_schedules(**kwargs)["MonitoringScheduleSummaries"]
        ]

    assert listed() == names[::-1]  # CreationTime, Descending
    assert listed(SortBy="Name", SortOrder="Ascending") == sorted(names)
    assert listed(EndpointName="churn-api") == ["churn-b", "churn-a"]
    assert listed(NameContains="fraud", SortOrder="Ascending") == ["fraud-a", "fraud-b", "fraud-c"]
    assert listed(MonitoringJobDefinitionName="churn-job", SortBy="Name") == ["churn-b", "churn-a"]
    assert listed(MonitoringTypeEquals="ModelQuality") == []
    summary = sm.list_monitoring_schedules(NameContains="fraud-a")["MonitoringScheduleSummaries"][0]
    assert {
        key: summary[key] for key in ("EndpointName", "MonitoringJobDefinitionName", "MonitoringType")
    } == {
        "EndpointName": "fraud-api",
        "MonitoringJobDefinitionName": "fraud-job",
        "MonitoringType": "DataQuality",
    }

    pages, token = [], None
    while True:
        page = sm.list_monitoring_schedules(
            MaxResults=2, SortOrder="Ascending", **({"NextToken": token} if token else {})
        )
        pages.append([s["MonitoringScheduleName"] for s in page["MonitoringScheduleSummaries"]])
        token = page.get("NextToken")
        if token is None:
            break
    assert pages == [names[0:2], names[2:4], names[4:]]


def test_schedule_tags(sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    _data_quality_job(sm, "fraud-drift-1")
    arn = _schedule(sm, "fraud-drift", "fraud-drift-1", Tags=[{"Key": "team", "Value": "fraud"}])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "fraud"}]

    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "risk"}, {"Key": "env", "Value": "dev"}])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [
        {"Key": "team", "Value": "risk"},
        {"Key": "env", "Value": "dev"},
    ]
    sm.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]

    sm.delete_monitoring_schedule(MonitoringScheduleName="fraud-drift")
    with pytest.raises(ClientError) as gone:
        sm.list_tags(ResourceArn=arn)
    assert _error(gone)[0] == "ValidationException"


def test_job_definition_in_use_cannot_be_deleted(sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    _data_quality_job(sm, "fraud-drift-1")
    _schedule(sm, "fraud-drift", "fraud-drift-1")
    with pytest.raises(ClientError) as in_use:
        sm.delete_data_quality_job_definition(JobDefinitionName="fraud-drift-1")
    code, message = _error(in_use)
    assert code == "ResourceInUse" and "fraud-drift" in message
    sm.describe_data_quality_job_definition(JobDefinitionName="fraud-drift-1")  # still there

    sm.delete_monitoring_schedule(MonitoringScheduleName="fraud-drift")
    sm.delete_data_quality_job_definition(JobDefinitionName="fraud-drift-1")
    with pytest.raises(ClientError):
        sm.describe_data_quality_job_definition(JobDefinitionName="fraud-drift-1")


# ---- deployment guardrails -------------------------------------------------------------------------


def _variant(name: str, model: str, count: int = 2, instance_type: str = "ml.m5.large") -> dict[str, Any]:
    return {
        "VariantName": name,
        "ModelName": model,
        "InstanceType": instance_type,
        "InitialInstanceCount": count,
    }


def _model(sm: Any, name: str) -> None:
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE})


def _alarm(cw: Any, name: str = ALARM) -> None:
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SageMaker",
        MetricName="ModelLatency",
        Dimensions=[{"Name": "EndpointName", "Value": "fraud-api"}, {"Name": "VariantName", "Value": "blue"}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=500_000,
        ComparisonOperator="GreaterThanThreshold",
    )


def _set_alarm(cw: Any, state: str, name: str = ALARM) -> None:
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason="set by the test")


def _canary(percent: int = 10, alarms: tuple[str, ...] = (ALARM,)) -> dict[str, Any]:
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "WaitIntervalInSeconds": BAKE_SECONDS,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": percent},
            },
            "MaximumExecutionTimeoutInSeconds": 3600,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm} for alarm in alarms]},
    }


@pytest.fixture
def guarded(
    sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any], wait_endpoint: Callable[..., Any]
) -> dict[str, Any]:
    """fraud-api serving cfg-1 (variant blue, model m7), cfg-2 ready (blue on m8), the rollback alarm
    created in OK, bakes of BAKE seconds."""
    sm_emulator.update_settings({"guardrail_time_scale": BAKE / BAKE_SECONDS})
    sm, cw = sm_client(), sm_client("cloudwatch")
    _model(sm, "m7")
    _model(sm, "m8")
    sm.create_endpoint_config(EndpointConfigName="cfg-1", ProductionVariants=[_variant("blue", "m7")])
    sm.create_endpoint_config(EndpointConfigName="cfg-2", ProductionVariants=[_variant("blue", "m8")])
    sm.create_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-1")
    before = wait_endpoint(sm, "fraud-api")
    _alarm(cw)
    return {"sm": sm, "cw": cw, "before": before}


def _stage(description: dict[str, Any]) -> tuple[str, str] | None:
    pending = description.get("PendingDeploymentSummary")
    if pending is None:
        return None
    status = pending["ProductionVariants"][0]["VariantStatus"][0]
    return status["Status"], status.get("StatusMessage", "")


def _wait_stage(sm: Any, status: str, mentions: str = "", timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        description = sm.describe_endpoint(EndpointName="fraud-api")
        stage = _stage(description)
        if stage is not None and stage[0] == status and mentions in stage[1]:
            return description
        if description["EndpointStatus"] != "Updating" or time.monotonic() > deadline:
            pytest.fail(f"never saw stage {status} {mentions!r}: {description}")
        time.sleep(0.01)


def test_canary_update_bakes_then_lands_on_the_new_config(
    guarded: dict[str, Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm, before = guarded["sm"], guarded["before"]
    started = time.monotonic()
    sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-2", DeploymentConfig=_canary())

    baking = _wait_stage(sm, "Baking", "10%")
    assert baking["EndpointStatus"] == "Updating"
    assert baking["EndpointConfigName"] == "cfg-1"  # the old fleet serves until the shift completes
    assert baking["PendingDeploymentSummary"]["EndpointConfigName"] == "cfg-2"
    assert baking["ProductionVariants"] == before["ProductionVariants"]

    after = wait_endpoint(sm, "fraud-api")
    assert time.monotonic() - started >= BAKE  # the bake was waited out
    assert after["EndpointConfigName"] == "cfg-2"
    assert "FailureReason" not in after and "PendingDeploymentSummary" not in after
    assert after["LastDeploymentConfig"] == _canary()
    assert after["LastModifiedTime"] > before["LastModifiedTime"]


def test_canary_rolls_back_when_its_alarm_fires_during_the_bake(
    guarded: dict[str, Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm, cw, before = guarded["sm"], guarded["cw"], guarded["before"]
    sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-2", DeploymentConfig=_canary())
    _wait_stage(sm, "Baking", "10%")
    _set_alarm(cw, "ALARM")

    after = wait_endpoint(sm, "fraud-api")
    assert after["EndpointConfigName"] == "cfg-1"
    assert after["ProductionVariants"] == before["ProductionVariants"]
    assert after["FailureReason"] == f"Deployment rolled back: alarm(s) {ALARM} in ALARM"
    assert after["LastDeploymentConfig"] == _canary()
    assert "PendingDeploymentSummary" not in after


def test_an_alarm_that_fires_and_clears_between_polls_still_rolls_back(
    guarded: dict[str, Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm, cw = guarded["sm"], guarded["cw"]
    sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-2", DeploymentConfig=_canary())
    _wait_stage(sm, "Baking", "10%")
    _set_alarm(cw, "ALARM")
    _set_alarm(cw, "OK")  # no SageMaker call saw the ALARM state
    after = wait_endpoint(sm, "fraud-api")
    assert (after["EndpointConfigName"], after.get("FailureReason")) == (
        "cfg-1",
        f"Deployment rolled back: alarm(s) {ALARM} in ALARM",
    )


def test_an_alarm_outside_the_bakes_does_not_roll_back(
    sm_emulator: SageMakerEmulator, guarded: dict[str, Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm, cw = guarded["sm"], guarded["cw"]
    sm_emulator.update_settings({"endpoint_delay_seconds": OBSERVABLE_DELAY})
    _set_alarm(cw, "ALARM")
    sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-2", DeploymentConfig=_canary())
    assert _stage(sm.describe_endpoint(EndpointName="fraud-api")) == (
        "Creating",
        "Provisioning the new fleet.",
    )
    _set_alarm(cw, "OK")  # back to normal while the new fleet is provisioned, before any traffic moves
    assert wait_endpoint(sm, "fraud-api")["EndpointConfigName"] == "cfg-2"


def test_all_at_once_rolls_back_during_its_final_bake(
    guarded: dict[str, Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm, cw = guarded["sm"], guarded["cw"]
    all_at_once = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
            "TerminationWaitInSeconds": BAKE_SECONDS,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": ALARM}]},
    }
    sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-2", DeploymentConfig=all_at_once)
    _wait_stage(sm, "Baking", "Final baking period")
    _set_alarm(cw, "ALARM")
    after = wait_endpoint(sm, "fraud-api")
    assert (after["EndpointConfigName"], after["FailureReason"]) == (
        "cfg-1",
        f"Deployment rolled back: alarm(s) {ALARM} in ALARM",
    )


def test_linear_update_goes_through_its_steps(
    guarded: dict[str, Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm = guarded["sm"]
    linear = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "LINEAR",
                "WaitIntervalInSeconds": BAKE_SECONDS,
                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 34},
            },
            "TerminationWaitInSeconds": BAKE_SECONDS,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": ALARM}]},
    }
    started = time.monotonic()
    sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-2", DeploymentConfig=linear)
    seen: list[tuple[str, str]] = []
    while (description := sm.describe_endpoint(EndpointName="fraud-api"))["EndpointStatus"] == "Updating":
        stage = _stage(description)
        if stage is not None and (not seen or seen[-1] != stage):
            seen.append(stage)
        time.sleep(0.01)
    # ceil(100 / 34) = 3 steps: a bake between two steps, then the final bake.
    assert [message for status, message in seen if status == "Baking"] == [
        "Baking with 34% of traffic on the new fleet.",
        "Baking with 68% of traffic on the new fleet.",
        "Final baking period with all traffic on the new fleet.",
    ]
    assert time.monotonic() - started >= 3 * BAKE
    assert wait_endpoint(sm, "fraud-api", timeout=0)["EndpointConfigName"] == "cfg-2"


def test_rolling_update_bakes_each_batch(guarded: dict[str, Any], wait_endpoint: Callable[..., Any]) -> None:
    sm, cw = guarded["sm"], guarded["cw"]
    rolling = {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},  # of 2 instances
            "WaitIntervalInSeconds": BAKE_SECONDS,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": ALARM}]},
    }
    sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-2", DeploymentConfig=rolling)
    _wait_stage(sm, "Baking", "batch 2 of 2")
    _set_alarm(cw, "ALARM")
    after = wait_endpoint(sm, "fraud-api")
    assert (after["EndpointConfigName"], after["FailureReason"]) == (
        "cfg-1",
        f"Deployment rolled back: alarm(s) {ALARM} in ALARM",
    )


def test_retained_deployment_config_is_used_again(
    guarded: dict[str, Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm, cw = guarded["sm"], guarded["cw"]
    sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-2", DeploymentConfig=_canary())
    wait_endpoint(sm, "fraud-api")
    sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-1", RetainDeploymentConfig=True)
    _wait_stage(sm, "Baking", "10%")
    _set_alarm(cw, "ALARM")
    after = wait_endpoint(sm, "fraud-api")
    assert after["EndpointConfigName"] == "cfg-2"
    assert after["LastDeploymentConfig"] == _canary()


def test_missing_rollback_alarm_is_refused(guarded: dict[str, Any]) -> None:
    sm = guarded["sm"]
    with pytest.raises(ClientError) as refused:
        sm.update_endpoint(
            EndpointName="fraud-api",
            EndpointConfigName="cfg-2",
            DeploymentConfig=_canary(alarms=(ALARM, "no-such-alarm")),
        )
    code, message = _error(refused)
    assert code == "ValidationException" and "no-such-alarm" in message and ALARM not in message
    after = sm.describe_endpoint(EndpointName="fraud-api")
    assert (after["EndpointStatus"], after["EndpointConfigName"]) == ("InService", "cfg-1")
    assert "LastDeploymentConfig" not in after  # a refused request changes nothing


@pytest.mark.parametrize(
    ("policy", "mentions"),
    [
        ({"CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 60}}, "CanarySize"),
        ({"CanarySize": {"Type": "INSTANCE_COUNT", "Value": 2}}, "CanarySize"),  # all of 2 instances
        ({}, "CanarySize"),
    ],
    ids=["canary-over-half", "canary-all-instances", "no-canary-size"],
)
def test_invalid_traffic_routing_is_refused(
    guarded: dict[str, Any], policy: dict[str, Any], mentions: str
) -> None:
    sm = guarded["sm"]
    config = _canary()
    routing = config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    del routing["CanarySize"]
    routing.update(policy)
    with pytest.raises(ClientError) as refused:
        sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-2", DeploymentConfig=config)
    code, message = _error(refused)
    assert code == "ValidationException" and mentions in message


@pytest.mark.parametrize(
    "variant",
    [_variant("green", "m8"), _variant("blue", "m8", instance_type="ml.inf1.xlarge")],
    ids=["renamed-variant", "inf1"],
)
def test_excluded_updates_fall_back_to_all_at_once(
    sm_emulator: SageMakerEmulator,
    guarded: dict[str, Any],
    wait_endpoint: Callable[..., Any],
    variant: dict[str, Any],
) -> None:
    sm, cw = guarded["sm"], guarded["cw"]
    sm_emulator.update_settings({"guardrail_time_scale": 1.0})  # a real 10-minute bake, if one ran
    sm.create_endpoint_config(EndpointConfigName="cfg-3", ProductionVariants=[variant])
    _set_alarm(cw, "ALARM")  # and it would roll back at once
    sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-3", DeploymentConfig=_canary())
    after = wait_endpoint(sm, "fraud-api", timeout=5)
    assert after["EndpointConfigName"] == "cfg-3" and "FailureReason" not in after
    assert after["LastDeploymentConfig"] == _canary()


def test_rolling_updates_of_multi_variant_endpoints_fall_back_but_blue_green_ones_bake(
    guarded: dict[str, Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm = guarded["sm"]
    two = [_variant("blue", "m7"), _variant("green", "m8")]
    sm.create_endpoint_config(EndpointConfigName="two-1", ProductionVariants=two)
    sm.create_endpoint_config(EndpointConfigName="two-2", ProductionVariants=two[::-1])
    sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="two-1")
    wait_endpoint(sm, "fraud-api")
    rolling = {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
            "WaitIntervalInSeconds": BAKE_SECONDS,
        }
    }
    sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="two-2", DeploymentConfig=rolling)
    assert _stage(sm.describe_endpoint(EndpointName="fraud-api")) == ("Creating", "")
    assert wait_endpoint(sm, "fraud-api", timeout=BAKE / 2)["EndpointConfigName"] == "two-2"

    sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="two-1", DeploymentConfig=_canary())
    _wait_stage(sm, "Baking", "10%")
    assert wait_endpoint(sm, "fraud-api")["EndpointConfigName"] == "two-1"


# ---- model registry ------------------------------------------------------------------------------


def _package(sm: Any, group: str = "fraud", status: str = "PendingManualApproval", **extra: Any) -> str:
    return sm.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://ml-artifacts/fraud/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        **extra,
    )["ModelPackageArn"]


def test_model_package_and_group_deletion(sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    group_arn = sm.create_model_package_group(ModelPackageGroupName="fraud")["ModelPackageGroupArn"]
    first, second = _package(sm), _package(sm)
    assert (first, second) == (
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/fraud/1",
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/fraud/2",
    )
    with pytest.raises(ClientError) as not_empty:
        sm.delete_model_package_group(ModelPackageGroupName="fraud")
    code, message = _error(not_empty)
    assert code == "ConflictException" and group_arn in message

    sm.delete_model_package(ModelPackageName=first)
    with pytest.raises(ClientError) as gone:
        sm.describe_model_package(ModelPackageName=first)
    assert _error(gone)[0] == "ValidationException"
    with pytest.raises(ClientError):
        sm.delete_model_package(ModelPackageName=first)

    # Version numbers are never handed out again, and the versions left are untouched.
    third = _package(sm, status="Approved")
    assert third.endswith("/fraud/3")
    assert sm.describe_model_package(ModelPackageName=third)["ModelPackageVersion"] == 3
    assert (
        sm.describe_model_package(ModelPackageName=second)["ModelApprovalStatus"] == "PendingManualApproval"
    )
    listed = sm.list_model_packages(ModelPackageGroupName="fraud")["ModelPackageSummaryList"]
    assert sorted(p["ModelPackageArn"] for p in listed) == [second, third]

    for arn in (second, third):
        sm.delete_model_package(ModelPackageName=arn)
    sm.delete_model_package_group(ModelPackageGroupName=group_arn)  # by ARN
    for operation in (sm.describe_model_package_group, sm.delete_model_package_group):
        with pytest.raises(ClientError) as missing:
            operation(ModelPackageGroupName="fraud")
        code, message = _error(missing)
        assert code == "ValidationException" and "does not exist" in message


def test_model_package_tags(sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    sm.create_model_package_group(ModelPackageGroupName="fraud")
    arn = _package(sm, Tags=[{"Key": "stack", "Value": "fraud-detection"}])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "stack", "Value": "fraud-detection"}]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "stack", "Value": "fraud"}, {"Key": "owner", "Value": "ml"}])
    sm.delete_tags(ResourceArn=arn, TagKeys=["owner"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "stack", "Value": "fraud"}]

    untagged = _package(sm)
    assert sm.list_tags(ResourceArn=untagged)["Tags"] == []
    unversioned = sm.create_model_package(
        ModelPackageName="fraud-standalone",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    sm.add_tags(ResourceArn=unversioned, Tags=[{"Key": "owner", "Value": "ml"}])
    assert sm.list_tags(ResourceArn=unversioned)["Tags"] == [{"Key": "owner", "Value": "ml"}]


def test_update_model_package_changes_only_what_it_is_given(sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    sm.create_model_package_group(ModelPackageGroupName="fraud")
    arn = _package(sm, CustomerMetadataProperties={"git_sha": "abc123", "dataset": "v7"})
    sm.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="AUC 0.97"
    )
    sm.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"dataset": "v8"})
    sm.update_model_package(ModelPackageArn=arn, CustomerMetadataPropertiesToRemove=["git_sha"])
    described = sm.describe_model_package(ModelPackageName=arn)
    assert (described["ModelApprovalStatus"], described["ApprovalDescription"]) == ("Approved", "AUC 0.97")
    assert described["CustomerMetadataProperties"] == {"dataset": "v8"}
    assert described["LastModifiedTime"] > described["CreationTime"]

    with pytest.raises(ClientError) as invalid:
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Maybe")
    assert _error(invalid)[0] == "ValidationException"


def test_list_model_packages_filters_and_sorts(sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    for group in ("fraud", "churn"):
        sm.create_model_package_group(ModelPackageGroupName=group)
    approved, pending, rejected = (
        _package(sm, status=s) for s in ("Approved", "PendingManualApproval", "Rejected")
    )
    _package(sm, group="churn", status="Approved")

    def arns(**kwargs: Any) -> list[str]:
        return [p["ModelPackageArn"] for p in sm.list_model_packages(**kwargs)["ModelPackageSummaryList"]]

    newest_first = arns(ModelPackageGroupName="fraud", SortBy="CreationTime", SortOrder="Descending")
    assert newest_first == [rejected, pending, approved]
    assert (
        arns(ModelPackageGroupName="fraud", SortBy="CreationTime", SortOrder="Ascending")
        == newest_first[::-1]
    )
    assert arns(ModelPackageGroupName="fraud", ModelApprovalStatus="Approved") == [approved]


# ---- the other services the provider uses, on the same port ---------------------------------------


def test_cloudwatch_alarms(sm_client: Callable[..., Any]) -> None:
    cw = sm_client("cloudwatch")
    _alarm(cw)
    _set_alarm(cw, "ALARM")
    (alarm,) = cw.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"]
    assert (alarm["AlarmName"], alarm["StateValue"]) == (ALARM, "ALARM")


def test_sns_topics_and_subscriptions(sm_client: Callable[..., Any]) -> None:
    sns = sm_client("sns")
    topic = sns.create_topic(Name="ml-oncall")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ml-oncall@example.com")
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ml-oncall@example.com")


def test_eventbridge_rules(sm_client: Callable[..., Any]) -> None:
    events = sm_client("events")
    pattern = {
        "source": ["aws.cloudwatch"],
        "detail": {"alarmName": ["fraud-drift"], "state": {"value": ["ALARM"]}},
    }
    events.put_rule(Name="fraud-retrain-on-drift", EventPattern=json.dumps(pattern))
    pipeline = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/fraud-train"
    events.put_targets(
        Rule="fraud-retrain-on-drift",
        Targets=[{"Id": "pipeline", "Arn": pipeline, "RoleArn": ROLE_ARN, "SageMakerPipelineParameters": {}}],
    )
    assert json.loads(events.describe_rule(Name="fraud-retrain-on-drift")["EventPattern"]) == pattern
    (target,) = events.list_targets_by_rule(Rule="fraud-retrain-on-drift")["Targets"]
    assert target["Arn"] == pipeline


def test_eventbridge_scheduler(sm_client: Callable[..., Any]) -> None:
    scheduler = sm_client("scheduler")
    target = {
        "Arn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/fraud-train",
        "RoleArn": ROLE_ARN,
        "SageMakerPipelineParameters": {"PipelineParameterList": [{"Name": "epochs", "Value": "100"}]},
    }
    scheduler.create_schedule(
        Name="fraud-retrain",
        ScheduleExpression="cron(0 3 ? * MON *)",
        ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target=target,
    )
    schedule = scheduler.get_schedule(Name="fraud-retrain")
    assert (schedule["ScheduleExpression"], schedule["Target"]["Arn"]) == (
        "cron(0 3 ? * MON *)",
        target["Arn"],
    )


def test_sagemaker_pipelines(sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    definition = {"Version": "2020-12-01", "Parameters": [{"Name": "epochs", "Type": "Integer"}], "Steps": []}
    sm.create_pipeline(
        PipelineName="fraud-train", PipelineDefinition=json.dumps(definition), RoleArn=ROLE_ARN
    )
    execution = sm.start_pipeline_execution(
        PipelineName="fraud-train", PipelineParameters=[{"Name": "epochs", "Value": "100"}]
    )["PipelineExecutionArn"]
    described = sm.describe_pipeline_execution(PipelineExecutionArn=execution)
    assert described["PipelineExecutionStatus"] == "Succeeded"
    assert json.loads(sm.describe_pipeline(PipelineName="fraud-train")["PipelineDefinition"]) == definition
