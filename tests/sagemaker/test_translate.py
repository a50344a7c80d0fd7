"""Pure translation: neutral attributes <-> SageMaker payloads, names, change classification."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from mlops_sagemaker import translate
from mlops_sagemaker.config import EndpointSettings, ModelSettings

from mlops_gitops.provider import UNKNOWN
from mlops_gitops.stack.schema import EndpointSpec, ModelSpec

ROLE = "arn:aws:iam::123456789012:role/sagemaker"
TAGS = {"team": "fraud", "mlops-gitops:stack": "s", "mlops-gitops:address": "model.fraud"}


def _model_attrs(**changes: Any) -> dict[str, Any]:
    spec = ModelSpec(artifact="s3://bucket/v7/model.tar.gz", image="img:1", environment={"A": "1"})
    attrs = translate.model_attributes(
        spec,
        ModelSettings(vpc={"subnets": ["subnet-1"], "security_groups": ["sg-1"]}),
        image="img:1",
        execution_role_arn=ROLE,
        tags=TAGS,
    )
    attrs.update(changes)
    return {"name": translate.model_name("s", "fraud", attrs), **attrs}


def _endpoint_attrs() -> dict[str, Any]:
    spec = EndpointSpec(
        variants=[
            {
                "name": "blue",
                "model": "fraud",
                "instance_type": "ml.m5.large",
                "instance_count": 2,
                "weight": 90,
            },
            {"name": "green", "model": "fraud", "serverless": {"memory_mb": 2048}, "weight": 10},
        ],
        autoscaling={"min": 2, "max": 6, "target_invocations_per_instance": 500},
        data_capture={"destination": "s3://cap/fraud/", "sample_percent": 20, "capture": ["output", "input"]},
    )
    attrs = translate.endpoint_attributes(
        spec, EndpointSettings(kms_key_id="key-1"), model_names={"fraud": "fraud-1a2b3c4d"}, tags={"t": "1"}
    )
    return {
        "name": "api",
        "arn": "arn:e",
        "endpoint_config_name": "api-000000000001",
        "status": "InService",
        **attrs,
    }


# ------------------------------------------------------------------------------------- names
def test_model_name_is_deterministic_and_changes_with_replacing_fields() -> None:
    a = _model_attrs()
    assert a["name"] == _model_attrs()["name"]
    assert a["name"].startswith("fraud-") and len(a["name"]) == len("fraud-") + 8
    assert _model_attrs(artifact="s3://bucket/v8/model.tar.gz")["name"] != a["name"]
    assert _model_attrs(environment={"A": "2"})["name"] != a["name"]
    # Tags change in place: same model, same name.
    assert _model_attrs(tags={"team": "other"})["name"] == a["name"]
    # The stack is part of the name: two stacks never fight over one model.
    assert translate.model_name("other", "fraud", a) != a["name"]


def test_model_name_stays_within_sagemaker_limit() -> None:
    name = translate.model_name("s", "m" * 80, {})
    assert len(name) == 63 and name.startswith("m" * 54 + "-")


def test_config_names_are_prefixed_by_the_endpoint() -> None:
    name = translate.config_name("fraud-api", "0123456789ab")
    assert name == "fraud-api-0123456789ab"
    assert name.startswith(translate.config_prefix("fraud-api"))
    assert len(translate.config_name("e" * 63, "0123456789ab")) == 63


# ------------------------------------------------------------------------------------ models
def test_create_model_request() -> None:
    req = translate.create_model_request(_model_attrs())
    assert req["PrimaryContainer"] == {
        "Image": "img:1",
        "ModelDataUrl": "s3://bucket/v7/model.tar.gz",
        "Environment": {"A": "1"},
    }
    assert req["ExecutionRoleArn"] == ROLE
    assert req["EnableNetworkIsolation"] is False
    assert req["VpcConfig"] == {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}
    assert {"Key": "team", "Value": "fraud"} in req["Tags"]


def test_model_round_trips_through_describe() -> None:
    attrs = {**_model_attrs(), "arn": "arn:m"}
    req = translate.create_model_request(attrs)
    desc = {
        "ModelName": req["ModelName"],
        "ModelArn": "arn:m",
        "PrimaryContainer": req["PrimaryContainer"],
        "ExecutionRoleArn": req["ExecutionRoleArn"],
        "EnableNetworkIsolation": False,
        "VpcConfig": req["VpcConfig"],
    }
    got = translate.model_from_describe(desc, translate.tag_dict(req["Tags"]))
    assert got == attrs


def test_model_without_optional_blocks_reads_without_them() -> None:
    desc = {
        "ModelName": "m",
        "ModelArn": "arn:m",
        "PrimaryContainer": {"Image": "i", "ModelDataUrl": "s3://b/m"},
    }
    got = translate.model_from_describe(desc, {})
    assert "vpc" not in got
    assert got["environment"] == {} and got["execution_role_arn"] == ""


def test_model_spec_omits_defaults_and_managed_tags() -> None:
    attrs = _model_attrs()
    spec = translate.model_spec(attrs, default_role=ROLE)
    assert spec == {
        "artifact": "s3://bucket/v7/model.tar.gz",
        "image": "img:1",
        "environment": {"A": "1"},
        "tags": {"team": "fraud"},
        "sagemaker": {"vpc": {"subnets": ["subnet-1"], "security_groups": ["sg-1"]}},
    }
    ModelSpec.model_validate(spec)  # the generated YAML is valid stack input
    assert translate.model_spec(attrs, default_role=None)["sagemaker"]["execution_role_arn"] == ROLE


# --------------------------------------------------------------------------------- endpoints
def test_endpoint_attributes_shape() -> None:
    attrs = _endpoint_attrs()
    blue, green = attrs["variants"]
    assert blue == {
        "name": "blue",
        "model": "fraud-1a2b3c4d",
        "weight": 90.0,
        "instance_type": "ml.m5.large",
        "instance_count": 2,
        "autoscaling": {
            "min": 2,
            "max": 6,
            "target_invocations_per_instance": 500,
            "scale_in_cooldown": 300,
            "scale_out_cooldown": 60,
        },
    }
    # Serverless variants scale themselves: no instance fields, no autoscaling.
    assert green == {
        "name": "green",
        "model": "fraud-1a2b3c4d",
        "weight": 10.0,
        "serverless": {"memory_mb": 2048, "max_concurrency": 5},
    }
    assert isinstance(blue["weight"], float)
    assert attrs["data_capture"]["capture"] == ["input", "output"]  # canonical order
    assert attrs["kms_key_id"] == "key-1"


def test_endpoint_attributes_omit_absent_blocks_and_keep_unknown_models() -> None:
    spec = EndpointSpec(variants=[{"name": "a", "model": "m", "instance_type": "ml.m5.large"}])
    attrs = translate.endpoint_attributes(spec, EndpointSettings(), model_names={}, tags={})
    assert set(attrs) == {"variants", "tags"}
    assert attrs["variants"][0]["model"] is UNKNOWN
    assert "autoscaling" not in attrs["variants"][0]


def test_endpoint_config_request() -> None:
    req = translate.endpoint_config_request(_endpoint_attrs(), "api-0123456789ab")
    assert req["EndpointConfigName"] == "api-0123456789ab"
    assert req["ProductionVariants"] == [
        {
            "VariantName": "blue",
            "ModelName": "fraud-1a2b3c4d",
            "InitialVariantWeight": 90.0,
            "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 2,
        },
        {
            "VariantName": "green",
            "ModelName": "fraud-1a2b3c4d",
            "InitialVariantWeight": 10.0,
            "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
        },
    ]
    assert req["DataCaptureConfig"] == {
        "EnableCapture": True,
        "InitialSamplingPercentage": 20,
        "DestinationS3Uri": "s3://cap/fraud/",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    }
    assert req["KmsKeyId"] == "key-1"
    assert req["Tags"] == [{"Key": "t", "Value": "1"}]


def test_carried_counts_keep_the_autoscaled_fleet_within_the_new_bounds() -> None:
    attrs = _endpoint_attrs()
    assert translate.carried_counts(attrs, {"blue": 5}) == {"blue": 5}
    assert translate.carried_counts(attrs, {"blue": 9}) == {"blue": 6}
    assert translate.carried_counts(attrs, {"blue": 1}) == {"blue": 2}
    assert translate.carried_counts(attrs, {}) == {}
    req = translate.endpoint_config_request(attrs, "api-x", {"blue": 5})
    assert req["ProductionVariants"][0]["InitialInstanceCount"] == 5


def _describe(attrs: dict[str, Any], *, live_counts: dict[str, int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What DescribeEndpoint and DescribeEndpointConfig return for `attrs`."""
    config = translate.endpoint_config_request(attrs, attrs["endpoint_config_name"])
    endpoint = {
        "EndpointName": attrs["name"],
        "EndpointArn": attrs["arn"],
        "EndpointConfigName": attrs["endpoint_config_name"],
        "EndpointStatus": "InService",
        "ProductionVariants": [
            {
                "VariantName": pv["VariantName"],
                "CurrentWeight": pv["InitialVariantWeight"],
                "DesiredWeight": pv["InitialVariantWeight"],
                **(
                    {
                        "CurrentInstanceCount": live_counts[pv["VariantName"]],
                        "DesiredInstanceCount": live_counts[pv["VariantName"]],
                    }
                    if pv["VariantName"] in live_counts
                    else {}
                ),
            }
            for pv in config["ProductionVariants"]
        ],
    }
    return endpoint, config


def test_endpoint_round_trips_and_autoscaled_count_is_not_drift() -> None:
    attrs = _endpoint_attrs()
    # The autoscaler scaled blue from 2 to 5: the recorded count is reported, not the live one.
    endpoint, config = _describe(attrs, live_counts={"blue": 5})
    scaling = {"blue": attrs["variants"][0]["autoscaling"]}
    got = translate.endpoint_from_describe(endpoint, config, {"t": "1"}, scaling, prior=attrs)
    assert got == attrs


def test_endpoint_without_autoscaling_reports_the_live_count() -> None:
    attrs = _endpoint_attrs()
    del attrs["variants"][0]["autoscaling"]
    endpoint, config = _describe(attrs, live_counts={"blue": 3})
    got = translate.endpoint_from_describe(endpoint, config, {"t": "1"}, {}, prior=attrs)
    assert got["variants"][0]["instance_count"] == 3


def test_endpoint_weights_come_from_the_endpoint_not_the_config() -> None:
    attrs = _endpoint_attrs()
    endpoint, config = _describe(attrs, live_counts={"blue": 2})
    # After UpdateEndpointWeightsAndCapacities the config still holds the initial weights.
    endpoint["ProductionVariants"][0]["DesiredWeight"] = 50.0
    got = translate.endpoint_from_describe(endpoint, config, {}, {}, prior=attrs)
    assert got["variants"][0]["weight"] == 50.0


def test_endpoint_whose_config_vanished_reads_without_variants() -> None:
    endpoint, _ = _describe(_endpoint_attrs(), live_counts={})
    got = translate.endpoint_from_describe(endpoint, {}, {}, {}, prior=None)
    assert got["variants"] == []
    assert "data_capture" not in got and "kms_key_id" not in got


def test_endpoint_spec_plans_back_to_the_same_attributes() -> None:
    attrs = _endpoint_attrs()
    spec = translate.endpoint_spec(attrs)
    parsed = EndpointSpec.model_validate(spec)
    again = translate.endpoint_attributes(
        parsed,
        EndpointSettings.model_validate(spec.get("sagemaker", {})),
        model_names={"fraud-1a2b3c4d": "fraud-1a2b3c4d"},
        tags={"t": "1"},
    )
    computed = {"arn": "arn:e", "endpoint_config_name": "api-000000000001", "status": "InService"}
    assert {"name": "api", **computed, **again} == attrs


# ------------------------------------------------------------------------ change classification
def test_weight_only_change_needs_no_new_config() -> None:
    prior = _endpoint_attrs()
    desired = copy.deepcopy(prior)
    desired["variants"][0]["weight"] = 50.0
    desired["variants"][1]["weight"] = 50.0
    assert not translate.needs_new_config(prior, desired)
    assert translate.capacity_changed(prior, desired)


def test_count_only_change_needs_no_new_config() -> None:
    prior = _endpoint_attrs()
    desired = copy.deepcopy(prior)
    desired["variants"][0]["instance_count"] = 4
    assert not translate.needs_new_config(prior, desired)
    assert translate.capacity_changed(prior, desired)


def test_autoscaling_or_tag_change_is_neither() -> None:
    prior = _endpoint_attrs()
    desired = copy.deepcopy(prior)
    desired["variants"][0]["autoscaling"]["max"] = 10
    desired["tags"] = {"t": "2"}
    assert not translate.needs_new_config(prior, desired)
    assert not translate.capacity_changed(prior, desired)


@pytest.mark.parametrize(
    "change",
    [
        lambda a: a["variants"][0].update(instance_type="ml.c5.xlarge"),
        lambda a: a["variants"][0].update(model="fraud-99999999"),
        lambda a: a["variants"].pop(),
        lambda a: a["variants"].reverse(),
        lambda a: a["variants"][1]["serverless"].update(memory_mb=4096),
        lambda a: a["data_capture"].update(sample_percent=50),
        lambda a: a.pop("data_capture"),
        lambda a: a.update(kms_key_id="key-2"),
    ],
    ids=["instance-type", "model", "variant-removed", "order", "serverless", "capture", "capture-off", "kms"],
)
def test_other_changes_need_a_new_config(change: Any) -> None:
    prior = _endpoint_attrs()
    desired = copy.deepcopy(prior)
    change(desired)
    assert translate.needs_new_config(prior, desired)


def test_weights_and_capacities_leave_the_autoscaler_alone() -> None:
    prior = _endpoint_attrs()
    prior["variants"].append(
        {"name": "red", "model": "m", "weight": 1.0, "instance_type": "ml.m5.large", "instance_count": 1}
    )
    desired = copy.deepcopy(prior)
    desired["variants"][0]["weight"] = 50.0
    assert translate.weights_and_capacities(prior, desired) == [
        {"VariantName": "blue", "DesiredWeight": 50.0},  # autoscaled, count unchanged: not sent
        {"VariantName": "green", "DesiredWeight": 10.0},  # serverless: never a count
        {"VariantName": "red", "DesiredWeight": 1.0, "DesiredInstanceCount": 1},
    ]
    desired["variants"][0]["instance_count"] = 4  # the stack changed it: sent
    assert translate.weights_and_capacities(prior, desired)[0] == {
        "VariantName": "blue",
        "DesiredWeight": 50.0,
        "DesiredInstanceCount": 4,
    }


# ------------------------------------------------------------------------------ autoscaling & tags
def test_scaling_requests() -> None:
    scaling = _endpoint_attrs()["variants"][0]["autoscaling"]
    target = translate.scalable_target_request("api", "blue", scaling)
    assert target == {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/api/variant/blue",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "MinCapacity": 2,
        "MaxCapacity": 6,
    }
    policy = translate.scaling_policy_request("api", "blue", scaling)
    assert policy["PolicyName"] == "api-blue-invocations"
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["TargetTrackingScalingPolicyConfiguration"] == {
        "TargetValue": 500.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleInCooldown": 300,
        "ScaleOutCooldown": 60,
    }
    back = translate.autoscaling_from_aws(target, [policy], "api-blue-invocations")
    assert back == scaling and isinstance(back["target_invocations_per_instance"], int)


def test_autoscaling_without_policy_reports_bounds_only() -> None:
    target = {"MinCapacity": 1, "MaxCapacity": 3}
    step = {"PolicyName": "x", "PolicyType": "StepScaling", "StepScalingPolicyConfiguration": {}}
    assert translate.autoscaling_from_aws(target, [step], "p") == {"min": 1, "max": 3}


def test_tag_changes() -> None:
    add, remove = translate.tag_changes({"a": "1", "b": "2", "c": "3"}, {"a": "1", "b": "9", "d": "4"})
    assert add == {"b": "9", "d": "4"}
    assert remove == ["c"]
    assert translate.tag_dict([{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]) == {"a": "2"}
