"""Pure translation for batch jobs on SageMaker: a `batch_job` spec to the attributes the plan
shows, those attributes to the pipeline definition (one Transform step) and back, and the
EventBridge rule that starts the job after a retraining pipeline's successful runs.

No I/O and no SDK import."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mlops_gitops.stack.schema import BatchJobSpec

STEP_NAME = "Transform"
PIPELINE_VERSION = "2020-12-01"
EXECUTION_ID = {"Get": "Execution.PipelineExecutionId"}
# A transform job is named `<prefix>-<execution id>`: SageMaker's 63 characters less the 12 of
# the id and the dash.
MAX_JOB_PREFIX = 50
RULE_SUFFIX = "-after-retrain"
TARGET_ID = "batch-pipeline"
EVENT_SOURCE = "aws.sagemaker"
EVENT_DETAIL_TYPE = "SageMaker Model Building Pipeline Execution Status Change"
# SageMaker's limits on a transform job's request.
MAX_INVOCATION_TIMEOUT_MINUTES = 60  # ModelClientConfig.InvocationsTimeoutInSeconds: 1-3600
MAX_INVOCATION_RETRIES = 3  # ModelClientConfig.InvocationsMaxRetries: 0-3

CONTENT_TYPES = {
    "csv": "text/csv",
    "jsonl": "application/jsonlines",
    "parquet": "application/x-parquet",
    "file": "application/octet-stream",
}
_FORMATS = {v: k for k, v in CONTENT_TYPES.items()}
# Formats whose records are lines: the others are sent a whole file per request.
LINE_FORMATS = ("csv", "jsonl")

# The attributes that come from the Transform step, in the order plans show them.
TRANSFORM_FIELDS = (
    "model_name",
    "input_uri",
    "input_format",
    "split",
    "output_uri",
    "assemble",
    "instance_type",
    "instance_count",
    "batch_strategy",
    "max_payload_mb",
    "max_concurrent_transforms",
    "invocation_timeout_seconds",
    "invocation_max_retries",
    "environment",
)


def job_prefix(name: str) -> str:
    return name[:MAX_JOB_PREFIX].rstrip("-")


def rule_name(name: str) -> str:
    return f"{name}{RULE_SUFFIX}"


def transform_attributes(spec: BatchJobSpec, model_name: Any) -> dict[str, Any]:
    """The Transform step's settings as attributes (optional ones only when the stack sets them)."""
    split = spec.input.split if spec.input.format in LINE_FORMATS else "none"
    attrs: dict[str, Any] = {
        "model_name": model_name,
        "input_uri": spec.input.uri,
        "input_format": spec.input.format,
        "split": split,
        "output_uri": spec.output.uri,
        "assemble": spec.output.assemble,
        "instance_type": spec.instance_type,
        "instance_count": spec.instance_count or 1,
    }
    if spec.mini_batch_size is not None:
        attrs["batch_strategy"] = "SingleRecord" if spec.mini_batch_size == 1 else "MultiRecord"
    if spec.max_payload_mb is not None:
        attrs["max_payload_mb"] = spec.max_payload_mb
    if spec.max_concurrency is not None:
        attrs["max_concurrent_transforms"] = spec.max_concurrency
    if spec.timeout_minutes is not None:
        attrs["invocation_timeout_seconds"] = spec.timeout_minutes * 60
    if spec.retries is not None:
        attrs["invocation_max_retries"] = spec.retries
    attrs["environment"] = dict(spec.environment)
    return attrs


def transform_arguments(name: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The Transform step's Arguments: a CreateTransformJob request, named per execution."""
    args: dict[str, Any] = {
        "TransformJobName": {"Std:Join": {"On": "-", "Values": [job_prefix(name), EXECUTION_ID]}},
        "ModelName": attrs["model_name"],
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": attrs["input_uri"]}},
            "ContentType": CONTENT_TYPES[attrs["input_format"]],
            "SplitType": "Line" if attrs["split"] == "line" else "None",
        },
        "TransformOutput": {
            "S3OutputPath": attrs["output_uri"],
            "AssembleWith": "Line" if attrs["assemble"] == "line" else "None",
        },
        "TransformResources": {
            "InstanceType": attrs["instance_type"],
            "InstanceCount": attrs["instance_count"],
        },
    }
    if "batch_strategy" in attrs:
        args["BatchStrategy"] = attrs["batch_strategy"]
    if "max_payload_mb" in attrs:
        args["MaxPayloadInMB"] = attrs["max_payload_mb"]
    if "max_concurrent_transforms" in attrs:
        args["MaxConcurrentTransforms"] = attrs["max_concurrent_transforms"]
    client: dict[str, int] = {}
    if "invocation_timeout_seconds" in attrs:
        client["InvocationsTimeoutInSeconds"] = attrs["invocation_timeout_seconds"]
    if "invocation_max_retries" in attrs:
        client["InvocationsMaxRetries"] = attrs["invocation_max_retries"]
    if client:
        args["ModelClientConfig"] = client
    if attrs.get("environment"):
        args["Environment"] = dict(attrs["environment"])
    return args


def definition(name: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The pipeline's definition: no parameters, one Transform step."""
    return {
        "Version": PIPELINE_VERSION,
        "Metadata": {"generator": "mlops-gitops batch_job"},
        "Parameters": [],
        "Steps": [{"Name": STEP_NAME, "Type": "Transform", "Arguments": transform_arguments(name, attrs)}],
    }


def definition_text(name: str, attrs: Mapping[str, Any]) -> str:
    return json.dumps(definition(name, attrs), sort_keys=True, separators=(",", ":"))


def transform_step(body: Any) -> Mapping[str, Any] | None:
    """The definition's one Transform step, or None if it has none."""
    steps = body.get("Steps") if isinstance(body, Mapping) else None
    found = [s for s in steps or [] if isinstance(s, Mapping) and s.get("Type") == "Transform"]
    return found[0] if found else None


def from_definition(body: Any) -> dict[str, Any]:
    """The attributes a pipeline definition holds (those of `transform_attributes`); a definition
    of some other shape gives what can be read of it, `{}` at worst, which reads as drift."""
    step = transform_step(body)
    args = step.get("Arguments") if step else None
    if not isinstance(args, Mapping):
        return {}
    inp = args.get("TransformInput") or {}
    out = args.get("TransformOutput") or {}
    res = args.get("TransformResources") or {}
    client = args.get("ModelClientConfig") or {}
    attrs: dict[str, Any] = {
        "model_name": args.get("ModelName"),
        "input_uri": inp.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri"),
        "input_format": _FORMATS.get(inp.get("ContentType", ""), inp.get("ContentType")),
        "split": "line" if inp.get("SplitType") == "Line" else "none",
        "output_uri": out.get("S3OutputPath"),
        "assemble": "line" if out.get("AssembleWith") == "Line" else "none",
        "instance_type": res.get("InstanceType"),
        "instance_count": res.get("InstanceCount"),
    }
    optional = (
        ("batch_strategy", args.get("BatchStrategy")),
        ("max_payload_mb", args.get("MaxPayloadInMB")),
        ("max_concurrent_transforms", args.get("MaxConcurrentTransforms")),
        ("invocation_timeout_seconds", client.get("InvocationsTimeoutInSeconds")),
        ("invocation_max_retries", client.get("InvocationsMaxRetries")),
    )
    attrs.update((k, v) for k, v in optional if v is not None)
    attrs["environment"] = dict(args.get("Environment") or {})
    return attrs


def job_name_prefix(body: Any) -> str | None:
    """The fixed part of the step's TransformJobName expression, if it is ours."""
    step = transform_step(body)
    name = (step or {}).get("Arguments", {}).get("TransformJobName")
    if isinstance(name, Mapping) and "Std:Join" in name:
        values = name["Std:Join"].get("Values") or []
        if len(values) == 2 and values[1] == EXECUTION_ID and isinstance(values[0], str):
            return values[0]
    return None


# ------------------------------------------------------------------------------ after retraining
def retrain_event_pattern(pipeline_arns: list[str]) -> dict[str, Any]:
    """EventBridge pattern for "one of these pipelines' executions succeeded"."""
    return {
        "source": [EVENT_SOURCE],
        "detail-type": [EVENT_DETAIL_TYPE],
        "detail": {"currentPipelineExecutionStatus": ["Succeeded"], "pipelineArn": sorted(pipeline_arns)},
    }


def rule_request(attrs: Mapping[str, Any], tags: list[dict[str, str]]) -> dict[str, Any]:
    schedules = ", ".join(f"schedule.{s}" for s in attrs["also_on"])
    return {
        "Name": attrs["rule_name"],
        "EventPattern": json.dumps(retrain_event_pattern(list(attrs["also_on"].values()))),
        "State": "ENABLED" if attrs["enabled"] else "DISABLED",
        "Description": f"Starts batch pipeline {attrs['pipeline_name']} after successful runs of {schedules}",
        "Tags": tags,
    }


def retrain_pipelines(event_pattern: str) -> list[str]:
    """The pipeline ARNs a rule's pattern matches; [] if it is not a pattern of ours."""
    try:
        pattern = json.loads(event_pattern)
    except ValueError:
        return []
    detail = pattern.get("detail") if isinstance(pattern, dict) else None
    arns = detail.get("pipelineArn") if isinstance(detail, dict) else None
    return sorted(a for a in arns or [] if isinstance(a, str))


def also_on_from_aws(arns: list[str], prior: Mapping[str, str]) -> dict[str, str]:
    """schedule -> pipeline ARN; names come from `prior`, else the pipeline's own name."""
    by_arn = {arn: s for s, arn in prior.items()}
    return {by_arn.get(arn, arn.rsplit("/", 1)[-1]): arn for arn in arns}
