"""Saved plans through the installed `mlops` command on the sandbox: a plan applies once, on the
stack and the cloud the command is for, doing exactly what it showed (targets and destroy
included), and never shows a secret."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

MLOPS = str(Path(sys.executable).parent / "mlops")
SECRET_1, SECRET_2 = "first-secret-4711", "second-secret-0815"

STACK = """\
apiVersion: mlops-gitops/v1
name: saved-plans
provider:
  sagemaker:
    region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/mlops-sandbox-sagemaker
variables:
  api_key: {sensitive: true}
models:
  iris:
    artifact: s3://ml-artifacts-demo/iris/model.tar.gz
    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3
    environment: {API_KEY: "${var.api_key}", MODE: fast}
endpoints:
  iris-api:
    variants:
      - {name: main, model: iris, serverless: {memory_mb: 2048, max_concurrency: 5}}
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No sandbox unless a command asks, and an AWS that is a closed port on loopback: a command
    that wrongly went for the real cloud fails here instead of leaving the machine."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLOPS_"))}
    out.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_MAX_ATTEMPTS="1",
        NO_COLOR="1",
    )
    return out


@pytest.fixture
def run(env: dict[str, str]):
    def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([MLOPS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)

    return run


@pytest.fixture
def stack_dir(tmp_path: Path, run) -> Iterator[Path]:
    d = tmp_path / "saved-plans"
    d.mkdir()
    (d / "stack.yaml").write_text(STACK)
    up = run(d, "sandbox", "up")
    assert up.returncode == 0, up.stderr
    yield d
    run(d, "sandbox", "down")


def sagemaker(stack_dir: Path) -> Any:
    url = json.loads((stack_dir / ".mlops" / "sandbox" / "sandbox.json").read_text())["urls"]["sagemaker"]
    return boto3.client(
        "sagemaker",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )


def ok(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def stale(res: subprocess.CompletedProcess[str]) -> None:
    assert res.returncode == 1, res.stdout + res.stderr
    assert res.stderr.startswith("Error: the saved plan is stale: state changed since it was made"), (
        res.stderr
    )


def test_a_sandbox_plan_is_not_applied_to_the_cloud(stack_dir: Path, run) -> None:
    ok(run(stack_dir, "--sandbox", "plan", "--var", f"api_key={SECRET_1}", "--out", "sandbox.plan"))
    res = run(stack_dir, "apply", "sandbox.plan")
    assert res.returncode == 1
    here = f"{stack_dir.resolve()}/stack.yaml"
    assert res.stderr == (
        f"Error: sandbox.plan was made for stack {here} on the sandbox; this command is for {here} "
        "on the cloud\n"
    )
    assert sagemaker(stack_dir).list_models()["Models"] == [], "nothing applied on the sandbox either"
    assert not (stack_dir / ".mlops" / "state.json").exists()
    # On the cloud it was made for, it applies.
    ok(run(stack_dir, "--sandbox", "apply", "sandbox.plan"))
    assert len(sagemaker(stack_dir).list_models()["Models"]) == 1


def test_targeted_full_and_destroy_plans_each_apply_exactly_once(stack_dir: Path, run) -> None:
    sm = sagemaker(stack_dir)
    var = ["--var", f"api_key={SECRET_1}"]

    # A targeted plan: only the model (the endpoint depends on it, not the other way round).
    ok(run(stack_dir, "--sandbox", "plan", *var, "--target", "model.iris", "--out", "model.plan"))
    out = ok(run(stack_dir, "--sandbox", "apply", "model.plan"))
    assert "Resources: 1 added, 0 changed, 0 destroyed." in out
    assert len(sm.list_models()["Models"]) == 1 and sm.list_endpoints()["Endpoints"] == []
    assert ok(run(stack_dir, "--sandbox", "state", "list", *var)).split() == ["model.iris"]
    stale(run(stack_dir, "--sandbox", "apply", "model.plan"))

    # The rest, applied from the parent directory: --chdir (and -f) name the same stack file.
    ok(run(stack_dir, "--sandbox", "plan", *var, "--out", "full.plan"))
    parent = stack_dir.parent
    out = ok(run(parent, "--chdir", stack_dir.name, "--sandbox", "apply", "full.plan"))
    assert "Resources: 1 added, 0 changed, 0 destroyed." in out
    assert [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]] == ["iris-api"]
    stale(
        run(parent, "-f", f"{stack_dir.name}/stack.yaml", "--sandbox", "apply", f"{stack_dir.name}/full.plan")
    )

    # A destroy plan is a destroy when applied, and is spent by it.
    ok(run(stack_dir, "--sandbox", "plan", *var, "--destroy", "--out", "destroy.plan"))
    shown = ok(run(stack_dir, "show", "destroy.plan"))
    assert "# endpoint.iris-api will be destroyed" in shown and "# model.iris will be destroyed" in shown
    out = ok(run(stack_dir, "--sandbox", "apply", "destroy.plan"))
    assert "Destroy complete! Resources: 2 destroyed." in out
    assert sm.list_models()["Models"] == [] and sm.list_endpoints()["Endpoints"] == []
    stale(run(stack_dir, "--sandbox", "apply", "destroy.plan"))


def test_a_changed_secret_is_never_shown_and_the_plan_applies_it(stack_dir: Path, run) -> None:
    ok(run(stack_dir, "--sandbox", "apply", "--var", f"api_key={SECRET_1}", "--auto-approve"))
    made = ok(run(stack_dir, "--sandbox", "plan", "--var", f"api_key={SECRET_2}", "--out", "rotate.plan"))
    text = ok(run(stack_dir, "show", "rotate.plan"))
    raw = ok(run(stack_dir, "show", "--json", "rotate.plan"))
    for out in (made, text, raw):
        assert SECRET_1 not in out and SECRET_2 not in out
    assert re.search(
        r"~ environment\.API_KEY += \(sensitive\) -> \(sensitive\) # forces replacement", text
    ), text
    model = next(c for c in json.loads(raw)["resource_changes"] if c["address"] == "model.iris")
    assert model["action"] == "replace"
    assert (
        model["before"]["environment"]["API_KEY"] == model["after"]["environment"]["API_KEY"] == "(sensitive)"
    )
    assert oct((stack_dir / "rotate.plan").stat().st_mode & 0o777) == "0o600"

    # Applied without --var: the plan carries the value it was made with.
    out = ok(run(stack_dir, "--sandbox", "apply", "rotate.plan"))
    assert SECRET_2 not in out
    sm = sagemaker(stack_dir)
    [model_summary] = sm.list_models()["Models"]
    env = sm.describe_model(ModelName=model_summary["ModelName"])["PrimaryContainer"]["Environment"]
    assert env["API_KEY"] == SECRET_2


IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
REGISTRY_STACK = """\
apiVersion: mlops-gitops/v1
name: saved-plans
provider:
  sagemaker:
    region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/mlops-sandbox-sagemaker
endpoints:
  iris-api:
    variants:
      - {name: main, model_package: iris@latest-approved, serverless: {memory_mb: 2048}}
"""


def test_a_saved_plan_deploys_the_registry_version_it_showed(stack_dir: Path, run) -> None:
    """`latest-approved` is looked up when the plan is made and recorded in it: a version
    approved after the review is not what the reviewed plan deploys."""
    (stack_dir / "stack.yaml").write_text(REGISTRY_STACK)
    sm = sagemaker(stack_dir)
    sm.create_model_package_group(ModelPackageGroupName="iris")
    for i in (1, 2):
        sm.create_model_package(
            ModelPackageGroupName="iris",
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": IMAGE,
                        "ModelDataUrl": f"s3://ml-artifacts-demo/iris/v{i}/model.tar.gz",
                    }
                ]
            },
            ModelApprovalStatus="Approved" if i == 1 else "PendingManualApproval",
        )
    ok(run(stack_dir, "--sandbox", "plan", "--out", "v1.plan"))
    shown = json.loads(ok(run(stack_dir, "show", "--json", "v1.plan")))
    (change,) = shown["resource_changes"]
    assert change["resolved"]["packages"]["main"]["model_package_version"] == 1
    assert change["resolved_unknown"] == []

    arn2 = sm.list_model_packages(ModelPackageGroupName="iris")["ModelPackageSummaryList"]
    arn2 = next(p["ModelPackageArn"] for p in arn2 if p["ModelPackageVersion"] == 2)
    sm.update_model_package(ModelPackageArn=arn2, ModelApprovalStatus="Approved")
    ok(run(stack_dir, "--sandbox", "apply", "v1.plan"))
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName="iris-api")["EndpointConfigName"]
    )
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert model["Containers"][0]["ModelPackageName"].endswith("/iris/1")

    # A new plan looks again, and moves to version 2.
    plan = ok(run(stack_dir, "--sandbox", "plan"))
    assert "resolves to version 2" in plan
