"""`mlops plan --all DIR` plans every stack and environment below DIR at once, in one summary,
with an exit code that holds across all of them."""

from __future__ import annotations

from pathlib import Path

from sandbox_kit import mlops

STACK = """\
apiVersion: mlops-gitops/v1
name: NAME
provider:
  sagemaker:
    region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/mlops-sandbox-sagemaker
ENVS
models:
  m:
    artifact: s3://ml-artifacts-demo/NAME/model.tar.gz
    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3
"""


def _write(root: Path, name: str, envs: str = "") -> Path:
    d = root / "stacks" / name
    d.mkdir(parents=True)
    (d / "stack.yaml").write_text(STACK.replace("NAME", name).replace("ENVS", envs))
    return d


def test_every_stack_and_environment_in_one_summary(tmp_path: Path) -> None:
    recs = _write(tmp_path, "recs", "environments:\n  dev: {}\n  prod: {}")
    fraud = _write(tmp_path, "fraud")
    assert mlops(recs, "sandbox", "up").returncode == 0 and mlops(fraud, "sandbox", "up").returncode == 0
    try:
        assert mlops(recs, "--sandbox", "--env", "dev", "apply", "--auto-approve").returncode == 0
        res = mlops(tmp_path, "--sandbox", "plan", "--all", "stacks", "--detailed-exitcode")
        assert res.returncode == 2, res.stdout + res.stderr
        lines = res.stdout.splitlines()
        assert lines[0] == f"Plans of 3 stack(s) and environment(s) under {tmp_path / 'stacks'}:"
        assert "  fraud        1 to add, 0 to change, 0 to destroy" in lines
        assert "  recs (dev)   no changes" in lines
        assert "  recs (prod)  1 to add, 0 to change, 0 to destroy" in lines
        assert lines[-1] == "2 with changes, 0 failed."

        # A broken stack fails the whole run, named, while the others are still planned.
        (fraud / "stack.yaml").write_text("apiVersion: mlops-gitops/v1\nname: fraud\n")
        res = mlops(tmp_path, "--sandbox", "plan", "--all", "stacks", "--detailed-exitcode")
        assert res.returncode == 1
        assert any(line.startswith("  fraud        failed: ") for line in res.stdout.splitlines())
        assert res.stdout.splitlines()[-1] == "1 with changes, 1 failed: fraud"
    finally:
        mlops(recs, "sandbox", "down")
        mlops(fraud, "sandbox", "down")
