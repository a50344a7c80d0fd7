"""The `monitor` kind on SageMaker: pure translation, then whole stacks planned and applied through
the engine (StackHarness), checked with boto3 against the emulator."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError
from mlops_sagemaker import monitors_translate as mt
from mlops_sagemaker.config import SageMakerConfig
from mlops_sagemaker.monitors import analyzer_image
from mlops_sagemaker.provider import SageMakerProvider
from mlops_sagemaker_sandbox.server import SageMakerEmulator

from mlops_gitops.errors import ProviderError
from mlops_gitops.provider import TAG_ADDRESS, UNKNOWN, SandboxEndpoints
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import MonitorSpec
from mlops_gitops.state.model import ResourceState
from mlops_gitops.testing import RecordingContext
from mlops_gitops.testing.harness import StackHarness, actions

ROLE = "arn:aws:iam::123456789012:role/monitor"
IMAGE = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
MONITOR = "monitor.fraud-drift"

BASE = f"""\
apiVersion: mlops-gitops/v1
name: fraud
provider:
  sagemaker:
    region: us-east-1
    role_arn: {ROLE}
models:
  fraud-xgb:
    artifact: s3://ml/fraud/v7/model.tar.gz
    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1
endpoints:
  fraud-api:
    variants:
      - {{name: main, model: fraud-xgb, instance_type: ml.m5.large, instance_count: 1}}
    data_capture: {{destination: s3://ml-capture/fraud, sample_percent: 20}}
"""
STACK = (
    BASE
    + """\
monitors:
  fraud-drift:
    endpoint: fraud-api
    type: data_quality
    every: hourly
    baseline: s3://ml-baselines/fraud/v7/
    tags: {team: risk}
    alert:
      metric: feature_baseline_drift_amount
      threshold: 0.2
      notify: [ml-oncall@example.com, data-team@example.com]
"""
)


# ============================================================================== pure: schedules
@pytest.mark.parametrize(
    ("every", "expression"),
    [
        ("hourly", "cron(0 * ? * * *)"),
        ("daily", "cron(0 0 ? * * *)"),
        ("0 */6 * * *", "cron(0 0/6 ? * * *)"),
        ("0 17-23/12 * * *", "cron(0 17/12 ? * * *)"),
        ("0 5 * * *", "cron(0 5 ? * * *)"),
        ("30 2 1 * *", "cron(30 2 1 * ? *)"),
        ("0 0 1 1 *", "cron(0 0 1 1 ? *)"),
        ("0 3 * * 1-5", "cron(0 3 ? * MON-FRI *)"),
        ("0 3 * * 0,6", "cron(0 3 ? * SUN,SAT *)"),
        ("0 3 * * 7", "cron(0 3 ? * SUN *)"),
        ("0 3 * * */2", "cron(0 3 ? * SUN,TUE,THU,SAT *)"),
        ("0 3 * * mon,wed", "cron(0 3 ? * MON,WED *)"),
        ("0 3 * * 0-6", "cron(0 3 ? * * *)"),
    ],
)
def test_schedules_become_aws_cron(every: str, expression: str) -> None:
    assert mt.schedule_expression(every) == expression
    # ... and back, to what plans the same.
    assert mt.schedule_expression(mt.every_from_expression(expression)) == expression


def test_aws_weekday_numbers_read_back_in_crons_numbering() -> None:
    # AWS counts weekdays from 1 (Sunday); cron from 0.
    assert mt.every_from_expression("cron(0 3 ? * 2-6 *)") == "0 3 * * 1-5"
    with pytest.raises(ValueError, match="cannot be written"):
        mt.every_from_expression("NOW")


@pytest.mark.parametrize(
    ("every", "accepted"),
    [
        ("hourly", True),
        ("daily", True),
        ("0 */6 * * *", True),
        ("0 17 * * *", True),
        ("30 * * * *", False),
        ("0 3 * * 1", False),
        ("0 3 1 * *", False),
        ("0 1,13 * * *", False),
    ],
)
def test_model_monitor_takes_only_hourly_daily_or_every_n_hours(every: str, accepted: bool) -> None:
    problem = mt.model_monitor_schedule_problem(mt.schedule_expression(every))
    assert (problem is None) is accepted, problem


@pytest.mark.parametrize(
    ("expression", "accepted"),
    [
        ("cron(0 23 ? * * *)", True),
        ("cron(0 0/24 ? * * *)", True),
        ("cron(0 24 ? * * *)", False),  # hours are 00-23
        ("cron(0 0/25 ? * * *)", False),  # every 1 to 24 hours
        ("cron(0 0/0 ? * * *)", False),
    ],
)
def test_model_monitor_hours_and_intervals_are_bounded(expression: str, accepted: bool) -> None:
    assert (mt.model_monitor_schedule_problem(expression) is None) is accepted


# ================================================================================ pure: alerts
@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("feature_baseline_drift_amount", "above"),
        ("accuracy", "below"),
        ("weighted_f1", "below"),
        ("auc", "below"),
        ("mae", "above"),
        ("false_positive_rate", "above"),
        ("rmse", "above"),
        ("my_custom_metric", None),
    ],
)
def test_breach_direction_follows_the_metric(metric: str, direction: str | None) -> None:
    assert mt.breach_direction(metric) == direction


def test_default_metrics() -> None:
    assert mt.default_metric("model_quality", "BinaryClassification") == "accuracy"
    assert mt.default_metric("model_quality", "Regression") == "mae"
    assert mt.default_metric("data_quality", None) is None


def test_alarm_round_trips_through_describe() -> None:
    attrs = desired_attrs()
    request = mt.alarm_request(attrs, "arn:aws:sns:us-east-1:123456789012:fraud-fraud-drift-alerts")
    assert request["Namespace"] == "aws/sagemaker/Endpoints/data-metrics"
    assert request["Dimensions"] == [
        {"Name": "Endpoint", "Value": "fraud-api"},
        {"Name": "MonitoringSchedule", "Value": "fraud-drift"},
    ]
    assert request["ComparisonOperator"] == "GreaterThanThreshold" and request["Threshold"] == 0.2
    described = {**request, "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:fraud-fraud-drift"}
    subscribed = ["ml-oncall@example.com", "data-team@example.com"]
    read = mt.alert_from_alarm(described, "fraud-fraud-drift-alerts", subscribed)
    assert read["topic_arn"].endswith(":fraud-fraud-drift-alerts")
    for key in ("alarm_name", "metric", "when", "threshold", "notify"):
        assert read[key] == attrs[key], key


# ======================================================================= pure: job definitions
def desired_attrs(**changes: Any) -> dict[str, Any]:
    spec = yaml.safe_load(STACK)["monitors"]["fraud-drift"]
    spec.update(changes)
    attrs = mt.monitor_attributes(
        MonitorSpec(**spec),
        mt.MonitorSettings(),
        stack="fraud",
        name="fraud-drift",
        endpoint="fraud-api",
        output="s3://ml-capture/fraud/monitoring/fraud-drift/",
        image=IMAGE,
        role_arn=ROLE,
        tags={"team": "risk"},
    )
    return {**attrs, "job_definition_name": mt.job_definition_name("fraud", "fraud-drift", attrs)}


def as_described(request: Mapping[str, Any]) -> dict[str, Any]:
    """A create request as DescribeXJobDefinition echoes it."""
    return {k: v for k, v in request.items() if k != "Tags"}


@pytest.mark.parametrize("kind", ["data_quality", "model_quality"])
def test_job_definition_round_trips_through_describe(kind: str) -> None:
    extra = (
        {"type": kind, "ground_truth": "s3://labels/fraud/", "problem_type": "BinaryClassification"}
        if kind == "model_quality"
        else {}
    )
    attrs = desired_attrs(**extra)
    method, request = mt.job_definition_request(attrs)
    assert method == f"create_{kind}_job_definition"
    prefix = mt.MONITORING_TYPES[kind]
    app = request[f"{prefix}AppSpecification"]
    assert app["Environment"] == {"publish_cloudwatch_metrics": "Enabled"}
    baseline = request[f"{prefix}BaselineConfig"]
    assert baseline["ConstraintsResource"] == {"S3Uri": "s3://ml-baselines/fraud/v7/constraints.json"}
    assert ("StatisticsResource" in baseline) is (kind == "data_quality")
    read = mt.job_from_describe(kind, as_described(request))
    assert {"type": kind, **read} == {k: attrs[k] for k in mt.JOB_FIELDS if k in attrs}


def test_a_baseline_not_laid_out_by_a_baselining_job_reads_as_it_is() -> None:
    _, request = mt.job_definition_request(desired_attrs())
    request["DataQualityBaselineConfig"]["StatisticsResource"]["S3Uri"] = "s3://elsewhere/stats.json"
    read = mt.job_from_describe("data_quality", as_described(request))
    assert read["baseline"] == (
        "constraints s3://ml-baselines/fraud/v7/constraints.json, statistics s3://elsewhere/stats.json"
    )


def test_job_definition_name_follows_the_job_only() -> None:
    name = desired_attrs()["job_definition_name"]
    assert mt.is_generated_job_definition(name, "fraud-drift")
    assert desired_attrs(every="daily", tags={"x": "y"}, enabled=False)["job_definition_name"] == name
    assert desired_attrs(baseline="s3://ml-baselines/fraud/v8")["job_definition_name"] != name
    unknown = {**desired_attrs(), "endpoint": UNKNOWN}
    assert mt.job_definition_name("fraud", "fraud-drift", unknown) is UNKNOWN


def test_baseline_is_kept_in_one_spelling() -> None:
    assert desired_attrs(baseline="s3://b/v7")["baseline"] == desired_attrs(baseline="s3://b/v7/")["baseline"]


JOB_BASELINE = {"dataset": "s3://ml-data/fraud/train.csv"}
OUTPUT = "s3://ml-capture/fraud/monitoring/fraud-drift/"


def test_a_baselining_job_follows_the_analyzers_contract() -> None:
    attrs = desired_attrs(baseline=JOB_BASELINE)
    name = attrs["baseline_job_name"]
    assert re.fullmatch(r"fraud-drift-baseline-[0-9a-f]{8}", name)
    assert attrs["baseline"] == f"{OUTPUT}baseline/{name[-8:]}/"
    assert attrs["baseline_dataset_format"] == {"csv": {"header": True, "output_columns_position": "START"}}
    request = mt.baseline_job_request(attrs, name)
    assert request["ProcessingJobName"] == name
    assert request["AppSpecification"] == {"ImageUri": IMAGE}
    assert request["Environment"] == {
        "dataset_format": '{"csv": {"header": true, "output_columns_position": "START"}}',
        "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
        "output_path": "/opt/ml/processing/output",
        "publish_cloudwatch_metrics": "Disabled",
    }
    (source,) = request["ProcessingInputs"]
    assert source["S3Input"]["S3Uri"] == "s3://ml-data/fraud/train.csv"
    assert source["S3Input"]["LocalPath"] == request["Environment"]["dataset_source"]
    (output,) = request["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri"] == attrs["baseline"]
    assert output["S3Output"]["LocalPath"] == request["Environment"]["output_path"]
    described = {k: v for k, v in request.items() if k != "Tags"}
    assert mt.baseline_job_from_describe(described) == {
        k: attrs[k] for k in ("baseline_dataset", "baseline_dataset_format", "baseline_job_name")
    }
    # The job definition reads the two files where the job writes them.
    _, definition = mt.job_definition_request(attrs)
    assert definition["DataQualityBaselineConfig"]["StatisticsResource"] == {
        "S3Uri": f"{attrs['baseline']}statistics.json"
    }


def test_json_datasets_are_read_one_object_per_line() -> None:
    attrs = desired_attrs(baseline={**JOB_BASELINE, "format": "json"})
    assert attrs["baseline_dataset_format"] == {"json": {"lines": True}}


def test_the_baselining_job_follows_what_its_result_depends_on() -> None:
    first = desired_attrs(baseline=JOB_BASELINE)
    same = desired_attrs(baseline=JOB_BASELINE, every="daily", tags={"x": "y"}, enabled=False)
    assert (same["baseline_job_name"], same["baseline"]) == (first["baseline_job_name"], first["baseline"])
    for changed in (
        desired_attrs(baseline={"dataset": "s3://ml-data/fraud/train-v8.csv"}),
        desired_attrs(baseline={**JOB_BASELINE, "header": False}),
    ):
        assert changed["baseline_job_name"] != first["baseline_job_name"]
        assert changed["baseline"] != first["baseline"]
        assert changed["job_definition_name"] != first["job_definition_name"]
    unknown = mt.baseline_job("fraud", "fraud-drift", {**first, "output": UNKNOWN})
    assert unknown == {"baseline_job_name": UNKNOWN, "baseline": UNKNOWN}
    # Monitor names go up to 48 characters, processing job names to 63, retries included.
    long = mt.baseline_job("fraud", "m" * 48, first)["baseline_job_name"]
    assert len(f"{long}-99") == 63


def test_a_failed_baselining_job_is_retried_under_the_next_name() -> None:
    names = mt.baseline_job_names("fraud-drift-baseline-0123abcd")
    assert [next(names) for _ in range(3)] == [
        "fraud-drift-baseline-0123abcd",
        "fraud-drift-baseline-0123abcd-2",
        "fraud-drift-baseline-0123abcd-3",
    ]
    retried = mt.baseline_job_names("fraud-drift-baseline-0123abcd-2")
    assert [next(retried) for _ in range(2)] == [
        "fraud-drift-baseline-0123abcd-2",
        "fraud-drift-baseline-0123abcd-3",
    ]
    assert mt.is_baseline_retry("fraud-drift-baseline-0123abcd-2", "fraud-drift-baseline-0123abcd")
    assert not mt.is_baseline_retry("fraud-drift-baseline-0123abcd-2", "fraud-drift-baseline-4567abcd")
    assert not mt.is_baseline_retry(None, "fraud-drift-baseline-0123abcd")


def test_analyzer_image_matches_the_sdk_for_every_region() -> None:
    from sagemaker.core import image_uris

    for region in ("us-east-1", "eu-west-1", "cn-north-1", "us-isof-east-1", "il-central-1"):
        assert analyzer_image(region) == image_uris.retrieve(framework="model-monitor", region=region)


# ================================================================================== validation
def problems(provider: SageMakerProvider, **spec: Any) -> dict[str, str]:
    spec.setdefault("endpoint", "fraud-api")
    spec.setdefault("type", "data_quality")
    res = Resource("monitor", "fraud-drift", MonitorSpec(**spec))
    return {d.path: d.message for d in provider.validate(res, None)}


@pytest.fixture
def offline() -> SageMakerProvider:
    return SageMakerProvider(SageMakerConfig(region="us-east-1", role_arn=ROLE), stack="fraud")


def test_a_complete_monitor_validates(offline: SageMakerProvider) -> None:
    assert problems(offline, **yaml.safe_load(STACK)["monitors"]["fraud-drift"]) == {}


@pytest.mark.parametrize("kind", ["bias", "explainability"])
def test_bias_and_explainability_are_refused_not_ignored(offline: SageMakerProvider, kind: str) -> None:
    assert problems(offline, type=kind) == {
        "type": f"monitor type {kind} is not supported by provider sagemaker yet"
    }


def test_validation_says_what_is_missing(offline: SageMakerProvider) -> None:
    found = problems(
        offline,
        every="30 * * * *",
        baseline="s3://b/v7/constraints.json",
        alert={"notify": ["oncall", "arn:aws:sns:us-east-1:123456789012:ops"]},
    )
    assert set(found) == {"every", "baseline", "alert.threshold", "alert.metric", "alert.notify[0]"}
    assert "feature_baseline_drift_<feature>" in found["alert.metric"]
    assert "neither an e-mail address nor an SNS topic ARN" in found["alert.notify[0]"]
    assert "hourly, daily or every N hours" in found["every"]


def test_model_quality_needs_problem_type_and_a_metric_sagemaker_publishes(
    offline: SageMakerProvider,
) -> None:
    base = {"type": "model_quality", "ground_truth": "s3://labels/"}
    assert set(problems(offline, **base)) == {"problem_type"}
    # No metric: the problem type's default (mae for regression), which needs no direction.
    regression = {**base, "problem_type": "Regression", "alert": {"threshold": 1}}
    assert problems(offline, **regression) == {}
    # A metric Model Monitor does not publish would never fire: refused, naming the ones it does.
    custom = {**base, "problem_type": "Regression", "alert": {"metric": "my_loss", "threshold": 1}}
    found = problems(offline, **custom)
    assert set(found) == {"alert.metric"}
    assert "for Regression: mae, mse, rmse, r2" in found["alert.metric"]
    binary = {**base, "problem_type": "BinaryClassification", "alert": {"metric": "mae", "threshold": 1}}
    assert "auc" in problems(offline, **binary)["alert.metric"]
    binary["alert"]["metric"] = "recall_best_constant_classifier"
    assert problems(offline, **binary) == {}


@pytest.mark.parametrize(
    ("metric", "problem"),
    [
        (None, "per feature"),  # nothing to default to: Model Monitor has no dataset-wide metric
        ("accuracy", "feature_baseline_drift_<feature>, feature_non_null_<feature>, feature_data_<feature>"),
        ("feature_baseline_drift_", "is none of these"),  # no feature named
        ("feature_baseline_drift_amount", None),
        ("feature_non_null_amount", None),  # completeness: alerts below the threshold
    ],
)
def test_a_data_quality_alert_watches_a_feature_metric(
    offline: SageMakerProvider, metric: str | None, problem: str | None
) -> None:
    alert: dict[str, Any] = {"threshold": 0.2, **({"metric": metric} if metric else {})}
    found = problems(offline, baseline="s3://b/v7/", alert=alert)
    if problem is None:
        assert found == {}
    else:
        assert set(found) == {"alert.metric"} and problem in found["alert.metric"]


def test_a_feature_metric_without_a_known_direction_needs_when(offline: SageMakerProvider) -> None:
    alert: dict[str, Any] = {"metric": "feature_data_amount", "threshold": 1000}
    assert set(problems(offline, baseline="s3://b/v7/", alert=alert)) == {"alert.when"}
    alert["when"] = "above"
    assert problems(offline, baseline="s3://b/v7/", alert=alert) == {}


def test_a_baselining_job_needs_an_s3_dataset_and_a_data_quality_monitor(offline: SageMakerProvider) -> None:
    assert problems(offline, baseline=JOB_BASELINE) == {}
    assert problems(offline, baseline={"dataset": "gs://ml-data/train.csv"}) == {
        "baseline.dataset": "SageMaker Model Monitor uses S3: use an s3:// URI"
    }
    quality = {"type": "model_quality", "ground_truth": "s3://labels/", "problem_type": "Regression"}
    assert "data_quality monitors" in problems(offline, baseline=JOB_BASELINE, **quality)["baseline"]


def test_without_a_role_validation_asks_for_one() -> None:
    provider = SageMakerProvider(SageMakerConfig(region="us-east-1"), stack="fraud")
    assert set(problems(provider)) == {"sagemaker.role_arn"}


# ======================================================================= against the emulator
@pytest.fixture
def harness(tmp_path: Path, sm_emulator: SageMakerEmulator) -> StackHarness:
    stack = tmp_path / "stack.yaml"
    stack.write_text(STACK)
    return StackHarness(stack, SandboxEndpoints({"sagemaker": sm_emulator.url}))


@pytest.fixture
def aws(sm_client: Callable[..., Any]) -> dict[str, Any]:
    return {s: sm_client(s) for s in ("sagemaker", "cloudwatch", "sns")}


def applied(h: StackHarness) -> dict[str, str]:
    plan, result = h.apply()
    assert result.ok, result.errors
    return actions(plan)


def attrs_of(h: StackHarness, address: str = MONITOR) -> dict[str, Any]:
    state = h.state()
    assert state is not None
    rs = state.get(address)
    assert rs is not None, f"{address} not in state"
    return dict(rs.attributes)


def schedule(sm: Any, name: str = "fraud-drift", status: str | None = None) -> dict[str, Any]:
    """The schedule's description, once it is in `status` if one is given."""
    deadline = time.monotonic() + 5
    while True:
        desc = sm.describe_monitoring_schedule(MonitoringScheduleName=name)
        if status is None or desc["MonitoringScheduleStatus"] == status or time.monotonic() > deadline:
            return desc
        time.sleep(0.02)


def job_definitions(sm: Any) -> set[str]:
    listed = sm.list_data_quality_job_definitions()["JobDefinitionSummaries"]
    return {j["MonitoringJobDefinitionName"] for j in listed}


def topics(sns: Any) -> set[str]:
    return {t["TopicArn"].rsplit(":", 1)[-1] for t in sns.list_topics()["Topics"]}


def test_apply_creates_job_schedule_alarm_and_topic(harness: StackHarness, aws: dict[str, Any]) -> None:
    sm, cw, sns = aws["sagemaker"], aws["cloudwatch"], aws["sns"]
    plan = harness.plan()
    assert actions(plan) == {"model.fraud-xgb": "create", "endpoint.fraud-api": "create", MONITOR: "create"}
    (change,) = [c for c in plan.changes if c.address == MONITOR]
    assert change.after["alarm_arn"] is UNKNOWN and change.after["job_definition_name"].startswith(
        "fraud-drift-"
    )
    applied(harness)
    attrs = attrs_of(harness)

    desc = schedule(sm, status="Scheduled")
    assert desc["MonitoringScheduleArn"] == attrs["arn"]
    assert desc["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"] == "cron(0 * ? * * *)"
    assert desc["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"] == attrs["job_definition_name"]
    schedule_tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=attrs["arn"])["Tags"]}
    assert schedule_tags["team"] == "risk" and schedule_tags[TAG_ADDRESS] == MONITOR

    job = sm.describe_data_quality_job_definition(JobDefinitionName=attrs["job_definition_name"])
    assert job["DataQualityBaselineConfig"] == {
        "ConstraintsResource": {"S3Uri": "s3://ml-baselines/fraud/v7/constraints.json"},
        "StatisticsResource": {"S3Uri": "s3://ml-baselines/fraud/v7/statistics.json"},
    }
    assert job["DataQualityAppSpecification"]["ImageUri"] == IMAGE
    assert job["DataQualityAppSpecification"]["Environment"]["publish_cloudwatch_metrics"] == "Enabled"
    assert job["DataQualityJobInput"]["EndpointInput"]["EndpointName"] == "fraud-api"
    (output,) = job["DataQualityJobOutputConfig"]["MonitoringOutputs"]
    assert output["S3Output"]["S3Uri"] == "s3://ml-capture/fraud/monitoring/fraud-drift/"
    assert job["RoleArn"] == ROLE
    assert job["JobResources"]["ClusterConfig"] == {
        "InstanceCount": 1,
        "InstanceType": "ml.m5.xlarge",
        "VolumeSizeInGB": 30,
    }

    (alarm,) = cw.describe_alarms(AlarmNames=["fraud-fraud-drift"])["MetricAlarms"]
    assert alarm["AlarmArn"] == attrs["alarm_arn"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        "aws/sagemaker/Endpoints/data-metrics",
        "feature_baseline_drift_amount",
    )
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
        "Endpoint": "fraud-api",
        "MonitoringSchedule": "fraud-drift",
    }
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0.2)
    assert alarm["AlarmActions"] == [attrs["topic_arn"]]
    assert attrs["topic_arn"].endswith(":fraud-fraud-drift-alerts")
    subs = sns.list_subscriptions_by_topic(TopicArn=attrs["topic_arn"])["Subscriptions"]
    assert sorted((s["Protocol"], s["Endpoint"]) for s in subs) == [
        ("email", "data-team@example.com"),
        ("email", "ml-oncall@example.com"),
    ]
    assert actions(harness.plan()) == {}


def test_model_quality_monitor_with_a_default_metric(harness: StackHarness, aws: dict[str, Any]) -> None:
    sm, cw, sns = aws["sagemaker"], aws["cloudwatch"], aws["sns"]
    ops = "arn:aws:sns:us-east-1:123456789012:ops"
    harness.stack_file.write_text(
        BASE
        + f"""\
monitors:
  fraud-quality:
    endpoint: fraud-api
    type: model_quality
    every: daily
    baseline: s3://ml-baselines/fraud/quality/
    ground_truth: s3://ml-labels/fraud/
    problem_type: BinaryClassification
    alert: {{threshold: 0.8, notify: [{ops}]}}
    sagemaker: {{probability_attribute: "0", probability_threshold_attribute: 0.5}}
"""
    )
    applied(harness)
    attrs = attrs_of(harness, "monitor.fraud-quality")
    assert (attrs["metric"], attrs["when"], attrs["max_runtime_seconds"]) == ("accuracy", "below", 1800)
    job = sm.describe_model_quality_job_definition(JobDefinitionName=attrs["job_definition_name"])
    assert job["ModelQualityAppSpecification"]["ProblemType"] == "BinaryClassification"
    assert job["ModelQualityJobInput"]["GroundTruthS3Input"] == {"S3Uri": "s3://ml-labels/fraud/"}
    endpoint_input = job["ModelQualityJobInput"]["EndpointInput"]
    assert (endpoint_input["ProbabilityAttribute"], endpoint_input["ProbabilityThresholdAttribute"]) == (
        "0",
        0.5,
    )
    assert job["ModelQualityBaselineConfig"] == {
        "ConstraintsResource": {"S3Uri": "s3://ml-baselines/fraud/quality/constraints.json"}
    }
    desc = schedule(sm, "fraud-quality")
    assert desc["MonitoringScheduleConfig"]["MonitoringType"] == "ModelQuality"
    assert desc["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"] == "cron(0 0 ? * * *)"
    (alarm,) = cw.describe_alarms(AlarmNames=["fraud-fraud-quality"])["MetricAlarms"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("aws/sagemaker/Endpoints/model-metrics", "accuracy")
    assert (alarm["ComparisonOperator"], alarm["Statistic"]) == ("LessThanThreshold", "Minimum")
    assert alarm["AlarmActions"] == [ops]
    assert "topic_arn" not in attrs and topics(sns) == set(), "no e-mail address, no topic of its own"
    assert actions(harness.plan()) == {}


def test_every_change_updates_the_schedule_in_place(harness: StackHarness, aws: dict[str, Any]) -> None:
    sm = aws["sagemaker"]
    applied(harness)
    before = attrs_of(harness)
    harness.edit(lambda s: s.replace("every: hourly", 'every: "0 */6 * * *"'))
    plan = harness.plan()
    assert actions(plan) == {MONITOR: "update"}
    (change,) = [c for c in plan.changes if c.address == MONITOR]
    assert [f.path for f in change.changes] == ["schedule_expression"]
    assert applied(harness) == {MONITOR: "update"}
    after = attrs_of(harness)
    assert after["arn"] == before["arn"] and after["job_definition_name"] == before["job_definition_name"]
    config = schedule(sm)["MonitoringScheduleConfig"]
    assert config["ScheduleConfig"]["ScheduleExpression"] == "cron(0 0/6 ? * * *)"
    assert actions(harness.plan()) == {}


def test_baseline_change_swaps_the_job_definition_in_one_update(
    harness: StackHarness, aws: dict[str, Any]
) -> None:
    sm = aws["sagemaker"]
    applied(harness)
    before = attrs_of(harness)
    harness.edit(lambda s: s.replace("ml-baselines/fraud/v7/", "ml-baselines/fraud/v8/"))
    plan = harness.plan()
    assert actions(plan) == {MONITOR: "update"}
    (change,) = [c for c in plan.changes if c.address == MONITOR]
    assert {f.path for f in change.changes} == {"baseline", "job_definition_name"}
    assert not any(f.forces_replacement for f in change.changes)
    applied(harness)
    after = attrs_of(harness)
    assert after["arn"] == before["arn"]
    assert after["job_definition_name"] != before["job_definition_name"]
    assert (
        schedule(sm)["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"]
        == after["job_definition_name"]
    )
    job = sm.describe_data_quality_job_definition(JobDefinitionName=after["job_definition_name"])
    constraints = job["DataQualityBaselineConfig"]["ConstraintsResource"]["S3Uri"]
    assert constraints == "s3://ml-baselines/fraud/v8/constraints.json"
    assert job_definitions(sm) == {after["job_definition_name"]}, "the old job definition is left"
    assert actions(harness.plan()) == {}


JOB_STACK = STACK.replace(
    "    baseline: s3://ml-baselines/fraud/v7/\n", "    baseline: {dataset: s3://ml-data/fraud/train.csv}\n"
)


def baselining_jobs(sm: Any) -> dict[str, str]:
    return {
        j["ProcessingJobName"]: j["ProcessingJobStatus"]
        for j in sm.list_processing_jobs()["ProcessingJobSummaries"]
    }


def apply_then_change_the_dataset(harness: StackHarness) -> dict[str, Any]:
    """Apply a monitor with a baselining job, then give it a new dataset: its attributes before."""
    harness.stack_file.write_text(JOB_STACK)
    applied(harness)
    before = attrs_of(harness)
    harness.edit(lambda s: s.replace("fraud/train.csv", "fraud/train-v8.csv"))
    return before


def monitor_change(plan: Any) -> Any:
    (change,) = [c for c in plan.changes if c.address == MONITOR]
    return change


def test_a_baselining_job_computes_the_baseline_the_job_definition_uses(
    harness: StackHarness, aws: dict[str, Any]
) -> None:
    sm = aws["sagemaker"]
    harness.stack_file.write_text(JOB_STACK)
    planned = monitor_change(harness.plan()).after
    name = planned["baseline_job_name"]
    assert re.fullmatch(r"fraud-drift-baseline-[0-9a-f]{8}", name)
    prefix = f"{OUTPUT}baseline/{name[-8:]}/"
    assert (planned["baseline_dataset"], planned["baseline"]) == ("s3://ml-data/fraud/train.csv", prefix)

    applied(harness)
    attrs = attrs_of(harness)
    assert (attrs["baseline_job_name"], attrs["baseline"]) == (name, prefix)
    assert any(
        e.address == MONITOR and e.phase == "progress" and f"baselining job {name}" in e.message
        for e in harness.events
    ), "apply waits for the job"
    job = sm.describe_processing_job(ProcessingJobName=name)
    assert job["ProcessingJobStatus"] == "Completed"
    assert job["AppSpecification"] == {"ImageUri": IMAGE} and job["RoleArn"] == ROLE
    assert job["Environment"]["dataset_source"] == "/opt/ml/processing/input/baseline_dataset_input"
    (source,) = job["ProcessingInputs"]
    assert source["S3Input"]["S3Uri"] == "s3://ml-data/fraud/train.csv"
    (output,) = job["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri"] == prefix
    definition = sm.describe_data_quality_job_definition(JobDefinitionName=attrs["job_definition_name"])
    assert definition["DataQualityBaselineConfig"] == {
        "ConstraintsResource": {"S3Uri": f"{prefix}constraints.json"},
        "StatisticsResource": {"S3Uri": f"{prefix}statistics.json"},
    }
    assert actions(harness.plan()) == {}


def test_a_new_dataset_runs_a_new_job_in_one_in_place_update(
    harness: StackHarness, aws: dict[str, Any]
) -> None:
    sm = aws["sagemaker"]
    before = apply_then_change_the_dataset(harness)
    change = monitor_change(harness.plan())
    assert change.action == "update"
    assert {f.path for f in change.changes} == {
        "baseline_dataset",
        "baseline_job_name",
        "baseline",
        "job_definition_name",
    }
    assert not any(f.forces_replacement for f in change.changes)
    assert applied(harness) == {MONITOR: "update"}
    after = attrs_of(harness)
    assert after["arn"] == before["arn"]
    assert baselining_jobs(sm) == {
        before["baseline_job_name"]: "Completed",
        after["baseline_job_name"]: "Completed",
    }
    job = sm.describe_processing_job(ProcessingJobName=after["baseline_job_name"])
    assert job["ProcessingInputs"][0]["S3Input"]["S3Uri"] == "s3://ml-data/fraud/train-v8.csv"
    running = schedule(sm)["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"]
    assert running == after["job_definition_name"] and job_definitions(sm) == {running}
    definition = sm.describe_data_quality_job_definition(JobDefinitionName=running)
    constraints = definition["DataQualityBaselineConfig"]["ConstraintsResource"]["S3Uri"]
    assert constraints == f"{after['baseline']}constraints.json"
    assert actions(harness.plan()) == {}


def test_a_failed_baselining_job_fails_the_update_and_the_monitor_keeps_its_baseline(
    harness: StackHarness, aws: dict[str, Any], sm_emulator: SageMakerEmulator
) -> None:
    sm = aws["sagemaker"]
    before = apply_then_change_the_dataset(harness)
    planned = monitor_change(harness.plan()).after["baseline_job_name"]
    sm_emulator.update_settings({"fail_processing_jobs": True})

    _, result = harness.apply()
    ((address, message),) = result.errors
    assert address == MONITOR
    assert f"baselining job {planned} failed" in message and "fail_processing_jobs" in message
    # Nothing else was touched: the schedule runs the job definition state names, on the old baseline.
    assert attrs_of(harness) == before
    assert (
        schedule(sm)["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"]
        == before["job_definition_name"]
    )
    assert job_definitions(sm) == {before["job_definition_name"]}

    # SageMaker keeps the failed job and its name: the next apply runs the job again under another.
    sm_emulator.update_settings({"fail_processing_jobs": False})
    assert applied(harness) == {MONITOR: "update"}
    after = attrs_of(harness)
    assert after["baseline_job_name"] == f"{planned}-2"
    assert baselining_jobs(sm) == {
        before["baseline_job_name"]: "Completed",
        planned: "Failed",
        f"{planned}-2": "Completed",
    }
    retry = sm.describe_processing_job(ProcessingJobName=f"{planned}-2")
    assert retry["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == after["baseline"]
    assert actions(harness.plan()) == {}


def test_a_monitor_whose_baselining_job_fails_is_not_created(
    harness: StackHarness, aws: dict[str, Any], sm_emulator: SageMakerEmulator
) -> None:
    sm = aws["sagemaker"]
    harness.stack_file.write_text(JOB_STACK)
    sm_emulator.update_settings({"fail_processing_jobs": True})
    _, result = harness.apply()
    ((address, message),) = result.errors
    assert address == MONITOR and "fail_processing_jobs" in message
    state = harness.state()
    assert state is not None and state.get(MONITOR) is None, "nothing of the monitor exists"
    assert state.get("endpoint.fraud-api") is not None
    assert job_definitions(sm) == set()
    with pytest.raises(ClientError):
        sm.describe_monitoring_schedule(MonitoringScheduleName="fraud-drift")


def test_disabling_stops_the_schedule_and_enabling_starts_it(
    harness: StackHarness, aws: dict[str, Any]
) -> None:
    sm = aws["sagemaker"]
    applied(harness)
    harness.edit(lambda s: s.replace("    every: hourly\n", "    every: hourly\n    enabled: false\n"))
    assert applied(harness) == {MONITOR: "update"}
    assert schedule(sm)["MonitoringScheduleStatus"] == "Stopped"
    assert attrs_of(harness)["enabled"] is False
    assert actions(harness.plan()) == {}
    harness.edit(lambda s: s.replace("enabled: false", "enabled: true"))
    assert applied(harness) == {MONITOR: "update"}
    assert schedule(sm, status="Scheduled")["MonitoringScheduleStatus"] == "Scheduled"
    assert actions(harness.plan()) == {}


def test_notify_changes_move_subscriptions_and_alarm_actions(
    harness: StackHarness, aws: dict[str, Any]
) -> None:
    cw, sns = aws["cloudwatch"], aws["sns"]
    applied(harness)
    topic = attrs_of(harness)["topic_arn"]
    ops = "arn:aws:sns:us-east-1:123456789012:ops"
    harness.edit(
        lambda s: s.replace(
            "[ml-oncall@example.com, data-team@example.com]", f"[ml-oncall@example.com, {ops}]"
        )
    )
    assert applied(harness) == {MONITOR: "update"}
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [s["Endpoint"] for s in subs] == ["ml-oncall@example.com"]
    (alarm,) = cw.describe_alarms(AlarmNames=["fraud-fraud-drift"])["MetricAlarms"]
    assert sorted(alarm["AlarmActions"]) == sorted([ops, topic])
    assert actions(harness.plan()) == {}

    # Only a topic ARN left: the monitor's own topic goes.
    harness.edit(lambda s: s.replace(f"[ml-oncall@example.com, {ops}]", f"[{ops}]"))
    assert applied(harness) == {MONITOR: "update"}
    assert "fraud-fraud-drift-alerts" not in topics(sns)
    (alarm,) = cw.describe_alarms(AlarmNames=["fraud-fraud-drift"])["MetricAlarms"]
    assert alarm["AlarmActions"] == [ops]
    assert "topic_arn" not in attrs_of(harness)
    assert actions(harness.plan()) == {}


def test_type_change_replaces_the_monitor(harness: StackHarness, aws: dict[str, Any]) -> None:
    sm = aws["sagemaker"]
    applied(harness)
    harness.edit(
        lambda s: s.replace(
            "type: data_quality",
            "type: model_quality\n    ground_truth: s3://ml-labels/fraud/\n    problem_type: Regression",
        ).replace("metric: feature_baseline_drift_amount", "metric: mae")
    )
    plan = harness.plan()
    assert actions(plan) == {MONITOR: "replace"}
    (change,) = [c for c in plan.changes if c.address == MONITOR]
    assert [f.path for f in change.changes if f.forces_replacement] == ["type"]
    applied(harness)
    assert schedule(sm)["MonitoringScheduleConfig"]["MonitoringType"] == "ModelQuality"
    assert job_definitions(sm) == set(), "the data quality job definition is left"
    assert actions(harness.plan()) == {}


def test_removing_the_alert_deletes_alarm_and_topic(harness: StackHarness, aws: dict[str, Any]) -> None:
    cw, sns = aws["cloudwatch"], aws["sns"]
    applied(harness)
    harness.edit(lambda s: s[: s.index("    alert:")])
    assert applied(harness) == {MONITOR: "update"}
    assert cw.describe_alarms(AlarmNames=["fraud-fraud-drift"])["MetricAlarms"] == []
    assert "fraud-fraud-drift-alerts" not in topics(sns)
    assert "alarm_arn" not in attrs_of(harness)
    assert actions(harness.plan()) == {}


def test_destroy_leaves_nothing(harness: StackHarness, aws: dict[str, Any]) -> None:
    sm, cw, sns = aws["sagemaker"], aws["cloudwatch"], aws["sns"]
    applied(harness)
    assert job_definitions(sm) and topics(sns)
    plan, result = harness.apply(mode="destroy")
    assert result.ok, result.errors
    assert actions(plan)[MONITOR] == "delete"
    assert sm.list_monitoring_schedules()["MonitoringScheduleSummaries"] == []
    assert job_definitions(sm) == set()
    assert cw.describe_alarms()["MetricAlarms"] == []
    assert topics(sns) == set()
    state = harness.state()
    assert state is not None and state.addresses() == []


def test_drift_made_in_the_console_is_planned_back(harness: StackHarness, aws: dict[str, Any]) -> None:
    sm = aws["sagemaker"]
    applied(harness)
    attrs = attrs_of(harness)
    sm.stop_monitoring_schedule(MonitoringScheduleName="fraud-drift")
    aws["cloudwatch"].delete_alarms(AlarmNames=["fraud-fraud-drift"])
    plan = harness.plan()
    assert [d.address for d in plan.drift] == [MONITOR]
    assert actions(plan) == {MONITOR: "update"}
    applied(harness)
    assert schedule(sm, status="Scheduled")["MonitoringScheduleStatus"] == "Scheduled"
    assert attrs_of(harness)["alarm_name"] == attrs["alarm_name"]
    assert actions(harness.plan()) == {}


def test_generated_config_of_an_applied_monitor_plans_no_changes(harness: StackHarness) -> None:
    applied(harness)
    ws = harness.workspace()
    spec = ws.provider.to_spec("monitor", ws.provider.import_resource("monitor", "fraud-drift"))
    assert spec["alert"] == {
        "metric": "feature_baseline_drift_amount",
        "threshold": 0.2,
        "notify": ["data-team@example.com", "ml-oncall@example.com"],
    }
    assert spec["sagemaker"] == {"output": "s3://ml-capture/fraud/monitoring/fraud-drift/"}
    harness.stack_file.write_text(BASE + yaml.safe_dump({"monitors": {"fraud-drift": spec}}))
    assert actions(harness.plan()) == {}


def test_import_of_a_schedule_made_with_boto3_plans_no_changes(
    harness: StackHarness, aws: dict[str, Any], tmp_path: Path
) -> None:
    sm = aws["sagemaker"]
    harness.stack_file.write_text(BASE)
    applied(harness)
    # Made by hand, with a job definition named by someone else.
    sm.create_data_quality_job_definition(
        JobDefinitionName="hand-made",
        DataQualityBaselineConfig={
            "ConstraintsResource": {"S3Uri": "s3://b/base/constraints.json"},
            "StatisticsResource": {"S3Uri": "s3://b/base/statistics.json"},
        },
        DataQualityAppSpecification={
            "ImageUri": IMAGE,
            "Environment": {"publish_cloudwatch_metrics": "Enabled"},
        },
        DataQualityJobInput={
            "EndpointInput": {"EndpointName": "fraud-api", "LocalPath": "/opt/ml/processing/input/endpoint"}
        },
        DataQualityJobOutputConfig={
            "MonitoringOutputs": [
                {"S3Output": {"S3Uri": "s3://b/reports/", "LocalPath": "/opt/ml/processing/output"}}
            ]
        },
        JobResources={
            "ClusterConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}
        },
        RoleArn=ROLE,
        StoppingCondition={"MaxRuntimeInSeconds": 1800},
    )
    sm.create_monitoring_schedule(
        MonitoringScheduleName="fraud-drift",
        MonitoringScheduleConfig={
            "ScheduleConfig": {"ScheduleExpression": "cron(0 0/12 ? * * *)"},
            "MonitoringJobDefinitionName": "hand-made",
            "MonitoringType": "DataQuality",
        },
    )
    ws = harness.workspace()
    imported = ws.provider.import_resource("monitor", "fraud-drift")
    spec = ws.provider.to_spec("monitor", imported)
    assert spec == {
        "endpoint": "fraud-api",
        "type": "data_quality",
        "every": "0 */12 * * *",
        "baseline": "s3://b/base/",
        "sagemaker": {
            "output": "s3://b/reports/",
            "instance_type": "ml.m5.large",
            "instance_count": 2,
            "max_runtime_seconds": 1800,
        },
    }
    harness.stack_file.write_text(BASE + yaml.safe_dump({"monitors": {"fraud-drift": spec}}))
    backend = harness.backend()
    state = backend.read()
    assert state is not None
    state.put(
        ResourceState(
            address=MONITOR,
            kind="monitor",
            name="fraud-drift",
            provider="sagemaker",
            attributes=imported,
            dependencies=["endpoint.fraud-api"],
        )
    )
    backend.write(state)
    assert actions(harness.plan()) == {}

    # Adopted: a change now replaces the hand-made job definition like one of ours.
    harness.edit(lambda s: s.replace("s3://b/base/", "s3://b/base-v2/"))
    assert applied(harness) == {MONITOR: "update"}
    after = attrs_of(harness)["job_definition_name"]
    assert mt.is_generated_job_definition(after, "fraud-drift")
    assert job_definitions(sm) == {after}
    assert actions(harness.plan()) == {}


# ====================================================================== failures part way
def test_a_failed_create_leaves_state_naming_the_job_definition(
    sm_emulator: SageMakerEmulator, aws: dict[str, Any]
) -> None:
    sm = aws["sagemaker"]
    provider = SageMakerProvider(
        SageMakerConfig(region="us-east-1", role_arn=ROLE),
        stack="fraud",
        sandbox=SandboxEndpoints({"sagemaker": sm_emulator.url}),
    )
    spec = MonitorSpec(**yaml.safe_load(STACK)["monitors"]["fraud-drift"])
    res = Resource("monitor", "fraud-drift", spec)
    refs = {"endpoint.fraud-api": {"name": "fraud-api", "data_capture": {"destination": "s3://cap/"}}}
    desired = provider.desired(res, None, refs, None)
    sm_emulator.update_settings({"fail": [{"action": "CreateMonitoringSchedule", "code": "InternalFailure"}]})
    ctx = RecordingContext(MONITOR)
    with pytest.raises(ProviderError, match="InternalFailure"):
        provider.create("monitor", desired, ctx)
    (checkpoint,) = ctx.checkpoints
    assert checkpoint["job_definition_name"] in job_definitions(sm) and "arn" not in checkpoint
    # What the next plan does with a tainted resource: delete what the checkpoint names.
    provider.delete("monitor", checkpoint, RecordingContext(MONITOR))
    assert job_definitions(sm) == set()
    with pytest.raises(ClientError):
        sm.describe_monitoring_schedule(MonitoringScheduleName="fraud-drift")
