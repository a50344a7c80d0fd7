"""Azure ML through the installed `mlops` on the sandbox with 30% of the ARM calls failing at
random (429 with Retry-After, 5xx, or carried out with their answer lost, polls of long-running
operations included: see the emulator's `chaos` setting): a stack of a model, an endpoint whose
deployment collects data, a drift monitor and a retraining schedule applies, updates and is
destroyed without a failed command, and once the faults stop the plan is empty and the workspace
holds exactly the stack's objects. A permanent fault (every deployment PUT refused,
AuthorizationFailed; every schedule PUT a 500) fails the apply in one line naming the resource and
Azure's error, soon, leaving state that records exactly what was made. What the workspace holds is
read with the real `azure-ai-ml` SDK."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faults_kit import (
    apply_under_chaos,
    assert_clean_failure,
    assert_converged,
    failing_apply,
    run,
    stack_on_sandbox,
    state,
    url,
)
from sandbox_kit import ROOT, sandbox_azureml_client

from mlops_gitops.sandbox.control import update_settings

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
STACK = f"""\
apiVersion: mlops-gitops/v1
name: fraud-faults
provider:
  azureml: {{subscription_id: {SUBSCRIPTION}, resource_group: rg-fraud-ml, workspace: fraud-ws}}
tags: {{team: risk-ml}}
models:
  fraud-v8:
    artifact: azureml://datastores/workspaceblobstore/paths/fraud/v8/
    image: {{framework: sklearn, version: "1.5"}}
    environment: {{FRAUD_THRESHOLD: "0.80"}}
    azureml: {{conda_file: envs/serve.yaml}}
endpoints:
  fraud-api:
    variants:
      - {{name: blue, model: fraud-v8, instance_type: Standard_DS3_v2, instance_count: 1}}
    data_capture:
      destination: azureml://datastores/workspaceblobstore/paths/capture/fraud-api/
      sample_percent: 20
    azureml: {{auth_mode: key}}
monitors:
  fraud-drift:
    endpoint: fraud-api
    type: data_quality
    every: daily
    baseline: azureml://datastores/workspaceblobstore/paths/fraud/training/2026-11/
    alert: {{threshold: 0.2, notify: [fraud-ml-oncall@acme.example]}}
schedules:
  fraud-retrain:
    cron: "0 2 * * 1"
    timezone: Europe/Paris
    pipeline:
      definition: pipelines/fraud-train.yaml
      parameters: {{training_window_days: 90, min_auc: 0.9}}
    azureml: {{experiment_name: fraud-retrain}}
"""
EXAMPLE = ROOT / "stacks" / "azureml-fraud"
FILES = {name: (EXAMPLE / name).read_text() for name in ("envs/serve.yaml", "pipelines/fraud-train.yaml")}


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    with stack_on_sandbox(tmp_path, STACK, FILES) as dest:
        yield dest


def _ml(stack_dir: Path) -> Any:
    return sandbox_azureml_client(stack_dir, SUBSCRIPTION, "rg-fraud-ml", "fraud-ws")


def inventory(stack_dir: Path) -> dict[str, Any]:
    """What the workspace holds: endpoints with their deployments and traffic, model and
    environment versions, schedules."""
    from azure.ai.ml.constants import ListViewType

    ml = _ml(stack_dir)
    endpoints = {}
    for endpoint in ml.online_endpoints.list():
        deployments = sorted(d.name for d in ml.online_deployments.list(endpoint.name))
        traffic = {
            k: int(v) for k, v in (ml.online_endpoints.get(endpoint.name).traffic or {}).items() if int(v)
        }
        endpoints[endpoint.name] = (deployments, traffic)
    every = ListViewType.ALL
    return {
        "endpoints": endpoints,
        "models": sorted(str(m.version) for m in ml.models.list("fraud-v8", list_view_type=every)),
        "environments": sorted(str(e.version) for e in ml.environments.list("fraud-v8-env")),
        "schedules": sorted(s.name for s in ml.schedules.list(list_view_type=ListViewType.ALL)),
    }


def expected(stack_dir: Path, models: int = 1) -> dict[str, Any]:
    """What state records, one of each; the model's versions (`models`) stay when it changes."""
    recorded = {address: r["attributes"] for address, r in state(stack_dir).items()}
    (variant,) = recorded["endpoint.fraud-api"]["variants"]
    found = inventory(stack_dir)
    assert len(found["models"]) == models, found["models"]
    assert recorded["model.fraud-v8"]["id"].endswith(f"/versions/{found['models'][-1]}") or models > 1
    return {
        "endpoints": {"fraud-api": ([variant["deployment"]], {variant["deployment"]: 100})},
        "models": found["models"],
        "environments": [recorded["model.fraud-v8"]["environment"]["version"]],
        "schedules": ["fraud-drift", "fraud-retrain"],
    }


def test_a_stack_applies_updates_and_is_destroyed_through_faults_on_30_percent_of_calls(
    stack_dir: Path,
) -> None:
    apply_under_chaos(stack_dir, "azureml", seed=3)
    assert_converged(stack_dir)
    assert inventory(stack_dir) == expected(stack_dir)

    # A new threshold (a new deployment of the variant, traffic moved onto it) and a new tag.
    stack = stack_dir / "stack.yaml"
    stack.write_text(stack.read_text().replace('"0.80"', '"0.78"').replace("team: risk-ml", "team: fraud-ml"))
    apply_under_chaos(stack_dir, "azureml", seed=11)
    assert_converged(stack_dir)
    assert inventory(stack_dir) == expected(stack_dir, models=len(inventory(stack_dir)["models"]))
    assert _ml(stack_dir).online_endpoints.get("fraud-api").tags["team"] == "fraud-ml"

    apply_under_chaos(stack_dir, "azureml", 5, "destroy", "--auto-approve")
    assert state(stack_dir) == {}
    found = inventory(stack_dir)
    assert found["endpoints"] == {} and found["schedules"] == [], found


def test_permanent_faults_fail_the_apply_in_one_line_and_state_records_what_exists(stack_dir: Path) -> None:
    emulator = url(stack_dir, "azureml")
    denied = {
        "method": "PUT",
        "operation": "OnlineDeployments_CreateOrUpdate",
        "status": 403,
        "code": "AuthorizationFailed",
        "message": "The client does not have authorization to perform action "
        "'Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/write'.",
    }
    update_settings(emulator, {"fail": [denied]})
    res, seconds = failing_apply(stack_dir)
    assert_clean_failure(res, "endpoint.fraud-api", "AuthorizationFailed")
    assert seconds < 30, seconds  # a verdict: not retried
    recorded = state(stack_dir)
    assert "monitor.fraud-drift" not in recorded
    found = inventory(stack_dir)
    assert found["schedules"] == (["fraud-retrain"] if "schedule.fraud-retrain" in recorded else [])
    # No deployment was made; what exists of the endpoint is on record (to be made whole next time).
    assert all(deployments == [] for deployments, _ in found["endpoints"].values())
    assert ("endpoint.fraud-api" in recorded) == ("fraud-api" in found["endpoints"])

    # Every monitor schedule PUT a 500, for ever: retried, then given up within the policy's bounds.
    failing = {"method": "PUT", "path": "/schedules/fraud-drift$", "status": 500}
    update_settings(emulator, {"fail": [failing]})
    res, seconds = failing_apply(stack_dir)
    assert_clean_failure(res, "monitor.fraud-drift", "InternalServerError")
    assert seconds < 60, seconds
    recorded = state(stack_dir)
    assert "monitor.fraud-drift" not in recorded and recorded["endpoint.fraud-api"]["status"] == "ok"
    assert "fraud-drift" not in inventory(stack_dir)["schedules"]

    # The fault gone, the next apply finishes the job, leaving nothing behind.
    update_settings(emulator, {"fail": []})
    res = run(stack_dir, "apply", "--auto-approve")
    assert res.returncode == 0, res.stdout + res.stderr
    assert_converged(stack_dir)
    assert inventory(stack_dir) == expected(stack_dir)
