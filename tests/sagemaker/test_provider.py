"""SageMakerProvider driven directly, through the real boto3 over HTTP against the emulator.

The engine side (the ApplyContext) is a small recording double; everything below it is real."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from mlops_sagemaker.client import call
from mlops_sagemaker.config import EndpointSettings, ModelSettings, SageMakerConfig
from mlops_sagemaker.provider import SageMakerProvider
from mlops_sagemaker_sandbox.server import SageMakerEmulator

from mlops_gitops.errors import ProviderError, StackError
from mlops_gitops.provider import TAG_ADDRESS, UNKNOWN, SandboxEndpoints
from mlops_gitops.stack.loader import load_stack
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import EndpointSpec, FrameworkImage, ModelSpec
from mlops_gitops.testing import RecordingContext
from mlops_gitops.workspace import open_workspace

ROLE = "arn:aws:iam::123456789012:role/sagemaker"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
STACK = "fraud"


@pytest.fixture
def provider(sm_emulator: SageMakerEmulator) -> SageMakerProvider:
    config = SageMakerConfig(region="us-east-1", role_arn=ROLE)
    return SageMakerProvider(
        config, stack=STACK, sandbox=SandboxEndpoints(urls={"sagemaker": sm_emulator.url})
    )


@pytest.fixture
def sm(sm_client: Callable[..., Any]) -> Any:
    return sm_client()


@pytest.fixture
def aas(sm_client: Callable[..., Any]) -> Any:
    return sm_client("application-autoscaling")


def model(name: str = "fraud-xgb", artifact: str = "s3://ml/fraud/v7/model.tar.gz", **spec: Any) -> Resource:
    return Resource("model", name, ModelSpec(artifact=artifact, image=spec.pop("image", IMAGE), **spec))


def endpoint(name: str = "fraud-api", **spec: Any) -> Resource:
    spec.setdefault(
        "variants",
        [
            {
                "name": "blue",
                "model": "fraud-xgb",
                "instance_type": "ml.m5.large",
                "instance_count": 2,
                "weight": 90,
            },
            {
                "name": "green",
                "model": "fraud-xgb",
                "instance_type": "ml.m5.large",
                "instance_count": 1,
                "weight": 10,
            },
        ],
    )
    return Resource("endpoint", name, EndpointSpec(**spec))


def create(
    provider: SageMakerProvider, res: Resource, refs: Mapping[str, Any] | None = None, settings: Any = None
) -> dict[str, Any]:
    desired = provider.desired(res, settings, refs or {}, None)
    return provider.create(res.kind, desired, RecordingContext(res.address))


def update(
    provider: SageMakerProvider,
    res: Resource,
    prior: Mapping[str, Any],
    refs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    desired = provider.desired(res, None, refs or {}, prior)
    return provider.update(res.kind, prior, desired, RecordingContext(res.address))


def user_fields(attrs: Mapping[str, Any], computed: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if k not in computed}


def deployed(
    provider: SageMakerProvider, refs_model: Mapping[str, Any], res: Resource | None = None
) -> dict[str, Any]:
    """Create `res` (by default the two-variant endpoint) on the model `refs_model`."""
    return create(
        provider, res or endpoint(autoscaling={"min": 1, "max": 4}), {"model.fraud-xgb": refs_model}
    )


def scalable_targets(aas: Any) -> dict[str, tuple[int, int]]:
    targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    return {t["ResourceId"]: (t["MinCapacity"], t["MaxCapacity"]) for t in targets}


def config_names(sm: Any) -> set[str]:
    return {c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]}


# ------------------------------------------------------------------------------------ create / read
def test_create_model_and_endpoint_read_back_as_desired(
    provider: SageMakerProvider, sm: Any, aas: Any
) -> None:
    m = model()
    desired_model = provider.desired(m, None, {}, None)
    assert desired_model["arn"] is UNKNOWN and desired_model["name"].startswith("fraud-xgb-")
    created_model = provider.create("model", desired_model, RecordingContext(m.address))
    assert user_fields(created_model, ("arn",)) == user_fields(desired_model, ("arn",))
    assert created_model["arn"].endswith(f":model/{desired_model['name']}")

    e = endpoint(autoscaling={"min": 1, "max": 4, "target_invocations_per_instance": 750})
    desired = provider.desired(e, None, {"model.fraud-xgb": created_model}, None)
    ctx = RecordingContext(e.address)
    created = provider.create("endpoint", desired, ctx)

    computed = ("arn", "endpoint_config_name", "status")
    assert desired["status"] is UNKNOWN
    assert user_fields(created, computed) == user_fields(desired, computed)
    assert created["status"] == "InService"
    assert [v["weight"] for v in created["variants"]] == [90.0, 10.0]
    assert provider.read("endpoint", created) == created
    assert provider.read("model", created_model) == created_model

    # The config was recorded before CreateEndpoint, the endpoint's ARN right after.
    assert ctx.checkpoints[0]["endpoint_config_name"] == created["endpoint_config_name"]
    assert "arn" not in ctx.checkpoints[0]
    assert ctx.checkpoints[-1]["arn"] == created["arn"]
    assert any("status=Creating" in msg for msg in ctx.messages)

    assert sm.describe_endpoint(EndpointName="fraud-api")["EndpointStatus"] == "InService"
    assert scalable_targets(aas) == {
        "endpoint/fraud-api/variant/blue": (1, 4),
        "endpoint/fraud-api/variant/green": (1, 4),
    }
    policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert sorted(p["PolicyName"] for p in policies) == [
        "fraud-api-blue-invocations",
        "fraud-api-green-invocations",
    ]
    assert {p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] for p in policies} == {750.0}


def test_read_of_missing_objects_is_none(provider: SageMakerProvider) -> None:
    assert provider.read("model", {"name": "nope-00000000"}) is None
    assert provider.read("endpoint", {"name": "nope"}) is None


def test_other_errors_are_not_taken_for_absence(
    provider: SageMakerProvider, sm_emulator: SageMakerEmulator
) -> None:
    sm_emulator.update_settings({"fail": [{"action": "DescribeEndpoint", "code": "AccessDeniedException"}]})
    with pytest.raises(ProviderError, match="DescribeEndpoint: AccessDeniedException") as info:
        provider.read("endpoint", {"name": "fraud-api"})
    assert info.value.code == "AccessDeniedException" and not info.value.retryable


def test_autoscaled_count_is_not_drift_but_a_console_count_is(
    provider: SageMakerProvider, sm: Any, wait_endpoint: Callable[..., Any]
) -> None:
    created_model = create(provider, model())
    e = endpoint(
        variants=[
            {
                "name": "blue",
                "model": "fraud-xgb",
                "instance_type": "ml.m5.large",
                "instance_count": 2,
                "weight": 1,
                "autoscaling": {"min": 2, "max": 8},
            },
            {
                "name": "green",
                "model": "fraud-xgb",
                "instance_type": "ml.m5.large",
                "instance_count": 1,
                "weight": 1,
            },
        ]
    )
    created = deployed(provider, created_model, e)
    # The autoscaler scales blue out; someone changes green's count by hand.
    sm.update_endpoint_weights_and_capacities(
        EndpointName="fraud-api",
        DesiredWeightsAndCapacities=[
            {"VariantName": "blue", "DesiredInstanceCount": 6},
            {"VariantName": "green", "DesiredInstanceCount": 3},
        ],
    )
    wait_endpoint(sm, "fraud-api")
    now = provider.read("endpoint", created)
    assert now is not None
    assert [v["instance_count"] for v in now["variants"]] == [2, 3]


# ------------------------------------------------------------------------------------------- update
def test_weight_only_update_keeps_the_config(provider: SageMakerProvider, sm: Any, aas: Any) -> None:
    created_model = create(provider, model())
    before = deployed(provider, created_model)
    e = endpoint(
        autoscaling={"min": 1, "max": 4},
        variants=[
            {
                "name": "blue",
                "model": "fraud-xgb",
                "instance_type": "ml.m5.large",
                "instance_count": 2,
                "weight": 50,
            },
            {
                "name": "green",
                "model": "fraud-xgb",
                "instance_type": "ml.m5.large",
                "instance_count": 1,
                "weight": 50,
            },
        ],
    )
    after = update(provider, e, before, {"model.fraud-xgb": created_model})

    desc = sm.describe_endpoint(EndpointName="fraud-api")
    assert desc["EndpointConfigName"] == before["endpoint_config_name"] == after["endpoint_config_name"]
    assert [v["DesiredWeight"] for v in desc["ProductionVariants"]] == [50.0, 50.0]
    assert [v["weight"] for v in after["variants"]] == [50.0, 50.0]
    assert config_names(sm) == {before["endpoint_config_name"]}
    assert len(scalable_targets(aas)) == 2  # autoscaling untouched


def test_instance_type_change_uses_a_new_config_and_deletes_the_old(
    provider: SageMakerProvider, sm: Any, aas: Any
) -> None:
    created_model = create(provider, model())
    before = deployed(provider, created_model)
    e = endpoint(
        autoscaling={"min": 1, "max": 4},
        variants=[
            {
                "name": "blue",
                "model": "fraud-xgb",
                "instance_type": "ml.c5.xlarge",
                "instance_count": 2,
                "weight": 90,
            },
            {
                "name": "green",
                "model": "fraud-xgb",
                "instance_type": "ml.m5.large",
                "instance_count": 1,
                "weight": 10,
            },
        ],
    )
    after = update(provider, e, before, {"model.fraud-xgb": created_model})

    new = after["endpoint_config_name"]
    assert new != before["endpoint_config_name"] and new.startswith("fraud-api-")
    assert sm.describe_endpoint(EndpointName="fraud-api")["EndpointConfigName"] == new
    assert config_names(sm) == {new}
    assert after["variants"][0]["instance_type"] == "ml.c5.xlarge"
    assert after["arn"] == before["arn"]  # the same endpoint, updated in place
    # Autoscaling was lifted for the switch and is back.
    assert scalable_targets(aas) == {
        "endpoint/fraud-api/variant/blue": (1, 4),
        "endpoint/fraud-api/variant/green": (1, 4),
    }
    assert provider.read("endpoint", after) == after


def test_autoscaling_only_change_reregisters(provider: SageMakerProvider, sm: Any, aas: Any) -> None:
    created_model = create(provider, model())
    before = deployed(provider, created_model)
    after = update(
        provider, endpoint(autoscaling={"min": 2, "max": 10}), before, {"model.fraud-xgb": created_model}
    )
    assert after["endpoint_config_name"] == before["endpoint_config_name"]
    assert set(scalable_targets(aas).values()) == {(2, 10)}
    after = update(provider, endpoint(), after, {"model.fraud-xgb": created_model})
    assert scalable_targets(aas) == {}
    assert aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"] == []
    assert all("autoscaling" not in v for v in after["variants"])


def test_tags_change_in_place(provider: SageMakerProvider, sm: Any) -> None:
    m = model(tags={"team": "fraud", "tier": "gold"})
    created = create(provider, m)
    changed = update(provider, model(tags={"team": "risk"}), created)
    assert changed["name"] == created["name"]
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=created["arn"])["Tags"]}
    assert tags == {"team": "risk", "mlops-gitops:stack": STACK, TAG_ADDRESS: "model.fraud-xgb"}


def test_model_replacement_moves_the_endpoint_to_the_new_model(provider: SageMakerProvider, sm: Any) -> None:
    old_model = create(provider, model())
    before = deployed(provider, old_model)

    # Unchanged: the same name is planned. A new artifact: a new name, known at plan time.
    assert provider.desired(model(), None, {}, old_model)["name"] == old_model["name"]
    replacement = provider.desired(model(artifact="s3://ml/fraud/v8/model.tar.gz"), None, {}, old_model)
    assert replacement["name"] != old_model["name"] and replacement["arn"] is UNKNOWN

    # Create before destroy: the new model, then the endpoint moves, then the old model goes.
    new_model = provider.create("model", replacement, RecordingContext("model.fraud-xgb"))
    after = update(
        provider, endpoint(autoscaling={"min": 1, "max": 4}), before, {"model.fraud-xgb": new_model}
    )
    provider.delete("model", old_model, RecordingContext("model.fraud-xgb"))

    assert {v["model"] for v in after["variants"]} == {new_model["name"]}
    config = sm.describe_endpoint_config(EndpointConfigName=after["endpoint_config_name"])
    assert {v["ModelName"] for v in config["ProductionVariants"]} == {new_model["name"]}
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == [new_model["name"]]
    assert config_names(sm) == {after["endpoint_config_name"]}


def test_failed_update_rolls_back_and_says_why(
    provider: SageMakerProvider, sm: Any, aas: Any, sm_emulator: SageMakerEmulator
) -> None:
    created_model = create(provider, model())
    before = deployed(provider, created_model)
    sm_emulator.update_settings({"fail_endpoint_updates": ["fraud-api"]})
    e = endpoint(
        autoscaling={"min": 1, "max": 4},
        variants=[{"name": "blue", "model": "fraud-xgb", "instance_type": "ml.c5.xlarge", "weight": 1}],
    )
    with pytest.raises(ProviderError, match="fail_endpoint_updates") as info:
        update(provider, e, before, {"model.fraud-xgb": created_model})
    assert "did not move" in str(info.value)
    # Still serving the old config, the unused new one is gone, autoscaling is back.
    assert (
        sm.describe_endpoint(EndpointName="fraud-api")["EndpointConfigName"] == before["endpoint_config_name"]
    )
    assert config_names(sm) == {before["endpoint_config_name"]}
    assert len(scalable_targets(aas)) == 2
    assert provider.read("endpoint", before) == before


# --------------------------------------------------------------------------------- failures on create
def test_failing_create_endpoint_leaves_the_config_in_state(
    provider: SageMakerProvider, sm: Any, sm_emulator: SageMakerEmulator
) -> None:
    created_model = create(provider, model())
    sm_emulator.update_settings(
        {"fail": [{"action": "CreateEndpoint", "code": "ResourceLimitExceeded", "message": "no capacity"}]}
    )
    e = endpoint()
    ctx = RecordingContext(e.address)
    with pytest.raises(ProviderError, match="CreateEndpoint: ResourceLimitExceeded: no capacity"):
        provider.create("endpoint", provider.desired(e, None, {"model.fraud-xgb": created_model}, None), ctx)
    recorded = ctx.checkpoints[-1]["endpoint_config_name"]
    assert config_names(sm) == {recorded}
    assert provider.read("endpoint", ctx.checkpoints[-1]) is None

    # The retry succeeds, and sweeps the config the failed attempt left.
    sm_emulator.update_settings({"fail": []})
    created = provider.create(
        "endpoint",
        provider.desired(e, None, {"model.fraud-xgb": created_model}, None),
        RecordingContext(e.address),
    )
    assert config_names(sm) == {created["endpoint_config_name"]}


def test_endpoint_that_fails_to_come_up_reports_the_reason(
    provider: SageMakerProvider, sm_emulator: SageMakerEmulator
) -> None:
    created_model = create(provider, model())
    sm_emulator.update_settings({"fail_endpoint_creates": True})
    e = endpoint()
    ctx = RecordingContext(e.address)
    with pytest.raises(ProviderError, match=r"fraud-api is Failed: .*fail_endpoint_creates"):
        provider.create("endpoint", provider.desired(e, None, {"model.fraud-xgb": created_model}, None), ctx)
    assert ctx.checkpoints[-1]["arn"].endswith(":endpoint/fraud-api")

    # The failed endpoint and its config are deleted with it.
    provider.delete("endpoint", ctx.checkpoints[-1], RecordingContext(e.address))
    assert provider.read("endpoint", ctx.checkpoints[-1]) is None


def test_cancel_stops_waiting_between_polls(
    provider: SageMakerProvider, sm: Any, sm_emulator: SageMakerEmulator
) -> None:
    created_model = create(provider, model())
    sm_emulator.update_settings({"endpoint_delay_seconds": 30})
    e = endpoint()
    ctx = RecordingContext(e.address)
    threading.Timer(0.2, ctx.cancel.set).start()
    started = time.monotonic()
    with pytest.raises(ProviderError, match="cancelled") as info:
        provider.create("endpoint", provider.desired(e, None, {"model.fraud-xgb": created_model}, None), ctx)
    assert time.monotonic() - started < 5
    assert info.value.code == "Cancelled"
    # State names what exists: the endpoint (still creating) and its config.
    assert sm.describe_endpoint(EndpointName="fraud-api")["EndpointStatus"] == "Creating"
    assert ctx.checkpoints[-1]["endpoint_config_name"] in config_names(sm)


def test_create_refuses_a_foreign_endpoint_without_recording_it(provider: SageMakerProvider, sm: Any) -> None:
    created_model = create(provider, model())
    sm.create_endpoint_config(
        EndpointConfigName="theirs",
        ProductionVariants=[
            {
                "VariantName": "a",
                "ModelName": created_model["name"],
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.create_endpoint(EndpointName="fraud-api", EndpointConfigName="theirs")
    e = endpoint()
    ctx = RecordingContext(e.address)
    with pytest.raises(ProviderError, match="already exists: import it") as info:
        provider.create("endpoint", provider.desired(e, None, {"model.fraud-xgb": created_model}, None), ctx)
    assert info.value.code == "AlreadyExists"
    assert ctx.checkpoints == []  # nothing in state could later delete their endpoint
    assert config_names(sm) == {"theirs"}


def test_model_settings_round_trip(provider: SageMakerProvider) -> None:
    settings = ModelSettings(
        execution_role_arn="arn:aws:iam::123456789012:role/other",
        enable_network_isolation=True,
        vpc={"subnets": ["subnet-1", "subnet-2"], "security_groups": ["sg-1"]},
    )
    m = model(environment={"SAGEMAKER_PROGRAM": "serve.py"})
    desired = provider.desired(m, settings, {}, None)
    created = provider.create("model", desired, RecordingContext(m.address))
    assert user_fields(created, ("arn",)) == user_fields(desired, ("arn",))
    assert created["enable_network_isolation"] is True
    assert provider.to_spec("model", created)["sagemaker"] == settings.model_dump(mode="json")


def test_model_create_adopts_an_identical_model_and_refuses_a_different_one(
    provider: SageMakerProvider,
) -> None:
    desired = provider.desired(model(), None, {}, None)
    first = provider.create("model", desired, RecordingContext("model.fraud-xgb"))
    assert provider.create("model", desired, RecordingContext("model.fraud-xgb")) == first  # a retry
    clash = {**desired, "artifact": "s3://ml/other/model.tar.gz"}
    with pytest.raises(ProviderError, match="different SageMaker model"):
        provider.create("model", clash, RecordingContext("model.fraud-xgb"))


def test_throttling_is_retried(provider: SageMakerProvider, sm_emulator: SageMakerEmulator) -> None:
    sm_emulator.update_settings(
        {"fail": [{"action": "DescribeModel", "code": "ThrottlingException", "times": 1}]}
    )
    assert provider.read("model", {"name": "nope-00000000"}) is None
    assert sm_emulator.settings["fail"] == []  # the rule fired (and was used up)


def test_client_errors_become_provider_errors() -> None:
    class Throttled:
        def describe_model(self, **_: Any) -> None:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "DescribeModel"
            )

    with pytest.raises(ProviderError) as info:
        call(Throttled(), "describe_model", ModelName="m")
    assert str(info.value) == "DescribeModel: ThrottlingException: slow down"
    assert info.value.code == "ThrottlingException" and info.value.retryable


# ------------------------------------------------------------------------------------------- delete
def test_delete_leaves_nothing(provider: SageMakerProvider, sm: Any, aas: Any) -> None:
    created_model = create(provider, model())
    created = deployed(provider, created_model)
    provider.delete("endpoint", created, RecordingContext("endpoint.fraud-api"))
    provider.delete("model", created_model, RecordingContext("model.fraud-xgb"))

    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []
    assert scalable_targets(aas) == {}
    assert aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"] == []
    # Deleting what is gone is not an error.
    provider.delete("endpoint", created, RecordingContext("endpoint.fraud-api"))
    provider.delete("model", created_model, RecordingContext("model.fraud-xgb"))


def test_delete_keeps_configs_of_other_endpoints(provider: SageMakerProvider, sm: Any) -> None:
    created_model = create(provider, model())
    api = deployed(provider, created_model)
    # `fraud-api-v2` configs start with `fraud-api-` too, but belong to another address.
    v2 = deployed(provider, created_model, endpoint("fraud-api-v2"))
    provider.delete("endpoint", api, RecordingContext("endpoint.fraud-api"))
    assert config_names(sm) == {v2["endpoint_config_name"]}


# ------------------------------------------------------------------------------------------- import
def test_import_and_generated_spec_plan_no_changes(
    provider: SageMakerProvider, sm: Any, wait_endpoint: Callable[..., Any]
) -> None:
    sm.create_model(
        ModelName="legacy-model",
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://ml/legacy/model.tar.gz"},
        ExecutionRoleArn=ROLE,
    )
    sm.create_endpoint_config(
        EndpointConfigName="legacy-config",
        ProductionVariants=[
            {
                "VariantName": "main",
                "ModelName": "legacy-model",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    sm.create_endpoint(EndpointName="legacy-api", EndpointConfigName="legacy-config")
    wait_endpoint(sm, "legacy-api")

    imported_model = provider.import_resource("model", "legacy-model")
    imported = provider.import_resource("endpoint", "legacy-api")
    assert imported["endpoint_config_name"] == "legacy-config"

    model_yaml = provider.to_spec("model", imported_model)
    endpoint_yaml = provider.to_spec("endpoint", imported)
    m = Resource("model", "legacy-model", ModelSpec.model_validate(model_yaml))
    e = Resource("endpoint", "legacy-api", EndpointSpec.model_validate(endpoint_yaml))
    planned_model = provider.desired(
        m, ModelSettings.model_validate(model_yaml.get("sagemaker", {})), {}, imported_model
    )
    planned = provider.desired(e, None, {"model.legacy-model": planned_model}, imported)
    # Identical but for the ownership tags the first apply adds, in place.
    assert planned_model["name"] == "legacy-model"
    assert {k: v for k, v in planned_model.items() if k != "tags"} == {
        k: v for k, v in imported_model.items() if k != "tags"
    }
    assert {k: v for k, v in planned.items() if k != "tags"} == {
        k: v for k, v in imported.items() if k != "tags"
    }


def test_import_of_a_missing_endpoint_fails(provider: SageMakerProvider) -> None:
    with pytest.raises(ProviderError, match="no SageMaker endpoint named 'ghost'"):
        provider.import_resource("endpoint", "ghost")


# ---------------------------------------------------------------------------------- offline behaviour
def test_framework_image_resolves_to_an_ecr_uri(provider: SageMakerProvider) -> None:
    m = model(image={"framework": "xgboost", "version": "1.7-1"})
    image = provider.desired(m, None, {}, None)["image"]
    assert image.endswith(".amazonaws.com/sagemaker-xgboost:1.7-1")
    assert ".dkr.ecr.us-east-1." in image


def test_unknown_framework_version_lists_the_supported_ones(provider: SageMakerProvider) -> None:
    with pytest.raises(StackError, match=r"xgboost 0\.1.*1\.7-1"):
        provider.framework_image("model", FrameworkImage(framework="xgboost", version="0.1"))


def test_framework_images_are_resolved_when_the_stack_is_validated(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text(
        "apiVersion: mlops-gitops/v1\nname: fraud\n"
        f"provider: {{sagemaker: {{region: us-east-1, role_arn: '{ROLE}'}}}}\n"
        "models:\n  fraud-xgb:\n    artifact: s3://ml/fraud/v7/model.tar.gz\n"
        "    image: {framework: xgboost, version: '0.1'}\n"
    )
    with pytest.raises(StackError) as refused:
        open_workspace(load_stack(tmp_path / "stack.yaml", environ={}))
    (line,) = refused.value.lines()
    assert line.startswith(f"{tmp_path / 'stack.yaml'}:7:12: models.fraud-xgb.image: SageMaker has no")
    (tmp_path / "stack.yaml").write_text((tmp_path / "stack.yaml").read_text().replace("'0.1'", "1.7-1"))
    ws = open_workspace(load_stack(tmp_path / "stack.yaml", environ={}))
    assert ws.images == {"model.fraud-xgb": IMAGE}


def test_validate_reports_what_sagemaker_cannot_do() -> None:
    provider = SageMakerProvider(SageMakerConfig(region="us-east-1"), stack=STACK)
    m = model(artifact="gs://bucket/model", registry={"group": "fraud"})
    assert {d.path for d in provider.validate(m, None)} == {"sagemaker.execution_role_arn", "artifact"}
    assert provider.validate(model(), ModelSettings(execution_role_arn=ROLE)) == []
    e = endpoint(rollout={"strategy": "canary", "canary_percent": 60, "rollback_on": ["p99"]})
    assert {(d.path, d.severity) for d in provider.validate(e, None)} == {
        ("rollout.canary_percent", "error"),
        ("rollout", "warning"),  # two variants: no guardrails
    }


def test_settings_blocks_refuse_unknown_keys() -> None:
    with pytest.raises(ValueError, match="regoin"):
        SageMakerConfig.model_validate({"region": "us-east-1", "regoin": "x"})
    with pytest.raises(ValueError, match="kms_key"):
        EndpointSettings.model_validate({"kms_key": "k"})


def test_importing_the_provider_loads_no_aws_sdk() -> None:
    code = (
        "import sys, mlops_sagemaker.provider; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore', 'moto', 'sagemaker'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
