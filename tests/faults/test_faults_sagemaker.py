"""SageMaker through the installed `mlops` on the sandbox with 30% of the AWS calls failing at
random (throttled, 5xx, or carried out with their reply lost: see the emulator's `chaos` setting):
a stack of a registered model, an autoscaled endpoint capturing data, a drift monitor with its
alarm and a retraining schedule also triggered by that alarm applies, updates and is destroyed
without a failed command, and once the faults stop the plan is empty and AWS holds exactly one of
each object (a create whose reply was lost was adopted, not made twice). A permanent fault (every
CreateEndpoint refused, AccessDenied) fails the apply in one line naming the endpoint and AWS's
error, soon, leaving state that records exactly what was made. What AWS holds is read with boto3."""

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
from sandbox_kit import ROOT, aws_client

from mlops_gitops.sandbox.control import update_settings

ROLE = "arn:aws:iam::123456789012:role/mlops-sandbox-sagemaker"
BUCKET = "ml-artifacts-fraud"
STACK = f"""\
apiVersion: mlops-gitops/v1
name: fraud-faults
provider:
  sagemaker: {{region: us-east-1, role_arn: "{ROLE}"}}
tags: {{team: risk-ml}}
models:
  fraud-v8:
    artifact: s3://{BUCKET}/fraud/v8/model.tar.gz
    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1
    environment: {{FRAUD_THRESHOLD: "0.80"}}
    registry: {{group: fraud-detection, approval: Approved}}
endpoints:
  fraud-api:
    variants:
      - {{name: current, model: fraud-v8, instance_type: ml.m5.xlarge, instance_count: 2}}
    autoscaling: {{min: 1, max: 4, target_invocations_per_instance: 750}}
    data_capture: {{destination: "s3://{BUCKET}/capture/fraud-api/", sample_percent: 20}}
monitors:
  fraud-drift:
    endpoint: fraud-api
    type: data_quality
    every: hourly
    baseline: s3://{BUCKET}/baselines/fraud-v8/
    alert: {{metric: feature_baseline_drift_amount, threshold: 0.2, notify: [fraud-oncall@example.com]}}
schedules:
  fraud-retrain:
    cron: "0 3 * * 1"
    timezone: Europe/Paris
    pipeline: {{definition: pipeline.json, parameters: {{max_depth: 6}}}}
    also_on: [fraud-drift]
"""
FILES = {"pipeline.json": (ROOT / "stacks" / "credit-risk" / "pipelines" / "train.json").read_text()}


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    with stack_on_sandbox(tmp_path, STACK, FILES) as dest:
        yield dest


def inventory(stack_dir: Path) -> dict[str, list[str]]:
    """Every object the stack may make, by kind, as AWS lists them."""
    sm, cloudwatch = aws_client(stack_dir), aws_client(stack_dir, "cloudwatch")
    scaling, scheduler = aws_client(stack_dir, "application-autoscaling"), aws_client(stack_dir, "scheduler")
    events, sns = aws_client(stack_dir, "events"), aws_client(stack_dir, "sns")
    packages = sm.list_model_packages(ModelPackageGroupName="fraud-detection")["ModelPackageSummaryList"]
    found: dict[str, list[Any]] = {
        "models": [m["ModelName"] for m in sm.list_models()["Models"]],
        "endpoint_configs": [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]],
        "endpoints": [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]],
        "package_groups": [
            g["ModelPackageGroupName"] for g in sm.list_model_package_groups()["ModelPackageGroupSummaryList"]
        ],
        "packages": [p["ModelPackageArn"] for p in packages],
        "monitoring_schedules": [
            s["MonitoringScheduleName"] for s in sm.list_monitoring_schedules()["MonitoringScheduleSummaries"]
        ],
        "job_definitions": [
            d["MonitoringJobDefinitionName"]
            for d in sm.list_data_quality_job_definitions()["JobDefinitionSummaries"]
        ],
        "alarms": [a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]],
        "scalable_targets": [
            t["ResourceId"]
            for t in scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
        ],
        "scaling_policies": [
            p["PolicyName"]
            for p in scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
        ],
        "pipelines": [p["PipelineName"] for p in sm.list_pipelines()["PipelineSummaries"]],
        "schedules": [s["Name"] for s in scheduler.list_schedules()["Schedules"]],
        "rules": [r["Name"] for r in events.list_rules()["Rules"]],
        "topics": [t["TopicArn"] for t in sns.list_topics()["Topics"]],
        "subscriptions": [
            f"{s['TopicArn']} {s['Protocol']} {s['Endpoint']}"
            for s in sns.list_subscriptions()["Subscriptions"]
        ],
    }
    return {kind: sorted(names) for kind, names in found.items()}


def expected(stack_dir: Path, versions: int = 1) -> dict[str, list[str]]:
    """What the stack's state says exists: one of each, under the names it recorded, and the
    `versions` registered so far (a replaced model's stay in the registry: the archive)."""
    resources = state(stack_dir)
    model, endpoint = resources["model.fraud-v8"]["attributes"], resources["endpoint.fraud-api"]["attributes"]
    monitor, schedule = (
        resources["monitor.fraud-drift"]["attributes"],
        resources["schedule.fraud-retrain"]["attributes"],
    )
    return {
        "models": [model["name"]],
        "endpoint_configs": [endpoint["endpoint_config_name"]],
        "endpoints": ["fraud-api"],
        "package_groups": ["fraud-detection"],
        "packages": [f"{model['package_arn'].rpartition('/')[0]}/{n}" for n in range(1, versions + 1)],
        "monitoring_schedules": ["fraud-drift"],
        "job_definitions": [monitor["job_definition_name"]],
        "alarms": [monitor["alarm_name"]],
        "scalable_targets": ["endpoint/fraud-api/variant/current"],
        "scaling_policies": ["fraud-api-current-invocations"],
        "pipelines": [schedule["pipeline_name"]],
        "schedules": [schedule["name"]],
        "rules": [schedule["rule_name"]],
        "topics": [monitor["topic_arn"]],
        "subscriptions": [f"{monitor['topic_arn']} email fraud-oncall@example.com"],
    }


def test_a_stack_applies_updates_and_is_destroyed_through_faults_on_30_percent_of_calls(
    stack_dir: Path,
) -> None:
    aws_client(stack_dir, "s3").create_bucket(Bucket=BUCKET)
    apply_under_chaos(stack_dir, "sagemaker", seed=3)
    assert_converged(stack_dir)
    assert inventory(stack_dir) == expected(stack_dir)

    # A new threshold: a new model (the old one goes), the endpoint moved onto it; a new tag on all.
    stack = stack_dir / "stack.yaml"
    stack.write_text(stack.read_text().replace('"0.80"', '"0.78"').replace("team: risk-ml", "team: fraud-ml"))
    apply_under_chaos(stack_dir, "sagemaker", seed=11)
    assert_converged(stack_dir)
    assert inventory(stack_dir) == expected(stack_dir, versions=2)
    sm = aws_client(stack_dir)
    config = sm.describe_endpoint_config(
        EndpointConfigName=state(stack_dir)["endpoint.fraud-api"]["attributes"]["endpoint_config_name"]
    )
    assert [v["ModelName"] for v in config["ProductionVariants"]] == [
        state(stack_dir)["model.fraud-v8"]["attributes"]["name"]
    ]
    endpoint_arn = sm.describe_endpoint(EndpointName="fraud-api")["EndpointArn"]
    assert {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=endpoint_arn)["Tags"]}[
        "team"
    ] == "fraud-ml"

    apply_under_chaos(stack_dir, "sagemaker", 5, "destroy", "--auto-approve")
    assert state(stack_dir) == {}
    # Destroying the stack deletes everything, its registry group and versions included.
    left = {kind: names for kind, names in inventory(stack_dir).items() if names}
    assert left == {}, left


def test_permanent_faults_fail_the_apply_in_one_line_and_state_records_what_exists(stack_dir: Path) -> None:
    emulator = url(stack_dir, "sagemaker")
    denied = {
        "action": "CreateEndpoint",
        "code": "AccessDeniedException",
        "message": "User is not authorized to perform: sagemaker:CreateEndpoint",
    }
    update_settings(emulator, {"fail": [denied]})
    res, seconds = failing_apply(stack_dir)
    line = assert_clean_failure(res, "endpoint.fraud-api", "AccessDeniedException", "not authorized")
    assert line.startswith("Error: endpoint.fraud-api: CreateEndpoint:"), line
    assert seconds < 30, seconds  # a verdict: not retried
    # The model is made and recorded; the endpoint's config too, on the endpoint's record
    # (tainted: made again by the next apply), and nothing that needs the endpoint.
    recorded = state(stack_dir)
    assert set(recorded) == {"model.fraud-v8", "endpoint.fraud-api"}
    assert recorded["endpoint.fraud-api"]["status"] == "tainted"
    found = inventory(stack_dir)
    assert found["models"] == [recorded["model.fraud-v8"]["attributes"]["name"]]
    assert found["endpoint_configs"] == [recorded["endpoint.fraud-api"]["attributes"]["endpoint_config_name"]]
    assert found["endpoints"] == [] and found["monitoring_schedules"] == [] and found["schedules"] == []

    # Every CreateMonitoringSchedule a 503, for ever: retried, then given up within the policy's bounds.
    unavailable = {"action": "CreateMonitoringSchedule", "code": "ServiceUnavailable", "status": 503}
    update_settings(emulator, {"fail": [unavailable]})
    res, seconds = failing_apply(stack_dir)
    assert_clean_failure(res, "monitor.fraud-drift", "ServiceUnavailable")
    assert seconds < 60, seconds
    recorded = state(stack_dir)
    assert recorded["endpoint.fraud-api"]["status"] == "ok"
    assert "schedule.fraud-retrain" not in recorded  # it needs the monitor's alarm
    found = inventory(stack_dir)
    assert found["endpoints"] == ["fraud-api"] and found["monitoring_schedules"] == []
    assert found["endpoint_configs"] == [recorded["endpoint.fraud-api"]["attributes"]["endpoint_config_name"]]

    # The fault gone, the next apply finishes the job, leaving nothing behind.
    update_settings(emulator, {"fail": []})
    res = run(stack_dir, "apply", "--auto-approve")
    assert res.returncode == 0, res.stdout + res.stderr
    assert_converged(stack_dir)
    assert inventory(stack_dir) == expected(stack_dir)
