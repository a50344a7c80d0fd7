"""What the end-to-end tests share: the installed `mlops` command, an example stack copied to
a temporary directory with its sandbox up, and boto3 clients and Azure ML's MLClient pointed at that
sandbox."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
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


class _AnyToken:
    """A credential: the sandbox accepts any bearer token."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("sandbox", int(time.time()) + 3600)


def azureml_client(url: str, ca_file: str, subscription: str, resource_group: str, workspace: str) -> Any:
    """The real `MLClient` on the Azure ML emulator at `url`, trusting its certificate `ca_file`."""
    from azure.ai.ml import MLClient

    return MLClient(
        _AnyToken(),
        subscription,
        resource_group,
        workspace,
        cloud=f"Local{url.rsplit(':', 1)[1]}",  # one cloud name per URL: registration is process-global
        cloud_metadata={
            "azure_portal": url,
            "resource_manager": url,
            "active_directory": url,
            "aml_resource_id": url,
            "storage_endpoint": "core.localhost",
            "registry_discovery_endpoint": url,
        },
        connection_verify=ca_file,
        enable_telemetry=False,
        show_progress=False,
    )


def sandbox_azureml_client(stack_dir: Path, subscription: str, resource_group: str, workspace: str) -> Any:
    """`azureml_client` on the Azure ML emulator of the stack's sandbox."""
    info = json.loads((stack_dir / ".mlops" / "sandbox" / "sandbox.json").read_text())
    ca_file = info["settings"]["azureml"]["tls_ca_file"]
    return azureml_client(info["urls"]["azureml"], ca_file, subscription, resource_group, workspace)
