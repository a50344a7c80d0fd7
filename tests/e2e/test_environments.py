"""One stack, two environments, through the installed `mlops` on the sandbox: each has its own
state, applying one leaves the other untouched, and a promotion is a one-line change of the stack
file that the target's plan shows as exactly that."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_kit import aws_client, mlops

STACK = """\
apiVersion: mlops-gitops/v1
name: recs
provider:
  sagemaker:
    region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/mlops-sandbox-sagemaker
variables:
  version: {type: string}
environments:
  dev:
    variables: {version: v2}
  prod:
    variables: {version: v1}
models:
  recs:
    artifact: s3://ml-artifacts-demo/recs/${var.version}/model.tar.gz
    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3
"""


def ok(res) -> str:  # type: ignore[no-untyped-def]
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "stack.yaml").write_text(STACK)
    ok(mlops(tmp_path, "sandbox", "up"))
    yield tmp_path
    mlops(tmp_path, "sandbox", "down")


def test_environments_have_their_own_state_and_promotion_is_one_line(stack_dir: Path) -> None:
    refused = mlops(stack_dir, "--sandbox", "plan")
    assert refused.returncode == 1 and "choose one with --env NAME" in refused.stderr

    ok(mlops(stack_dir, "--sandbox", "--env", "dev", "apply", "--auto-approve"))
    sm = aws_client(stack_dir)
    (model,) = sm.list_models()["Models"]
    assert "/recs/v2/" in sm.describe_model(ModelName=model["ModelName"])["PrimaryContainer"]["ModelDataUrl"]
    # prod has no state of its own yet: its plan creates its model, dev's is not its business.
    plan = json.loads(ok(mlops(stack_dir, "--sandbox", "plan", "--env", "prod", "--json")))
    assert [(c["address"], c["action"]) for c in plan["resource_changes"]] == [("model.recs", "create")]
    ok(mlops(stack_dir, "--sandbox", "apply", "--auto-approve", "--env", "prod"))
    env = {"MLOPS_ENV": "dev"}
    assert "No changes" in ok(mlops_env(stack_dir, env, "--sandbox", "plan"))

    out = ok(mlops(stack_dir, "promote", "version", "--from", "dev", "--to", "prod"))
    assert 'environments.prod.variables.version: "v1" -> "v2" (from dev)' in out
    assert "prod:\n    variables: {version: v2}\n" in (stack_dir / "stack.yaml").read_text()
    plan = json.loads(ok(mlops(stack_dir, "--sandbox", "--env", "prod", "plan", "--json")))
    (change,) = [c for c in plan["resource_changes"] if c["action"] != "noop"]
    assert change["action"] == "replace"
    assert [f["path"] for f in change["changes"] if f["forces_replacement"]] == ["name", "artifact"] or {
        f["path"] for f in change["changes"]
    } >= {"artifact"}
    artifact = next(f for f in change["changes"] if f["path"] == "artifact")
    assert (artifact["before"], artifact["after"]) == (
        "s3://ml-artifacts-demo/recs/v1/model.tar.gz",
        "s3://ml-artifacts-demo/recs/v2/model.tar.gz",
    )
    # dev is untouched by all this.
    assert "No changes" in ok(mlops(stack_dir, "--sandbox", "--env", "dev", "plan"))


def mlops_env(cwd: Path, env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    import os
    import subprocess

    from sandbox_kit import MLOPS

    return subprocess.run(
        [MLOPS, *args], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=180
    )
