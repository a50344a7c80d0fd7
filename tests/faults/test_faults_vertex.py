"""Vertex AI through the installed `mlops` on the sandbox with 30% of the API calls failing at
random (429 RESOURCE_EXHAUSTED, 5xx, or carried out with their answer lost, operation polls
included: see the emulator's `chaos` setting): a stack of a model, an autoscaled endpoint logging
requests, a drift monitoring job and a retraining schedule applies, updates and is destroyed
without a failed command, and once the faults stop the plan is empty and Vertex holds exactly the
stack's objects (the monitoring job and the schedule, whose IDs Vertex picks, made once although
their create's answer was lost). A permanent fault (deployModel refused with PERMISSION_DENIED;
every monitoring job create a 503) fails the apply in one line naming the resource and Vertex's error,
soon, leaving state that records exactly what was made. What Vertex holds is read with the SDK."""

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
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1 as v1
from sandbox_kit import ROOT

from mlops_gitops.sandbox.control import update_settings

PARENT = "projects/acme-ml/locations/europe-west4"
STACK = """\
apiVersion: mlops-gitops/v1
name: churn-faults
provider:
  vertex:
    project: acme-ml
    location: europe-west4
    staging_bucket: gs://acme-ml-staging
    service_account: pipelines@acme-ml.iam.gserviceaccount.com
tags: {team: growth-ml}
models:
  churn-xgb:
    artifact: gs://acme-ml-artifacts/churn/xgb/2026-11/
    image: {framework: xgboost, version: "1.7"}
    environment: {CHURN_THRESHOLD: "0.42"}
endpoints:
  churn-api:
    variants:
      - {name: champion, model: churn-xgb, instance_type: n1-standard-4, autoscaling: {min: 1, max: 3}}
    data_capture: {destination: bq://acme-ml.serving_logs.churn_api, sample_percent: 20}
monitors:
  churn-drift:
    endpoint: churn-api
    type: data_quality
    every: hourly
    baseline: {dataset: gs://acme-ml-artifacts/churn/training/2026-11/train.csv, format: csv, header: true}
    alert: {threshold: 0.3, notify: [ml-oncall@acme.example]}
    vertex: {target_field: churned}
schedules:
  churn-retrain:
    cron: "0 3 * * 1"
    timezone: Europe/Paris
    pipeline:
      definition: pipelines/churn-train.json
      parameters: {training_table: bq://acme-ml.crm.churn_sessions, max_depth: 8, min_auc: 0.82}
"""
FILES = {
    "pipelines/churn-train.json": (
        ROOT / "stacks" / "vertex-churn" / "pipelines" / "churn-train.json"
    ).read_text()
}


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    with stack_on_sandbox(tmp_path, STACK, FILES) as dest:
        yield dest


def _client(cls: type, stack_dir: Path) -> Any:
    options = {"api_endpoint": url(stack_dir, "vertex")}
    return cls(transport="rest", credentials=AnonymousCredentials(), client_options=options)


def _id(name: str) -> str:
    return name.rsplit("/", 1)[1]


def inventory(stack_dir: Path) -> dict[str, Any]:
    """Every object the stack may make, as Vertex lists them: models with their versions,
    endpoints with the IDs of their deployed models, monitoring jobs, schedules."""
    models, endpoints = (
        _client(v1.ModelServiceClient, stack_dir),
        _client(v1.EndpointServiceClient, stack_dir),
    )
    jobs, schedules = _client(v1.JobServiceClient, stack_dir), _client(v1.ScheduleServiceClient, stack_dir)
    return {
        "models": sorted(
            (_id(m.name), sorted(v.version_id for v in models.list_model_versions(name=m.name)))
            for m in models.list_models(parent=PARENT)
        ),
        "endpoints": sorted(
            (_id(e.name), sorted(d.id for d in e.deployed_models))
            for e in endpoints.list_endpoints(parent=PARENT)
        ),
        "monitoring_jobs": sorted(
            _id(j.name) for j in jobs.list_model_deployment_monitoring_jobs(parent=PARENT)
        ),
        "schedules": sorted(_id(s.name) for s in schedules.list_schedules(parent=PARENT)),
    }


def expected(stack_dir: Path) -> dict[str, Any]:
    """One of each, as state records them (the model with the versions it has now)."""
    recorded = {address: r["attributes"] for address, r in state(stack_dir).items()}
    model, endpoint = recorded["model.churn-xgb"], recorded["endpoint.churn-api"]
    versions = sorted(str(n) for n in range(1, int(model["version_count"]) + 1))
    return {
        "models": [(model["id"], versions)],
        "endpoints": [(endpoint["id"], [v["deployed_model_id"] for v in endpoint["variants"]])],
        "monitoring_jobs": [recorded["monitor.churn-drift"]["id"]],
        "schedules": [recorded["schedule.churn-retrain"]["id"]],
    }


def test_a_stack_applies_updates_and_is_destroyed_through_faults_on_30_percent_of_calls(
    stack_dir: Path,
) -> None:
    apply_under_chaos(stack_dir, "vertex", seed=3)
    assert_converged(stack_dir)
    assert inventory(stack_dir) == expected(stack_dir)

    # A new threshold (a new model version, rolled onto the endpoint) and a new label on all.
    stack = stack_dir / "stack.yaml"
    stack.write_text(
        stack.read_text().replace('"0.42"', '"0.40"').replace("team: growth-ml", "team: churn-ml")
    )
    apply_under_chaos(stack_dir, "vertex", seed=11)
    assert_converged(stack_dir)
    assert inventory(stack_dir) == expected(stack_dir)
    endpoint = state(stack_dir)["endpoint.churn-api"]["attributes"]
    live = _client(v1.EndpointServiceClient, stack_dir).get_endpoint(
        name=f"{PARENT}/endpoints/{endpoint['id']}"
    )
    assert live.labels["team"] == "churn-ml"
    assert [d.model_version_id for d in live.deployed_models] == [endpoint["variants"][0]["model_version"]]

    apply_under_chaos(stack_dir, "vertex", 5, "destroy", "--auto-approve")
    assert state(stack_dir) == {}
    left = {kind: found for kind, found in inventory(stack_dir).items() if found}
    assert left == {}, left


def test_permanent_faults_fail_the_apply_in_one_line_and_state_records_what_exists(stack_dir: Path) -> None:
    emulator = url(stack_dir, "vertex")
    denied = {
        "method": "POST",
        "path": ":deployModel$",
        "status": "PERMISSION_DENIED",
        "message": "Permission 'aiplatform.endpoints.deploy' denied on resource (or it may not exist).",
    }
    update_settings(emulator, {"fail": [denied]})
    res, seconds = failing_apply(stack_dir)
    assert_clean_failure(res, "endpoint.churn-api", "aiplatform.endpoints.deploy")
    assert seconds < 30, seconds  # a verdict: not retried
    recorded = state(stack_dir)
    assert "monitor.churn-drift" not in recorded and "endpoint.churn-api" in recorded
    found = inventory(stack_dir)
    (endpoint,) = found["endpoints"]
    assert endpoint == (recorded["endpoint.churn-api"]["attributes"]["id"], [])  # made, nothing deployed
    assert found["models"] == [(recorded["model.churn-xgb"]["attributes"]["id"], ["1"])]
    assert found["monitoring_jobs"] == []

    # The schedule needs no endpoint: made alongside, and recorded.
    assert found["schedules"] == [recorded["schedule.churn-retrain"]["attributes"]["id"]]

    # Every monitoring job create answered 503, for ever: retried, then given up within the
    # policy's bounds.
    unavailable = {"rate": 1.0, "method": "POST", "path": "/modelDeploymentMonitoringJobs$"}
    update_settings(emulator, {"fail": [], "transient": [unavailable]})
    res, seconds = failing_apply(stack_dir)
    assert_clean_failure(res, "monitor.churn-drift", "unavailable")
    assert seconds < 60, seconds
    recorded = state(stack_dir)
    assert "monitor.churn-drift" not in recorded
    assert recorded["endpoint.churn-api"]["status"] == "ok"
    assert inventory(stack_dir)["monitoring_jobs"] == []

    # The fault gone, the next apply finishes the job, leaving nothing behind.
    update_settings(emulator, {"transient": []})
    res = run(stack_dir, "apply", "--auto-approve")
    assert res.returncode == 0, res.stdout + res.stderr
    assert_converged(stack_dir)
    assert inventory(stack_dir) == expected(stack_dir)
