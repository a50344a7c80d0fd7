"""Safe rollouts on SageMaker: `rollout:` as deployment guardrails on UpdateEndpoint, alarm
rollback, the all-at-once fallback warning, and the provider's `rollback` of an endpoint. Pure
translation first, then stacks planned and applied through the engine (StackHarness) against the
emulator, whose guarded updates go through their canary and bake stages and roll back on an alarm
in ALARM."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlops_sagemaker import rollout
from mlops_sagemaker.config import SageMakerConfig
from mlops_sagemaker.provider import SageMakerProvider
from mlops_sagemaker_sandbox.server import SageMakerEmulator

from mlops_gitops.errors import Diagnostic, ProviderError
from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import EndpointSpec, Rollout
from mlops_gitops.testing import RecordingContext
from mlops_gitops.testing.harness import StackHarness, actions

ROLE = "arn:aws:iam::123456789012:role/rollout"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ALARM = "fraud-api-p99-latency-high"
ENDPOINT = "endpoint.fraud-api"

STACK = f"""\
apiVersion: mlops-gitops/v1
name: fraud
provider:
  sagemaker:
    region: us-east-1
    role_arn: {ROLE}
models:
  fraud-xgb:
    artifact: s3://ml/fraud/v7/model.tar.gz
    image: {IMAGE}
endpoints:
  fraud-api:
    variants:
      - {{name: main, model: fraud-xgb, instance_type: ml.m5.large, instance_count: 4}}
    rollout: {{strategy: canary, canary_percent: 25, bake_minutes: 10, rollback_on: [{ALARM}]}}
"""


# ============================================================================= pure: translation
def attrs(**spec: Any) -> dict[str, Any]:
    return rollout.attributes(Rollout(**spec), [{"name": "main", "instance_type": "ml.m5.large"}], None)


def test_canary_linear_and_all_at_once_become_traffic_routing() -> None:
    canary = rollout.deployment_config(
        attrs(strategy="canary", canary_percent=10, bake_minutes=10, rollback_on=["a", "b"])
    )
    assert canary == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "WaitIntervalInSeconds": 600,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
            },
            "TerminationWaitInSeconds": 0,
            # The waits (two bakes) plus an hour for the new fleet to come up.
            "MaximumExecutionTimeoutInSeconds": 2 * 600 + 3600,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "a"}, {"AlarmName": "b"}]},
    }
    linear = rollout.deployment_config(
        attrs(
            strategy="linear",
            step_percent=20,
            interval_minutes=3,
            termination_wait_minutes=15,
            timeout_minutes=90,
        )
    )
    assert linear is not None
    assert linear["BlueGreenUpdatePolicy"] == {
        "TrafficRoutingConfiguration": {
            "Type": "LINEAR",
            "WaitIntervalInSeconds": 180,
            "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 20},
        },
        "TerminationWaitInSeconds": 900,
        "MaximumExecutionTimeoutInSeconds": 5400,
    }
    assert "AutoRollbackConfiguration" not in linear
    at_once = rollout.deployment_config(attrs(bake_minutes=0))
    assert at_once is not None
    assert at_once["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"] == {
        "Type": "ALL_AT_ONCE",
        "WaitIntervalInSeconds": 0,
    }
    # No waits: the timeout is the hour allowed for the new fleet to come up.
    assert at_once["BlueGreenUpdatePolicy"]["MaximumExecutionTimeoutInSeconds"] == 3600
    assert rollout.deployment_config(None) is None


@pytest.mark.parametrize(
    ("variants", "previous", "reason"),
    [
        ([{"name": "a"}, {"name": "b"}], None, "the endpoint has 2 variants"),
        ([{"name": "a", "serverless": {"memory_mb": 2048}}], None, "variant a is serverless"),
        (
            [{"name": "a", "instance_type": "ml.inf1.xlarge"}],
            None,
            "variant a runs on Inf1 instances (ml.inf1.xlarge)",
        ),
        ([{"name": "b", "instance_type": "ml.m5.large"}], [{"name": "a"}], "the variant changes from a to b"),
        ([{"name": "a", "instance_type": "ml.inf2.xlarge"}], [{"name": "a"}], None),
    ],
)
def test_where_guardrails_do_not_apply(
    variants: list[dict[str, Any]], previous: list[dict[str, Any]] | None, reason: str | None
) -> None:
    assert rollout.fallback_reason(variants, previous) == reason
    spec = Rollout(strategy="canary", canary_percent=10)
    planned = rollout.attributes(spec, variants, previous)
    assert planned.get("fallback") == reason
    # No guardrails are sent where they do not apply: the plan's warning is what happens.
    assert (rollout.deployment_config(planned) is None) == (reason is not None)


def test_alarm_names_are_found_whole_in_a_failure_reason() -> None:
    reason = "Deployment rolled back: alarm(s) p99-latency in ALARM"
    assert rollout.alarms_named(reason, ["p99", "p99-latency", "errors"]) == ["p99-latency"]
    assert rollout.alarms_named("no alarm named", ["p99"]) == []


def test_describe_says_how_the_next_config_rolls_out() -> None:
    assert rollout.describe(
        attrs(strategy="canary", canary_percent=10, bake_minutes=10, rollback_on=["p99"])
    ) == ("canary: 10% of capacity, bake 10 min, then the rest; rolls back if alarm p99 goes to ALARM")
    assert rollout.describe(attrs(strategy="linear", step_percent=25, interval_minutes=4)) == (
        "linear: 25% of capacity at a time, 4 min apart (4 steps)"
    )
    two = rollout.attributes(
        Rollout(strategy="canary", canary_percent=10), [{"name": "a"}, {"name": "b"}], None
    )
    assert rollout.describe(two) == (
        "all traffic at once: deployment guardrails do not apply (the endpoint has 2 variants)"
    )


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"strategy": "canary", "canary_percent": 60}, "rollout.canary_percent"),
        ({"strategy": "linear", "step_percent": 5}, "rollout.step_percent"),
        ({"bake_minutes": 61}, "rollout.bake_minutes"),
        ({"strategy": "linear", "step_percent": 50, "interval_minutes": 90}, "rollout.interval_minutes"),
        ({"termination_wait_minutes": 61}, "rollout.termination_wait_minutes"),
        ({"rollback_on": [f"a{i}" for i in range(11)]}, "rollout.rollback_on"),
        ({"timeout_minutes": 5}, "rollout.timeout_minutes"),
        ({"bake_minutes": 30, "timeout_minutes": 20}, "rollout.timeout_minutes"),
        # Ten steps of an hour, and the old fleet kept an hour: beyond the 8-hour limit.
        (
            {"strategy": "linear", "step_percent": 10, "bake_minutes": 60, "termination_wait_minutes": 60},
            "rollout",
        ),
    ],
)
def test_problems_sagemaker_would_refuse(spec: dict[str, Any], path: str) -> None:
    assert [d.path for d in rollout.problems(Rollout(**spec))] == [path]


def test_a_valid_rollout_has_no_problems() -> None:
    assert rollout.problems(Rollout(strategy="linear", step_percent=50, interval_minutes=60)) == []


# ================================================================================== validate
def endpoint(variants: list[dict[str, Any]], **spec: Any) -> Resource:
    return Resource("endpoint", "fraud-api", EndpointSpec(variants=variants, **spec))


def test_validate_warns_where_guardrails_fall_back() -> None:
    provider = SageMakerProvider(SageMakerConfig(region="us-east-1", role_arn=ROLE), stack="fraud")
    two = [
        {"name": "blue", "model": "m", "instance_type": "ml.m5.large", "weight": 90},
        {"name": "green", "model": "m", "instance_type": "ml.m5.large", "weight": 10},
    ]
    canary = {"strategy": "canary", "canary_percent": 10, "rollback_on": ["p99"]}
    (warning,) = provider.validate(endpoint(two, rollout=canary), None)
    assert warning == Diagnostic(
        "deployment guardrails do not apply here (the endpoint has 2 variants): updates shift all "
        "traffic at once, with no canary or linear steps, bake or alarm rollback",
        "rollout",
        severity="warning",
    )
    one = two[:1]
    assert provider.validate(endpoint(one, rollout=canary), None) == []
    # All at once without alarms is what SageMaker does anyway: nothing to warn about.
    assert provider.validate(endpoint(two, rollout={"strategy": "all_at_once"}), None) == []
    serverless = [{"name": "s", "model": "m", "serverless": {}}]
    (warning,) = provider.validate(endpoint(serverless, rollout=canary), None)
    assert "variant s is serverless" in warning.message


def test_the_plan_shows_the_fallback_warning(sm_emulator: SageMakerEmulator, tmp_path: Path) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        STACK.replace(
            "      - {name: main, model: fraud-xgb, instance_type: ml.m5.large, instance_count: 4}\n",
            "      - {name: blue, model: fraud-xgb, instance_type: ml.m5.large, weight: 90}\n"
            "      - {name: green, model: fraud-xgb, instance_type: ml.m5.large, weight: 10}\n",
        )
    )
    plan = StackHarness(stack, SandboxEndpoints({"sagemaker": sm_emulator.url})).plan()
    (warning,) = plan.warnings
    assert warning.startswith(
        f"{stack}:16:14: endpoints.fraud-api.rollout: deployment guardrails do not apply"
    )
    assert "(the endpoint has 2 variants)" in warning


# ======================================================================= against the emulator
@pytest.fixture
def stack_file(tmp_path: Path) -> Path:
    path = tmp_path / "stack.yaml"
    path.write_text(STACK)
    return path


@pytest.fixture
def harness(sm_emulator: SageMakerEmulator, stack_file: Path) -> StackHarness:
    # Bakes of a few tenths of a second (10 minutes: 0.6 s); a test that acts during one slows
    # them down.
    sm_emulator.update_settings({"guardrail_time_scale": 0.001})
    return StackHarness(stack_file, SandboxEndpoints({"sagemaker": sm_emulator.url}))


@pytest.fixture
def sm(sm_client: Callable[..., Any]) -> Any:
    return sm_client()


@pytest.fixture
def cloudwatch(sm_client: Callable[..., Any]) -> Any:
    client = sm_client("cloudwatch")
    client.put_metric_alarm(
        AlarmName=ALARM,
        Namespace="AWS/SageMaker",
        MetricName="ModelLatency",
        Dimensions=[{"Name": "EndpointName", "Value": "fraud-api"}, {"Name": "VariantName", "Value": "main"}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=500_000,
        ComparisonOperator="GreaterThanThreshold",
    )
    return client


def apply_ok(h: StackHarness) -> dict[str, str]:
    plan, result = h.apply()
    assert result.ok, result.errors
    return actions(plan)


def state_attrs(h: StackHarness, address: str = ENDPOINT) -> dict[str, Any]:
    state = h.state()
    assert state is not None and state.get(address) is not None
    return dict(state.get(address).attributes)  # type: ignore[union-attr]


def instance_type(sm: Any, config: str) -> str:
    return str(
        sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]["InstanceType"]
    )


def bigger_instances(text: str) -> str:
    return text.replace("instance_type: ml.m5.large", "instance_type: ml.c5.xlarge")


def test_canary_update_lands_on_the_new_config(harness: StackHarness, sm: Any, cloudwatch: Any) -> None:
    apply_ok(harness)
    before = state_attrs(harness)

    harness.edit(bigger_instances)
    plan = harness.plan()
    (change,) = [c for c in plan.changes if c.action != "noop"]
    assert change.notes == [
        "a new endpoint configuration rolls out canary: 25% of capacity, bake 10 min, then the rest; "
        f"rolls back if alarm {ALARM} goes to ALARM"
    ]
    apply_ok(harness)

    desc = sm.describe_endpoint(EndpointName="fraud-api")
    after = state_attrs(harness)
    assert desc["EndpointStatus"] == "InService"
    assert desc["EndpointConfigName"] == after["endpoint_config_name"] != before["endpoint_config_name"]
    assert instance_type(sm, desc["EndpointConfigName"]) == "ml.c5.xlarge"
    routing = desc["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {
        "Type": "CANARY",
        "WaitIntervalInSeconds": 600,
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 25},
    }
    assert desc["LastDeploymentConfig"]["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": ALARM}]}
    assert actions(harness.plan()) == {}


def wait_for_bake(sm: Any, name: str, timeout: float = 10.0) -> None:
    """Until the endpoint's pending deployment is in a baking stage."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = sm.describe_endpoint(EndpointName=name).get("PendingDeploymentSummary") or {}
        statuses = [
            s["Status"] for v in pending.get("ProductionVariants", []) for s in v.get("VariantStatus", [])
        ]
        if "Baking" in statuses:
            return
        time.sleep(0.02)
    pytest.fail(f"endpoint {name} never started baking")


def test_alarm_during_the_canary_bake_rolls_back_and_state_says_so(
    harness: StackHarness, sm: Any, cloudwatch: Any, sm_emulator: SageMakerEmulator
) -> None:
    sm_emulator.update_settings({"guardrail_time_scale": 0.02})  # a 10-minute bake: 12 s
    apply_ok(harness)
    old = state_attrs(harness)["endpoint_config_name"]

    harness.edit(bigger_instances)
    outcome: dict[str, Any] = {}
    applying = threading.Thread(
        target=lambda: outcome.update(zip(("plan", "result"), harness.apply(), strict=True))
    )
    applying.start()
    wait_for_bake(sm, "fraud-api")
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="p99 latency above 500 ms")
    applying.join(timeout=30)
    assert not applying.is_alive()

    result = outcome["result"]
    ((address, message),) = result.errors
    assert address == ENDPOINT
    assert f"alarm {ALARM} went to ALARM" in message and f"rolled back to {old}" in message

    desc = sm.describe_endpoint(EndpointName="fraud-api")
    assert (desc["EndpointStatus"], desc["EndpointConfigName"]) == ("InService", old)
    assert instance_type(sm, old) == "ml.m5.large"
    # The config made for the update is gone; state records the config still serving.
    assert [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]] == [old]
    recorded = state_attrs(harness)
    assert recorded["endpoint_config_name"] == old
    assert recorded["variants"][0]["instance_type"] == "ml.m5.large"

    # The next plan offers the update again; nothing changed outside mlops.
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="recovered")
    plan = harness.plan()
    assert plan.drift == []
    (change,) = [c for c in plan.changes if c.action != "noop"]
    assert change.action == "update"
    assert [(c.path, c.after) for c in change.changes] == [("variants[0].instance_type", "ml.c5.xlarge")]


def test_a_rollback_alarm_that_does_not_exist_is_refused_before_anything_changes(
    harness: StackHarness, sm: Any, cloudwatch: Any
) -> None:
    apply_ok(harness)
    old = state_attrs(harness)["endpoint_config_name"]
    harness.edit(
        lambda s: bigger_instances(s).replace(f"rollback_on: [{ALARM}]", "rollback_on: [typo-alarm]")
    )
    _, result = harness.apply()
    ((_, message),) = result.errors
    assert "no CloudWatch alarm named typo-alarm in us-east-1" in message
    assert [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]] == [old]


def test_weight_and_count_changes_go_around_the_guardrails(
    harness: StackHarness, sm: Any, cloudwatch: Any
) -> None:
    apply_ok(harness)
    old = state_attrs(harness)["endpoint_config_name"]
    harness.edit(lambda s: s.replace("instance_count: 4", "instance_count: 6"))
    apply_ok(harness)
    desc = sm.describe_endpoint(EndpointName="fraud-api")
    assert desc["EndpointConfigName"] == old
    assert desc["ProductionVariants"][0]["CurrentInstanceCount"] == 6
    assert "LastDeploymentConfig" not in desc  # no UpdateEndpoint was made


# ========================================================================= rollback of an endpoint
@dataclass
class RollbackContext(RecordingContext):
    address: str = ENDPOINT

    def checkpoint(self, attributes: Mapping[str, Any]) -> None:
        # Only the config a rollback switches to, as pending: never a claim it runs it.
        assert set(attributes) == {"pending_config"}, attributes
        super().checkpoint(attributes)


def provider_for(sm_emulator: SageMakerEmulator) -> SageMakerProvider:
    config = SageMakerConfig(region="us-east-1", role_arn=ROLE)
    return SageMakerProvider(config, stack="fraud", sandbox=SandboxEndpoints({"sagemaker": sm_emulator.url}))


def history(h: StackHarness) -> list[dict[str, Any]]:
    state = h.state()
    assert state is not None
    return [dict(a) for a in state.get(ENDPOINT).history]  # type: ignore[union-attr]


def test_rollback_endpoint_rebuilds_a_deleted_config(
    harness: StackHarness, sm: Any, cloudwatch: Any, sm_emulator: SageMakerEmulator, stack_file: Path
) -> None:
    stack_file.write_text(STACK.replace("instance_count: 4}", "instance_count: 4, weight: 3}"))
    apply_ok(harness)
    harness.edit(bigger_instances)
    apply_ok(harness)
    harness.edit(lambda s: s.replace("weight: 3", "weight: 2"))
    apply_ok(harness)
    current = state_attrs(harness)
    target = history(harness)[-1]  # as first applied: ml.m5.large, weight 3
    assert instance_type(sm, current["endpoint_config_name"]) == "ml.c5.xlarge"
    assert target["endpoint_config_name"] not in {
        c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]
    }

    back = provider_for(sm_emulator).rollback("endpoint", current, target, RollbackContext())

    desc = sm.describe_endpoint(EndpointName="fraud-api")
    assert (
        desc["EndpointStatus"] == "InService" and desc["EndpointConfigName"] == back["endpoint_config_name"]
    )
    assert instance_type(sm, back["endpoint_config_name"]) == "ml.m5.large"
    assert "LastDeploymentConfig" not in desc or desc["LastDeploymentConfig"] is None
    assert back["variants"] == target["variants"]
    # Only the config in use is left.
    assert [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]] == [
        back["endpoint_config_name"]
    ]


def test_rollback_endpoint_reuses_a_config_that_still_exists(
    harness: StackHarness, sm: Any, cloudwatch: Any, sm_emulator: SageMakerEmulator
) -> None:
    apply_ok(harness)
    first = state_attrs(harness)
    kept = sm.describe_endpoint_config(EndpointConfigName=first["endpoint_config_name"])
    harness.edit(bigger_instances)
    apply_ok(harness)
    current = state_attrs(harness)
    # The first config, as it was (someone kept a copy; SageMaker names are reusable once deleted).
    sm.create_endpoint_config(
        EndpointConfigName=first["endpoint_config_name"], ProductionVariants=kept["ProductionVariants"]
    )

    back = provider_for(sm_emulator).rollback("endpoint", current, first, RollbackContext())

    assert back["endpoint_config_name"] == first["endpoint_config_name"]
    assert (
        sm.describe_endpoint(EndpointName="fraud-api")["EndpointConfigName"] == first["endpoint_config_name"]
    )
    assert back == first


def test_rollback_endpoint_remakes_the_model_of_a_registry_version(
    harness: StackHarness, sm: Any, sm_emulator: SageMakerEmulator, stack_file: Path
) -> None:
    sm.create_model_package_group(ModelPackageGroupName="fraud-detection")
    for artifact in ("v7", "v8"):
        sm.create_model_package(
            ModelPackageGroupName="fraud-detection",
            InferenceSpecification={
                "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://ml/{artifact}.tar.gz"}]
            },
            ModelApprovalStatus="Approved",
        )
    stack_file.write_text(
        STACK.split("models:")[0]
        + "endpoints:\n  fraud-api:\n    variants:\n"
        + "      - {name: main, model_package: fraud-detection@1, instance_type: ml.m5.large}\n"
    )
    apply_ok(harness)
    first = state_attrs(harness)
    harness.edit(lambda s: s.replace("fraud-detection@1", "fraud-detection@2"))
    apply_ok(harness)
    current = state_attrs(harness)
    # The model made for version 1 went when the endpoint moved to version 2.
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == [current["variants"][0]["model"]]

    back = provider_for(sm_emulator).rollback("endpoint", current, first, RollbackContext())

    assert back["variants"][0]["model_package_version"] == 1
    assert back["variants"][0]["model"] == first["variants"][0]["model"]
    model = sm.describe_model(ModelName=first["variants"][0]["model"])
    assert model["Containers"][0]["ModelPackageName"].endswith("model-package/fraud-detection/1")
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == [first["variants"][0]["model"]]


def test_rollback_endpoint_refuses_when_a_model_is_gone(
    harness: StackHarness, sm: Any, sm_emulator: SageMakerEmulator, cloudwatch: Any
) -> None:
    apply_ok(harness)
    first = state_attrs(harness)
    harness.edit(lambda s: s.replace("fraud/v7/", "fraud/v8/"))  # replaces the model
    apply_ok(harness)
    current = state_attrs(harness)
    with pytest.raises(ProviderError, match=rf"model {first['variants'][0]['model']} no longer exists"):
        provider_for(sm_emulator).rollback("endpoint", current, first, RollbackContext())
    assert (
        sm.describe_endpoint(EndpointName="fraud-api")["EndpointConfigName"]
        == current["endpoint_config_name"]
    )
