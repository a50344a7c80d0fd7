"""Adopting what was made outside mlops, and rolling back, through the installed command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MLOPS = str(Path(sys.executable).parent / "mlops")
VARS = ["--var-file", "sandbox.vars.yaml"]


def mlops(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLOPS, "--sandbox", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    dest = tmp_path / "fraud-detection"
    shutil.copytree(ROOT / "stacks" / "fraud-detection", dest, ignore=shutil.ignore_patterns(".mlops"))
    assert mlops(dest, "sandbox", "up", "--operation-delay", "0.1").returncode == 0
    yield dest
    subprocess.run([MLOPS, "sandbox", "down"], cwd=dest, capture_output=True, timeout=60)


def client(stack_dir: Path, service: str = "sagemaker") -> Any:
    url = json.loads((stack_dir / ".mlops" / "sandbox" / "sandbox.json").read_text())["urls"]["sagemaker"]
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )


def test_endpoint_made_in_the_console_is_imported_with_generated_config(stack_dir: Path) -> None:
    sm = client(stack_dir)
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    sm.create_model(
        ModelName="legacy-scorer",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/mlops-sandbox-sagemaker",
        PrimaryContainer={"Image": image, "ModelDataUrl": "s3://legacy/scorer.tar.gz"},
    )
    sm.create_endpoint_config(
        EndpointConfigName="legacy-api-config",
        ProductionVariants=[
            {
                "VariantName": "main",
                "ModelName": "legacy-scorer",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 2,
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    sm.create_endpoint(EndpointName="legacy-api", EndpointConfigName="legacy-api-config")

    res = mlops(
        stack_dir, "import", "endpoint.legacy-api", "legacy-api", *VARS, "--generate-config", "legacy.yaml"
    )
    assert res.returncode == 0, res.stderr
    generated = yaml.safe_load((stack_dir / "legacy.yaml").read_text())
    assert set(generated) == {"models", "endpoints"}
    assert generated["endpoints"]["legacy-api"]["variants"][0]["model"] == "legacy-scorer"
    assert not (stack_dir / ".mlops" / "sandbox" / "state.json").exists(), (
        "generating config changes no state"
    )

    # The user adds the generated entries to the stack, then adopts them.
    stack = yaml.safe_load((stack_dir / "stack.yaml").read_text())
    for section, entries in generated.items():
        stack.setdefault(section, {}).update(entries)
    (stack_dir / "stack.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    res = mlops(stack_dir, "import", "endpoint.legacy-api", "legacy-api", *VARS)
    assert res.returncode == 0, res.stderr
    assert "endpoint.legacy-api: imported legacy-api." in res.stdout
    assert "model.legacy-scorer: imported legacy-scorer." in res.stdout
    events = json.loads(mlops(stack_dir, "history", *VARS, "--json").stdout)["events"]
    assert [(e["address"], e["event"], e["detail"]) for e in events] == [
        ("endpoint.legacy-api", "imported", {"cloud_id": "legacy-api"}),
        ("model.legacy-scorer", "imported", {"cloud_id": "legacy-scorer"}),
    ]

    # The adopted resources match what was generated; the stack's tags for every resource
    # (team, env) are the only thing the plan adds to them.
    plan = json.loads(mlops(stack_dir, "plan", *VARS, "--json").stdout)
    acting = {c["address"]: c for c in plan["resource_changes"] if c["action"] != "noop"}
    assert {a: c["action"] for a, c in acting.items()} == {
        "model.fraud-xgb-v7": "create",
        "model.fraud-xgb-v8": "create",
        "endpoint.fraud-api": "create",
        "model.legacy-scorer": "update",
        "endpoint.legacy-api": "update",
    }
    for address in ("model.legacy-scorer", "endpoint.legacy-api"):
        assert sorted(ch["path"] for ch in acting[address]["changes"]) == ["tags.env", "tags.team"]
    # Without stack-wide tags, the generated config plans with no changes at all.
    stack = yaml.safe_load((stack_dir / "stack.yaml").read_text())
    del stack["tags"]
    (stack_dir / "stack.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    plan = json.loads(mlops(stack_dir, "plan", *VARS, "--json").stdout)
    acting = {c["address"]: c["action"] for c in plan["resource_changes"] if c["action"] != "noop"}
    assert acting == {
        "model.fraud-xgb-v7": "create",
        "model.fraud-xgb-v8": "create",
        "endpoint.fraud-api": "create",
    }


def test_rollback_puts_the_endpoint_back_and_the_plan_says_so(stack_dir: Path) -> None:
    sm = client(stack_dir)
    assert mlops(stack_dir, "apply", *VARS, "--auto-approve").returncode == 0
    first_config = sm.describe_endpoint(EndpointName="fraud-api")["EndpointConfigName"]
    stack = stack_dir / "stack.yaml"
    stack.write_text(
        stack.read_text().replace("instance_type: ml.m5.xlarge", "instance_type: ml.c5.xlarge", 1)
    )
    res = mlops(stack_dir, "apply", *VARS, "--auto-approve")
    assert res.returncode == 0, res.stderr
    assert sm.describe_endpoint(EndpointName="fraud-api")["EndpointConfigName"] != first_config

    res = mlops(stack_dir, "rollback", "fraud-api", *VARS, "--auto-approve")
    assert res.returncode == 0, res.stderr
    assert 'variants[0].instance_type = "ml.c5.xlarge" -> "ml.m5.xlarge"' in res.stdout
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName="fraud-api")["EndpointConfigName"]
    )
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.xlarge"

    # The stack still asks for the newer configuration: the plan shows it, naming the rollback.
    plan = json.loads(mlops(stack_dir, "plan", *VARS, "--json").stdout)
    change = next(c for c in plan["resource_changes"] if c["address"] == "endpoint.fraud-api")
    assert change["action"] == "update" and change["reason"].startswith("rolled back by ")
    assert not plan["drift"], "state records the rollback: it is not drift"
    assert mlops(stack_dir, "apply", *VARS, "--auto-approve").returncode == 0
    plan = json.loads(mlops(stack_dir, "plan", *VARS, "--json").stdout)
    assert {c["action"] for c in plan["resource_changes"]} == {"noop"}


def test_rollback_never_shows_a_secret(stack_dir: Path) -> None:
    stack = stack_dir / "stack.yaml"
    text = stack.read_text()
    text = text.replace("variables:\n", "variables:\n  owner: {sensitive: true}\n", 1)
    text = text.replace(
        "      cost-center: fraud-ops\n", "      cost-center: fraud-ops\n      owner: ${var.owner}\n", 1
    )
    stack.write_text(text)
    first, second = "first-owner-secret-1", "second-owner-secret-2"
    assert mlops(stack_dir, "apply", *VARS, "--var", f"owner={first}", "--auto-approve").returncode == 0
    stack.write_text(
        stack.read_text().replace("instance_type: ml.m5.xlarge", "instance_type: ml.c5.xlarge", 1)
    )
    res = mlops(stack_dir, "apply", *VARS, "--var", f"owner={second}", "--auto-approve")
    assert res.returncode == 0, res.stderr

    res = mlops(stack_dir, "rollback", "fraud-api", *VARS, "--var", f"owner={second}", "--auto-approve")
    assert res.returncode == 0, res.stderr
    assert "tags.owner" in res.stdout and "\"(sensitive)\" -> \"(sensitive)\"" in res.stdout
    assert first not in res.stdout + res.stderr and second not in res.stdout + res.stderr
