"""Retiring a model on SageMaker: the engine plans and applies whole stacks (StackHarness), and
boto3 reads what the emulator holds. A retired registered model keeps its Model and artifact,
its version is archived (Rejected, stage Archived) and both carry the retirement tags; removing
the `retired:` block restores the stack's approval."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mlops_sagemaker import registry
from mlops_sagemaker.registry import PackageRef, ResolveError
from mlops_sagemaker_sandbox.server import SageMakerEmulator

from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.stack.retire import TAG_AT, TAG_BY, TAG_REASON
from mlops_gitops.testing.harness import StackHarness, actions

ROLE = "arn:aws:iam::123456789012:role/retirement"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
GROUP = "fraud-detection"
RETIRED = "    retired: {reason: superseded by fraud-v8 (AUC 0.91 vs 0.87), by: risk-ml}\n"

STACK = f"""\
apiVersion: mlops-gitops/v1
name: fraud
provider:
  sagemaker:
    region: us-east-1
    role_arn: {ROLE}
models:
  fraud-v8:
    artifact: s3://ml/fraud/v8/model.tar.gz
    image: {IMAGE}
  fraud-v7:
    artifact: s3://ml/fraud/v7/model.tar.gz
    image: {IMAGE}
    registry: {{group: {GROUP}, approval: Approved}}
    tags: {{owner: risk-ml}}
endpoints:
  fraud-api:
    variants:
      - {{name: current, model: fraud-v8, instance_type: ml.m5.large, weight: 90}}
      - {{name: candidate, model: fraud-v7, instance_type: ml.m5.large, weight: 10}}
"""


@pytest.fixture
def stack_file(tmp_path: Path) -> Path:
    return tmp_path / "stack.yaml"


@pytest.fixture
def harness(sm_emulator: SageMakerEmulator, stack_file: Path) -> StackHarness:
    return StackHarness(stack_file, SandboxEndpoints({"sagemaker": sm_emulator.url}))


@pytest.fixture
def sm(sm_client: Callable[..., Any]) -> Any:
    return sm_client()


def apply_ok(h: StackHarness) -> dict[str, str]:
    plan, result = h.apply()
    assert result.ok, result.errors
    return actions(plan)


def state_attrs(h: StackHarness, address: str) -> dict[str, Any]:
    state = h.state()
    assert state is not None and state.get(address) is not None, address
    return dict(state.get(address).attributes)  # type: ignore[union-attr]


def tags(sm: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}


def retire(text: str, model: str = "fraud-v7", block: str = RETIRED) -> str:
    head = f"  {model}:\n"
    assert head in text
    return text.replace(head, head + block, 1)


def test_retiring_a_registered_model_archives_its_version_and_keeps_the_model(
    harness: StackHarness, stack_file: Path, sm: Any
) -> None:
    stack_file.write_text(STACK)
    apply_ok(harness)
    before = state_attrs(harness, "model.fraud-v7")
    assert (before["approval"], before["archived"]) == ("Approved", False)

    harness.edit(retire)
    plan = harness.plan()
    assert actions(plan) == {"model.fraud-v7": "retire", "endpoint.fraud-api": "update"}
    (change,) = [c for c in plan.changes if c.address == "model.fraud-v7"]
    changed = {c.path: (c.before, c.after) for c in change.changes}
    assert changed["approval"] == ("Approved", "Rejected")
    assert changed["archived"] == (False, True)
    assert {f'tags["{k}"]' for k in (TAG_REASON, TAG_BY, TAG_AT)} <= set(changed)
    apply_ok(harness)

    after = state_attrs(harness, "model.fraud-v7")
    assert (after["name"], after["package_arn"]) == (before["name"], before["package_arn"])
    assert (after["approval"], after["archived"]) == ("Rejected", True)
    # The version: rejected, archived, tagged; the same version, not a new one.
    package = sm.describe_model_package(ModelPackageName=after["package_arn"])
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ModelLifeCycle"] == {
        "Stage": "Archived",
        "StageStatus": "Retired",
        "StageDescription": "retired by risk-ml: superseded by fraud-v8 -AUC 0.91 vs 0.87-",
    }
    assert [
        p["ModelPackageVersion"]
        for p in sm.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    ] == [1]
    package_tags = tags(sm, after["package_arn"])
    assert package_tags[TAG_REASON] == "superseded by fraud-v8 -AUC 0.91 vs 0.87-"  # AWS-safe
    assert package_tags[TAG_BY] == "risk-ml" and package_tags[TAG_AT]
    assert package_tags["owner"] == "risk-ml"
    # The Model and its artifact stay, tagged the same way.
    model = sm.describe_model(ModelName=after["name"])
    assert model["PrimaryContainer"]["ModelDataUrl"] == "s3://ml/fraud/v7/model.tar.gz"
    model_tags = tags(sm, model["ModelArn"])
    assert {k: model_tags[k] for k in (TAG_REASON, TAG_BY, TAG_AT)} == {
        k: package_tags[k] for k in (TAG_REASON, TAG_BY, TAG_AT)
    }
    # It serves no more: the endpoint runs the other variant alone, on all the traffic.
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName="fraud-api")["EndpointConfigName"]
    )
    assert [(v["VariantName"], v["InitialVariantWeight"]) for v in config["ProductionVariants"]] == [
        ("current", 90.0)
    ]
    # `@latest-approved` no longer names it.
    provider = harness.workspace().provider
    with pytest.raises(ResolveError, match="has no Approved version"):
        registry.resolve(PackageRef(GROUP, None), provider.registry.versions(GROUP), [])  # type: ignore[attr-defined]
    # Read back as applied: nothing to do, and applying again changes nothing.
    assert provider.read("model", after) == {**after, "package_group_owned": True}
    assert actions(harness.plan()) == {}
    assert apply_ok(harness) == {}
    package = sm.describe_model_package(ModelPackageName=after["package_arn"])
    assert package["ModelApprovalStatus"] == "Rejected"
    state = harness.state()
    assert state is not None and state.get("model.fraud-v7").retired is not None  # type: ignore[union-attr]


def test_un_retiring_restores_the_approval_and_removes_the_tags(
    harness: StackHarness, stack_file: Path, sm: Any
) -> None:
    stack_file.write_text(retire(STACK))
    # Retired before it was ever made: nothing of it is made.
    assert apply_ok(harness) == {"model.fraud-v8": "create", "endpoint.fraud-api": "create"}
    stack_file.write_text(STACK)
    apply_ok(harness)
    harness.edit(retire)
    apply_ok(harness)
    arn = state_attrs(harness, "model.fraud-v7")["package_arn"]
    # Someone else tags the version too: not ours to remove.
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "audit", "Value": "2026-q4"}])

    harness.edit(lambda s: s.replace(RETIRED, ""))
    plan = harness.plan()
    assert actions(plan) == {"model.fraud-v7": "update", "endpoint.fraud-api": "update"}
    apply_ok(harness)
    attrs = state_attrs(harness, "model.fraud-v7")
    assert (attrs["approval"], attrs["archived"], attrs["package_arn"]) == ("Approved", False, arn)
    package = sm.describe_model_package(ModelPackageName=arn)
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["ModelLifeCycle"]["Stage"] == "Restored"
    package_tags = tags(sm, arn)
    assert not {TAG_REASON, TAG_BY, TAG_AT} & set(package_tags)
    assert package_tags["audit"] == "2026-q4" and package_tags["owner"] == "risk-ml"
    model_tags = tags(sm, sm.describe_model(ModelName=attrs["name"])["ModelArn"])
    assert not {TAG_REASON, TAG_BY, TAG_AT} & set(model_tags)
    assert actions(harness.plan()) == {}


def test_a_version_unarchived_outside_mlops_is_drift_archived_again(
    harness: StackHarness, stack_file: Path, sm: Any
) -> None:
    stack_file.write_text(STACK)
    apply_ok(harness)
    harness.edit(retire)
    apply_ok(harness)
    arn = state_attrs(harness, "model.fraud-v7")["package_arn"]
    sm.update_model_package(
        ModelPackageArn=arn,
        ModelApprovalStatus="Approved",
        ModelLifeCycle={"Stage": "Production", "StageStatus": "Approved"},
    )
    plan = harness.plan()
    assert [(c.address, sorted(f.path for f in c.changes)) for c in plan.drift] == [
        ("model.fraud-v7", ["approval", "archived"])
    ]
    apply_ok(harness)
    package = sm.describe_model_package(ModelPackageName=arn)
    assert (package["ModelApprovalStatus"], package["ModelLifeCycle"]["Stage"]) == ("Rejected", "Archived")
    assert actions(harness.plan()) == {}


def test_archive_false_keeps_the_approval_and_tags_the_version(
    harness: StackHarness, stack_file: Path, sm: Any
) -> None:
    stack_file.write_text(STACK)
    apply_ok(harness)
    kept = "    retired: {reason: audit hold, by: risk-ml, archive: false}\n"
    harness.edit(lambda s: retire(s, block=kept))
    assert actions(harness.plan()) == {"model.fraud-v7": "retire", "endpoint.fraud-api": "update"}
    apply_ok(harness)
    attrs = state_attrs(harness, "model.fraud-v7")
    assert (attrs["approval"], attrs["archived"]) == ("Approved", False)
    package = sm.describe_model_package(ModelPackageName=attrs["package_arn"])
    assert package["ModelApprovalStatus"] == "Approved" and "ModelLifeCycle" not in package
    assert tags(sm, attrs["package_arn"])[TAG_REASON] == "audit hold"
    assert actions(harness.plan()) == {}


def test_an_unregistered_model_gets_the_tags_only(harness: StackHarness, stack_file: Path, sm: Any) -> None:
    stack_file.write_text(STACK)
    apply_ok(harness)
    block = "    retired: {reason: replaced by fraud-v7, by: risk-ml}\n"
    harness.edit(lambda s: retire(s, "fraud-v8", block))
    assert actions(harness.plan()) == {"model.fraud-v8": "retire", "endpoint.fraud-api": "update"}
    apply_ok(harness)
    attrs = state_attrs(harness, "model.fraud-v8")
    assert "archived" not in attrs and "package_arn" not in attrs
    model = sm.describe_model(ModelName=attrs["name"])
    assert model["PrimaryContainer"]["ModelDataUrl"] == "s3://ml/fraud/v8/model.tar.gz"
    model_tags = tags(sm, model["ModelArn"])
    assert (model_tags[TAG_REASON], model_tags[TAG_BY]) == ("replaced by fraud-v7", "risk-ml")
    assert actions(harness.plan()) == {}


def test_the_emulator_keeps_a_versions_life_cycle(sm: Any) -> None:
    """moto drops ModelLifeCycle; the emulator keeps it, as given on create or update."""
    sm.create_model_package_group(ModelPackageGroupName=GROUP)
    spec = {"Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://ml/m.tar.gz"}]}
    plain = sm.create_model_package(ModelPackageGroupName=GROUP, InferenceSpecification=spec)
    assert "ModelLifeCycle" not in sm.describe_model_package(ModelPackageName=plain["ModelPackageArn"])
    staged = sm.create_model_package(
        ModelPackageGroupName=GROUP,
        InferenceSpecification=spec,
        ModelLifeCycle={"Stage": "Development", "StageStatus": "InProgress"},
    )["ModelPackageArn"]
    assert sm.describe_model_package(ModelPackageName=staged)["ModelLifeCycle"] == {
        "Stage": "Development",
        "StageStatus": "InProgress",
    }
    sm.update_model_package(ModelPackageArn=staged, ModelApprovalStatus="Approved")
    described = sm.describe_model_package(ModelPackageName=staged)
    assert described["ModelLifeCycle"]["Stage"] == "Development"  # left as it was
    assert described["ModelApprovalStatus"] == "Approved"
    sm.update_model_package(
        ModelPackageArn=staged, ModelLifeCycle={"Stage": "Archived", "StageStatus": "Retired"}
    )
    described = sm.describe_model_package(ModelPackageName=staged)
    assert described["ModelLifeCycle"] == {"Stage": "Archived", "StageStatus": "Retired"}
    assert described["ModelApprovalStatus"] == "Approved"
