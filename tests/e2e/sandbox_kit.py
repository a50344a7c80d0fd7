"""What the end-to-end tests share: the installed `mlops` command, an example stack copied to
a temporary directory with its sandbox up, and boto3 clients pointed at that sandbox."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[2]
MLOPS = str(Path(sys.executable).parent / "mlops")
VARS = ["--var-file", "sandbox.vars.yaml"]


def mlops(cwd: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLOPS, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@contextmanager
def example_on_sandbox(tmp_path: Path, example: str, *, operation_delay: float) -> Iterator[Path]:
    """stacks/<example> copied without local state, its sandbox up for the test, down after."""
    dest = tmp_path / example
    shutil.copytree(ROOT / "stacks" / example, dest, ignore=shutil.ignore_patterns(".mlops"))
    up = mlops(dest, "sandbox", "up", "--operation-delay", str(operation_delay))
    assert up.returncode == 0, up.stderr
    try:
        yield dest
    finally:
        mlops(dest, "sandbox", "down")


def aws_client(stack_dir: Path, service: str = "sagemaker") -> Any:
    """A boto3 client of the stack's sandbox (the SageMaker emulator serves every AWS service)."""
    url = json.loads((stack_dir / ".mlops" / "sandbox" / "sandbox.json").read_text())["urls"]["sagemaker"]
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )
