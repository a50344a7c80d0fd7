"""A stack whose state is on S3 keeps it on S3 on the sandbox too: the SageMaker emulator (moto)
serves the store, the bucket is made on first use, and the CI flow's guarantees (a state per
environment, the lock naming its holder) can be tried with no cloud account."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_kit import aws_client, example_on_sandbox, mlops

from mlops_gitops.stack.schema import S3Backend
from mlops_gitops.state.s3 import S3StateBackend

BACKEND = """
backend:
  s3: {bucket: acme-mlops-state, key: minimal/state.json, region: us-east-1}
environments:
  dev: {}
  prod: {}
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Path]:
    with example_on_sandbox(tmp_path, "minimal", operation_delay=0) as d:
        with (d / "stack.yaml").open("a") as f:
            f.write(BACKEND)
        yield d


def keys(stack: Path) -> set[str]:
    listed = aws_client(stack, "s3").list_objects_v2(Bucket="acme-mlops-state")
    return {o["Key"] for o in listed.get("Contents", [])}


def test_state_lives_in_the_sandbox_store_per_environment(stack: Path) -> None:
    applied = mlops(stack, "--sandbox", "--env", "dev", "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert keys(stack) == {"env/dev/minimal/state.json", "env/dev/minimal/state.json.backup"}
    local = {p.name for p in (stack / ".mlops" / "sandbox").iterdir()}
    assert "state.json" not in local and "env" not in local, local  # none of it on disk

    state = json.loads(
        aws_client(stack, "s3")
        .get_object(Bucket="acme-mlops-state", Key="env/dev/minimal/state.json")["Body"]
        .read()
    )
    assert sorted(r["address"] for r in state["resources"]) == ["endpoint.iris-api", "model.iris"]

    again = mlops(stack, "--sandbox", "--env", "dev", "plan", "--detailed-exitcode")
    assert again.returncode == 0 and "No changes" in again.stdout, again.stdout + again.stderr
    listed = mlops(stack, "--sandbox", "--env", "dev", "state", "list")
    assert listed.returncode == 0 and listed.stdout.split() == ["model.iris", "endpoint.iris-api"], listed
    prod = mlops(stack, "--sandbox", "--env", "prod", "plan", "--detailed-exitcode")
    assert prod.returncode == 2, prod.stdout + prod.stderr  # prod's state is its own: empty


def test_a_held_lock_in_the_sandbox_store_stops_an_apply_naming_its_holder(stack: Path) -> None:
    applied = mlops(stack, "--sandbox", "--env", "dev", "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    url = json.loads((stack / ".mlops" / "sandbox" / "sandbox.json").read_text())["urls"]["sagemaker"]
    config = S3Backend(bucket="acme-mlops-state", key="env/dev/minimal/state.json", endpoint_url=url)
    backend = S3StateBackend(config, sandbox=True)
    lock = backend.lock("apply")
    try:
        held = mlops(stack, "--sandbox", "--env", "dev", "apply", "--auto-approve")
        assert held.returncode == 1
        assert held.stderr.startswith(f"Error: state is locked by {lock.who}"), held.stderr
        assert lock.id in held.stderr
    finally:
        backend.unlock(lock.id)
    assert "env/dev/minimal/state.json.lock" not in keys(stack)
