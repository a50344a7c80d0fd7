"""The CI flow on each remote state backend, through the installed `mlops` as CI runners run it:
S3 (the sandbox's moto), GCS (fake-gcs-server) and Azure Blob (Azurite). The stack file names the
store; each runner gives the emulator's endpoint with `--backend-config` (or MLOPS_BACKEND_CONFIG),
as CI gives settings kept out of git. Per backend: dev applied from one runner leaves prod's state
untouched; a second runner (a fresh checkout, no `.mlops/`) plans no changes; of two concurrent
applies of one environment, one wins and the other fails at once naming the holder."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from sandbox_kit import MLOPS

from mlops_gitops.sandbox.control import reset
from mlops_gitops.testing import azurite as azurite_kit
from mlops_gitops.testing.fake_gcs import FakeGcs

PROJECT_ROOT = Path(__file__).resolve().parents[2]
KEYS = {"aws_access_key_id": "ci", "aws_secret_access_key": "ci"}

STACK = """\
apiVersion: mlops-gitops/v1
name: recs
provider:
  sagemaker:
    region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/mlops-ci
    endpoint_url: CLOUD
backend:
  BACKEND
environments:
  dev: {}
  prod:
    provider: {sagemaker: {region: us-west-2}}
models:
  recs:
    artifact: s3://ml-artifacts-demo/recs/model.tar.gz
    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3
endpoints:
  recs-api:
    variants:
      - {name: main, model: recs, instance_type: ml.m5.large, instance_count: 1}
"""


@dataclass
class Store:
    """A backend block (without its endpoint) and how a runner reaches the store."""

    backend: str
    config: list[str]  # --backend-config pairs
    environ: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A sandbox SageMaker emulator as "the cloud", whose endpoints take 4 s to come up, so that
    an apply holds its lock for that long. It is moto, so it serves S3 too."""
    home = tmp_path_factory.mktemp("sandbox-home")
    (home / "stack.yaml").write_text(
        STACK.replace("CLOUD", "http://127.0.0.1:9").replace("BACKEND", "local: {}")
    )
    up = subprocess.run(
        [MLOPS, "sandbox", "up", "--operation-delay", "4"],
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert up.returncode == 0, up.stderr
    yield json.loads((home / ".mlops" / "sandbox" / "sandbox.json").read_text())["urls"]["sagemaker"]
    subprocess.run([MLOPS, "sandbox", "down"], cwd=home, capture_output=True, timeout=60)


@pytest.fixture(params=["s3", "gcs", "azureblob"])
def store(request: pytest.FixtureRequest, cloud: str, tmp_path: Path) -> Iterator[Store]:
    reset(cloud)  # an empty cloud for each backend (its settings kept)
    if request.param == "s3":
        bucket = f"state-{tmp_path.name[-12:].lower().replace('_', '-')}"
        boto3.client("s3", region_name="us-east-1", endpoint_url=cloud, **KEYS).create_bucket(Bucket=bucket)
        block = f"s3: {{bucket: {bucket}, key: recs/state.json, region: us-east-1}}"
        yield Store(block, [f"endpoint_url={cloud}"])
    elif request.param == "gcs":
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        with FakeGcs(tmp_path) as gcs:
            client = storage.Client(
                project="ci", credentials=AnonymousCredentials(), client_options={"api_endpoint": gcs.url}
            )
            client.create_bucket("mlops-state")
            yield Store("gcs: {bucket: mlops-state, prefix: recs}", [f"endpoint_url={gcs.url}"])
    else:
        from azure.storage.blob import BlobServiceClient

        try:
            binary = azurite_kit.find_azurite(PROJECT_ROOT)
        except azurite_kit.AzuriteMissing as err:
            pytest.fail(str(err))
        with azurite_kit.Azurite(binary, tmp_path / "azurite") as azurite:
            BlobServiceClient.from_connection_string(azurite.connection_string).create_container("mlops-state")
            # The container and blob come from the flags here: the file names the store only.
            yield Store(
                "azureblob: {}",
                ["container=mlops-state", "blob=recs/state.json"],
                {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string},
            )


def runner(tmp_path: Path, name: str, cloud: str, store: Store) -> Path:
    """A fresh checkout: the stack file alone."""
    d = tmp_path / name
    d.mkdir()
    (d / "stack.yaml").write_text(STACK.replace("CLOUD", cloud).replace("BACKEND", store.backend))
    (d / ".cloud-url").write_text(cloud)  # what CI would hold in its environment
    return d


def cloud_url(cwd: Path) -> str:
    return (cwd / ".cloud-url").read_text()


def environ(cwd: Path, store: Store, *, via_environment: bool) -> dict[str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLOPS_", "AZURE_", "GOOGLE_"))},
        "AWS_ACCESS_KEY_ID": "ci",
        "AWS_SECRET_ACCESS_KEY": "ci",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(cwd / "no-aws-config"),
        # The provider's endpoint_url names the SageMaker API; autoscaling's comes from here.
        "AWS_ENDPOINT_URL": cloud_url(cwd),
        "NO_COLOR": "1",
        **store.environ,
    }
    if via_environment:
        env["MLOPS_BACKEND_CONFIG"] = " ".join(store.config)
    return env


def command(store: Store, *args: str, via_environment: bool) -> list[str]:
    flags = [] if via_environment else [f"--backend-config={pair}" for pair in store.config]
    return [MLOPS, *flags, *args]


def run(
    cwd: Path, store: Store, *args: str, via_environment: bool = False
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(store, *args, via_environment=via_environment),
        cwd=cwd,
        env=environ(cwd, store, via_environment=via_environment),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_runners_share_state_and_one_apply_at_a_time(tmp_path: Path, cloud: str, store: Store) -> None:
    first = runner(tmp_path, "runner-1", cloud, store)
    applied = run(first, store, "--env", "dev", "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert not (first / ".mlops").exists(), "the state went to the store: nothing stays on the runner"

    # A fresh checkout, the settings from MLOPS_BACKEND_CONFIG this time, sees what was applied.
    second = runner(tmp_path, "runner-2", cloud, store)
    plan = run(second, store, "--env", "dev", "plan", "--detailed-exitcode", via_environment=True)
    assert plan.returncode == 0 and "No changes" in plan.stdout, plan.stdout + plan.stderr
    # prod has a state of its own: applying dev left it untouched.
    prod = run(second, store, "--env", "prod", "plan", "--json")
    assert prod.returncode == 0, prod.stderr
    assert sorted(c["action"] for c in json.loads(prod.stdout)["resource_changes"]) == ["create", "create"]

    # Two applies of prod at once. The first holds the lock from before its first cloud call
    # until its endpoint is up (4 s): the second, started once that endpoint is being created,
    # is refused at once, naming the holder.
    slow = subprocess.Popen(
        command(store, "--env", "prod", "apply", "--auto-approve", via_environment=False),
        cwd=first,
        env=environ(first, store, via_environment=False),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sagemaker = boto3.client("sagemaker", region_name="us-west-2", endpoint_url=cloud, **KEYS)
    try:
        deadline = time.monotonic() + 60
        while not sagemaker.list_endpoints()["Endpoints"]:
            assert slow.poll() is None and time.monotonic() < deadline, "the first apply did not get going"
            time.sleep(0.05)
        started = time.monotonic()
        other = run(second, store, "--env", "prod", "apply", "--auto-approve")
        assert other.returncode == 1, other.stdout + other.stderr
        assert other.stderr.startswith("Error: state is locked by "), other.stderr
        assert "if that process is gone, run: mlops force-unlock" in other.stderr
        assert time.monotonic() - started < 30, "refused at once, without waiting for the lock"
        assert slow.poll() is None, "refused while the first apply still ran"
        out, err = slow.communicate(timeout=120)
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.communicate()
    assert slow.returncode == 0, out + err
    after = run(second, store, "--env", "prod", "plan", "--detailed-exitcode")
    assert after.returncode == 0 and "No changes" in after.stdout, after.stdout + after.stderr
