"""Pure translation for the `monitor` kind: a monitor's attributes <-> SageMaker Model Monitor job
definitions and MonitoringSchedules, the CloudWatch alarm on the metric the job publishes, and stack
schedules (`hourly`, `daily`, five-field cron) <-> the AWS cron expressions Model Monitor takes.

No I/O and no SDK import here, like translate.py. Attribute dicts omit absent optional fields."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops_gitops.provider import UNKNOWN
from mlops_gitops.stack.schema import BaselineJob, MonitorSpec
from mlops_sagemaker import aws_cron
from mlops_sagemaker.translate import tag_list, user_tags

Breach = Literal["above", "below"]

# The monitor types this provider manages, and SageMaker's name for each (MonitoringType, and the
# infix of the job definition calls and fields: CreateDataQualityJobDefinition, DataQualityJobInput).
MONITORING_TYPES = {"data_quality": "DataQuality", "model_quality": "ModelQuality"}
_TYPES_FROM_AWS = {aws: kind for kind, aws in MONITORING_TYPES.items()}
# Where Model Monitor publishes a real-time endpoint's metrics; dimensions Endpoint and
# MonitoringSchedule.
METRIC_NAMESPACES = {
    "data_quality": "aws/sagemaker/Endpoints/data-metrics",
    "model_quality": "aws/sagemaker/Endpoints/model-metrics",
}
HOURLY = "cron(0 * ? * * *)"
DAILY = "cron(0 0 ? * * *)"
DEFAULT_INSTANCE_TYPE = "ml.m5.xlarge"
DEFAULT_INSTANCE_COUNT = 1
DEFAULT_VOLUME_SIZE_GB = 30
# SageMaker caps a run at the schedule's period: 3600 s for hourly data quality, 1800 s for hourly
# model quality (which also merges ground truth first).
DEFAULT_MAX_RUNTIME = {"data_quality": 3600, "model_quality": 1800}
# Where the analyzer container reads captured data and writes its reports.
_ENDPOINT_INPUT_PATH = "/opt/ml/processing/input/endpoint"
_OUTPUT_PATH = "/opt/ml/processing/output"
# Without this environment variable the analyzer publishes no CloudWatch metric, and an alarm on
# one would never fire.
_PUBLISH_METRICS = "publish_cloudwatch_metrics"
MAX_NAME = 63  # SageMaker's limit for job definition and processing job names
_CONSTRAINTS = "constraints.json"
_STATISTICS = "statistics.json"
# A baselining job, as DefaultModelMonitor.suggest_baseline runs the analyzer image: the dataset
# is mounted as a directory, the environment says where it is, how to read it and where to write
# statistics.json and constraints.json, which are uploaded to the output at the end of the job.
_BASELINE_INPUT = "baseline_dataset_input"
_BASELINE_INPUT_PATH = f"/opt/ml/processing/input/{_BASELINE_INPUT}"
_BASELINE_OUTPUT = "monitoring_output"
_BASELINE_INFIX = "-baseline-"
_RETRY_ROOM = 3  # `-<n>`, the suffix of a retried baselining job, up to -99
# What a baselining job's result depends on: a change to any of them runs a new job. The instance
# it runs on is not among them.
BASELINE_JOB_FIELDS = ("baseline_dataset", "baseline_dataset_format", "image", "output")
# Model quality endpoint-input options, attribute -> EndpointInput field.
_OUTPUT_ATTRIBUTES = {
    "inference_attribute": "InferenceAttribute",
    "probability_attribute": "ProbabilityAttribute",
    "probability_threshold_attribute": "ProbabilityThresholdAttribute",
}
# The fields of the job definition: a change to any of them needs a new one.
JOB_FIELDS = (
    "type",
    "endpoint",
    "baseline",
    "ground_truth",
    "problem_type",
    *_OUTPUT_ATTRIBUTES,
    "image",
    "role_arn",
    "instance_type",
    "instance_count",
    "volume_size_gb",
    "max_runtime_seconds",
    "output",
    "cloudwatch_metrics",
)
# Model quality metrics (the names Model Monitor publishes) by which way is worse.
_LOWER_IS_BETTER = frozenset({"mae", "mse", "rmse", "false_positive_rate", "false_negative_rate"})
_HIGHER_IS_BETTER = frozenset(
    {
        "accuracy",
        "precision",
        "recall",
        "auc",
        "f0_5",
        "f1",
        "f2",
        "r2",
        "true_positive_rate",
        "true_negative_rate",
    }
)
_DEFAULT_METRICS = {
    "BinaryClassification": "accuracy",
    "MulticlassClassification": "accuracy",
    "Regression": "mae",
}
# What Model Monitor publishes to CloudWatch, so what an alarm can watch (Developer Guide, "CloudWatch
# Metrics" and "Model quality metrics"). Data quality: one metric of each kind per feature.
DATA_QUALITY_METRICS = ("feature_baseline_drift_", "feature_non_null_", "feature_data_")
_CLASSIFIER = ("accuracy", "precision", "recall", "f0_5", "f1", "f2")
_MODEL_QUALITY_METRICS: dict[str, tuple[str, ...]] = {
    "BinaryClassification": (
        *_CLASSIFIER,
        "auc",
        "true_positive_rate",
        "true_negative_rate",
        "false_positive_rate",
        "false_negative_rate",
        *(f"{m}_best_constant_classifier" for m in _CLASSIFIER),
    ),
    "MulticlassClassification": (
        "accuracy",
        *(f"weighted_{m}" for m in _CLASSIFIER[1:]),
        "accuracy_best_constant_classifier",
        *(f"weighted_{m}_best_constant_classifier" for m in _CLASSIFIER[1:]),
    ),
    "Regression": ("mae", "mse", "rmse", "r2"),
}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}")
_ROLE_ARN = r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$"


class MonitorSettings(BaseModel):
    """`monitors.<name>.sagemaker`: how the monitoring job runs."""

    model_config = ConfigDict(extra="forbid")

    role_arn: str | None = Field(None, pattern=_ROLE_ARN, description="overrides the provider's role_arn")
    image_uri: str | None = Field(
        None, description="analyzer image; by default SageMaker's Model Monitor image for the region"
    )
    output: str | None = Field(
        None, description="S3 URI for reports; default <data_capture.destination>/monitoring/<monitor>/"
    )
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = Field(DEFAULT_INSTANCE_COUNT, ge=1, le=100)
    volume_size_gb: int = Field(DEFAULT_VOLUME_SIZE_GB, ge=1, le=16384)
    max_runtime_seconds: int | None = Field(
        None, ge=1, le=86400, description="default 3600 (data_quality) or 1800 (model_quality)"
    )
    inference_attribute: str | None = Field(None, description="model_quality: the prediction in the output")
    probability_attribute: str | None = Field(
        None, description="model_quality: the probability in the output"
    )
    probability_threshold_attribute: float | None = Field(
        None, description="model_quality: the probability above which a prediction is positive"
    )


# ------------------------------------------------------------------------------------- names
def alarm_name(stack: str, monitor: str) -> str:
    return f"{stack}-{monitor}"


def topic_name(stack: str, monitor: str) -> str:
    """The SNS topic a monitor owns when it notifies e-mail addresses."""
    return f"{stack}-{monitor}-alerts"


def topic_arn_beside(schedule_arn: str, topic: str) -> str:
    """The ARN of topic `topic` in the partition, region and account of `schedule_arn`."""
    _, partition, _, region, account = schedule_arn.split(":")[:5]
    return f"arn:{partition}:sns:{region}:{account}:{topic}"


def job_definition_prefix(monitor: str) -> str:
    return f"{monitor[: MAX_NAME - 9]}-"


def job_definition_name(stack: str, monitor: str, attrs: Mapping[str, Any]) -> Any:
    """`<monitor>-<8 hex>` from the job definition's content: deterministic, so the plan shows it,
    and new on every change, since job definitions cannot be updated. UNKNOWN while some of that
    content is."""
    basis = job_basis(attrs)
    if any(v is UNKNOWN for v in basis.values()):
        return UNKNOWN
    text = json.dumps({"stack": stack, "name": monitor, **basis}, sort_keys=True)
    return f"{job_definition_prefix(monitor)}{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def is_generated_job_definition(name: str, monitor: str) -> bool:
    return re.fullmatch(re.escape(job_definition_prefix(monitor)) + "[0-9a-f]{8}", name) is not None


def job_basis(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: attrs.get(k) for k in JOB_FIELDS}


# ------------------------------------------------------------------------------- schedules
# The expressions Model Monitor takes (API reference, ScheduleConfig): hourly `cron(0 * ? * * *)`,
# daily at an hour `cron(0 [00-23] ? * * *)`, every N hours from an hour `cron(0 [00-23]/[01-24] ? * * *)`.
_MODEL_MONITOR_CRON = re.compile(r"cron\(0 (?:\*|(?P<hour>\d{1,2})(?:/(?P<every>\d{1,2}))?) \? \* \* \*\)")


def schedule_expression(every: str) -> str:
    """`every` (hourly, daily or a five-field cron expression) as a ScheduleExpression, with the
    `?` in day-of-month as Model Monitor documents it. aws_cron.CronError (a ValueError) for what
    AWS cron cannot express."""
    if every == "hourly":
        return HOURLY
    if every == "daily":
        return DAILY
    return aws_cron.to_aws(every, question_mark="day_of_month")


def every_from_expression(expression: str) -> str:
    """The stack's `every` for a ScheduleExpression (the inverse of `schedule_expression`)."""
    if expression == HOURLY:
        return "hourly"
    if expression == DAILY:
        return "daily"
    cron = aws_cron.from_aws(expression)
    if cron is None:
        raise ValueError(f"schedule {expression!r} cannot be written as a five-field cron expression")
    return cron


def model_monitor_schedule_problem(expression: str) -> str | None:
    """Why SageMaker Model Monitor would refuse `expression`: it runs at minute 0, every hour, once
    a day or every N hours (N up to 24), nothing else. (`0 */6 * * *` is written `cron(0 0/6 ...)`,
    the form SageMaker documents.)"""
    m = _MODEL_MONITOR_CRON.fullmatch(expression)
    hour, every = (m.group("hour"), m.group("every")) if m else (None, None)
    if m and (hour is None or int(hour) <= 23) and (every is None or 1 <= int(every) <= 24):
        return None
    return (
        "SageMaker Model Monitor runs hourly, daily or every N hours (N from 1 to 24) at minute 0 "
        '(e.g. "0 */6 * * *")'
    )


# --------------------------------------------------------------------------------- alerts
def default_metric(kind: str, problem_type: str | None) -> str | None:
    """The metric an alert watches when the stack names none: accuracy (classification) or mae
    (regression) for model quality. Data quality has none to default to: Model Monitor publishes
    its metrics per feature (`feature_baseline_drift_<feature>`), none for the dataset as a whole,
    so an alarm must name the feature it watches."""
    return _DEFAULT_METRICS.get(problem_type or "") if kind == "model_quality" else None


def metric_problem(kind: str, problem_type: str | None, metric: str) -> str | None:
    """Why an alarm on `metric` would never fire: Model Monitor does not publish it for this
    monitor type (and problem type). None if it does, or if that cannot be told yet."""
    if kind == "data_quality":
        if any(metric.startswith(p) and len(metric) > len(p) for p in DATA_QUALITY_METRICS):
            return None
        forms = ", ".join(f"{p}<feature>" for p in DATA_QUALITY_METRICS)
        return f"SageMaker's data quality monitor publishes {forms}: {metric!r} is none of these"
    known = _MODEL_QUALITY_METRICS.get(problem_type or "")
    if known is None or metric in known:
        return None  # no problem_type: validate reports that instead
    return (
        f"SageMaker's model quality monitor publishes, for {problem_type}: {', '.join(known)}; "
        f"{metric!r} is none of these"
    )


def breach_direction(metric: str) -> Breach | None:
    """Which way `metric` goes when things get worse, if it is one Model Monitor publishes."""
    if metric.startswith("feature_baseline_drift_"):
        return "above"
    if metric.startswith("feature_non_null_"):  # completeness: the share of values present
        return "below"
    base = metric.removeprefix("weighted_").removesuffix("_best_constant_classifier")
    if base in _LOWER_IS_BETTER:
        return "above"
    if base in _HIGHER_IS_BETTER:
        return "below"
    return None


def alert_problems(spec: MonitorSpec) -> list[tuple[str, str]]:
    """(path, message) for each thing a SageMaker alarm needs that `spec.alert` lacks."""
    alert = spec.alert
    if alert is None:
        return []
    problems = []
    if alert.threshold is None:
        problems.append(("alert.threshold", "a SageMaker alarm needs a threshold"))
    metric = alert.metric or default_metric(spec.type, spec.problem_type)
    if metric is None:
        hint = (
            "SageMaker's data quality monitor publishes its metrics per feature, none for the data "
            "as a whole: name the feature's, e.g. metric: feature_baseline_drift_<feature> (or "
            "feature_non_null_<feature>, feature_data_<feature>)"
            if spec.type == "data_quality"
            else "name the metric to watch, or set problem_type, which picks a default"
        )
        problems.append(("alert.metric", hint))
    elif (problem := metric_problem(spec.type, spec.problem_type, metric)) is not None:
        problems.append(("alert.metric", problem))
    elif alert.when is None and breach_direction(metric) is None:
        problems.append(
            ("alert.when", f"say whether to alert when {metric} goes above or below the threshold")
        )
    if spec.type == "data_quality" and not spec.baseline:
        problems.append(("baseline", "a data_quality alert needs a baseline: drift is measured against it"))
    for i, target in enumerate(alert.notify):
        if not is_email(target) and not is_topic_arn(target):
            problems.append(
                (f"alert.notify[{i}]", f"{target!r} is neither an e-mail address nor an SNS topic ARN")
            )
    return problems


def is_email(target: str) -> bool:
    return _EMAIL.fullmatch(target) is not None


def is_topic_arn(target: str) -> bool:
    return _TOPIC_ARN.fullmatch(target) is not None


def emails(notify: list[str]) -> list[str]:
    return [n for n in notify if is_email(n)]


def alarm_request(attrs: Mapping[str, Any], owned_topic: str | None) -> dict[str, Any]:
    above = attrs["when"] == "above"
    actions = sorted(
        {n for n in attrs["notify"] if is_topic_arn(n)} | ({owned_topic} if owned_topic else set())
    )
    return {
        "AlarmName": attrs["alarm_name"],
        "AlarmDescription": (
            f"{attrs['type']} monitor {attrs['name']} on endpoint {attrs['endpoint']}: "
            f"{attrs['metric']} {attrs['when']} {attrs['threshold']}"
        ),
        "ActionsEnabled": True,
        "AlarmActions": actions,
        "Namespace": METRIC_NAMESPACES[attrs["type"]],
        "MetricName": attrs["metric"],
        "Dimensions": [
            {"Name": "Endpoint", "Value": attrs["endpoint"]},
            {"Name": "MonitoringSchedule", "Value": attrs["name"]},
        ],
        # One value per run: the worst of a period, should a period hold two runs.
        "Statistic": "Maximum" if above else "Minimum",
        "Period": 3600,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": float(attrs["threshold"]),
        "ComparisonOperator": "GreaterThanThreshold" if above else "LessThanThreshold",
        # Between runs there is no data: keep the last run's verdict rather than go back to OK.
        "TreatMissingData": "ignore",
        "Tags": tag_list(attrs["tags"]),
    }


def alert_from_alarm(alarm: Mapping[str, Any], owned_topic: str, owned_emails: list[str]) -> dict[str, Any]:
    """DescribeAlarms' MetricAlarm (+ the e-mail subscriptions of the monitor's own topic, named
    `owned_topic`) -> the alert attributes."""
    actions = list(alarm.get("AlarmActions") or [])
    owned = next((a for a in actions if a.rsplit(":", 1)[-1] == owned_topic), None)
    attrs: dict[str, Any] = {
        "alarm_name": alarm["AlarmName"],
        "alarm_arn": alarm["AlarmArn"],
        "metric": alarm.get("MetricName", ""),
        "when": "above" if str(alarm.get("ComparisonOperator", "")).startswith("Greater") else "below",
        "threshold": float(alarm.get("Threshold", 0.0)),
        "notify": sorted({a for a in actions if a != owned} | set(owned_emails)),
    }
    if owned is not None:
        attrs["topic_arn"] = owned
    return attrs


# ------------------------------------------------------------------------------ attributes
def monitor_attributes(
    spec: MonitorSpec,
    settings: MonitorSettings,
    *,
    stack: str,
    name: str,
    endpoint: Any,
    output: Any,
    image: str,
    role_arn: str,
    tags: Mapping[str, str],
) -> dict[str, Any]:
    """A monitor's desired attributes, without the computed ARNs and `job_definition_name`.
    `endpoint` and `output` may be UNKNOWN (from the endpoint's planned attributes)."""
    attrs: dict[str, Any] = {
        "name": name,
        "endpoint": endpoint,
        "type": spec.type,
        "schedule_expression": schedule_expression(spec.every),
        "enabled": spec.enabled,
    }
    if isinstance(spec.baseline, str):
        # SageMaker takes the two files: the prefix is kept in one spelling so it joins cleanly.
        attrs["baseline"] = spec.baseline.rstrip("/") + "/"
    elif spec.baseline is not None:
        attrs["baseline_dataset"] = spec.baseline.dataset
        attrs["baseline_dataset_format"] = dataset_format(spec.baseline)
    if spec.type == "model_quality":
        attrs["ground_truth"] = spec.ground_truth
        attrs["problem_type"] = spec.problem_type
        for key in _OUTPUT_ATTRIBUTES:
            if getattr(settings, key) is not None:
                attrs[key] = getattr(settings, key)
    attrs.update(
        image=image,
        role_arn=role_arn,
        instance_type=settings.instance_type,
        instance_count=settings.instance_count,
        volume_size_gb=settings.volume_size_gb,
        max_runtime_seconds=settings.max_runtime_seconds or DEFAULT_MAX_RUNTIME[spec.type],
        output=output,
        cloudwatch_metrics=True,
    )
    if "baseline_dataset" in attrs:
        attrs.update(baseline_job(stack, name, attrs))
    alert = spec.alert
    if alert is not None:  # complete: `alert_problems` is checked at validate time
        metric = alert.metric or default_metric(spec.type, spec.problem_type)
        attrs.update(
            alarm_name=alarm_name(stack, name),
            metric=metric,
            when=alert.when or breach_direction(metric or ""),
            threshold=alert.threshold,
            notify=sorted(set(alert.notify)),
        )
    attrs["tags"] = dict(tags)
    return attrs


def default_output(capture_destination: str, monitor: str) -> str:
    return f"{capture_destination.rstrip('/')}/monitoring/{monitor}/"


# --------------------------------------------------------------------------- baselining job
def dataset_format(job: BaselineJob) -> dict[str, Any]:
    """The analyzer's `dataset_format` (the SDK's DatasetFormat). A csv dataset has its output
    columns first, as SageMaker assumes of training data."""
    if job.format == "json":
        return {"json": {"lines": True}}
    return {"csv": {"header": job.header, "output_columns_position": "START"}}


def baseline_job(stack: str, monitor: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """`baseline_job_name` (`<monitor>-baseline-<8 hex>`) and `baseline`, the prefix the job writes
    (`<output>/baseline/<8 hex>/`), from what the job's result depends on: an unchanged dataset
    keeps its job, a changed one gets a new one. UNKNOWN while some of that is."""
    basis = {k: attrs.get(k) for k in BASELINE_JOB_FIELDS}
    if any(v is UNKNOWN for v in basis.values()):
        return {"baseline_job_name": UNKNOWN, "baseline": UNKNOWN}
    text = json.dumps({"stack": stack, "name": monitor, **basis}, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    room = MAX_NAME - len(_BASELINE_INFIX) - len(digest) - _RETRY_ROOM
    return {
        "baseline_job_name": f"{monitor[:room]}{_BASELINE_INFIX}{digest}",
        "baseline": f"{attrs['output'].rstrip('/')}/baseline/{digest}/",
    }


def baseline_job_names(name: str) -> Iterator[str]:
    """`name`, then the names its retries take (`<name>-2`, `-3`, ...): SageMaker never reuses a
    processing job's name, and a failed job keeps its own. `name` may be a retry already."""
    m = re.fullmatch(rf"(.*{re.escape(_BASELINE_INFIX)}[0-9a-f]{{8}})(?:-(\d+))?", name)
    base, tried = (m.group(1), int(m.group(2) or 1)) if m else (name, 1)
    yield name
    for n in itertools.count(tried + 1):
        yield f"{base}-{n}"


def is_baseline_retry(name: Any, planned: Any) -> bool:
    """Whether `name` is `planned` or one of its retries, so state may keep it."""
    return (
        isinstance(name, str)
        and isinstance(planned, str)
        and re.fullmatch(re.escape(planned) + r"(-\d+)?", name) is not None
    )


def baseline_job_request(attrs: Mapping[str, Any], name: str) -> dict[str, Any]:
    """CreateProcessingJob for the baselining job `attrs` describe, under `name`."""
    return {
        "ProcessingJobName": name,
        "ProcessingInputs": [
            {
                "InputName": _BASELINE_INPUT,
                "AppManaged": False,
                "S3Input": {
                    "S3Uri": attrs["baseline_dataset"],
                    "LocalPath": _BASELINE_INPUT_PATH,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                },
            }
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": _BASELINE_OUTPUT,
                    "AppManaged": False,
                    "S3Output": {
                        "S3Uri": attrs["baseline"],
                        "LocalPath": _OUTPUT_PATH,
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": attrs["instance_count"],
                "InstanceType": attrs["instance_type"],
                "VolumeSizeInGB": attrs["volume_size_gb"],
            }
        },
        "AppSpecification": {"ImageUri": attrs["image"]},
        "Environment": {
            "dataset_format": json.dumps(attrs["baseline_dataset_format"]),
            "dataset_source": _BASELINE_INPUT_PATH,
            "output_path": _OUTPUT_PATH,
            # Metrics come from the monitoring runs; a baselining job publishes none.
            _PUBLISH_METRICS: "Disabled",
        },
        "RoleArn": attrs["role_arn"],
        "Tags": tag_list(attrs["tags"]),
    }


def baseline_job_from_describe(desc: Mapping[str, Any]) -> dict[str, Any]:
    """DescribeProcessingJob of a baselining job -> the monitor's `baseline_*` attributes."""
    dataset = next(
        (
            (i.get("S3Input") or {}).get("S3Uri", "")
            for i in desc.get("ProcessingInputs") or []
            if i.get("InputName") == _BASELINE_INPUT
        ),
        "",
    )
    text = (desc.get("Environment") or {}).get("dataset_format", "")
    try:
        fmt: Any = json.loads(text)
    except ValueError:
        fmt = text  # not what this provider writes: shown as it is, so the plan shows the difference
    return {
        "baseline_dataset": dataset,
        "baseline_dataset_format": fmt,
        "baseline_job_name": desc["ProcessingJobName"],
    }


# ------------------------------------------------------------------------------- requests
def job_definition_request(attrs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(boto3 method, request) creating the job definition `attrs` describe."""
    kind = attrs["type"]
    prefix = MONITORING_TYPES[kind]
    endpoint_input: dict[str, Any] = {"EndpointName": attrs["endpoint"], "LocalPath": _ENDPOINT_INPUT_PATH}
    for key, field in _OUTPUT_ATTRIBUTES.items():
        if key in attrs:
            endpoint_input[field] = attrs[key]
    app: dict[str, Any] = {
        "ImageUri": attrs["image"],
        "Environment": {_PUBLISH_METRICS: "Enabled" if attrs["cloudwatch_metrics"] else "Disabled"},
    }
    job_input: dict[str, Any] = {"EndpointInput": endpoint_input}
    if kind == "model_quality":
        app["ProblemType"] = attrs["problem_type"]
        job_input["GroundTruthS3Input"] = {"S3Uri": attrs["ground_truth"]}
    request: dict[str, Any] = {
        "JobDefinitionName": attrs["job_definition_name"],
        f"{prefix}AppSpecification": app,
        f"{prefix}JobInput": job_input,
        f"{prefix}JobOutputConfig": {
            "MonitoringOutputs": [
                {
                    "S3Output": {
                        "S3Uri": attrs["output"],
                        "LocalPath": _OUTPUT_PATH,
                        "S3UploadMode": "EndOfJob",
                    }
                }
            ]
        },
        "JobResources": {
            "ClusterConfig": {
                "InstanceCount": attrs["instance_count"],
                "InstanceType": attrs["instance_type"],
                "VolumeSizeInGB": attrs["volume_size_gb"],
            }
        },
        "RoleArn": attrs["role_arn"],
        "StoppingCondition": {"MaxRuntimeInSeconds": attrs["max_runtime_seconds"]},
        "Tags": tag_list(attrs["tags"]),
    }
    if attrs.get("baseline"):
        baseline = {"ConstraintsResource": {"S3Uri": attrs["baseline"] + _CONSTRAINTS}}
        if kind == "data_quality":  # model quality baselines hold constraints only
            baseline["StatisticsResource"] = {"S3Uri": attrs["baseline"] + _STATISTICS}
        request[f"{prefix}BaselineConfig"] = baseline
    return f"create_{kind}_job_definition", request


def job_from_describe(kind: str, desc: Mapping[str, Any]) -> dict[str, Any]:
    """Describe{Data,Model}QualityJobDefinition -> the job's attributes."""
    prefix = MONITORING_TYPES[kind]
    app = desc.get(f"{prefix}AppSpecification") or {}
    job_input = desc.get(f"{prefix}JobInput") or {}
    endpoint_input = job_input.get("EndpointInput") or {}
    outputs = (desc.get(f"{prefix}JobOutputConfig") or {}).get("MonitoringOutputs") or [{}]
    cluster = (desc.get("JobResources") or {}).get("ClusterConfig") or {}
    attrs: dict[str, Any] = {"endpoint": endpoint_input.get("EndpointName", "")}
    baseline = _baseline_from_aws(kind, desc.get(f"{prefix}BaselineConfig") or {})
    if baseline is not None:
        attrs["baseline"] = baseline
    if kind == "model_quality":
        attrs["ground_truth"] = (job_input.get("GroundTruthS3Input") or {}).get("S3Uri", "")
        attrs["problem_type"] = app.get("ProblemType", "")
        for key, field in _OUTPUT_ATTRIBUTES.items():
            if field in endpoint_input:
                attrs[key] = endpoint_input[field]
    attrs.update(
        image=app.get("ImageUri", ""),
        role_arn=desc.get("RoleArn", ""),
        instance_type=cluster.get("InstanceType", ""),
        instance_count=cluster.get("InstanceCount"),
        volume_size_gb=cluster.get("VolumeSizeInGB"),
    )
    runtime = (desc.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    if runtime is not None:
        attrs["max_runtime_seconds"] = runtime
    attrs["output"] = (outputs[0].get("S3Output") or {}).get("S3Uri", "")
    attrs["cloudwatch_metrics"] = (app.get("Environment") or {}).get(_PUBLISH_METRICS) == "Enabled"
    return attrs


def _baseline_from_aws(kind: str, config: Mapping[str, Any]) -> str | None:
    constraints = (config.get("ConstraintsResource") or {}).get("S3Uri")
    statistics = (config.get("StatisticsResource") or {}).get("S3Uri")
    if not constraints and not statistics:
        return None
    prefix = (
        constraints.removesuffix(_CONSTRAINTS)
        if constraints and constraints.endswith(f"/{_CONSTRAINTS}")
        else None
    )
    if prefix is not None and (kind != "data_quality" or statistics == prefix + _STATISTICS):
        return prefix
    # Not the layout a baselining job writes: say what is there, so the plan shows the difference.
    return ", ".join(
        f"{label} {uri}" for label, uri in (("constraints", constraints), ("statistics", statistics)) if uri
    )


def schedule_config(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "ScheduleConfig": {"ScheduleExpression": attrs["schedule_expression"]},
        "MonitoringJobDefinitionName": attrs["job_definition_name"],
        "MonitoringType": MONITORING_TYPES[attrs["type"]],
    }


def schedule_type(desc: Mapping[str, Any]) -> str | None:
    """The monitor type of a DescribeMonitoringSchedule, or None for one this provider does not
    manage (bias, explainability)."""
    aws = desc.get("MonitoringScheduleConfig", {}).get("MonitoringType") or desc.get("MonitoringType")
    return _TYPES_FROM_AWS.get(aws or "")


def schedule_from_describe(desc: Mapping[str, Any], kind: str) -> dict[str, Any]:
    config = desc.get("MonitoringScheduleConfig") or {}
    return {
        "name": desc["MonitoringScheduleName"],
        "arn": desc["MonitoringScheduleArn"],
        "type": kind,
        "schedule_expression": (config.get("ScheduleConfig") or {}).get("ScheduleExpression", ""),
        "enabled": desc.get("MonitoringScheduleStatus") != "Stopped",
        "job_definition_name": config.get("MonitoringJobDefinitionName", ""),
    }


# ------------------------------------------------------------------------------- to_spec
def monitor_spec(
    attrs: Mapping[str, Any], *, default_role: str | None, default_image: str | None
) -> dict[str, Any]:
    """Stack YAML for a monitor that plans with no changes against `attrs`. The endpoint is named
    by its SageMaker name: import it under the same name. `output` is always written, since its
    default depends on the endpoint's data capture."""
    kind = attrs["type"]
    spec: dict[str, Any] = {
        "endpoint": attrs["endpoint"],
        "type": kind,
        "every": every_from_expression(attrs["schedule_expression"]),
    }
    for key in ("baseline", "ground_truth", "problem_type"):
        if attrs.get(key):
            spec[key] = attrs[key]
    if "alarm_name" in attrs:
        alert: dict[str, Any] = {"metric": attrs["metric"], "threshold": attrs["threshold"]}
        if attrs["when"] != breach_direction(attrs["metric"]):
            alert["when"] = attrs["when"]
        if attrs.get("notify"):
            alert["notify"] = list(attrs["notify"])
        spec["alert"] = alert
    if not attrs.get("enabled", True):
        spec["enabled"] = False
    if user_tags(attrs.get("tags", {})):
        spec["tags"] = user_tags(attrs["tags"])
    settings: dict[str, Any] = {}
    if attrs.get("role_arn") and attrs["role_arn"] != default_role:
        settings["role_arn"] = attrs["role_arn"]
    if attrs.get("image") and attrs["image"] != default_image:
        settings["image_uri"] = attrs["image"]
    settings["output"] = attrs["output"]
    defaults = {
        "instance_type": DEFAULT_INSTANCE_TYPE,
        "instance_count": DEFAULT_INSTANCE_COUNT,
        "volume_size_gb": DEFAULT_VOLUME_SIZE_GB,
        "max_runtime_seconds": DEFAULT_MAX_RUNTIME[kind],
    }
    for key, default in defaults.items():
        if attrs.get(key) is not None and attrs[key] != default:
            settings[key] = attrs[key]
    for key in _OUTPUT_ATTRIBUTES:
        if key in attrs:
            settings[key] = attrs[key]
    spec["sagemaker"] = settings
    return spec
