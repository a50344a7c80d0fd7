"""Renames of a serving endpoint through the installed `mlops` on the sandbox: a `moved:` block
makes a key rename no change at all (the same endpoint keeps serving), `state mv` never leaves
the endpoint stuck, and a rename without either is spelled out as a risk before anything goes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
MLOPS = str(Path(sys.executable).parent / "mlops")
VARS = ["--var-file", "sandbox.vars.yaml"]


def mlops(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLOPS, *args], cwd=cwd, capture_output=True, text=True, timeout=180)


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    dest = tmp_path / "fraud-detection"
    shutil.copytree(ROOT / "stacks" / "fraud-detection", dest, ignore=shutil.ignore_patterns(".mlops"))
    up = mlops(dest, "sandbox", "up", "--operation-delay", "0.2")
    assert up.returncode == 0, up.stderr
    applied = mlops(dest, "--sandbox", "apply", *VARS, "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    yield dest
    mlops(dest, "sandbox", "down")


def endpoint_arn(stack_dir: Path) -> str:
    url = json.loads((stack_dir / ".mlops" / "sandbox" / "sandbox.json").read_text())["urls"]["sagemaker"]
    sm = boto3.client(
        "sagemaker",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )
    return sm.describe_endpoint(EndpointName="fraud-api")["EndpointArn"]


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
    assert {
        "address": "endpoint.fraud-api",
        "message": "destroys serving endpoint fraud-api: its traffic stops",
    } in doc["risks"]
    text = mlops(stack_dir, "--sandbox", "plan", *VARS).stdout
    assert "Risks:" in text and "! endpoint.fraud-api: destroys serving endpoint fraud-api" in text
