"""Retiring a model on SageMaker through the installed `mlops` command on the sandbox: fraud-v7
serves the candidate variant (10%) of an endpoint and has a drift monitor with an alarm. Marked
`retired:`, the plan says it will be retired and what goes with it; applied, the endpoint runs
the other variant alone on all the traffic, the monitor's schedule and alarm are gone, the Model,
its registered version (now Rejected and archived) and its artifact stay; history records why and
who decided; a second plan has nothing to do."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_kit import MLOPS, aws_client, mlops

ROLE = "arn:aws:iam::123456789012:role/mlops-sandbox-sagemaker"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
BUCKET = "ml-artifacts-fraud"
REASON = "superseded by fraud-v8: recall 0.81 vs 0.74 on November data"
STACK = f"""\
apiVersion: mlops-gitops/v1
name: fraud-retirement
provider:
  sagemaker: {{region: us-east-1, role_arn: "{ROLE}"}}
tags: {{team: risk-ml}}
models:
  fraud-v8:
    artifact: s3://{BUCKET}/fraud/v8/model.tar.gz
    image: {IMAGE}
  fraud-v7:
    artifact: s3://{BUCKET}/fraud/v7/model.tar.gz
    image: {IMAGE}
    registry: {{group: fraud-detection, approval: Approved}}
endpoints:
  fraud-api:
    variants:
      - {{name: current, model: fraud-v8, instance_type: ml.m5.xlarge, instance_count: 2, weight: 90}}
      - {{name: candidate, model: fraud-v7, instance_type: ml.m5.xlarge, instance_count: 1, weight: 10}}
    data_capture: {{destination: "s3://{BUCKET}/capture/fraud-api/", sample_percent: 20}}
monitors:
  fraud-v7-drift:
    endpoint: fraud-api
    model: fraud-v7
    type: data_quality
    every: hourly
    baseline: s3://{BUCKET}/baselines/fraud-v7/
    alert: {{metric: feature_baseline_drift_amount, threshold: 0.2}}
"""


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "stack.yaml").write_text(STACK)
    up = mlops(tmp_path, "sandbox", "up", "--operation-delay", "0.1")
    assert up.returncode == 0, up.stderr
    yield tmp_path
    subprocess.run([MLOPS, "sandbox", "down"], cwd=tmp_path, capture_output=True, timeout=60)


def test_retiring_fraud_v7_takes_it_off_the_endpoint_and_archives_it(stack_dir: Path) -> None:
    sm, s3, cloudwatch = (aws_client(stack_dir, s) for s in ("sagemaker", "s3", "cloudwatch"))
    s3.create_bucket(Bucket=BUCKET)
    for version in ("v7", "v8"):
        s3.put_object(Bucket=BUCKET, Key=f"fraud/{version}/model.tar.gz", Body=b"model")
    res = mlops(stack_dir, "--sandbox", "apply", "--auto-approve")
    assert res.returncode == 0, res.stdout + res.stderr
    assert [a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]] == [
        "fraud-retirement-fraud-v7-drift"
    ]
    assert len(sm.list_monitoring_schedules()["MonitoringScheduleSummaries"]) == 1

    stack = stack_dir / "stack.yaml"
    stack.write_text(
        stack.read_text().replace(
            "  fraud-v7:\n", f'  fraud-v7:\n    retired: {{reason: "{REASON}", by: risk-ml-leads}}\n', 1
        )
    )
    plan = mlops(stack_dir, "--sandbox", "plan", "--no-color")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "model.fraud-v7 will be retired" in plan.stdout, plan.stdout
    assert "stops serving 10% of fraud-api (variant candidate)" in plan.stdout, plan.stdout
    assert "monitor fraud-v7-drift removed" in plan.stdout, plan.stdout
    assert REASON in plan.stdout
    document = json.loads(mlops(stack_dir, "--sandbox", "plan", "--json").stdout)
    (retirement,) = document["retirements"]
    assert retirement["address"] == "model.fraud-v7"
    assert retirement["stops_serving"][0]["traffic_percent"] == 10.0
    assert retirement["removes"] == ["monitor.fraud-v7-drift"]
    acting = {c["address"]: c["action"] for c in document["resource_changes"] if c["action"] != "noop"}
    assert acting == {
        "model.fraud-v7": "retire",
        "endpoint.fraud-api": "update",
        "monitor.fraud-v7-drift": "delete",
    }

    res = mlops(stack_dir, "--sandbox", "apply", "--auto-approve")
    assert res.returncode == 0, res.stdout + res.stderr

    # The endpoint runs the current variant alone: its weight is all the traffic.
    endpoint = sm.describe_endpoint(EndpointName="fraud-api")
    assert endpoint["EndpointStatus"] == "InService"
    live = endpoint["ProductionVariants"]
    assert [v["VariantName"] for v in live] == ["current"]
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    weights = {v["VariantName"]: v["InitialVariantWeight"] for v in config["ProductionVariants"]}
    assert weights["current"] / sum(weights.values()) == 1.0
    # The config it left is deleted.
    assert [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]] == [
        endpoint["EndpointConfigName"]
    ]
    # The monitor went with its schedule, job definition and alarm.
    assert sm.list_monitoring_schedules()["MonitoringScheduleSummaries"] == []
    assert sm.list_data_quality_job_definitions()["JobDefinitionSummaries"] == []
    assert cloudwatch.describe_alarms()["MetricAlarms"] == []
    # The Model, its registered version (rejected and archived) and its artifact stay.
    models = {m["ModelName"] for m in sm.list_models()["Models"]}
    state = json.loads((stack_dir / ".mlops" / "sandbox" / "state.json").read_text())
    (v7,) = [r["attributes"] for r in state["resources"] if r["address"] == "model.fraud-v7"]
    assert v7["name"] in models
    assert sm.describe_model(ModelName=v7["name"])["PrimaryContainer"]["ModelDataUrl"] == (
        f"s3://{BUCKET}/fraud/v7/model.tar.gz"
    )
    package = sm.describe_model_package(ModelPackageName=v7["package_arn"])
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ModelLifeCycle"]["Stage"] == "Archived"
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=v7["package_arn"])["Tags"]}
    assert tags["mlops-gitops:retired-by"] == "risk-ml-leads"
    assert s3.head_object(Bucket=BUCKET, Key="fraud/v7/model.tar.gz")["ContentLength"] == 5

    history = mlops(stack_dir, "--sandbox", "history")
    assert history.returncode == 0, history.stderr
    assert REASON in history.stdout
    events = json.loads(mlops(stack_dir, "--sandbox", "history", "model.fraud-v7", "--json").stdout)
    (retired,) = [e for e in events["events"] if e["event"] == "retired"]
    assert retired["reason"] == REASON
    assert retired["detail"]["decided_by"] == "risk-ml-leads"

    res = mlops(stack_dir, "--sandbox", "plan", "--detailed-exitcode")
    assert res.returncode == 0, res.stdout + res.stderr
