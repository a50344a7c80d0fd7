"""state, show, output, import, --target and refresh-only through the installed command."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MLOPS = str(Path(sys.executable).parent / "mlops")


def mlops(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLOPS, "--sandbox", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def applied(tmp_path: Path) -> Iterator[Path]:
    dest = tmp_path / "minimal"
    shutil.copytree(ROOT / "stacks" / "minimal", dest, ignore=shutil.ignore_patterns(".mlops"))
    (dest / "stack.yaml").write_text(
        (dest / "stack.yaml").read_text()
        + "\noutputs:\n  endpoint: {value: '${endpoint.iris-api.name}'}\n"
        + "  model_arn: {value: '${model.iris.arn}', sensitive: true}\n"
    )
    res = mlops(dest, "apply", "--auto-approve")
    assert res.returncode == 0, res.stderr
    yield dest
    subprocess.run([MLOPS, "sandbox", "down"], cwd=dest, capture_output=True, timeout=60)


def test_state_list_show_mv_rm(applied: Path) -> None:
    assert mlops(applied, "state", "list").stdout.split() == ["model.iris", "endpoint.iris-api"]
    shown = mlops(applied, "state", "show", "endpoint.iris-api").stdout
    assert re.search(r"variants\[0\]\.serverless\.memory_mb +=\s+2048", shown)
    # Renaming in state: the stack no longer matches until it is moved back.
    assert mlops(applied, "state", "mv", "endpoint.iris-api", "endpoint.iris").returncode == 0
    plan = json.loads(mlops(applied, "plan", "--json").stdout)
    assert {c["address"]: c["action"] for c in plan["resource_changes"] if c["action"] != "noop"} == {
        "endpoint.iris-api": "create",
        "endpoint.iris": "delete",
    }
    res = mlops(applied, "state", "mv", "endpoint.iris", "model.x")
    assert res.returncode == 1 and "keeps its kind" in res.stderr
    assert mlops(applied, "state", "mv", "endpoint.iris", "endpoint.iris-api").returncode == 0
    res = mlops(applied, "state", "show", "endpoint.iris-apx")
    assert res.returncode == 1 and "did you mean 'endpoint.iris-api'" in res.stderr
    # Forget the endpoint: the cloud keeps it, so import adopts it back with no change to plan.
    assert mlops(applied, "state", "rm", "endpoint.iris-api").returncode == 0
    assert mlops(applied, "plan", "--detailed-exitcode").returncode == 2
    res = mlops(applied, "import", "endpoint.iris-api", "iris-api")
    assert res.returncode == 0, res.stderr
    res = mlops(applied, "plan", "--detailed-exitcode")
    assert res.returncode == 0, res.stdout
    res = mlops(applied, "import", "endpoint.iris-api", "iris-api")
    assert res.returncode == 1 and "already managed" in res.stderr


def test_show_and_output_hide_sensitive_values(applied: Path) -> None:
    out = json.loads(mlops(applied, "output", "--json").stdout)
    assert out["endpoint"] == {"value": "iris-api", "sensitive": False}
    assert out["model_arn"] == {"value": None, "sensitive": True}
    assert "(sensitive)" in mlops(applied, "output").stdout
    assert mlops(applied, "output", "endpoint", "--raw").stdout.strip() == "iris-api"
    state = json.loads(mlops(applied, "show", "--json").stdout)
    assert [r["address"] for r in state["resources"]] == ["model.iris", "endpoint.iris-api"]
    assert state["outputs"]["model_arn"]["value"] is None


def test_target_limits_the_plan(applied: Path) -> None:
    stack = applied / "stack.yaml"
    stack.write_text(
        stack.read_text()
        .replace("max_concurrency: 5", "max_concurrency: 7")
        .replace("iris/model.tar.gz", "iris/v2/model.tar.gz")
    )
    plan = json.loads(mlops(applied, "plan", "--json").stdout)
    assert {c["address"]: c["action"] for c in plan["resource_changes"]} == {
        "model.iris": "replace",
        "endpoint.iris-api": "update",
    }
    plan = json.loads(mlops(applied, "plan", "--json", "--target", "model.iris").stdout)
    assert {c["address"]: c["action"] for c in plan["resource_changes"]} == {"model.iris": "replace"}
    res = mlops(applied, "plan", "--target", "model.irs")
    assert res.returncode == 1 and "did you mean 'model.iris'" in res.stderr


def test_refresh_only_records_drift_without_touching_the_cloud(applied: Path) -> None:
    import boto3

    url = json.loads((applied / ".mlops" / "sandbox" / "sandbox.json").read_text())["urls"]["sagemaker"]
    sm = boto3.client(
        "sagemaker",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    sm.add_tags(
        ResourceArn=sm.describe_endpoint(EndpointName="iris-api")["EndpointArn"],
        Tags=[{"Key": "owner", "Value": "console-user"}],
    )
    plan = json.loads(mlops(applied, "plan", "--json", "--refresh-only").stdout)
    assert [(d["address"], d["action"]) for d in plan["drift"]] == [("endpoint.iris-api", "update")]
    assert mlops(applied, "apply", "--refresh-only", "--auto-approve").returncode == 0
    shown = mlops(applied, "state", "show", "endpoint.iris-api").stdout
    assert "tags.owner" in shown and "console-user" in shown
    # The stack does not have the tag: a normal plan now proposes to remove it.
    plan = json.loads(mlops(applied, "plan", "--json").stdout)
    changes = {c["address"]: c for c in plan["resource_changes"] if c["action"] != "noop"}
    assert [ch["path"] for ch in changes["endpoint.iris-api"]["changes"]] == ["tags.owner"]
