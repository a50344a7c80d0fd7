"""The installed `mlops` command against the sandbox, as a new user runs it: the emulator daemon
starts on demand and outlives each command, so apply-then-plan sees the same cloud."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_kit import MLOPS, VARS, aws_client, example_on_sandbox, mlops


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    with example_on_sandbox(tmp_path, "fraud-detection", operation_delay=0.2) as dest:
        yield dest


emulator = aws_client


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_fraud_detection_lifecycle(stack_dir: Path) -> None:
    sm = emulator(stack_dir)
    res = mlops(stack_dir, "--sandbox", "apply", *VARS, "--auto-approve")
    assert res.returncode == 0, res.stderr
    assert "Apply complete! Resources: 3 added, 0 changed, 0 destroyed." in res.stdout
    endpoint_arn = sm.describe_endpoint(EndpointName="fraud-api")["EndpointArn"]

    res = mlops(stack_dir, "--sandbox", "plan", *VARS, "--detailed-exitcode")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "No changes." in res.stdout

    # One instance count: one in-place update, same endpoint.
    edit(stack_dir / "stack.yaml", "instance_count: 2", "instance_count: 3")
    res = mlops(stack_dir, "--sandbox", "plan", *VARS, "--detailed-exitcode", "--json")
    assert res.returncode == 2
    changes = {c["address"]: c for c in json.loads(res.stdout)["resource_changes"] if c["action"] != "noop"}
    assert list(changes) == ["endpoint.fraud-api"] and changes["endpoint.fraud-api"]["action"] == "update"
    assert [(c["path"], c["before"], c["after"]) for c in changes["endpoint.fraud-api"]["changes"]] == [
        ("variants[0].instance_count", 2, 3)
    ]
    res = mlops(stack_dir, "--sandbox", "apply", *VARS, "--auto-approve")
    assert res.returncode == 0, res.stderr
    assert "0 added, 1 changed, 0 destroyed" in res.stdout
    desc = sm.describe_endpoint(EndpointName="fraud-api")
    assert desc["EndpointArn"] == endpoint_arn
    assert desc["ProductionVariants"][0]["DesiredInstanceCount"] == 3

    # A new artifact: the model is replaced, the endpoint updated (not replaced).
    old_v8 = {m["ModelName"] for m in sm.list_models()["Models"] if m["ModelName"].startswith("fraud-xgb-v8")}
    edit(stack_dir / "stack.yaml", "fraud/v8/model.tar.gz", "fraud/v8.1/model.tar.gz")
    res = mlops(stack_dir, "--sandbox", "plan", *VARS, "--out", "release.plan")
    assert res.returncode == 0, res.stderr
    assert "# model.fraud-xgb-v8 must be replaced" in res.stdout
    assert "# endpoint.fraud-api will be updated in-place" in res.stdout
    assert "Plan: 1 to add, 1 to change, 1 to destroy." in res.stdout
    res = mlops(stack_dir, "--sandbox", "apply", "release.plan")
    assert res.returncode == 0, res.stderr
    models = {m["ModelName"] for m in sm.list_models()["Models"]}
    assert len(models) == 2 and not models & old_v8, "the replaced model is deleted"
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName="fraud-api")["EndpointConfigName"]
    )
    assert {v["ModelName"] for v in config["ProductionVariants"]} == models
    assert sm.describe_endpoint(EndpointName="fraud-api")["EndpointArn"] == endpoint_arn
    assert len(sm.list_endpoint_configs()["EndpointConfigs"]) == 1, "old configs are cleaned up"

    # The saved plan is spent: applying it again is refused as stale.
    res = mlops(stack_dir, "--sandbox", "apply", "release.plan")
    assert res.returncode == 1 and "stale" in res.stderr

    res = mlops(stack_dir, "--sandbox", "destroy", *VARS, "--auto-approve")
    assert res.returncode == 0, res.stderr
    assert "Destroy complete! Resources: 3 destroyed." in res.stdout
    assert sm.list_models()["Models"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_endpoints()["Endpoints"] == []
    assert (
        emulator(stack_dir, "application-autoscaling").describe_scalable_targets(
            ServiceNamespace="sagemaker"
        )["ScalableTargets"]
        == []
    )


def test_second_concurrent_apply_is_refused_by_the_lock(stack_dir: Path) -> None:
    assert mlops(stack_dir, "sandbox", "up", "--operation-delay", "4").returncode == 0
    first = subprocess.Popen(
        [MLOPS, "--sandbox", "apply", *VARS, "--auto-approve"],
        cwd=stack_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = stack_dir / ".mlops" / "sandbox" / "state.lock.json"
    deadline = time.monotonic() + 30
    while not lock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock.exists(), "the first apply never took the lock"
    started = time.monotonic()
    second = mlops(stack_dir, "--sandbox", "apply", *VARS, "--auto-approve")
    assert second.returncode == 1
    assert time.monotonic() - started < 15, "refused at once, not after waiting"
    info = json.loads(lock.read_text())
    assert "state is locked by" in second.stderr and info["id"] in second.stderr
    assert "for apply since" in second.stderr
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert not lock.exists()
