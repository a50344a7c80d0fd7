"""Plan text and JSON against golden files. Regenerate with MLOPS_UPDATE_GOLDEN=1 after an
intended change, and review the diff like any other code change."""

import json
import os
from pathlib import Path

import pytest

from mlops_gitops.engine.diff import compare, decide
from mlops_gitops.engine.plan import DeposedChange, Move, OutputChange, Plan, Reason, ResourceChange, Risk
from mlops_gitops.provider import UNKNOWN, ResourceType
from mlops_gitops.render.text import render_plan

GOLDEN = Path(__file__).parent / "golden"
MODEL = ResourceType("model", force_new=("artifact", "image", "environment"), computed=("arn",))
ENDPOINT = ResourceType("endpoint", computed=("arn", "endpoint_config_name"), create_before_destroy=False)


def change(address: str, rtype: ResourceType, prior, desired, **kw) -> ResourceChange:
    sensitive = kw.pop("sensitive", [])
    d = decide(rtype, prior, desired, sensitive=sensitive)
    kind, name = address.split(".")
    return ResourceChange(
        address, kind, name, "sagemaker", d.action, prior, d.after, d.changes, sensitive_paths=sensitive, **kw
    )


def sample_plan() -> Plan:
    v7 = {
        "name": "fraud-xgb-v7-1a2b3c4d",
        "arn": "arn:aws:sagemaker:us-east-1:123456789012:model/v7",
        "artifact": "s3://ml/fraud/v7/model.tar.gz",
        "image": "xgb:1.7-1",
        "environment": {"API_KEY": "hunter2"},
        "tags": {"team": "risk"},
    }
    v7_new = {
        **v7,
        "name": "fraud-xgb-v7-9e8d7c6b",
        "arn": UNKNOWN,
        "artifact": "s3://ml/fraud/v7.1/model.tar.gz",
        "environment": {"API_KEY": "correct-horse"},
    }
    v8 = {
        "name": "fraud-xgb-v8-0f0f0f0f",
        "arn": UNKNOWN,
        "artifact": "s3://ml/fraud/v8/model.tar.gz",
        "image": "xgb:1.7-1",
        "environment": {},
        "tags": {"team": "risk"},
    }
    ep = {
        "name": "fraud-api",
        "arn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/fraud-api",
        "endpoint_config_name": "fraud-api-aaaa",
        "variants": [
            {"name": "current", "model": "fraud-xgb-v7-1a2b3c4d", "instance_count": 2, "weight": 90.0}
        ],
    }
    ep_new = {
        **ep,
        "endpoint_config_name": UNKNOWN,
        "variants": [
            {"name": "current", "model": "fraud-xgb-v7-9e8d7c6b", "instance_count": 3, "weight": 90.0},
            {"name": "candidate", "model": UNKNOWN, "instance_count": 1, "weight": 10.0},
        ],
    }
    old = {"name": "legacy-1", "arn": "arn:legacy", "artifact": "s3://ml/legacy.tar.gz"}
    plan = Plan(
        stack="fraud-detection",
        stack_path="stack.yaml",
        stack_digest="sha256:abc",
        provider="sagemaker",
        lineage="lin-1",
        serial=7,
        created_at="2026-11-25T00:00:00Z",
    )
    retrain = change("schedule.fraud-retrain", ResourceType("schedule"), None, {"cron": "0 3 * * 1"})
    retrain.notes = ["next runs (UTC): 2026-11-30 03:00, 2026-12-07 03:00, 2026-12-14 03:00"]
    plan.changes = [
        change(
            "model.fraud-xgb-v7",
            MODEL,
            v7,
            v7_new,
            sensitive=["environment"],
            replace_order="create_before_destroy",
        ),
        change("model.fraud-xgb-v8", MODEL, None, v8),
        change("endpoint.fraud-api", ENDPOINT, ep, ep_new),
        ResourceChange(
            "model.legacy",
            "model",
            "legacy",
            "sagemaker",
            "delete",
            old,
            None,
            compare(old, None),
            reason_code=Reason.REMOVED_FROM_STACK,
        ),
        retrain,
    ]
    drifted = {**ep, "variants": [{**ep["variants"][0], "instance_count": 4}]}
    plan.drift = [
        ResourceChange(
            "endpoint.fraud-api",
            "endpoint",
            "fraud-api",
            "sagemaker",
            "update",
            ep,
            drifted,
            compare(ep, drifted),
            reason_code=Reason.CHANGED_OUTSIDE,
        )
    ]
    plan.moves = [Move("monitor.drift", "monitor.fraud-drift")]
    plan.deposed = [
        DeposedChange(
            "model.fraud-xgb-v6",
            "model",
            "fraud-xgb-v6-77777777",
            {"name": "fraud-xgb-v6-77777777", "environment": {"API_KEY": "old-secret"}},
            ["environment"],
        )
    ]
    plan.risks = [Risk("model.legacy", "deletes model package group legacy and its 3 versions")]
    plan.outputs = [
        OutputChange("endpoint_arn", "create", None, UNKNOWN),
        OutputChange("api_key", "update", "a", "b", sensitive=True),
    ]
    plan.warnings = ["SageMaker applies a canary only to single-variant endpoints"]
    return plan


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("MLOPS_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}: run with MLOPS_UPDATE_GOLDEN=1"
    assert text == path.read_text()


def test_plan_text_golden() -> None:
    check("plan.txt", render_plan(sample_plan().document(), color=False))


def test_plan_json_golden() -> None:
    check("plan.json", json.dumps(sample_plan().document(), indent=2) + "\n")


def test_no_secret_reaches_any_rendering() -> None:
    doc = sample_plan().document()
    for text in (render_plan(doc, color=False), render_plan(doc, color=True), json.dumps(doc)):
        assert "hunter2" not in text and "correct-horse" not in text
        assert "(sensitive)" in text


def test_color_only_when_asked() -> None:
    doc = sample_plan().document()
    assert "\x1b[" not in render_plan(doc, color=False)
    assert "\x1b[32m+\x1b[0m" in render_plan(doc, color=True)


@pytest.mark.parametrize("mode", ["normal", "refresh-only"])
def test_no_changes_message(mode: str) -> None:
    plan = Plan(
        stack="s", stack_path="stack.yaml", stack_digest="d", provider="p", lineage="l", serial=1, mode=mode
    )  # type: ignore[arg-type]
    text = render_plan(plan.document(), color=False)
    assert "No changes." in text and "Plan:" not in text
