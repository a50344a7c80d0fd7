"""The SageMaker emulator's injected faults (failures at a rate, lost replies, dropped connections),
its endpoint statuses (Deleting, Failed, and those set through the control API) and the API
reference's limits, driven by the real boto3 over HTTP (fixtures in conftest.py)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ParamValidationError
from mlops_sagemaker_sandbox.server import SageMakerEmulator

ROLE_ARN = "arn:aws:iam::123456789012:role/sagemaker-execution"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/xgb:1.7-1"
OBSERVABLE_DELAY = 0.5  # long enough for the calls right after an operation to see it in progress
ONE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture
def sm(sm_client: Callable[..., Any]) -> Any:
    """A client that tries each call once, so the test sees exactly what the emulator answered."""
    return sm_client(config=ONE_ATTEMPT)


def _error(exc_info: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc_info.value.response["Error"]
    return error["Code"], error["Message"]


def _model(sm: Any, name: str = "m1", **extra: Any) -> dict[str, Any]:
    return sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://ml/model.tar.gz"},
        **extra,
    )


def _endpoint(sm: Any, name: str = "fraud-api", config: str = "cfg-1") -> None:
    _model(sm, f"{config}-model")
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "main",
                "ModelName": f"{config}-model",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)


def _models(sm: Any) -> list[str]:
    return [m["ModelName"] for m in sm.list_models()["Models"]]


# ---- failure rules --------------------------------------------------------------------------------


def test_a_rate_fails_that_share_of_calls_the_same_way_for_the_same_seed(
    sm_emulator: SageMakerEmulator, sm: Any
) -> None:
    def outcomes() -> list[bool]:
        sm_emulator.update_settings(
            {
                "seed": 7,
                "fail": [{"action": "List*", "code": "ServiceUnavailable", "status": 503, "rate": 0.3}],
            }
        )
        failed = []
        for _ in range(60):
            try:
                sm.list_models()
                failed.append(False)
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "ServiceUnavailable"
                assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 503
                failed.append(True)
        return failed

    first = outcomes()
    assert 5 <= sum(first) <= 35  # about 30% of 60
    assert outcomes() == first  # reseeded: the same draws
    with pytest.raises(ClientError) as missing:
        sm.describe_model(ModelName="nope")
    assert _error(missing)[0] == "ValidationException"  # moto's own answer, not an injected one


def test_a_lost_reply_carries_the_call_out_and_answers_an_error(
    sm_emulator: SageMakerEmulator, sm: Any
) -> None:
    sm_emulator.update_settings(
        {
            "fail": [
                {
                    "action": "CreateModel",
                    "code": "InternalFailure",
                    "status": 500,
                    "lose_reply": True,
                    "times": 1,
                }
            ]
        }
    )
    with pytest.raises(ClientError) as lost:
        _model(sm)
    assert _error(lost)[0] == "InternalFailure"
    assert _models(sm) == ["m1"]  # it took effect
    # Sent again, as a client retrying would: SageMaker refuses a duplicate.
    with pytest.raises(ClientError) as again:
        _model(sm)
    assert "Cannot create already existing model" in _error(again)[1]


@pytest.mark.parametrize("lose_reply", [True, False], ids=["after-the-call", "instead-of-the-call"])
def test_a_dropped_connection_gets_no_reply(
    sm_emulator: SageMakerEmulator, sm: Any, lose_reply: bool
) -> None:
    sm_emulator.update_settings(
        {"fail": [{"action": "CreateModel", "disconnect": True, "lose_reply": lose_reply, "times": 1}]}
    )
    with pytest.raises(ConnectionClosedError):
        _model(sm)
    assert _models(sm) == (["m1"] if lose_reply else [])
    _model(sm, "m2")  # the emulator carries on serving
    assert "m2" in _models(sm)


def test_rules_never_match_rest_calls(sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]) -> None:
    sm_emulator.update_settings({"fail": [{"action": "*", "code": "InternalFailure", "status": 500}]})
    s3 = sm_client("s3", config=ONE_ATTEMPT)
    s3.create_bucket(Bucket="ml-data")  # REST: its operation is not matched by "*"
    with pytest.raises(ClientError):
        sm_client(config=ONE_ATTEMPT).list_models()


# ---- endpoint statuses ----------------------------------------------------------------------------


def test_a_deleted_endpoint_is_deleting_and_keeps_its_name_until_gone(
    sm_emulator: SageMakerEmulator, sm: Any, wait_endpoint: Callable[..., Any]
) -> None:
    _endpoint(sm)
    wait_endpoint(sm, "fraud-api")
    sm_emulator.update_settings({"endpoint_delay_seconds": OBSERVABLE_DELAY})
    sm.delete_endpoint(EndpointName="fraud-api")
    assert sm.describe_endpoint(EndpointName="fraud-api")["EndpointStatus"] == "Deleting"
    with pytest.raises(ClientError) as taken:
        sm.create_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-1")
    assert "Cannot create already existing endpoint" in _error(taken)[1]
    with pytest.raises(ClientError) as again:
        sm.delete_endpoint(EndpointName="fraud-api")
    assert "Cannot delete in-progress endpoint" in _error(again)[1]
    deadline = time.monotonic() + 10
    while sm.list_endpoints()["Endpoints"]:
        assert time.monotonic() < deadline, "the endpoint was never deleted"
        time.sleep(0.02)
    with pytest.raises(ClientError) as gone:
        sm.describe_endpoint(EndpointName="fraud-api")
    assert "Could not find endpoint" in _error(gone)[1]
    sm.create_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-1")  # the name is free again


def test_an_endpoint_in_progress_cannot_be_deleted(sm_emulator: SageMakerEmulator, sm: Any) -> None:
    sm_emulator.update_settings({"endpoint_delay_seconds": OBSERVABLE_DELAY})
    _endpoint(sm)
    with pytest.raises(ClientError) as creating:
        sm.delete_endpoint(EndpointName="fraud-api")
    assert _error(creating) == (
        "ValidationException",
        'Cannot delete in-progress endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/fraud-api".',
    )


def test_a_failed_endpoint_can_only_be_deleted(
    sm_emulator: SageMakerEmulator, sm: Any, wait_endpoint: Callable[..., Any]
) -> None:
    sm_emulator.update_settings({"fail_endpoint_creates": ["fraud-api"]})
    _endpoint(sm)
    wait_endpoint(sm, "fraud-api", status="Failed")
    for refused in (
        lambda: sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-1"),
        lambda: sm.update_endpoint_weights_and_capacities(
            EndpointName="fraud-api",
            DesiredWeightsAndCapacities=[{"VariantName": "main", "DesiredWeight": 2}],
        ),
    ):
        with pytest.raises(ClientError) as failed:
            refused()
        code, message = _error(failed)
        assert code == "ValidationException" and "Failed" in message and "can only be deleted" in message
    sm.delete_endpoint(EndpointName="fraud-api")
    assert sm.describe_endpoint(EndpointName="fraud-api")["EndpointStatus"] in ("Deleting",)


@pytest.mark.parametrize("status", ["SystemUpdating", "RollingBack"])
def test_statuses_sagemaker_sets_on_its_own_pass_and_block_changes_meanwhile(
    sm_emulator: SageMakerEmulator, sm: Any, wait_endpoint: Callable[..., Any], status: str
) -> None:
    _endpoint(sm)
    wait_endpoint(sm, "fraud-api")
    assert sm_emulator.set_endpoint_status("fraud-api", status, seconds=OBSERVABLE_DELAY) == {
        "endpoint": "fraud-api",
        "status": status,
    }
    assert sm.describe_endpoint(EndpointName="fraud-api")["EndpointStatus"] == status
    with pytest.raises(ClientError) as busy:
        sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-1")
    assert "Cannot update in-progress endpoint" in _error(busy)[1]
    with pytest.raises(ClientError):
        sm.delete_endpoint(EndpointName="fraud-api")
    wait_endpoint(sm, "fraud-api")  # back InService once it passed


def test_the_control_api_sets_an_endpoint_status_over_http(
    sm_emulator: SageMakerEmulator, sm: Any, wait_endpoint: Callable[..., Any]
) -> None:
    _endpoint(sm)
    wait_endpoint(sm, "fraud-api")

    def post(document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"{sm_emulator.url}/_emulator/endpoint-status",
            data=json.dumps(document).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    assert post({"endpoint": "fraud-api", "status": "OutOfService"}) == (
        200,
        {"endpoint": "fraud-api", "status": "OutOfService"},
    )
    described = sm.describe_endpoint(EndpointName="fraud-api")
    assert described["EndpointStatus"] == "OutOfService" and "OutOfService" in described["FailureReason"]
    time.sleep(0.1)
    assert sm.describe_endpoint(EndpointName="fraud-api")["EndpointStatus"] == "OutOfService"  # it stays
    # OutOfService is not in progress: an update (the way to repair it) is accepted.
    sm.update_endpoint(EndpointName="fraud-api", EndpointConfigName="cfg-1")
    wait_endpoint(sm, "fraud-api")

    code, body = post({"endpoint": "fraud-api", "status": "Sleeping"})
    assert code == 400 and "expected one of" in body["error"]
    code, body = post({"endpoint": "no-such-api", "status": "Failed"})
    assert code == 400 and "no endpoint 'no-such-api'" in body["error"]
    code, body = post({"endpoint": "fraud-api", "status": "Failed", "colour": "red"})
    assert code == 400 and "colour" in body["error"]


# ---- limits of the API reference ----------------------------------------------------------------


def test_more_than_fifty_tags_are_refused(sm: Any) -> None:
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    with pytest.raises(ClientError) as refused:
        _model(sm, Tags=tags)
    code, message = _error(refused)
    assert code == "ValidationException"
    assert message.startswith("1 validation error detected: Value '")
    assert (
        "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50" in message
    )
    _model(sm, Tags=tags[:50])


def test_names_and_tag_values_over_their_lengths_are_refused(sm: Any) -> None:
    with pytest.raises(ClientError) as refused:
        _model(sm, "m" * 64, Tags=[{"Key": "k", "Value": "v" * 257}])
    code, message = _error(refused)
    assert code == "ValidationException" and message.startswith("2 validation errors detected: ")
    assert (
        "at 'modelName' failed to satisfy constraint: Member must have length less than or equal to 63"
        in message
    )
    assert "at 'tags.1.member.value' failed to satisfy constraint" in message
    _model(sm, "m" * 63)


@pytest.mark.parametrize(
    ("policy", "path", "bound"),
    [
        (
            {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 3601}},
            "deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration.waitIntervalInSeconds",
            "less than or equal to 3600",
        ),
        (
            {
                "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
                "TerminationWaitInSeconds": 3601,
            },
            "deploymentConfig.blueGreenUpdatePolicy.terminationWaitInSeconds",
            "less than or equal to 3600",
        ),
        (
            {
                "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
                "MaximumExecutionTimeoutInSeconds": 28801,
            },
            "deploymentConfig.blueGreenUpdatePolicy.maximumExecutionTimeoutInSeconds",
            "less than or equal to 28800",
        ),
    ],
    ids=["wait-interval", "termination-wait", "execution-timeout"],
)
def test_guardrail_timings_beyond_sagemakers_bounds_are_refused(
    sm: Any, wait_endpoint: Callable[..., Any], policy: dict[str, Any], path: str, bound: str
) -> None:
    _endpoint(sm)
    wait_endpoint(sm, "fraud-api")
    with pytest.raises(ClientError) as refused:
        sm.update_endpoint(
            EndpointName="fraud-api",
            EndpointConfigName="cfg-1",
            DeploymentConfig={"BlueGreenUpdatePolicy": policy},
        )
    code, message = _error(refused)
    assert code == "ValidationException" and f"at '{path}' failed" in message and bound in message
    assert sm.describe_endpoint(EndpointName="fraud-api")["EndpointStatus"] == "InService"


def test_guardrail_minimums_are_botocores_to_check(sm: Any) -> None:
    with pytest.raises(ParamValidationError, match="MaximumExecutionTimeoutInSeconds"):
        sm.update_endpoint(
            EndpointName="fraud-api",
            EndpointConfigName="cfg-1",
            DeploymentConfig={
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
                    "MaximumExecutionTimeoutInSeconds": 599,
                }
            },
        )


# ---- the model registry's ClientToken -------------------------------------------------------------


def test_a_model_package_request_sent_again_gets_the_package_it_made(sm: Any) -> None:
    sm.create_model_package_group(ModelPackageGroupName="fraud")
    request = {
        "ModelPackageGroupName": "fraud",
        "InferenceSpecification": {
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://ml/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        "ModelApprovalStatus": "Approved",
    }
    first = sm.create_model_package(**request, ClientToken="token-1")["ModelPackageArn"]
    assert sm.create_model_package(**request, ClientToken="token-1")["ModelPackageArn"] == first
    second = sm.create_model_package(**request, ClientToken="token-2")["ModelPackageArn"]
    assert second != first
    listed = sm.list_model_packages(ModelPackageGroupName="fraud")["ModelPackageSummaryList"]
    assert sorted(p["ModelPackageVersion"] for p in listed) == [1, 2]
