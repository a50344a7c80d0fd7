"""The SageMaker provider through the faults of a real network: throttling, 5xx answers, replies
lost after the call took effect, dropped connections (injected by the emulator), through boto3
over HTTP. Reads and the calls that may be sent twice are retried; a create that finds its own
object (retried after a lost reply) takes it as done; UpdateEndpoint, which may not be sent twice,
is looked at before it is sent again."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from mlops_sagemaker.client import OutcomeUnknownError, call
from mlops_sagemaker.config import SageMakerConfig
from mlops_sagemaker.provider import SageMakerProvider
from mlops_sagemaker_sandbox.server import SageMakerEmulator

from mlops_gitops.errors import ProviderError
from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import EndpointSpec, ModelSpec, MonitorSpec
from mlops_gitops.testing import RecordingContext

ROLE = "arn:aws:iam::123456789012:role/sagemaker"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
CAPTURE = {"destination": "s3://ml-capture/fraud/", "sample_percent": 20, "capture": ["input", "output"]}


@pytest.fixture
def provider(sm_emulator: SageMakerEmulator) -> SageMakerProvider:
    return SageMakerProvider(
        SageMakerConfig(region="us-east-1", role_arn=ROLE),
        stack="fraud",
        sandbox=SandboxEndpoints(urls={"sagemaker": sm_emulator.url}),
    )


@pytest.fixture
def sm(sm_client: Callable[..., Any]) -> Any:
    return sm_client()


def lost(action: str, *, times: int = 1, **extra: Any) -> dict[str, Any]:
    """A rule: `action` is carried out, and its reply lost (a 500, as after a network failure)."""
    return {
        "action": action,
        "code": "InternalFailure",
        "status": 500,
        "lose_reply": True,
        "times": times,
        **extra,
    }


def model_res() -> Resource:
    return Resource("model", "fraud-xgb", ModelSpec(artifact="s3://ml/fraud/v7/model.tar.gz", image=IMAGE))


def endpoint_res(count: int = 1, **spec: Any) -> Resource:
    variants = [
        {"name": "blue", "model": "fraud-xgb", "instance_type": "ml.m5.large", "instance_count": count}
    ]
    return Resource("endpoint", "fraud-api", EndpointSpec(variants=variants, **spec))


def create(
    provider: SageMakerProvider, res: Resource, refs: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    return provider.create(
        res.kind, provider.desired(res, None, refs or {}, None), RecordingContext(res.address)
    )


def deployed(provider: SageMakerProvider, **spec: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    model = create(provider, model_res())
    return model, create(provider, endpoint_res(**spec), {"model.fraud-xgb": model})


def update(
    provider: SageMakerProvider, prior: Mapping[str, Any], res: Resource, model: Mapping[str, Any]
) -> dict[str, Any]:
    desired = provider.desired(res, None, {"model.fraud-xgb": model}, prior)
    return provider.update("endpoint", prior, desired, RecordingContext(res.address))


def names(sm: Any) -> dict[str, list[str]]:
    return {
        "models": sorted(m["ModelName"] for m in sm.list_models()["Models"]),
        "configs": sorted(c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]),
        "endpoints": sorted(e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]),
    }


def rules_left(emulator: SageMakerEmulator) -> list[dict[str, Any]]:
    return list(emulator.settings["fail"])


# ---- creates that find their own object ---------------------------------------------------------


@pytest.mark.parametrize("action", ["CreateModel", "CreateEndpointConfig", "CreateEndpoint"])
def test_a_create_whose_reply_was_lost_takes_its_own_object_as_done(
    provider: SageMakerProvider, sm_emulator: SageMakerEmulator, sm: Any, action: str
) -> None:
    sm_emulator.update_settings({"fail": [lost(action)]})
    model, endpoint = deployed(provider)
    assert rules_left(sm_emulator) == []  # the reply was lost, and the call sent again
    assert endpoint["status"] == "InService"
    assert names(sm) == {
        "models": [model["name"]],
        "configs": [endpoint["endpoint_config_name"]],
        "endpoints": ["fraud-api"],
    }


def test_a_lost_reply_over_a_dropped_connection_is_handled_the_same(
    provider: SageMakerProvider, sm_emulator: SageMakerEmulator, sm: Any
) -> None:
    sm_emulator.update_settings(
        {"fail": [{"action": "CreateEndpointConfig", "lose_reply": True, "disconnect": True, "times": 1}]}
    )
    _, endpoint = deployed(provider)
    assert names(sm)["configs"] == [endpoint["endpoint_config_name"]]


def test_someone_elses_object_under_the_name_is_not_taken_for_ours(
    provider: SageMakerProvider, sm: Any
) -> None:
    desired = provider.desired(model_res(), None, {}, None)
    sm.create_model(
        ModelName=desired["name"],
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://ml/fraud/v7/model.tar.gz"},
        Tags=[{"Key": "mlops-gitops:address", "Value": "model.someone-else"}],
    )
    with pytest.raises(ProviderError, match="a different SageMaker model"):
        provider.create("model", desired, RecordingContext("model.fraud-xgb"))


def test_a_monitor_whose_creates_lost_their_replies_is_made_once(
    provider: SageMakerProvider, sm_emulator: SageMakerEmulator, sm: Any
) -> None:
    _model, endpoint = deployed(provider, data_capture=CAPTURE)
    sm_emulator.update_settings(
        {"fail": [lost("CreateDataQualityJobDefinition"), lost("CreateMonitoringSchedule")]}
    )
    res = Resource(
        "monitor",
        "fraud-drift",
        MonitorSpec(endpoint="fraud-api", type="data_quality", baseline="s3://ml-baselines/fraud/v7/"),
    )
    created = create(provider, res, {"endpoint.fraud-api": endpoint})
    assert rules_left(sm_emulator) == []
    assert created["arn"].endswith(":monitoring-schedule/fraud-drift")
    jobs = sm.list_data_quality_job_definitions()["JobDefinitionSummaries"]
    assert [j["MonitoringJobDefinitionName"] for j in jobs] == [created["job_definition_name"]]
    assert [
        s["MonitoringScheduleName"] for s in sm.list_monitoring_schedules()["MonitoringScheduleSummaries"]
    ] == ["fraud-drift"]


# ---- calls that may not be sent twice -----------------------------------------------------------


def test_an_update_endpoint_whose_reply_was_lost_is_not_sent_again(
    provider: SageMakerProvider, sm_emulator: SageMakerEmulator, sm: Any
) -> None:
    model, endpoint = deployed(provider)
    sm_emulator.update_settings({"fail": [lost("UpdateEndpoint")]})
    # A new instance type needs a new config, deployed with UpdateEndpoint.
    res = Resource(
        "endpoint",
        "fraud-api",
        EndpointSpec(
            variants=[
                {"name": "blue", "model": "fraud-xgb", "instance_type": "ml.m5.xlarge", "instance_count": 1}
            ]
        ),
    )
    updated = update(provider, endpoint, res, model)
    assert rules_left(sm_emulator) == []
    assert updated["status"] == "InService" and updated["variants"][0]["instance_type"] == "ml.m5.xlarge"
    assert names(sm)["configs"] == [updated["endpoint_config_name"]] != [endpoint["endpoint_config_name"]]


def test_an_update_endpoint_that_never_arrived_is_sent_again(
    provider: SageMakerProvider, sm_emulator: SageMakerEmulator
) -> None:
    model, endpoint = deployed(provider)
    # Refused with a 500 before it did anything: the endpoint shows no update, so it is sent again.
    sm_emulator.update_settings(
        {"fail": [{"action": "UpdateEndpoint", "code": "InternalFailure", "status": 500, "times": 1}]}
    )
    res = Resource(
        "endpoint",
        "fraud-api",
        EndpointSpec(
            variants=[
                {"name": "blue", "model": "fraud-xgb", "instance_type": "ml.m5.xlarge", "instance_count": 1}
            ]
        ),
    )
    assert update(provider, endpoint, res, model)["variants"][0]["instance_type"] == "ml.m5.xlarge"
    assert rules_left(sm_emulator) == []


def test_a_capacity_update_whose_reply_was_lost_is_not_sent_again(
    provider: SageMakerProvider, sm_emulator: SageMakerEmulator
) -> None:
    model, endpoint = deployed(provider)
    # Long enough that a second call would find the first one still in progress, and be refused.
    sm_emulator.update_settings(
        {"endpoint_delay_seconds": 2.0, "fail": [lost("UpdateEndpointWeightsAndCapacities")]}
    )
    updated = update(provider, endpoint, endpoint_res(count=3), model)
    assert updated["variants"][0]["instance_count"] == 3
    assert rules_left(sm_emulator) == []


def test_call_does_not_repeat_a_mutation_that_may_have_taken_effect(
    provider: SageMakerProvider, sm_emulator: SageMakerEmulator
) -> None:
    sm_emulator.update_settings(
        {
            "fail": [
                {"action": "UpdateMonitoringSchedule", "code": "InternalFailure", "status": 500, "times": 2}
            ]
        }
    )
    with pytest.raises(OutcomeUnknownError, match="may have taken effect") as info:
        call(
            provider.aws.sagemaker,
            "update_monitoring_schedule",
            MonitoringScheduleName="fraud-drift",
            MonitoringScheduleConfig={"ScheduleConfig": {"ScheduleExpression": "NOW"}},
        )
    assert info.value.code == "InternalFailure" and info.value.retryable
    assert rules_left(sm_emulator)[0]["times"] == 1  # sent once


def test_a_throttled_mutation_is_retried(provider: SageMakerProvider, sm_emulator: SageMakerEmulator) -> None:
    # A throttled request is refused before it does anything: sending it again is safe.
    model, endpoint = deployed(provider)
    sm_emulator.update_settings(
        {
            "fail": [
                {"action": "UpdateEndpointWeightsAndCapacities", "code": "ThrottlingException", "times": 2}
            ]
        }
    )
    assert update(provider, endpoint, endpoint_res(count=2), model)["variants"][0]["instance_count"] == 2
    assert rules_left(sm_emulator) == []


# ---- reads --------------------------------------------------------------------------------------


def test_reads_are_retried_through_5xx_answers_and_dropped_connections(
    provider: SageMakerProvider, sm_emulator: SageMakerEmulator
) -> None:
    _model, endpoint = deployed(provider)
    sm_emulator.update_settings(
        {
            "fail": [
                {"action": "DescribeEndpoint", "disconnect": True, "times": 1},
                # (A refresh does not describe the config the endpoint was recorded running.)
                {"action": "ListTags", "code": "ServiceUnavailable", "status": 503, "times": 2},
                {"action": "ListTags", "code": "InternalFailure", "status": 500, "times": 1},
            ]
        }
    )
    assert provider.read("endpoint", endpoint) == endpoint
    assert rules_left(sm_emulator) == []


def test_a_read_that_keeps_failing_is_sent_as_often_as_the_policy_says(
    provider: SageMakerProvider, sm_emulator: SageMakerEmulator
) -> None:
    # botocore makes one attempt per send, so the core policy's attempts alone reach the server:
    # the two retry layers do not multiply.
    sm_emulator.update_settings(
        {"fail": [{"action": "DescribeEndpoint", "code": "ServiceUnavailable", "status": 503, "times": 50}]}
    )
    with pytest.raises(ProviderError, match="ServiceUnavailable") as info:
        provider.read("endpoint", {"name": "fraud-api"})
    assert info.value.retryable
    assert rules_left(sm_emulator)[0]["times"] == 50 - provider.aws.retry.attempts


def test_an_apply_goes_through_5xx_answers_and_lost_replies_at_a_rate(
    provider: SageMakerProvider, sm_emulator: SageMakerEmulator, sm: Any
) -> None:
    sm_emulator.update_settings(
        {
            "seed": 12,
            "fail": [
                {"action": "Describe*", "code": "ServiceUnavailable", "status": 503, "rate": 0.25},
                {"action": "List*", "code": "InternalFailure", "status": 500, "rate": 0.25},
                lost("Create*", times=None, rate=0.3),
                lost("Update*", times=None, rate=0.3),
            ],
        }
    )
    model, endpoint = deployed(provider, data_capture=CAPTURE)
    changed = update(provider, endpoint, endpoint_res(count=2, data_capture=CAPTURE), model)
    assert changed["variants"][0]["instance_count"] == 2
    sm_emulator.update_settings({"fail": []})
    assert names(sm) == {
        "models": [model["name"]],
        "configs": [changed["endpoint_config_name"]],
        "endpoints": ["fraud-api"],
    }


# ---- the model registry ---------------------------------------------------------------------------


def registered_model() -> Resource:
    return Resource(
        "model",
        "fraud-xgb",
        ModelSpec(
            artifact="s3://ml/fraud/v7/model.tar.gz",
            image=IMAGE,
            registry={"group": "fraud-detection", "approval": "Approved"},
        ),
    )


def versions(sm: Any) -> list[int]:
    listed = sm.list_model_packages(ModelPackageGroupName="fraud-detection")["ModelPackageSummaryList"]
    return sorted(p["ModelPackageVersion"] for p in listed)


def test_a_registration_whose_replies_were_lost_registers_one_version(
    provider: SageMakerProvider, sm_emulator: SageMakerEmulator, sm: Any
) -> None:
    sm_emulator.update_settings({"fail": [lost("CreateModelPackageGroup"), lost("CreateModelPackage")]})
    created = create(provider, registered_model())
    assert rules_left(sm_emulator) == []
    assert created["package_version"] == 1 and created["package_group_owned"] is True
    assert versions(sm) == [1]


def test_a_create_after_one_that_stopped_before_recording_reuses_its_version(
    provider: SageMakerProvider, sm: Any
) -> None:
    first = create(provider, registered_model())
    # State never heard of it (the apply died after registering): the next apply creates again.
    again = create(provider, registered_model())
    assert again["package_arn"] == first["package_arn"] and versions(sm) == [1]


def test_a_call_botocore_refuses_before_sending_is_an_error_at_once(provider: SageMakerProvider) -> None:
    with pytest.raises(ProviderError, match="Parameter validation failed") as info:
        call(provider.aws.sagemaker, "update_endpoint", EndpointName="fraud-api")  # no config
    assert not isinstance(info.value, OutcomeUnknownError) and not info.value.retryable
