"""No secret in any output: a sensitive variable feeding a model's environment, through the
installed `mlops` on the sandbox, stays `(sensitive)` in every command that shows attributes,
including after the model left the stack (redaction comes from state then) and in destroys.
Files that hold it are readable by their owner only."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

MLOPS = str(Path(sys.executable).parent / "mlops")
SECRET = "S3cr3t-value-42"
STACK = """\
apiVersion: mlops-gitops/v1
name: secrets
provider:
  sagemaker:
    region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/mlops-sandbox-sagemaker
variables:
  api_key: {sensitive: true}
models:
  scorer:
    artifact: s3://ml-artifacts-demo/scorer/model.tar.gz
    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3
    environment: {API_KEY: "${var.api_key}", MODE: batch}
"""


def mlops(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"MLOPS_VAR_api_key": SECRET, "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run([MLOPS, *args], cwd=cwd, capture_output=True, text=True, timeout=180, env=env)


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "stack.yaml").write_text(STACK)
    up = mlops(tmp_path, "sandbox", "up")
    assert up.returncode == 0, up.stderr
    yield tmp_path
    mlops(tmp_path, "sandbox", "down")
    shutil.rmtree(tmp_path / ".mlops", ignore_errors=True)


def shown(res: subprocess.CompletedProcess[str]) -> str:
    return res.stdout + res.stderr


def test_a_secret_never_appears_in_any_output(stack_dir: Path) -> None:
    applied = mlops(stack_dir, "--sandbox", "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    outputs = [applied]
    for args in (
        ("plan", "--destroy"),
        ("plan", "--destroy", "--json"),
        ("show",),
        ("show", "--json"),
        ("state", "show", "model.scorer"),
    ):
        res = mlops(stack_dir, "--sandbox", *args)
        assert res.returncode == 0, res.stderr
        outputs.append(res)
    # The model leaves the stack: the plan's delete rows are redacted from what state recorded.
    (stack_dir / "stack.yaml").write_text(
        STACK.split("models:")[0].replace("variables:\n  api_key: {sensitive: true}\n", "")
    )
    for args in (("plan",), ("plan", "--json"), ("show",), ("state", "show", "model.scorer")):
        res = mlops(stack_dir, "--sandbox", *args)
        assert res.returncode == 0, res.stderr
        outputs.append(res)
    destroyed = mlops(stack_dir, "--sandbox", "destroy", "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stderr
    outputs.append(destroyed)
    for res in outputs:
        assert SECRET not in shown(res), res.args
    assert any("(sensitive)" in shown(res) for res in outputs[1:])


def test_files_holding_secrets_are_owner_only(stack_dir: Path) -> None:
    applied = mlops(stack_dir, "--sandbox", "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    for path in (stack_dir / ".mlops").rglob("*"):
        if path.is_file() and SECRET in path.read_text(errors="replace"):
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
