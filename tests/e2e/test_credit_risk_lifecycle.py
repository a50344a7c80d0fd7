"""The credit-risk example end to end through the installed command on the sandbox: endpoint,
drift monitor with an alarm, weekly retraining, a canary rolled back by an alarm, drift."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from mlops_gitops.sandbox.control import update_settings

ROOT = Path(__file__).resolve().parents[2]
MLOPS = str(Path(sys.executable).parent / "mlops")
VARS = ["--var-file", "sandbox.vars.yaml"]


def mlops(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLOPS, "--sandbox", *args], cwd=cwd, capture_output=True, text=True, timeout=180)


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    dest = tmp_path / "credit-risk"
    shutil.copytree(ROOT / "stacks" / "credit-risk", dest, ignore=shutil.ignore_patterns(".mlops"))
    assert mlops(dest, "sandbox", "up", "--operation-delay", "0.1").returncode == 0
    yield dest
    subprocess.run([MLOPS, "sandbox", "down"], cwd=dest, capture_output=True, timeout=60)


def aws(stack_dir: Path, service: str) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=_url(stack_dir),
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )


def _url(stack_dir: Path) -> str:
    return json.loads((stack_dir / ".mlops" / "sandbox" / "sandbox.json").read_text())["urls"]["sagemaker"]


def acting(plan_json: str) -> dict[str, str]:
    return {
        c["address"]: c["action"] for c in json.loads(plan_json)["resource_changes"] if c["action"] != "noop"
    }


def test_credit_risk_lifecycle(stack_dir: Path) -> None:
    sm, cloudwatch = aws(stack_dir, "sagemaker"), aws(stack_dir, "cloudwatch")
    # The platform team's alarm that guards deployments exists before the stack refers to it.
    cloudwatch.put_metric_alarm(
        AlarmName="risk-api-5xx",
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=[{"Name": "EndpointName", "Value": "risk-api"}, {"Name": "VariantName", "Value": "main"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
    )

    res = mlops(stack_dir, "apply", *VARS, "--auto-approve")
    assert res.returncode == 0, res.stderr
    assert "Apply complete! Resources: 4 added" in res.stdout
    assert sm.list_monitoring_schedules()["MonitoringScheduleSummaries"][0]["EndpointName"] == "risk-api"
    drift_alarm = cloudwatch.describe_alarms(AlarmNames=["credit-risk-risk-drift"])["MetricAlarms"][0]
    assert drift_alarm["MetricName"] == "feature_baseline_drift_income" and drift_alarm["Threshold"] == 0.2
    schedule = aws(stack_dir, "scheduler").get_schedule(Name="risk-retrain")
    assert schedule["ScheduleExpression"] == "cron(0 3 ? * MON *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Paris"

    res = mlops(stack_dir, "plan", *VARS, "--detailed-exitcode")
    assert res.returncode == 0, res.stdout + res.stderr

    # A new cron: one in-place update, with the next runs in the plan.
    stack = stack_dir / "stack.yaml"
    stack.write_text(stack.read_text().replace('cron: "0 3 * * 1"', 'cron: "30 4 * * 2"'))
    res = mlops(stack_dir, "plan", *VARS, "--detailed-exitcode")
    assert res.returncode == 2
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in res.stdout
    assert "# schedule.risk-retrain will be updated in-place" in res.stdout
    assert "next runs (Europe/Paris): " in res.stdout and "04:30" in res.stdout
    assert mlops(stack_dir, "apply", *VARS, "--auto-approve").returncode == 0
    assert aws(stack_dir, "scheduler").get_schedule(Name="risk-retrain")["ScheduleExpression"] == (
        "cron(30 4 ? * TUE *)"
    )

    # A new model behind a canary: the guarding alarm fires during the bake.
    old_config = sm.describe_endpoint(EndpointName="risk-api")["EndpointConfigName"]
    update_settings(_url(stack_dir), {"guardrail_time_scale": 0.01})  # a 10-minute bake lasts 6 s
    stack.write_text(stack.read_text().replace("gbm/2026-11-01/model.tar.gz", "gbm/2026-11-24/model.tar.gz"))
    apply = subprocess.Popen(
        [MLOPS, "--sandbox", "apply", *VARS, "--auto-approve"],
        cwd=stack_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while sm.describe_endpoint(EndpointName="risk-api")["EndpointStatus"] != "Updating":
        assert time.monotonic() < deadline and apply.poll() is None, "the endpoint never started updating"
        time.sleep(0.05)
    cloudwatch.set_alarm_state(AlarmName="risk-api-5xx", StateValue="ALARM", StateReason="5xx burst")
    _, err = apply.communicate(timeout=120)
    assert apply.returncode == 1
    assert "endpoint.risk-api" in err and "risk-api-5xx" in err
    desc = sm.describe_endpoint(EndpointName="risk-api")
    assert desc["EndpointStatus"] == "InService" and desc["EndpointConfigName"] == old_config
    cloudwatch.set_alarm_state(AlarmName="risk-api-5xx", StateValue="OK", StateReason="recovered")
    # State says the endpoint is on its old config: the plan proposes the update again, no drift.
    plan = json.loads(mlops(stack_dir, "plan", *VARS, "--json").stdout)
    assert acting(json.dumps(plan)).get("endpoint.risk-api") == "update"
    assert not plan["drift"]

    # Someone scales the endpoint in the console: it shows as drift.
    stack.write_text(stack.read_text().replace("gbm/2026-11-24/model.tar.gz", "gbm/2026-11-01/model.tar.gz"))
    assert mlops(stack_dir, "apply", *VARS, "--auto-approve").returncode == 0
    aws(stack_dir, "application-autoscaling").deregister_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId="endpoint/risk-api/variant/main",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
    )
    plan = json.loads(mlops(stack_dir, "plan", *VARS, "--json").stdout)
    assert [d["address"] for d in plan["drift"]] == ["endpoint.risk-api"]
    assert acting(json.dumps(plan)) == {"endpoint.risk-api": "update"}

    res = mlops(stack_dir, "destroy", *VARS, "--auto-approve")
    assert res.returncode == 0, res.stderr
    assert sm.list_monitoring_schedules()["MonitoringScheduleSummaries"] == []
    assert sm.list_endpoints()["Endpoints"] == [] and sm.list_models()["Models"] == []
    assert sm.list_pipelines()["PipelineSummaries"] == []
    assert [a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]] == ["risk-api-5xx"]
