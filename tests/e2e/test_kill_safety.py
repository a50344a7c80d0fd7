"""SIGKILL of the installed `mlops apply` while SageMaker is updating the endpoint, ten times
over: after each kill, the next apply (once the stale lock is released) finishes the change and
cleans up, so the emulator holds exactly the stack's objects: no leftover EndpointConfigs, no
deposed models piling up, and a plan that then shows no changes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_kit import MLOPS, VARS, aws_client, example_on_sandbox, mlops


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    # Long enough an update for the kill to land while SageMaker is still Updating.
    with example_on_sandbox(tmp_path, "fraud-detection", operation_delay=1.5) as dest:
        yield dest


def apply_until_clean(stack_dir: Path) -> subprocess.CompletedProcess[str]:
    """Apply after a kill, as an operator would: the dead process's lock is released first."""
    res = mlops(stack_dir, "--sandbox", "apply", *VARS, "--auto-approve")
    lock = re.search(r"mlops force-unlock (\S+)", res.stderr)
    if res.returncode != 0 and lock:
        unlocked = mlops(stack_dir, "--sandbox", "force-unlock", lock.group(1), "--force", *VARS)
        assert unlocked.returncode == 0, unlocked.stderr
        res = mlops(stack_dir, "--sandbox", "apply", *VARS, "--auto-approve")
    return res


def cloud_objects(stack_dir: Path) -> dict[str, list[str]]:
    sm = aws_client(stack_dir, "sagemaker")
    scaling = aws_client(stack_dir, "application-autoscaling")
    return {
        "models": sorted(m["ModelName"] for m in sm.list_models()["Models"]),
        "configs": sorted(c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]),
        "endpoints": sorted(e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]),
        "scalable_targets": sorted(
            t["ResourceId"]
            for t in scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
        ),
    }


def expected_objects(stack_dir: Path) -> dict[str, list[str]]:
    state = json.loads((stack_dir / ".mlops" / "sandbox" / "state.json").read_text())
    by = {r["address"]: r["attributes"] for r in state["resources"]}
    endpoint = by["endpoint.fraud-api"]
    return {
        "models": sorted(by[a]["name"] for a in ("model.fraud-xgb-v7", "model.fraud-xgb-v8")),
        "configs": [endpoint["endpoint_config_name"]],
        "endpoints": ["fraud-api"],
        "scalable_targets": sorted(f"endpoint/fraud-api/variant/{v}" for v in ("candidate", "current")),
    }


def kill_while_updating(stack_dir: Path, fraction_of_delay: float) -> None:
    sm = aws_client(stack_dir, "sagemaker")
    proc = subprocess.Popen(
        [MLOPS, "--sandbox", "apply", *VARS, "--auto-approve"],
        cwd=stack_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if sm.describe_endpoint(EndpointName="fraud-api")["EndpointStatus"] == "Updating":
                break
            time.sleep(0.05)
        assert proc.poll() is None, "apply finished before the endpoint was seen Updating"
        time.sleep(1.5 * fraction_of_delay)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_ten_kills_during_endpoint_updates_leave_exactly_the_stacks_objects(stack_dir: Path) -> None:
    first = mlops(stack_dir, "--sandbox", "apply", *VARS, "--auto-approve")
    assert first.returncode == 0, first.stderr
    stack_file = stack_dir / "stack.yaml"
    text = stack_file.read_text()
    for i in range(10):
        # A new artifact for the candidate: its model is replaced and the endpoint moves to it.
        stack_file.write_text(text.replace("/fraud/v8/model.tar.gz", f"/fraud/v8.{i}/model.tar.gz"))
        kill_while_updating(stack_dir, fraction_of_delay=(i % 5) / 5)
        res = apply_until_clean(stack_dir)
        assert res.returncode == 0, f"kill {i}: {res.stdout}\n{res.stderr}"
        assert "changed outside of mlops" not in res.stdout, f"kill {i}: our own change called drift"
        plan = mlops(stack_dir, "--sandbox", "plan", *VARS, "--detailed-exitcode")
        assert plan.returncode == 0, f"kill {i}: {plan.stdout}\n{plan.stderr}"
        assert cloud_objects(stack_dir) == expected_objects(stack_dir), f"kill {i}"


def test_sigterm_during_an_update_records_and_unlocks(stack_dir: Path) -> None:
    first = mlops(stack_dir, "--sandbox", "apply", *VARS, "--auto-approve")
    assert first.returncode == 0, first.stderr
    stack_file = stack_dir / "stack.yaml"
    stack_file.write_text(
        stack_file.read_text().replace("/fraud/v8/model.tar.gz", "/fraud/v8.9/model.tar.gz")
    )
    sm = aws_client(stack_dir, "sagemaker")
    proc = subprocess.Popen(
        [MLOPS, "--sandbox", "apply", *VARS, "--auto-approve"],
        cwd=stack_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if sm.describe_endpoint(EndpointName="fraud-api")["EndpointStatus"] == "Updating":
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # a cancelled CI job
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    state = json.loads((stack_dir / ".mlops" / "sandbox" / "state.json").read_text())
    endpoint = next(r for r in state["resources"] if r["address"] == "endpoint.fraud-api")
    assert endpoint["pending"]["action"] == "update", "the interrupted change is on record"
    # The lock went with the process: the next apply needs no force-unlock, and finishes it.
    res = mlops(stack_dir, "--sandbox", "apply", *VARS, "--auto-approve")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "an apply was interrupted while it updated this resource" in res.stdout
    assert cloud_objects(stack_dir) == expected_objects(stack_dir)
