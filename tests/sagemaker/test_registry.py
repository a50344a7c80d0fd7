"""The model registry on SageMaker: models registered as Model Package versions, and endpoint
variants deploying `<group>@<version>` / `<group>@latest-approved`. Pure resolution first, then
whole stacks planned and applied through the engine (StackHarness), checked with boto3 against
the emulator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mlops_sagemaker import registry
from mlops_sagemaker.config import SageMakerConfig
from mlops_sagemaker.provider import SageMakerProvider
from mlops_sagemaker.registry import PackageRef, PackageVersion, Planned, ResolveError
from mlops_sagemaker_sandbox.server import SageMakerEmulator

from mlops_gitops.errors import StackError
from mlops_gitops.provider import TAG_ADDRESS, UNKNOWN, SandboxEndpoints
from mlops_gitops.stack.loader import load_stack
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import EndpointSpec
from mlops_gitops.testing.harness import StackHarness, actions

ROLE = "arn:aws:iam::123456789012:role/registry"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
GROUP = "fraud-detection"
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/fraud-detection/{}"

HEAD = f"""\
apiVersion: mlops-gitops/v1
name: fraud
provider:
  sagemaker:
    region: us-east-1
    role_arn: {ROLE}
"""
REGISTERED = (
    HEAD
    + f"""\
models:
  fraud-xgb:
    artifact: s3://ml/fraud/v7/model.tar.gz
    image: {IMAGE}
    environment: {{FRAUD_THRESHOLD: "0.82"}}
    registry: {{group: {GROUP}, approval: PendingManualApproval, description: November retrain}}
"""
)


def endpoint_stack(model_package: str, extra: str = "") -> str:
    return (
        HEAD
        + f"""\
endpoints:
  fraud-api:
    variants:
      - {{name: main, model_package: "{model_package}", instance_type: ml.m5.large{extra}}}
"""
    )


# ============================================================================== pure: resolving
def versions(*approvals: str) -> list[PackageVersion]:
    return [PackageVersion(i, ARN.format(i), a) for i, a in enumerate(approvals, start=1)]


def test_latest_approved_is_the_highest_approved_version() -> None:
    listed = versions("Approved", "Approved", "Rejected", "PendingManualApproval")
    found = registry.resolve(PackageRef.parse(f"{GROUP}@latest-approved"), listed, [])
    assert found == PackageVersion(2, ARN.format(2), "Approved")
    # Versions compare as numbers: 10 is after 9, whatever order the API lists them in.
    many = versions(*["Approved"] * 10)
    summaries = [
        {"ModelPackageVersion": v.version, "ModelPackageArn": v.arn, "ModelApprovalStatus": v.approval}
        for v in sorted(many, key=lambda v: str(v.version))
    ]
    parsed = registry.versions_from_summaries(summaries)
    assert registry.resolve(PackageRef(GROUP, None), parsed, []).version == 10  # type: ignore[union-attr]


def test_resolution_sees_this_applys_registrations_and_approvals() -> None:
    listed = versions("Approved", "PendingManualApproval")
    latest = PackageRef(GROUP, None)
    # The stack approves version 2 in this apply: latest-approved moves to it.
    assert registry.resolve(latest, listed, [Planned(2, "Approved")]).version == 2  # type: ignore[union-attr]
    # ... or rejects version 1: nothing Approved is left.
    with pytest.raises(ResolveError, match=r"has no Approved version \(versions: 1 Approved"):
        registry.resolve(latest, listed, [Planned(1, "Rejected")])
    # A version registered Approved in this apply is not known before it.
    assert registry.resolve(latest, listed, [Planned(None, "Approved")]) is None
    assert registry.resolve(latest, listed, [Planned(None, "PendingManualApproval")]).version == 1  # type: ignore[union-attr]
    # group@3 does not exist yet, but a registration in this apply may be it.
    assert registry.resolve(PackageRef(GROUP, 3), listed, [Planned(None, "Approved")]) is None
    with pytest.raises(ResolveError, match=r"fraud-detection@3: .* has no version 3 \(versions: 1 Approved"):
        registry.resolve(PackageRef(GROUP, 3), listed, [])
    with pytest.raises(ResolveError, match="has no versions, or does not exist"):
        registry.resolve(PackageRef("nothing", 1), [], [])


def test_unapproved_versions_are_refused_unless_allowed() -> None:
    (pending,) = versions("PendingManualApproval")
    ref = PackageRef.parse(f"{GROUP}@1")
    assert registry.refusal(ref, pending, allow_unapproved=True) is None
    message = registry.refusal(ref, pending, allow_unapproved=False)
    assert message is not None
    assert "fraud-detection@1 is version 1" in message and "PendingManualApproval" in message
    assert "allow_unapproved: true" in message


def test_package_models_are_named_after_what_they_serve() -> None:
    name = registry.package_model_name("fraud-api", "main", ARN.format(3), ROLE)
    assert name.startswith("fraud-api-main-") and len(name) == len("fraud-api-main-") + 8
    assert registry.package_model_name("fraud-api", "main", ARN.format(3), ROLE) == name
    assert registry.package_model_name("fraud-api", "main", ARN.format(4), ROLE) != name
    assert registry.package_model_name("fraud-api", "main", ARN.format(3), ROLE + "2") != name
    long = registry.package_model_name("e" * 48, "v" * 63, ARN.format(3), ROLE)
    assert len(long) == 63 and long.startswith("e" * 48 + "-")
    assert registry.variant_from_arn(ARN.format(12)) == {
        "model_package": "fraud-detection@12",
        "model_package_arn": ARN.format(12),
        "model_package_version": 12,
    }
    assert registry.variant_from_arn("arn:aws:sagemaker:us-east-1:1:model-package/unversioned") is None


# ================================================================================= schema
@pytest.mark.parametrize(
    ("variant", "message"),
    [
        (
            "{name: main, model: m, model_package: 'g@1', instance_type: ml.m5.large}",
            "give exactly one of model (a model in this stack) or model_package",
        ),
        ("{name: main, instance_type: ml.m5.large}", "give exactly one of model"),
        (
            "{name: main, model: m, allow_unapproved: true, instance_type: ml.m5.large}",
            "allow_unapproved applies to model_package versions only",
        ),
        (
            "{name: main, model_package: 'g@latest', instance_type: ml.m5.large}",
            "model_package: must be <group>@<version> or <group>@latest-approved (e.g. fraud-detection@3); "
            "got 'g@latest'",
        ),
        ("{name: main, model_package: 'g@0', instance_type: ml.m5.large}", "got 'g@0'"),
    ],
)
def test_variant_source_is_checked_at_load_time(tmp_path: Path, variant: str, message: str) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        HEAD
        + f"models:\n  m: {{artifact: s3://b/m.tar.gz, image: {IMAGE}}}\n"
        + f"endpoints:\n  api:\n    variants:\n      - {variant}\n"
    )
    with pytest.raises(StackError) as info:
        load_stack(stack, environ={})
    (line,) = info.value.lines()
    assert line.startswith(f"{stack}:12:") and "endpoints.api.variants[0]" in line
    assert message in line


def test_deploying_a_registry_version_needs_a_role() -> None:
    provider = SageMakerProvider(SageMakerConfig(region="us-east-1"), stack="fraud")
    spec = EndpointSpec(variants=[{"name": "main", "model_package": "g@1", "instance_type": "ml.m5.large"}])
    (problem,) = provider.validate(Resource("endpoint", "api", spec), None)
    assert problem.path == "variants[0].model_package" and "set role_arn" in problem.message


def test_an_endpoint_depends_on_the_models_registering_into_its_group(tmp_path: Path) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text(endpoint_stack(f"{GROUP}@latest-approved") + REGISTERED.removeprefix(HEAD))
    loaded = load_stack(stack, environ={})
    assert loaded.resources["endpoint.fraud-api"].depends_on == ["model.fraud-xgb"]
    assert loaded.order == ["model.fraud-xgb", "endpoint.fraud-api"]


# ======================================================================= against the emulator
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


def packages(sm: Any, group: str = GROUP) -> dict[int, str]:
    listed = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    return {p["ModelPackageVersion"]: p["ModelApprovalStatus"] for p in listed}


def groups(sm: Any) -> list[str]:
    return [
        g["ModelPackageGroupName"] for g in sm.list_model_package_groups()["ModelPackageGroupSummaryList"]
    ]


def register_outside(sm: Any, *approvals: str, group: str = GROUP) -> None:
    """Versions registered by someone else (a training pipeline), in a group they made."""
    if group not in groups(sm):
        sm.create_model_package_group(ModelPackageGroupName=group)
    for i, approval in enumerate(approvals):
        sm.create_model_package(
            ModelPackageGroupName=group,
            InferenceSpecification={
                "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://ml/pipeline/{i}/model.tar.gz"}]
            },
            ModelApprovalStatus=approval,
        )


def test_registered_model_and_in_place_approval(harness: StackHarness, stack_file: Path, sm: Any) -> None:
    stack_file.write_text(REGISTERED)
    assert apply_ok(harness) == {"model.fraud-xgb": "create"}

    attrs = state_attrs(harness, "model.fraud-xgb")
    assert attrs["package_group"] == GROUP and attrs["package_group_owned"] is True
    assert (attrs["package_version"], attrs["approval"]) == (1, "PendingManualApproval")
    package = sm.describe_model_package(ModelPackageName=attrs["package_arn"])
    assert package["ModelPackageGroupName"] == GROUP
    assert package["ModelPackageDescription"] == "November retrain"
    assert package["InferenceSpecification"]["Containers"] == [
        {
            "Image": IMAGE,
            "ModelDataUrl": "s3://ml/fraud/v7/model.tar.gz",
            "Environment": {"FRAUD_THRESHOLD": "0.82"},
        }
    ]
    group_arn = sm.describe_model_package_group(ModelPackageGroupName=GROUP)["ModelPackageGroupArn"]
    group_tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=group_arn)["Tags"]}
    assert group_tags[TAG_ADDRESS] == "model.fraud-xgb"
    assert actions(harness.plan()) == {}

    # Approval is changed in place: the same version, the same model.
    harness.edit(lambda s: s.replace("approval: PendingManualApproval", "approval: Approved"))
    plan = harness.plan()
    (change,) = [c for c in plan.changes if c.action != "noop"]
    assert change.action == "update"
    assert [(c.path, c.before, c.after) for c in change.changes] == [
        ("approval", "PendingManualApproval", "Approved")
    ]
    assert apply_ok(harness) == {"model.fraud-xgb": "update"}
    assert packages(sm) == {1: "Approved"}
    after = state_attrs(harness, "model.fraud-xgb")
    assert (after["name"], after["package_arn"]) == (attrs["name"], attrs["package_arn"])
    assert actions(harness.plan()) == {}

    # An approval changed in the console is drift the next apply undoes.
    sm.update_model_package(ModelPackageArn=attrs["package_arn"], ModelApprovalStatus="Rejected")
    plan = harness.plan()
    assert [(c.address, [f.path for f in c.changes]) for c in plan.drift] == [
        ("model.fraud-xgb", ["approval"])
    ]
    apply_ok(harness)
    assert packages(sm) == {1: "Approved"}


def test_new_artifact_registers_a_new_version_and_keeps_the_old(
    harness: StackHarness, stack_file: Path, sm: Any
) -> None:
    stack_file.write_text(REGISTERED.replace("PendingManualApproval", "Approved"))
    apply_ok(harness)
    first = state_attrs(harness, "model.fraud-xgb")

    harness.edit(lambda s: s.replace("fraud/v7/", "fraud/v8/"))
    plan = harness.plan()
    (change,) = [c for c in plan.changes if c.action != "noop"]
    assert change.action == "replace"
    assert change.after is not None and change.after["package_version"] is UNKNOWN
    apply_ok(harness)

    second = state_attrs(harness, "model.fraud-xgb")
    assert second["name"] != first["name"] and second["package_version"] == 2
    # The replaced model is gone; its version stays in the registry as history.
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == [second["name"]]
    assert packages(sm) == {1: "Approved", 2: "Approved"}
    assert actions(harness.plan()) == {}

    # Destroying the stack removes every version the model registered, and the group it made.
    plan, result = harness.apply(mode="destroy")
    assert result.ok, result.errors
    assert actions(plan) == {"model.fraud-xgb": "delete"}
    assert groups(sm) == [] and sm.list_models()["Models"] == []


def test_removing_a_model_keeps_its_versions_in_the_registry(
    harness: StackHarness, stack_file: Path, sm: Any
) -> None:
    stack_file.write_text(REGISTERED.replace("PendingManualApproval", "Approved"))
    apply_ok(harness)
    harness.edit(lambda s: s.replace("fraud/v7/", "fraud/v8/"))
    apply_ok(harness)
    assert packages(sm) == {1: "Approved", 2: "Approved"}

    # Only the Model goes: the versions, and the group the stack made, are the archive.
    stack_file.write_text(HEAD)
    plan = harness.plan()
    # Beside the core's own (it suggests `retired:` instead), the provider says what stays.
    risks = [r.message for r in plan.risks if r.address == "model.fraud-xgb"]
    assert f"keeps model package {GROUP}/2 in the registry (the archive)" in risks
    assert apply_ok(harness) == {"model.fraud-xgb": "delete"}
    assert sm.list_models()["Models"] == []
    assert groups(sm) == [GROUP] and packages(sm) == {1: "Approved", 2: "Approved"}


def test_destroy_says_it_deletes_the_registry_history(harness: StackHarness, stack_file: Path) -> None:
    stack_file.write_text(REGISTERED)
    apply_ok(harness)
    plan = harness.plan(mode="destroy")
    (risk,) = [r.message for r in plan.risks if r.address == "model.fraud-xgb"]
    assert risk.startswith(f"deletes model package group {GROUP} and its versions (registry history)")
    assert f"{GROUP}/1" in risk


def test_a_group_made_outside_the_stack_is_not_the_stacks(
    harness: StackHarness, stack_file: Path, sm: Any
) -> None:
    register_outside(sm, "Approved")
    stack_file.write_text(REGISTERED)
    apply_ok(harness)
    assert state_attrs(harness, "model.fraud-xgb")["package_group_owned"] is False
    assert packages(sm) == {1: "Approved", 2: "PendingManualApproval"}

    # Removed from the stack, the model keeps its version; destroyed, it takes only what it
    # registered: the group and the pipeline's version stay.
    stack_file.write_text(HEAD)
    apply_ok(harness)
    assert groups(sm) == [GROUP] and packages(sm) == {1: "Approved", 2: "PendingManualApproval"}
    stack_file.write_text(REGISTERED)
    apply_ok(harness)
    plan = harness.plan(mode="destroy")
    assert [r.message for r in plan.risks if r.address == "model.fraud-xgb"] == [
        f"deletes model package {GROUP}/3 and the earlier versions this model registered (registry "
        f"history); the group {GROUP}, not created by this stack, stays"
    ]
    _, result = harness.apply(mode="destroy")
    assert result.ok, result.errors
    assert groups(sm) == [GROUP] and packages(sm) == {1: "Approved"}


def test_latest_approved_resolves_at_plan_time_and_follows_approvals(
    harness: StackHarness, stack_file: Path, sm: Any, wait_endpoint: Callable[..., Any]
) -> None:
    register_outside(sm, "Approved", "Rejected", "Approved", "PendingManualApproval")
    stack_file.write_text(endpoint_stack(f"{GROUP}@latest-approved"))

    plan = harness.plan()
    (change,) = plan.changes
    assert change.after is not None
    variant = change.after["variants"][0]
    assert (variant["model_package_version"], variant["model_package_arn"]) == (3, ARN.format(3))
    assert "model_package fraud-detection@latest-approved resolves to version 3" in change.notes
    apply_ok(harness)

    desc = wait_endpoint(sm, "fraud-api")
    config = sm.describe_endpoint_config(EndpointConfigName=desc["EndpointConfigName"])
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert model["Containers"] == [{"ModelPackageName": ARN.format(3)}]
    assert model["ExecutionRoleArn"] == ROLE
    model_tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=model["ModelArn"])["Tags"]}
    assert model_tags[TAG_ADDRESS] == "endpoint.fraud-api"
    assert actions(harness.plan()) == {}
    # Imported, the endpoint names the registry version its model was made from.
    provider = harness.workspace().provider
    imported = provider.import_resource("endpoint", "fraud-api")
    assert imported["variants"][0]["model_package_version"] == 3
    assert provider.to_spec("endpoint", imported)["variants"][0]["model_package"] == "fraud-detection@3"

    # Version 4 is approved (in the registry, not the stack): the next plan moves the endpoint.
    sm.update_model_package(ModelPackageArn=ARN.format(4), ModelApprovalStatus="Approved")
    plan = harness.plan()
    (change,) = [c for c in plan.changes if c.action != "noop"]
    assert {c.path: (c.before, c.after) for c in change.changes}["variants[0].model_package_version"] == (
        3,
        4,
    )
    assert "model_package fraud-detection@latest-approved resolves to version 4" in change.notes
    apply_ok(harness)
    live = wait_endpoint(sm, "fraud-api")
    config = sm.describe_endpoint_config(EndpointConfigName=live["EndpointConfigName"])
    new_model = config["ProductionVariants"][0]["ModelName"]
    assert sm.describe_model(ModelName=new_model)["Containers"] == [{"ModelPackageName": ARN.format(4)}]
    # The model made for version 3 is no longer used, so it is gone.
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == [new_model]

    # Writing the version it resolves to instead changes nothing.
    harness.edit(lambda s: s.replace("@latest-approved", "@4"))
    assert actions(harness.plan()) == {}

    stack_file.write_text(HEAD)
    apply_ok(harness)
    assert sm.list_models()["Models"] == [] and packages(sm) == {
        1: "Approved",
        2: "Rejected",
        3: "Approved",
        4: "Approved",
    }


def test_unapproved_version_is_refused_at_plan_time_unless_allowed(
    harness: StackHarness, stack_file: Path, sm: Any, wait_endpoint: Callable[..., Any]
) -> None:
    register_outside(sm, "Approved", "PendingManualApproval")
    stack_file.write_text(endpoint_stack(f"{GROUP}@2"))
    with pytest.raises(StackError) as info:
        harness.plan()
    (line,) = info.value.lines()
    assert "endpoints.fraud-api.variants[0].model_package" in line
    assert "fraud-detection@2 is version 2" in line and "PendingManualApproval" in line
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []

    stack_file.write_text(endpoint_stack(f"{GROUP}@2", ", allow_unapproved: true"))
    apply_ok(harness)
    assert state_attrs(harness, "endpoint.fraud-api")["variants"][0]["model_package_version"] == 2
    wait_endpoint(sm, "fraud-api")


def test_apply_refuses_a_version_registered_unapproved_in_the_same_apply(
    harness: StackHarness, stack_file: Path, sm: Any
) -> None:
    stack_file.write_text(endpoint_stack(f"{GROUP}@1") + REGISTERED.removeprefix(HEAD))
    plan = harness.plan()
    endpoint = next(c for c in plan.changes if c.address == "endpoint.fraud-api")
    assert endpoint.after is not None and endpoint.after["variants"][0]["model_package_version"] is UNKNOWN
    assert any("resolves after apply" in note for note in endpoint.notes)

    _, result = harness.apply()
    assert [a for a, _ in result.errors] == ["endpoint.fraud-api"]
    (message,) = [m for _, m in result.errors]
    assert "fraud-detection@1 is version 1" in message and "PendingManualApproval" in message
    assert sm.list_endpoints()["Endpoints"] == []
    assert packages(sm) == {1: "PendingManualApproval"}  # the model did register

    # Approving it in the stack lets the endpoint deploy it.
    harness.edit(lambda s: s.replace("approval: PendingManualApproval", "approval: Approved"))
    assert apply_ok(harness) == {"model.fraud-xgb": "update", "endpoint.fraud-api": "create"}
    assert actions(harness.plan()) == {}
