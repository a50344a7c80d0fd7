"""The SageMaker emulator, driven by the real boto3 over HTTP (fixtures in conftest.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from mlops_sagemaker_sandbox.server import SageMakerEmulator, reset, update_settings

ROLE_ARN = "arn:aws:iam::123456789012:role/sagemaker-execution"
# Long enough that the calls right after an operation see it in progress, even on a slow runner.
OBSERVABLE_DELAY = 0.5
NO_RETRIES = Config(retries={"mode": "standard", "max_attempts": 1})


def _variant(name: str, model: str, count: int = 1, weight: float | None = None) -> dict[str, Any]:
    variant: dict[str, Any] = {
        "VariantName": name,
        "ModelName": model,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": count,
    }
    if weight is not None:
        variant["InitialVariantWeight"] = weight
    return variant


def _model(sm: Any, name: str) -> None:
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/xgb:1.7-1"},
    )


def _deploy(sm: Any, endpoint: str, config: str, variants: list[dict[str, Any]]) -> None:
    for model in sorted({v["ModelName"] for v in variants}):
        _model(sm, model)
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=variants)
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)


def _error(exc_info: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = exc_info.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def _variants(description: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["VariantName"]: v for v in description.get("ProductionVariants", [])}


# ---- lifecycle -----------------------------------------------------------------------------------


def test_create_endpoint_is_creating_then_in_service(
    sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm_emulator.update_settings({"endpoint_delay_seconds": OBSERVABLE_DELAY})
    sm = sm_client()
    _deploy(sm, "fraud-api", "fraud-api-1", [_variant("blue", "m7", 2, 0.9), _variant("green", "m8", 1, 0.0)])

    creating = sm.describe_endpoint(EndpointName="fraud-api")
    assert creating["EndpointStatus"] == "Creating"
    assert "ProductionVariants" not in creating  # listed once deployed, as SageMaker does
    assert creating["PendingDeploymentSummary"]["EndpointConfigName"] == "fraud-api-1"
    listed = sm.list_endpoints()["Endpoints"]
    assert [(e["EndpointName"], e["EndpointStatus"]) for e in listed] == [("fraud-api", "Creating")]

    ready = wait_endpoint(sm, "fraud-api")
    assert ready["EndpointConfigName"] == "fraud-api-1"
    assert "PendingDeploymentSummary" not in ready
    assert "FailureReason" not in ready
    assert ready["LastModifiedTime"] > ready["CreationTime"]
    # A weight of 0 is kept (moto drops it) and counts come from the config.
    assert _variants(ready) == {
        "blue": {
            "VariantName": "blue",
            "CurrentWeight": 0.9,
            "DesiredWeight": 0.9,
            "CurrentInstanceCount": 2,
            "DesiredInstanceCount": 2,
        },
        "green": {
            "VariantName": "green",
            "CurrentWeight": 0.0,
            "DesiredWeight": 0.0,
            "CurrentInstanceCount": 1,
            "DesiredInstanceCount": 1,
        },
    }


def test_data_capture_is_described_as_a_summary(
    sm_client: Callable[..., Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm = sm_client()
    _model(sm, "m7")
    sm.create_endpoint_config(
        EndpointConfigName="cfg",
        ProductionVariants=[_variant("blue", "m7")],
        DataCaptureConfig={
            "InitialSamplingPercentage": 20,
            "DestinationS3Uri": "s3://ml-capture/fraud/",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
    sm.create_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg")
    assert wait_endpoint(sm, "fraud-api")["DataCaptureConfig"] == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 20,
        "DestinationS3Uri": "s3://ml-capture/fraud/",
    }


def test_update_endpoint_switches_config_through_updating(
    sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm = sm_client()
    _deploy(sm, "fraud-api", "cfg-1", [_variant("blue", "m7", 2)])
    before = wait_endpoint(sm, "fraud-api")
    _model(sm, "m8")
    sm.create_endpoint_config(
        EndpointConfigName="cfg-2",
        ProductionVariants=[_variant("blue", "m7", 2, 0.9), _variant("green", "m8", 1, 0.1)],
    )
    sm_emulator.update_settings({"endpoint_delay_seconds": OBSERVABLE_DELAY})

    arn = sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-2")["EndpointArn"]
    assert arn == before["EndpointArn"]
    updating = sm.describe_endpoint(EndpointName="fraud-api")
    assert updating["EndpointStatus"] == "Updating"
    # The old configuration serves until the new one is deployed.
    assert updating["EndpointConfigName"] == "cfg-1"
    assert updating["PendingDeploymentSummary"]["EndpointConfigName"] == "cfg-2"
    assert updating["LastModifiedTime"] > before["LastModifiedTime"]

    with pytest.raises(ClientError) as refused:
        sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-1")
    code, message, status = _error(refused)
    assert (code, status) == ("ValidationException", 400)
    assert message == f'Cannot update in-progress endpoint "{arn}".'

    after = wait_endpoint(sm, "fraud-api")
    assert after["EndpointConfigName"] == "cfg-2"
    assert "PendingDeploymentSummary" not in after
    assert after["LastModifiedTime"] > updating["LastModifiedTime"]
    variants = _variants(after)
    assert (variants["blue"]["CurrentWeight"], variants["green"]["CurrentWeight"]) == (0.9, 0.1)
    assert (variants["blue"]["CurrentInstanceCount"], variants["green"]["DesiredInstanceCount"]) == (2, 1)


def test_update_endpoint_refuses_missing_config_and_endpoint(
    sm_client: Callable[..., Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm = sm_client()
    _deploy(sm, "fraud-api", "cfg-1", [_variant("blue", "m7")])
    wait_endpoint(sm, "fraud-api")

    with pytest.raises(ClientError) as no_config:
        sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-9")
    code, message, _ = _error(no_config)
    assert code == "ValidationException"
    assert message.startswith("Could not find endpoint configuration") and "cfg-9" in message

    with pytest.raises(ClientError) as no_endpoint:
        sm.update_endpoint(EndpointName="other-api", EndpointConfigName="cfg-1")
    code, message, _ = _error(no_endpoint)
    assert code == "ValidationException"
    assert message.startswith("Could not find endpoint") and "other-api" in message

    assert sm.describe_endpoint(EndpointName="fraud-api")["EndpointStatus"] == "InService"


def test_update_with_retained_variant_properties_keeps_instance_counts(
    sm_client: Callable[..., Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm = sm_client()
    _deploy(sm, "fraud-api", "cfg-1", [_variant("blue", "m7", 2)])
    wait_endpoint(sm, "fraud-api")
    # The autoscaler moved the instance count; a new config must not undo it.
    sm.update_endpoint_weights_and_capacities(
        EndpointName="fraud-api",
        DesiredWeightsAndCapacities=[{"VariantName": "blue", "DesiredInstanceCount": 5}],
    )
    wait_endpoint(sm, "fraud-api")
    sm.create_endpoint_config(EndpointConfigName="cfg-2", ProductionVariants=[_variant("blue", "m7", 2, 1.0)])

    sm.update_endpoint(
        EndpointName="fraud-api",
        EndpointConfigName="cfg-2",
        RetainAllVariantProperties=True,
        ExcludeRetainedVariantProperties=[{"VariantPropertyType": "DesiredWeight"}],
    )
    blue = _variants(wait_endpoint(sm, "fraud-api"))["blue"]
    assert (blue["CurrentInstanceCount"], blue["DesiredInstanceCount"]) == (5, 5)

    sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-1")
    blue = _variants(wait_endpoint(sm, "fraud-api"))["blue"]
    assert blue["CurrentInstanceCount"] == 2  # without RetainAllVariantProperties the config wins


def test_deployment_config_is_recorded(
    sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm_emulator.update_settings({"guardrail_time_scale": 0.0001})  # the 10-minute bake takes 60 ms
    sm_client("cloudwatch").put_metric_alarm(
        AlarmName="p99-latency-high",
        Namespace="AWS/SageMaker",
        MetricName="ModelLatency",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=500_000,
        ComparisonOperator="GreaterThanThreshold",
    )
    sm = sm_client()
    _deploy(sm, "fraud-api", "cfg-1", [_variant("blue", "m7")])
    wait_endpoint(sm, "fraud-api")
    sm.create_endpoint_config(EndpointConfigName="cfg-2", ProductionVariants=[_variant("blue", "m7", 2)])
    canary = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "WaitIntervalInSeconds": 600,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
            }
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "p99-latency-high"}]},
    }
    sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-2", DeploymentConfig=canary)
    assert wait_endpoint(sm, "fraud-api")["LastDeploymentConfig"] == canary


# ---- SageMaker's refusals that moto lacks -------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "message"),
    [
        (
            "model",
            'Cannot create already existing model "arn:aws:sagemaker:us-east-1:123456789012:model/m7".',
        ),
        (
            "config",
            "Cannot create already existing endpoint configuration "
            '"arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/cfg-1".',
        ),
        (
            "endpoint",
            "Cannot create already existing endpoint "
            '"arn:aws:sagemaker:us-east-1:123456789012:endpoint/fraud-api".',
        ),
    ],
)
def test_duplicate_creates_are_refused(sm_client: Callable[..., Any], operation: str, message: str) -> None:
    sm = sm_client()
    _deploy(sm, "fraud-api", "cfg-1", [_variant("blue", "m7")])
    again: dict[str, Callable[[], Any]] = {
        "model": lambda: sm.create_model(
            ModelName="m7", ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": "x"}
        ),
        "config": lambda: sm.create_endpoint_config(
            EndpointConfigName="cfg-1", ProductionVariants=[_variant("other", "m7", 3)]
        ),
        "endpoint": lambda: sm.create_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-1"),
    }
    with pytest.raises(ClientError) as refused:
        again[operation]()
    assert _error(refused) == ("ValidationException", message, 400)
    # Nothing was overwritten.
    assert sm.describe_model(ModelName="m7")["PrimaryContainer"]["Image"] != "x"
    assert [
        v["VariantName"]
        for v in sm.describe_endpoint_config(EndpointConfigName="cfg-1")["ProductionVariants"]
    ] == ["blue"]


def test_network_isolation_is_kept(sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    sm.create_model(
        ModelName="m7",
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": "x"},
        EnableNetworkIsolation=True,
    )
    assert sm.describe_model(ModelName="m7")["EnableNetworkIsolation"] is True


def test_update_weights_and_capacities_changes_only_what_is_given(
    sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm = sm_client()
    _deploy(sm, "fraud-api", "cfg-1", [_variant("blue", "m7", 2, 0.9), _variant("green", "m8", 1, 0.1)])
    wait_endpoint(sm, "fraud-api")
    sm_emulator.update_settings({"endpoint_delay_seconds": OBSERVABLE_DELAY})

    sm.update_endpoint_weights_and_capacities(
        EndpointName="fraud-api", DesiredWeightsAndCapacities=[{"VariantName": "blue", "DesiredWeight": 0.5}]
    )
    updating = sm.describe_endpoint(EndpointName="fraud-api")
    assert updating["EndpointStatus"] == "Updating"
    blue, green = _variants(updating)["blue"], _variants(updating)["green"]
    assert (blue["DesiredWeight"], blue["CurrentWeight"]) == (0.5, 0.9)  # current follows on completion
    assert (blue["DesiredInstanceCount"], blue["CurrentInstanceCount"]) == (2, 2)

    done = _variants(wait_endpoint(sm, "fraud-api"))
    assert done["blue"] == {
        "VariantName": "blue",
        "CurrentWeight": 0.5,
        "DesiredWeight": 0.5,
        "CurrentInstanceCount": 2,
        "DesiredInstanceCount": 2,
    }
    assert done["green"] == green


def test_update_weights_and_capacities_validates_variants(
    sm_client: Callable[..., Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm = sm_client()
    _deploy(sm, "fraud-api", "cfg-1", [_variant("blue", "m7")])
    wait_endpoint(sm, "fraud-api")
    for desired, fragment in [
        ([{"VariantName": "red", "DesiredWeight": 1.0}], '"red" is/are not present'),
        ([{"VariantName": "blue", "DesiredWeight": 1.0}] * 2, "non-unique"),
    ]:
        with pytest.raises(ClientError) as refused:
            sm.update_endpoint_weights_and_capacities(
                EndpointName="fraud-api", DesiredWeightsAndCapacities=desired
            )
        code, message, _ = _error(refused)
        assert code == "ValidationException" and fragment in message
    assert sm.describe_endpoint(EndpointName="fraud-api")["EndpointStatus"] == "InService"


# ---- failures --------------------------------------------------------------------------------------


def test_failed_update_rolls_back_to_the_previous_config(
    sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm = sm_client()
    _deploy(sm, "fraud-api", "cfg-1", [_variant("blue", "m7", 2)])
    before = wait_endpoint(sm, "fraud-api")
    sm.create_endpoint_config(EndpointConfigName="cfg-2", ProductionVariants=[_variant("blue", "m7", 4)])
    sm_emulator.update_settings(
        {"fail_endpoint_updates": ["fraud-api"], "endpoint_delay_seconds": OBSERVABLE_DELAY}
    )

    sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-2")
    assert sm.describe_endpoint(EndpointName="fraud-api")["EndpointStatus"] == "Updating"
    after = wait_endpoint(sm, "fraud-api")
    assert after["EndpointConfigName"] == "cfg-1"
    assert _variants(after) == _variants(before)
    assert "cfg-2" in after["FailureReason"] and "rolled back" in after["FailureReason"]

    sm_emulator.update_settings({"fail_endpoint_updates": False})
    sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-2")
    fixed = wait_endpoint(sm, "fraud-api")
    assert fixed["EndpointConfigName"] == "cfg-2"
    assert "FailureReason" not in fixed  # it describes the last operation only


def test_failed_create_ends_failed(
    sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm_emulator.update_settings({"fail_endpoint_creates": ["broken-api"]})
    sm = sm_client()
    _deploy(sm, "broken-api", "cfg-1", [_variant("blue", "m7")])
    sm.create_endpoint(EndpointName="fine-api", EndpointConfigName="cfg-1")

    failed = wait_endpoint(sm, "broken-api", "Failed")
    assert "fail_endpoint_creates" in failed["FailureReason"]
    assert "ProductionVariants" not in failed
    wait_endpoint(sm, "fine-api")  # the name filter spared it


def _processing_job(sm: Any, name: str) -> None:
    sm.create_processing_job(
        ProcessingJobName=name,
        ProcessingInputs=[
            {
                "InputName": "baseline_dataset_input",
                "S3Input": {
                    "S3Uri": "s3://ml-data/train.csv",
                    "LocalPath": "/opt/ml/processing/input/baseline_dataset_input",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
        ],
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "monitoring_output",
                    "S3Output": {
                        "S3Uri": "s3://ml-baselines/v7/",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        ProcessingResources={
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}
        },
        AppSpecification={"ImageUri": "156813124566.dkr.ecr.us-east-1.amazonaws.com/analyzer"},
        Environment={"dataset_format": '{"csv": {"header": true}}'},
        RoleArn=ROLE_ARN,
    )


def _wait_job(sm: Any, name: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        description = sm.describe_processing_job(ProcessingJobName=name)
        if description["ProcessingJobStatus"] != "InProgress" or time.monotonic() > deadline:
            return description
        time.sleep(0.01)


def test_processing_jobs_run_for_the_endpoint_delay(
    sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]
) -> None:
    sm_emulator.update_settings({"endpoint_delay_seconds": OBSERVABLE_DELAY})
    sm = sm_client()
    _processing_job(sm, "baseline-1")

    running = sm.describe_processing_job(ProcessingJobName="baseline-1")
    assert running["ProcessingJobStatus"] == "InProgress" and "ProcessingEndTime" not in running
    # What moto drops from the description is kept.
    assert running["Environment"] == {"dataset_format": '{"csv": {"header": true}}'}
    assert running["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert running["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == "s3://ml-baselines/v7/"
    done = _wait_job(sm, "baseline-1")
    assert done["ProcessingJobStatus"] == "Completed" and "FailureReason" not in done
    assert done["ProcessingEndTime"] >= running["ProcessingStartTime"]

    with pytest.raises(ClientError) as refused:
        _processing_job(sm, "baseline-1")
    assert _error(refused)[0] == "ResourceInUse"


def test_failed_processing_job_ends_failed(
    sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]
) -> None:
    sm_emulator.update_settings({"fail_processing_jobs": ["broken"]})
    sm = sm_client()
    _processing_job(sm, "broken")
    _processing_job(sm, "fine")
    failed = _wait_job(sm, "broken")
    assert failed["ProcessingJobStatus"] == "Failed"
    assert "fail_processing_jobs" in failed["FailureReason"]
    assert _wait_job(sm, "fine")["ProcessingJobStatus"] == "Completed"  # the name filter spared it


def test_fail_rule_counts_down(sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    _model(sm, "m7")
    sm.create_endpoint_config(EndpointConfigName="cfg-1", ProductionVariants=[_variant("blue", "m7")])
    sm_emulator.update_settings(
        {"fail": [{"action": "CreateEndpoint", "message": "quota exceeded for ml.m5.large", "times": 2}]}
    )
    for _ in range(2):
        with pytest.raises(ClientError) as refused:
            sm.create_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-1")
        assert _error(refused) == ("ValidationException", "quota exceeded for ml.m5.large", 400)
        assert (
            refused.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"]
            == "ValidationException"
        )
    with pytest.raises(ClientError):
        sm.describe_endpoint(EndpointName="fraud-api")  # the refused calls created nothing
    assert sm_emulator.settings["fail"] == []

    sm.create_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-1")
    assert sm.describe_endpoint(EndpointName="fraud-api")["EndpointName"] == "fraud-api"


def test_fail_rule_filters_by_name_and_service(
    sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]
) -> None:
    sm_emulator.update_settings(
        {
            "fail": [
                {"action": "CreateModel", "name": "m-bad", "code": "ResourceLimitExceeded"},
                {
                    "action": "RegisterScalableTarget",
                    "service": "application-autoscaling",
                    "code": "ConcurrentUpdateException",
                    "message": "busy",
                },
            ]
        }
    )
    sm = sm_client(config=NO_RETRIES)
    _model(sm, "m-good")
    with pytest.raises(ClientError) as refused:
        _model(sm, "m-bad")
    assert _error(refused)[0] == "ResourceLimitExceeded"

    autoscaling = sm_client("application-autoscaling", config=NO_RETRIES)
    with pytest.raises(ClientError) as busy:
        autoscaling.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId="endpoint/fraud-api/variant/blue",
            ScalableDimension="sagemaker:variant:DesiredInstanceCount",
            MinCapacity=1,
            MaxCapacity=4,
        )
    assert _error(busy) == ("ConcurrentUpdateException", "busy", 400)
    assert len(sm_emulator.settings["fail"]) == 2  # no `times`: the rules stay


def test_throttling_is_retried_by_the_sdk(
    sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]
) -> None:
    sm_emulator.update_settings(
        {"fail": [{"action": "ListModels", "code": "ThrottlingException", "times": 2}]}
    )
    sm = sm_client(config=Config(retries={"mode": "standard", "max_attempts": 3}))
    response = sm.list_models()
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert sm_emulator.settings["fail"] == []


def test_failures_speak_the_query_protocol(
    sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]
) -> None:
    sm_emulator.update_settings(
        {
            "fail": [
                {
                    "action": "CreateTopic",
                    "code": "AuthorizationError",
                    "message": "not <yours> & co",
                    "status": 403,
                }
            ]
        }
    )
    sns = sm_client("sns", config=NO_RETRIES)
    with pytest.raises(ClientError) as refused:
        sns.create_topic(Name="ml-oncall")
    assert _error(refused) == ("AuthorizationError", "not <yours> & co", 403)


def test_operations_moto_lacks_fail_without_retries(sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    with pytest.raises(ClientError) as missing:
        sm.describe_hub(HubName="models")
    code, message, status = _error(missing)
    assert (code, status) == ("NotImplemented", 501)
    assert "DescribeHub" in message
    assert missing.value.response["ResponseMetadata"]["RetryAttempts"] == 0


def test_latency_is_added_to_aws_calls(sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]) -> None:
    sm = sm_client()
    sm.list_models()  # connection and first-call costs out of the way
    sm_emulator.update_settings({"latency_ms": 150})
    started = time.perf_counter()
    sm.list_models()
    assert time.perf_counter() - started >= 0.15


# ---- control API and reset ---------------------------------------------------------------------------


def test_settings_control_api(sm_emulator: SageMakerEmulator) -> None:
    url = sm_emulator.url
    with urllib.request.urlopen(f"{url}/_emulator/settings") as response:
        assert (
            json.loads(response.read())["endpoint_delay_seconds"]
            == sm_emulator.settings["endpoint_delay_seconds"]
        )

    current = update_settings(url, {"latency_ms": 5, "fail_endpoint_updates": True})
    assert (current["latency_ms"], current["fail_endpoint_updates"]) == (5, True)
    assert sm_emulator.settings == current

    with pytest.raises(ValueError, match="latency_ms"):
        update_settings(url, {"latency_ms": -1})
    with pytest.raises(ValueError, match="bogus"):
        update_settings(url, {"bogus": 1})
    assert sm_emulator.settings == current  # a refused change changes nothing

    for method, path, status in [("GET", "nothing", 404), ("GET", "reset", 405)]:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(f"{url}/_emulator/{path}", method=method))
        assert refused.value.code == status


def test_reset_wipes_state_and_restores_settings(
    sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]
) -> None:
    initial = sm_emulator.settings
    sm = sm_client()
    _model(sm, "m7")
    sm_client("s3").create_bucket(Bucket="ml-artifacts")
    update_settings(sm_emulator.url, {"latency_ms": 1, "fail": [{"action": "ListBuckets"}]})

    reset(sm_emulator.url)

    assert sm_emulator.settings == initial
    assert sm.list_models()["Models"] == []
    assert sm_client("s3").list_buckets()["Buckets"] == []


def test_invalid_settings_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="endpoint_delay_seconds"):
        SageMakerEmulator({"endpoint_delay_seconds": "soon"})


def test_start_fails_on_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            SageMakerEmulator(port=taken.getsockname()[1]).start()


def test_importing_the_module_imports_no_sdk() -> None:
    code = "import sys, mlops_sagemaker_sandbox.server; print(sorted({'moto', 'boto3'} & sys.modules.keys()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---- concurrency and speed ------------------------------------------------------------------------------


def test_describe_never_sees_an_update_half_done(
    sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any], wait_endpoint: Callable[..., Any]
) -> None:
    sm = sm_client()
    _deploy(sm, "fraud-api", "cfg-1", [_variant("blue", "m7", 1)])
    wait_endpoint(sm, "fraud-api")
    sm.create_endpoint_config(EndpointConfigName="cfg-2", ProductionVariants=[_variant("blue", "m7", 3)])
    sm_emulator.update_settings({"endpoint_delay_seconds": OBSERVABLE_DELAY})
    seen: set[tuple[str, str, int]] = set()
    errors: list[BaseException] = []
    stop = threading.Event()
    clients = [sm_client() for _ in range(4)]
    watching = threading.Barrier(len(clients) + 1)

    def look(client: Any) -> None:
        d = client.describe_endpoint(EndpointName="fraud-api")
        seen.add(
            (d["EndpointStatus"], d["EndpointConfigName"], d["ProductionVariants"][0]["CurrentInstanceCount"])
        )

    def watch(client: Any) -> None:
        try:
            look(client)
            watching.wait(timeout=5)  # every watcher has a connection going before the update
            while not stop.is_set():
                look(client)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    watchers = [threading.Thread(target=watch, args=(client,)) for client in clients]
    for thread in watchers:
        thread.start()
    try:
        watching.wait(timeout=5)
        sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-2")
        wait_endpoint(sm, "fraud-api")
        time.sleep(0.05)
    finally:
        stop.set()
        for thread in watchers:
            thread.join()
    assert errors == []
    assert ("Updating", "cfg-1", 1) in seen and ("InService", "cfg-2", 3) in seen
    assert seen <= {("InService", "cfg-1", 1), ("Updating", "cfg-1", 1), ("InService", "cfg-2", 3)}


def test_calls_are_fast(sm_client: Callable[..., Any], wait_endpoint: Callable[..., Any]) -> None:
    """A generous bound: Nagle's algorithm with delayed ACKs would cost 40-80 ms a call."""
    sm = sm_client()
    _deploy(sm, "fraud-api", "cfg-1", [_variant("blue", "m7")])
    wait_endpoint(sm, "fraud-api")
    started = time.perf_counter()
    for _ in range(50):
        sm.describe_endpoint(EndpointName="fraud-api")
    assert (time.perf_counter() - started) / 50 < 0.030
