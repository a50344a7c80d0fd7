"""The test kit itself: the memory provider's cloud rules and faults, `RecordingContext`, and the
memory provider run through the provider contract suite like any cloud's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops.engine.operations import plan_locked
from mlops_gitops.engine.planner import RefreshError
from mlops_gitops.errors import ProviderError, StackError
from mlops_gitops.provider import UNKNOWN, SandboxEndpoints
from mlops_gitops.state.local import LocalBackend
from mlops_gitops.testing import Fault, MemoryCloud, MemoryProvider, RecordingContext, memory_stack
from mlops_gitops.testing.contract import (
    ContractCase,
    Edit,
    PartialCreate,
    ProviderContract,
    Retire,
    Unsupported,
)

STACK = """\
apiVersion: mlops-gitops/v1
name: contract
provider:
  memory: {}
models:
  scorer:
    artifact: s3://contract/scorer/v1/model.tar.gz
    image: scorer-image
    tags: {owner: contract}
endpoints:
  scorer-api:
    variants:
      - {name: main, model: scorer, instance_type: small, instance_count: 1, weight: 1}
    data_capture: {destination: s3://contract/capture/}
monitors:
  scorer-drift:
    endpoint: scorer-api
    type: data_quality
    baseline: s3://contract/baseline/
schedules:
  scorer-retrain:
    cron: "0 3 * * *"
    pipeline: {template_uri: s3://contract/pipeline.json}
    also_on: [scorer-drift]
"""


class TestMemoryContract(ProviderContract):
    @pytest.fixture
    def contract_case(self) -> ContractCase:
        cloud = MemoryCloud()

        def fail_half_way() -> None:
            # The endpoint is made and checkpointed, then comes up Failed.
            cloud.fail("create", kind="endpoint", half_way="made", status="Failed")

        return ContractCase(
            sandbox=SandboxEndpoints(),
            stack_yaml=STACK,
            in_place=Edit(
                lambda s: s.replace("instance_count: 1", "instance_count: 2"),
                {"endpoint.scorer-api": "update"},
            ),
            replace=Edit(
                lambda s: s.replace("scorer/v1/", "scorer/v2/"),
                {"model.scorer": "replace", "endpoint.scorer-api": "update"},
            ),
            import_address="endpoint.scorer-api",
            cloud_id=lambda attrs: attrs["name"],
            drift_address="endpoint.scorer-api",
            change_out_of_band=lambda attrs: cloud.drift(
                "endpoint", attrs["name"], "variants[0].instance_count", 3
            ),
            delete_out_of_band=lambda attrs: cloud.delete_outside("endpoint", attrs["name"]),
            leftovers=cloud.inventory,
            throttle=cloud.throttle,
            partial_create=PartialCreate("endpoint.scorer-api", fail_half_way),
            reset=cloud.reset,
            provider_class=MemoryProvider.on(cloud),
            retire=Retire(
                lambda s: s.replace(
                    "    tags: {owner: contract}\n",
                    "    tags: {owner: contract}\n"
                    "    retired: {reason: superseded by scorer-v2, by: ml-team}\n"
                    "  scorer-v2: {artifact: s3://contract/scorer/v2/model.tar.gz, image: scorer-image}\n",
                ).replace(
                    "weight: 1}\n",
                    "weight: 1}\n      - {name: next, model: scorer-v2, instance_type: small, weight: 1}\n",
                ),
                {"model.scorer-v2": "create", "endpoint.scorer-api": "update", "model.scorer": "retire"},
                "model.scorer",
                lambda attrs: (
                    (cloud.get("model", attrs["name"]) or {}).get("retired", {}).get("archive") is True
                ),
            ),
        )


# ---------------------------------------------------------------------------------- the cloud
DOC: dict[str, Any] = {
    "models": {"m": {"artifact": "s3://a/m", "image": "img"}},
    "endpoints": {"e": {"variants": [{"name": "v", "model": "m", "instance_type": "t"}]}},
}


def apply(p: MemoryProvider, tmp_path: Path, doc: dict[str, Any] = DOC, mode: str = "normal") -> Any:
    planned = plan_locked(
        p.workspace(memory_stack(doc, tmp_path)), LocalBackend(tmp_path / "state"), mode=mode
    )  # type: ignore[arg-type]
    try:
        return planned.apply()
    finally:
        planned.release()


def test_the_nth_matching_call_fails_and_only_as_many_as_asked(tmp_path: Path) -> None:
    p = MemoryProvider()
    doc = {"models": {n: {"artifact": f"s3://a/{n}", "image": "img"} for n in ("a", "b", "c")}}
    fault = p.cloud.fail("create", kind="model", nth=2, message="quota")
    result = apply(p, tmp_path, doc)
    assert fault.matched >= 2 and fault.fired == 1
    failed = [c for c in p.cloud.calls if c.error]
    assert len(failed) == 1 and "quota" in failed[0].error  # type: ignore[operator]
    assert len(result.errors) == 1 and "quota" in result.errors[0][1]
    # One of three failed; the fault is spent, so the next apply makes the missing one.
    assert apply(p, tmp_path, doc).ok and len(p.cloud.names("model")) == 3


def test_a_fault_with_no_limit_fails_every_call_from_the_nth(tmp_path: Path) -> None:
    cloud = MemoryCloud()
    fault = cloud.fail("delete", name="x", nth=2, times=None)
    ctx = RecordingContext("model.x")
    rtype = MemoryProvider.kinds["model"]
    cloud.delete(rtype, {"name": "x"}, ctx)  # the first goes through
    for _ in range(3):
        with pytest.raises(ProviderError, match="injected"):
            cloud.delete(rtype, {"name": "x"}, ctx)
    assert fault.fired == 3 and not fault.spent
    cloud.delete(rtype, {"name": "y"}, ctx)  # another object is not affected


def test_a_read_that_raises_fails_the_refresh_naming_the_resource(tmp_path: Path) -> None:
    p = MemoryProvider()
    assert apply(p, tmp_path).ok
    p.cloud.fail("read", kind="endpoint", message="AccessDenied")
    with pytest.raises(RefreshError, match=r"endpoint\.e: read endpoint e: AccessDenied"):
        plan_locked(p.workspace(memory_stack(DOC, tmp_path)), LocalBackend(tmp_path / "state"))


def test_throttled_calls_are_retried_up_to_a_limit() -> None:
    p = MemoryProvider()
    rtype = p.kinds["model"]
    p.cloud.put("model", "m", {"name": "m"})
    p.cloud.throttle(4)
    assert p.read("model", {"name": "m"}) == {"name": "m"}
    p.cloud.throttle(5)
    with pytest.raises(ProviderError, match="Rate exceeded") as info:
        p.read("model", {"name": "m"})
    assert info.value.retryable and p.cloud.reads == 10
    assert p.cloud.read(rtype, {"name": "m"}) == {"name": "m"}  # the throttle is spent


def test_objects_cannot_be_made_before_what_they_use_nor_deleted_while_used() -> None:
    p = MemoryProvider()
    ctx = RecordingContext("endpoint.e")
    endpoint = {"name": "e", "arn": UNKNOWN, "status": UNKNOWN, "variants": [{"name": "v", "model": "m"}]}
    with pytest.raises(ProviderError, match="uses model/m, which does not exist"):
        p.create("endpoint", endpoint, ctx)
    model = p.create("model", {"name": "m", "arn": UNKNOWN}, RecordingContext("model.m"))
    made = p.create("endpoint", endpoint, ctx)
    assert made["status"] == "InService" and made["arn"].startswith("memory:endpoint/e/")
    with pytest.raises(ProviderError, match="model m is in use by endpoint/e"):
        p.delete("model", model, RecordingContext("model.m"))
    p.delete("endpoint", made, ctx)
    p.delete("endpoint", made, ctx)  # gone already: no error
    p.delete("model", model, RecordingContext("model.m"))
    assert p.cloud.inventory() == []


def test_create_checkpoints_adopts_its_own_object_and_refuses_another() -> None:
    p = MemoryProvider()
    ctx = RecordingContext("model.m")
    made = p.create("model", {"name": "m", "arn": UNKNOWN, "artifact": "s3://a"}, ctx)
    assert ctx.checkpoints == [made], "named in state as soon as it exists"
    again = p.create("model", {"name": "m", "arn": UNKNOWN, "artifact": "s3://a"}, RecordingContext())
    assert again == made, "a create sent again (its reply lost) is the same object"
    with pytest.raises(ProviderError, match="already exists"):
        p.create("model", {"name": "m", "arn": UNKNOWN, "artifact": "s3://b"}, RecordingContext())


def test_an_unknown_value_left_at_apply_is_refused() -> None:
    p = MemoryProvider()
    p.cloud.put("model", "m", {"name": "m"})
    desired = {"name": "e", "arn": UNKNOWN, "status": UNKNOWN, "variants": [{"name": "v", "model": UNKNOWN}]}
    with pytest.raises(ProviderError, match=r"variants\[0\]\.model not known at apply time"):
        p.create("endpoint", desired, RecordingContext("endpoint.e"))
    assert p.cloud.get("endpoint", "e") is None


def test_half_way_faults_leave_what_they_say(tmp_path: Path) -> None:
    p = MemoryProvider()
    p.cloud.put("model", "m", {"name": "m"})
    desired = {"name": "e", "arn": UNKNOWN, "status": UNKNOWN, "variants": [{"name": "v", "model": "m"}]}
    p.cloud.fail("create", name="e", half_way="recorded")
    ctx = RecordingContext("endpoint.e")
    with pytest.raises(ProviderError):
        p.create("endpoint", desired, ctx)
    assert ctx.checkpoints == [{"name": "e", "variants": [{"name": "v", "model": "m"}]}]
    assert p.cloud.get("endpoint", "e") is None, "recorded, never made"

    p.cloud.fail("create", name="e", half_way="made", status="Failed")
    ctx = RecordingContext("endpoint.e")
    with pytest.raises(ProviderError):
        p.create("endpoint", desired, ctx)
    assert ctx.last_checkpoint is not None and ctx.last_checkpoint["name"] == "e"
    assert p.cloud.get("endpoint", "e")["status"] == "Failed"  # type: ignore[index]
    assert p.kinds["endpoint"].failed(p.read("endpoint", {"name": "e"})) == "Failed"


def test_half_way_updates_checkpoint_what_they_did_or_meant_to() -> None:
    p = MemoryProvider()
    made = p.create("model", {"name": "m", "arn": UNKNOWN, "tags": {"a": "1"}}, RecordingContext("model.m"))
    p.cloud.fail("update", name="m", half_way="recorded")
    ctx = RecordingContext("model.m")
    with pytest.raises(ProviderError):
        p.update("model", made, {**made, "tags": {"a": "2"}}, ctx)
    assert ctx.checkpoints == [{**made, "tags": {"a": "2"}}] and p.cloud.get("model", "m") == made

    p.cloud.fail("update", name="m", half_way="made")
    ctx = RecordingContext("model.m")
    with pytest.raises(ProviderError):
        p.update("model", made, {**made, "tags": {"a": "3"}}, ctx)
    assert ctx.checkpoints == [{**made, "tags": {"a": "3"}}] == [p.cloud.get("model", "m")]
    assert [(c.op, c.error is not None) for c in p.cloud.calls] == [
        ("create", False),
        ("update", True),
        ("update", True),
    ]


def test_fault_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="only a create or an update"):
        Fault("delete", half_way="made")
    with pytest.raises(ValueError, match="half_way='made'"):
        Fault("create", status="Failed")
    with pytest.raises(ValueError, match="count calls from 1"):
        Fault("create", nth=0)


def test_a_stack_using_what_the_memory_provider_does_not_support_is_refused(tmp_path: Path) -> None:
    doc = {"models": {"m": {"artifact": "s3://a/m", "image": "img", "registry": {"group": "g"}}}}
    with pytest.raises(StackError, match="provider memory does not support registering versions"):
        MemoryProvider().workspace(memory_stack(doc, tmp_path))


def test_providers_made_from_a_bound_class_share_its_cloud() -> None:
    cloud = MemoryCloud()
    bound = MemoryProvider.on(cloud)
    assert bound(stack="a").cloud is cloud and bound(stack="b").cloud is cloud
    assert MemoryProvider().cloud is not cloud, "the unbound class is left alone"
    assert bound.kinds == MemoryProvider.kinds and bound.name == "memory"


# ------------------------------------------------------------------------------ the context
def test_recording_context_keeps_what_it_was_told_as_it_was() -> None:
    ctx = RecordingContext("endpoint.e", stack="fraud", destroying=True)
    attrs: dict[str, Any] = {"name": "e", "variants": [{"count": 1}]}
    ctx.checkpoint(attrs)
    attrs["variants"][0]["count"] = 2  # the provider goes on changing its own dict
    ctx.checkpoint({"arn": "a"})
    ctx.progress("Creating")
    assert ctx.checkpoints == [{"name": "e", "variants": [{"count": 1}]}, {"arn": "a"}]
    assert ctx.messages == ["Creating"] and ctx.last_checkpoint == {"arn": "a"}
    assert ctx.recorded({"name": "old", "tags": {}}) == {
        "name": "e",
        "tags": {},
        "variants": [{"count": 1}],
        "arn": "a",
    }
    assert (ctx.stack, ctx.address, ctx.destroying, ctx.cancel.is_set()) == (
        "fraud",
        "endpoint.e",
        True,
        False,
    )
    assert RecordingContext().last_checkpoint is None


# -------------------------------------------------------------------------- the contract kit
def test_an_opt_out_needs_a_reason_and_skips_with_it() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        Unsupported("  ")
    with pytest.raises(pytest.skip.Exception, match="no deletes on this cloud"):
        ProviderContract._check(Unsupported("no deletes on this cloud"))
    case = PartialCreate("endpoint.e", lambda: None)
    assert ProviderContract._check(case) is case


def test_importing_the_kit_imports_neither_pytest_nor_the_contract() -> None:
    code = (
        "import sys, mlops_gitops.testing as t; t.MemoryProvider(); t.RecordingContext(); "
        "print(sorted(m for m in ('pytest', 'mlops_gitops.testing.contract', 'boto3') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
