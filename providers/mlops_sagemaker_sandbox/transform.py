"""Transform jobs and the pipeline executions that run them, for the SageMaker emulator.

moto creates a transform job `Completed` at once and a pipeline execution `Succeeded` at once,
running none of its steps. The emulator (server.py) instead

* gives a transform job a lifecycle: `InProgress` -> `Completed` (or `Failed`, with a
  `FailureReason` in SageMaker's words) after the emulator's delay, `Stopping` -> `Stopped` after
  StopTransformJob; a completed job writes one object under its output prefix in moto's S3 (no
  model runs: the object says so), making the bucket if it is missing;
* runs the `Transform` steps of a pipeline execution: each becomes a transform job, its request
  the step's `Arguments` with the pipeline's expressions evaluated (`Get` of
  `Execution.PipelineExecutionId` / `Parameters.<name>`, `Std:Join`), so a step whose
  `TransformJobName` joins the execution id names one job per execution; the execution is
  `Executing` until its jobs end, then `Succeeded` or `Failed`, and lists its steps
  (ListPipelineExecutionSteps) with each job's ARN. An execution without Transform steps stays
  moto's instant `Succeeded`;
* honours StartPipelineExecution's `ClientRequestToken`: a start sent again with the token of an
  earlier one gets that execution, not a second.

This module holds the pure part (expressions, requests, descriptions); server.py the state."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

EXECUTION_ID = "Execution.PipelineExecutionId"
_EXECUTION_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]*:\d{12}:pipeline/([^/]+)/execution/(.+)$")
STEP_FAILURE = "Step failure: One or multiple steps failed."
INJECTED_FAILURE = (
    "ClientError: See job logs for more information: the model container failed: failure injected "
    "by the sandbox emulator (fail_transform_jobs)."
)


class ExpressionError(ValueError):
    """A pipeline expression the emulator cannot evaluate."""


def execution_id(execution_arn: str) -> str:
    m = _EXECUTION_ARN.match(execution_arn)
    return m.group(2) if m else execution_arn.rsplit("/", 1)[-1]


def pipeline_of(execution_arn: str) -> str | None:
    m = _EXECUTION_ARN.match(execution_arn)
    return m.group(1) if m else None


def evaluate(value: Any, variables: Mapping[str, Any]) -> Any:
    """`value` (a step's Arguments) with its expressions replaced by their values."""
    if isinstance(value, list):
        return [evaluate(v, variables) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Get"}:
        name = value["Get"]
        if name not in variables:
            raise ExpressionError(f"the emulator cannot evaluate {{'Get': {name!r}}}")
        return variables[name]
    if set(value) == {"Std:Join"}:
        join = value["Std:Join"]
        parts = [evaluate(v, variables) for v in join.get("Values", [])]
        return str(join.get("On", "")).join(str(p) for p in parts)
    return {k: evaluate(v, variables) for k, v in value.items()}


def variables_of(
    definition: Mapping[str, Any], execution_arn: str, parameters: list[Mapping[str, Any]]
) -> dict:
    """What `Get` reads in one execution: its id, and each parameter (given, or its default)."""
    found: dict[str, Any] = {EXECUTION_ID: execution_id(execution_arn)}
    for p in definition.get("Parameters") or []:
        if isinstance(p, Mapping) and "Name" in p:
            found[f"Parameters.{p['Name']}"] = p.get("DefaultValue")
    for p in parameters or []:
        found[f"Parameters.{p['Name']}"] = p["Value"]
    return found


def transform_steps(definition: Any) -> list[Mapping[str, Any]]:
    steps = definition.get("Steps") if isinstance(definition, Mapping) else None
    return [s for s in steps or [] if isinstance(s, Mapping) and s.get("Type") == "Transform"]


def moto_arguments(request: Mapping[str, Any]) -> dict[str, Any]:
    """CreateTransformJob's request as moto's `create_transform_job` takes it."""
    return {
        "transform_job_name": request.get("TransformJobName", ""),
        "model_name": request.get("ModelName", ""),
        "max_concurrent_transforms": request.get("MaxConcurrentTransforms"),
        "model_client_config": request.get("ModelClientConfig"),
        "max_payload_in_mb": request.get("MaxPayloadInMB"),
        "batch_strategy": request.get("BatchStrategy"),
        "environment": request.get("Environment"),
        "transform_input": request.get("TransformInput"),
        "transform_output": request.get("TransformOutput"),
        "data_capture_config": request.get("DataCaptureConfig"),
        "transform_resources": request.get("TransformResources"),
        "data_processing": request.get("DataProcessing"),
        "tags": request.get("Tags"),
        "experiment_config": request.get("ExperimentConfig"),
    }


def split_s3(uri: str) -> tuple[str, str]:
    """("bucket", "key/prefix") of an s3:// URI."""
    rest = uri.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    return bucket, key


def marker_key(output_uri: str, input_uri: str) -> tuple[str, str]:
    """Where a completed job's one object goes: `<output prefix>/<input file>.out`, as SageMaker
    names the output of each input object."""
    bucket, prefix = split_s3(output_uri)
    source = split_s3(input_uri)[1].rstrip("/").rsplit("/", 1)[-1] or "input"
    if input_uri.endswith("/"):
        source = "part-00000"
    prefix = prefix.rstrip("/")
    return bucket, f"{prefix}/{source}.out" if prefix else f"{source}.out"


@dataclass
class StepRun:
    """One step of an execution the emulator runs."""

    name: str
    type: str
    started: datetime
    job_name: str | None = None
    job_arn: str | None = None
    status: str = "Executing"
    ended: datetime | None = None
    failure_reason: str | None = None

    def describe(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "StepName": self.name,
            "StepDisplayName": self.name,
            "StepType": self.type,
            "StartTime": self.started,
            "StepStatus": self.status,
            "AttemptCount": 1,
            "Metadata": {"TransformJob": {"Arn": self.job_arn}} if self.job_arn else {},
        }
        if self.ended is not None:
            item["EndTime"] = self.ended
        if self.failure_reason:
            item["FailureReason"] = self.failure_reason
        return item


@dataclass
class ExecutionRun:
    """An execution whose Transform steps run as transform jobs."""

    arn: str
    steps: list[StepRun] = field(default_factory=list)
    failure_reason: str | None = None
