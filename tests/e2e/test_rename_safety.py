"""Renames of a serving endpoint through the installed `mlops` on the sandbox: a `moved:` block
makes a key rename no change at all (the same endpoint keeps serving), `state mv` never leaves
the endpoint stuck, and a rename without either is spelled out as a risk before anything goes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_kit import VARS, aws_client, example_on_sandbox, mlops


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    with example_on_sandbox(tmp_path, "fraud-detection", operation_delay=0.2) as dest:
        applied = mlops(dest, "--sandbox", "apply", *VARS, "--auto-approve")
        assert applied.returncode == 0, applied.stderr
        yield dest


def endpoint_arn(stack_dir: Path) -> str:
    return aws_client(stack_dir).describe_endpoint(EndpointName="fraud-api")["EndpointArn"]


def rename(stack_dir: Path, new: str, *, moved: bool) -> None:
    path = stack_dir / "stack.yaml"
    text = (
        path.read_text()
        .replace("  fraud-api:\n", f"  {new}:\n")
        .replace("endpoint.fraud-api.", f"endpoint.{new}.")
    )
    if moved:
        text += f"\nmoved:\n  - {{from: endpoint.fraud-api, to: endpoint.{new}}}\n"
    path.write_text(text)


def test_moved_block_renames_without_touching_the_endpoint(stack_dir: Path) -> None:
    arn = endpoint_arn(stack_dir)
    rename(stack_dir, "fraud-scoring", moved=True)
    plan = mlops(stack_dir, "--sandbox", "plan", *VARS, "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "# endpoint.fraud-api has moved to endpoint.fraud-scoring" in plan.stdout
    assert "Plan: 0 to add, 0 to change, 0 to destroy, 1 to move." in plan.stdout
    applied = mlops(stack_dir, "--sandbox", "apply", *VARS, "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    again = mlops(stack_dir, "--sandbox", "plan", *VARS, "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    listed = mlops(stack_dir, "--sandbox", "state", "list", *VARS)
    assert "endpoint.fraud-scoring" in listed.stdout and "endpoint.fraud-api" not in listed.stdout
    assert endpoint_arn(stack_dir) == arn, "the same endpoint serves on"


def test_state_mv_keeps_the_endpoint_name_so_nothing_is_stuck(stack_dir: Path) -> None:
    arn = endpoint_arn(stack_dir)
    moved = mlops(stack_dir, "--sandbox", "state", "mv", "endpoint.fraud-api", "endpoint.scoring", *VARS)
    assert moved.returncode == 0, moved.stderr
    rename(stack_dir, "scoring", moved=False)
    plan = mlops(stack_dir, "--sandbox", "plan", *VARS, "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert endpoint_arn(stack_dir) == arn


def test_rename_without_moved_names_the_serving_endpoint_among_the_risks(stack_dir: Path) -> None:
    rename(stack_dir, "fraud-scoring", moved=False)
    plan = mlops(stack_dir, "--sandbox", "plan", *VARS, "--json")
    assert plan.returncode == 0, plan.stderr
    doc = json.loads(plan.stdout)
    (risk,) = [r for r in doc["risks"] if r["code"] == "serving_destroyed"]
    assert risk["address"] == "endpoint.fraud-api"
    # The risk says what stops and suggests retirement, which keeps the record, over a destroy.
    assert risk["message"].startswith("destroys serving endpoint fraud-api: its traffic stops; ")
    assert "endpoints.fraud-api.retired: {reason: ..., by: ...}" in risk["message"]
    text = mlops(stack_dir, "--sandbox", "plan", *VARS).stdout
    assert "Risks:" in text and "! endpoint.fraud-api: destroys serving endpoint fraud-api" in text
