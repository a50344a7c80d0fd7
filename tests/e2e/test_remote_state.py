"""State on S3 (the sandbox's moto), through the installed `mlops` run as a CI runner would: no
`--sandbox`, the cloud and the state bucket named by endpoint URLs. A second runner (a fresh copy
of the repository, no `.mlops/`) sees what the first applied; a held lock stops an apply at once,
naming its holder; another stack's state is never overwritten."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from sandbox_kit import MLOPS

from mlops_gitops.stack.schema import S3Backend
from mlops_gitops.state.s3 import S3StateBackend

STACK = """\
apiVersion: mlops-gitops/v1
name: NAME
provider:
  sagemaker:
    region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/mlops-ci
    endpoint_url: URL
backend:
  s3: {bucket: mlops-state, key: recs/state.json, region: us-east-1, endpoint_url: URL}
environments:
  dev: {}
  prod: {}
models:
  recs:
    artifact: s3://ml-artifacts-demo/recs/model.tar.gz
    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3
"""


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[str]:
    """A sandbox SageMaker emulator (moto: it serves S3 too), used here as "the cloud"."""
    home = tmp_path / "sandbox-home"
    home.mkdir()
    (home / "stack.yaml").write_text(STACK.replace("NAME", "x").replace("URL", "http://127.0.0.1:9"))
    up = subprocess.run([MLOPS, "sandbox", "up"], cwd=home, capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    url = json.loads((home / ".mlops" / "sandbox" / "sandbox.json").read_text())["urls"]["sagemaker"]
    boto3.client("s3", region_name="us-east-1", endpoint_url=url, **KEYS).create_bucket(Bucket="mlops-state")
    yield url
    subprocess.run([MLOPS, "sandbox", "down"], cwd=home, capture_output=True, timeout=60)


KEYS = {"aws_access_key_id": "ci", "aws_secret_access_key": "ci"}


def runner(tmp_path: Path, name: str, url: str, stack: str = "recs") -> Path:
    """A fresh checkout: the stack file alone."""
    d = tmp_path / name
    d.mkdir()
    (d / "stack.yaml").write_text(STACK.replace("NAME", stack).replace("URL", url))
    return d


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLOPS_"))},
        "AWS_ACCESS_KEY_ID": "ci",
        "AWS_SECRET_ACCESS_KEY": "ci",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(cwd / "no-aws-config"),
        "NO_COLOR": "1",
    }
    return subprocess.run([MLOPS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def test_runners_share_state_and_the_lock(
    tmp_path: Path, cloud: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = runner(tmp_path, "runner-1", cloud)
    applied = run(first, "--env", "dev", "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert not (first / ".mlops").exists(), "state went to S3, nothing stays on the runner"

    second = runner(tmp_path, "runner-2", cloud)
    plan = run(second, "--env", "dev", "plan", "--detailed-exitcode")
    assert plan.returncode == 0 and "No changes" in plan.stdout, plan.stdout + plan.stderr
    # prod has a state of its own: applying dev left it untouched.
    prod = run(second, "--env", "prod", "plan", "--json")
    assert [c["action"] for c in json.loads(prod.stdout)["resource_changes"]] == ["create"]

    # Another pipeline holds dev's lock: an apply fails at once, naming it.
    backend = S3StateBackend(
        S3Backend(bucket="mlops-state", key="env/dev/recs/state.json", region="us-east-1", endpoint_url=cloud)
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ci")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ci")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    lock = backend.lock("apply")
    try:
        held = run(second, "--env", "dev", "apply", "--auto-approve")
        assert held.returncode == 1
        assert f"state is locked by {lock.who}" in held.stderr and lock.id in held.stderr
    finally:
        backend.unlock(lock.id)

    # A stack of another name pointed at the same key is refused, not allowed to overwrite.
    other = runner(tmp_path, "runner-3", cloud, stack="other")
    refused = run(other, "--env", "dev", "apply", "--auto-approve")
    assert refused.returncode == 1
    assert "holds the state of stack 'recs'" in refused.stderr, refused.stderr


def test_state_migrates_from_local_to_s3_with_its_lineage(tmp_path: Path, cloud: str) -> None:
    d = runner(tmp_path, "laptop", cloud)
    remote = (d / "stack.yaml").read_text()
    # First on the default local backend: the same stack without its `backend:` block.
    lines = remote.splitlines(keepends=True)
    at = lines.index("backend:\n")
    (d / "stack.yaml").write_text("".join(lines[:at] + lines[at + 2 :]))
    applied = run(d, "--env", "dev", "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    local = json.loads((d / ".mlops" / "env" / "dev" / "state.json").read_text())

    (d / "stack.yaml").write_text(remote)  # the stack now names its S3 backend
    moved = run(d, "--env", "dev", "state", "migrate", "--from", "{local: {path: .mlops/env/dev}}")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert f"lineage {local['lineage']}, 1 resources" in moved.stdout
    again = run(d, "--env", "dev", "state", "migrate", "--from", "{local: {path: .mlops/env/dev}}")
    assert again.returncode == 0 and "already holds this state" in again.stdout

    fresh = runner(tmp_path, "runner", cloud)
    plan = run(fresh, "--env", "dev", "plan", "--detailed-exitcode")
    assert plan.returncode == 0 and "No changes" in plan.stdout, plan.stdout + plan.stderr
    bad = run(d, "--env", "dev", "state", "migrate", "--from", "{local: {path: 3}}")
    assert bad.returncode == 1 and bad.stderr.startswith(
        "Error: --from '{local: {path: 3}}': not a backend block"
    )
