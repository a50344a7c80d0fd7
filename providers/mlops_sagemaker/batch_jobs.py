"""Batch jobs on SageMaker: the `batch_job` kind, as Transform jobs.

A `batch_job` owns up to three cloud objects, named after the resource:

- a SageMaker Pipeline whose one step (`Transform`) is the transform job's request, generated from
  the stack (model, input, output, compute): the pipeline is the job's definition, and each of
  its executions runs one transform job named `<name>-<execution id>`, so a trigger delivered
  twice (EventBridge retries) or a start sent again with its token never runs a duplicate;
- an EventBridge Scheduler schedule (group `default`) when the stack gives a `cron`, starting the
  pipeline in the schedule's time zone;
- an EventBridge rule `<name>-after-retrain` when the stack gives `also_on`, starting the
  pipeline whenever an execution of one of those schedules' pipelines succeeds. The job then runs
  the model as applied (`model:` names the SageMaker Model of the stack's model): a retraining
  pipeline that registers a new version changes what the job runs only once the stack deploys it.

`mlops run` starts an execution now and follows it and its transform job to the end.

Mapping of the neutral spec: `input.format` is the ContentType (csv text/csv, jsonl
application/jsonlines, parquet application/x-parquet, file application/octet-stream),
`input.split` the SplitType (Line/None: parquet and whole files are never split),
`output.assemble` AssembleWith, `mini_batch_size` the BatchStrategy (1: SingleRecord; more:
MultiRecord, where SageMaker packs as many records as fit in `max_payload_mb`, not a count),
`max_concurrency` MaxConcurrentTransforms, `timeout_minutes` and `retries` the ModelClientConfig
(InvocationsTimeoutInSeconds, InvocationsMaxRetries: per request, at most 60 minutes and 3
retries; SageMaker puts no time limit on a whole job).

Not mapped: `replicas` (a transform job runs on a fixed number of instances) and
`model_package` (a transform job runs a SageMaker Model, not a registry version).

The schedule and the rule assume `scheduler_role_arn` (default: the pipeline's execution role),
which must trust `scheduler.amazonaws.com` and `events.amazonaws.com` and may call
StartPipelineExecution. Importing this module imports no AWS SDK."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from mlops_gitops.cron import next_runs_note
from mlops_gitops.errors import Diagnostic, ProviderError
from mlops_gitops.features import ANY
from mlops_gitops.handlers import Request
from mlops_gitops.ownership import TAGS
from mlops_gitops.provider import UNKNOWN, ApplyContext, ResourceType
from mlops_gitops.stack.schema import BatchJobSpec
from mlops_sagemaker import batch_jobs_translate as bt
from mlops_sagemaker import schedules_translate as st
from mlops_sagemaker.client import call, collect
from mlops_sagemaker.config import _ROLE_ARN
from mlops_sagemaker.pipeline_triggers import (
    TRIGGER_ORDER,
    PipelineRoles,
    PipelineTriggerHandler,
    cron_problems,
    owned,
    trigger_attributes,
)
from mlops_sagemaker.translate import tag_list, user_tags

BATCH_JOB = ResourceType(
    "batch_job",
    force_new=("name", "pipeline_name"),
    computed=("pipeline_arn", "schedule_arn"),
    not_drift=TAGS.not_drift,
    # The pipeline, schedule and rule have fixed names: a replacement must delete first.
    create_before_destroy=False,
    supports={
        "also_on": ANY,
        "max_payload_mb": ANY,
        "mini_batch_size": ANY,
        "max_concurrency": ANY,
        "retries": tuple(range(bt.MAX_INVOCATION_RETRIES + 1)),
    },
    unsupported={
        "replicas": "a SageMaker transform job runs on a fixed number of instances: give instance_count",
        "model_package": "a SageMaker transform job runs a SageMaker Model: declare a model in this stack "
        "with the version's artifact and image, and give model",
        "retries": f"SageMaker retries a failed request at most {bt.MAX_INVOCATION_RETRIES} times",
    },
)
_ORDER = (
    "name",
    "pipeline_name",
    "pipeline_arn",
    *bt.TRANSFORM_FIELDS,
    "execution_role_arn",
    *TRIGGER_ORDER,
)
_SUCCEEDED, _FAILED = ("Succeeded",), ("Failed", "Stopped")


class BatchJobSettings(PipelineRoles):
    """`batch_jobs.<name>.sagemaker`."""

    scheduler_role_arn: str | None = Field(
        None,
        pattern=_ROLE_ARN,
        description="role EventBridge Scheduler and the after-retraining rule assume to start the "
        "pipeline (default: the execution role)",
    )


class BatchJobHandler(PipelineTriggerHandler[BatchJobSpec, BatchJobSettings]):
    rtype: ClassVar[ResourceType] = BATCH_JOB
    target_id: ClassVar[str] = bt.TARGET_ID
    settings_model: ClassVar[type[BaseModel] | None] = BatchJobSettings
    noun = "SageMaker batch pipeline"

    # ---- offline ------------------------------------------------------------------------------
    def validate(self, req: Request[BatchJobSpec, BatchJobSettings]) -> list[Diagnostic]:
        spec, chosen = req.spec, req.settings
        diags = self.tag_problems(req.resource)
        diags += self._role_problems(chosen.execution_role_arn)
        for path, uri in (("input.uri", spec.input.uri), ("output.uri", spec.output.uri)):
            if not uri.startswith("s3://"):
                diags.append(Diagnostic("SageMaker transform jobs read and write S3: use an s3:// URI", path))
        explicit_split = "split" in spec.input.model_fields_set and spec.input.split == "line"
        if spec.input.format not in bt.LINE_FORMATS and explicit_split:
            diags.append(
                Diagnostic(
                    f"{spec.input.format} input is sent a whole file per request: remove split",
                    "input.split",
                )
            )
        if spec.timeout_minutes is not None and spec.timeout_minutes > bt.MAX_INVOCATION_TIMEOUT_MINUTES:
            diags.append(
                Diagnostic(
                    "SageMaker times out each request of a transform job, after at most "
                    f"{bt.MAX_INVOCATION_TIMEOUT_MINUTES} minutes, and a whole job never: give at most "
                    f"{bt.MAX_INVOCATION_TIMEOUT_MINUTES}",
                    "timeout_minutes",
                )
            )
        diags += cron_problems(spec.cron)
        return diags

    def notes(self, attributes: Mapping[str, Any]) -> list[str]:
        if not attributes.get("enabled", True) and (attributes.get("cron") or attributes.get("also_on")):
            return ["disabled: runs only when asked (mlops run)"]
        lines = []
        if attributes.get("cron"):
            lines.append(next_runs_note(attributes["cron"], attributes["timezone"]))
        if attributes.get("also_on"):
            lines.append(
                "also after each successful run of "
                + ", ".join(f"schedule.{s}" for s in attributes["also_on"])
            )
        if not lines:
            lines.append("runs only when asked (mlops run)")
        return lines

    # ---- pure ---------------------------------------------------------------------------------
    def desired(self, req: Request[BatchJobSpec, BatchJobSettings]) -> dict[str, Any]:
        resource, spec, chosen, refs = req.resource, req.spec, req.settings, req.refs
        was = req.prior or {}
        role = chosen.execution_role_arn or self.cfg.role_arn or ""
        model = refs.get(f"model.{spec.model}", {}).get("name", UNKNOWN)
        attrs: dict[str, Any] = {
            "name": was.get("name", resource.name),
            "pipeline_name": was.get("pipeline_name", resource.name),
            "pipeline_arn": was.get("pipeline_arn", UNKNOWN),
            **bt.transform_attributes(spec, model),
            "execution_role_arn": role,
        }
        attrs.update(
            trigger_attributes(spec.cron, spec.timezone, spec.enabled, chosen.scheduler_role_arn or role, was)
        )
        if spec.also_on:
            attrs["rule_name"] = bt.rule_name(attrs["name"])
            attrs["also_on"] = {
                s: refs.get(f"schedule.{s}", {}).get("pipeline_arn", UNKNOWN) for s in spec.also_on
            }
        attrs["tags"] = self.tags(resource)
        return attrs

    # ---- read ---------------------------------------------------------------------------------
    def _read(self, prior: Mapping[str, Any], *, schedule: bool, rule: str | None) -> dict[str, Any] | None:
        name = prior["name"]
        attrs, text = self._read_pipeline(prior)
        if text is not None:
            attrs.update(bt.from_definition(_parse(text)))
        states: list[str] = []
        roles: list[str] = []
        found = self._read_schedule(name, prior, attrs) if schedule else None
        if found is not None:
            states.append(found["State"])
            roles.append(found["Target"].get("RoleArn", ""))
        on_rule = self._read_rule(rule) if rule else None
        if rule and on_rule is not None:
            rule_desc, ours = on_rule
            attrs["rule_name"] = rule
            arns = bt.retrain_pipelines(rule_desc.get("EventPattern", ""))
            attrs["also_on"] = bt.also_on_from_aws(arns, prior.get("also_on") or {})
            states.append(rule_desc["State"])
            roles.append(ours.get("RoleArn", ""))
        if "pipeline_arn" not in attrs and not states:
            return None
        if states:
            # In sync the triggers agree; one edited in the console shows, so it is drift.
            enabled = [s == "ENABLED" for s in states]
            attrs["enabled"] = next((e for e in enabled if e != prior.get("enabled")), enabled[0])
            attrs["scheduler_role_arn"] = next(
                (r for r in roles if r != prior.get("scheduler_role_arn")), roles[0]
            )
        else:
            # Neither trigger: what they would say is whatever the stack says (nothing to diff).
            for key in ("enabled", "scheduler_role_arn"):
                if key in prior:
                    attrs[key] = prior[key]
        return {k: attrs[k] for k in _ORDER if k in attrs}

    # ---- create / update ----------------------------------------------------------------------
    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        existing = self.read(desired)
        if existing is not None and not owned(existing, desired):
            raise ProviderError(
                f"a SageMaker pipeline, schedule or rule named {desired['name']!r} already exists: "
                f"import it (mlops import {ctx.address} {desired['name']}) or rename the batch job",
                code="AlreadyExists",
            )
        return self._converge(existing or {}, desired, ctx)

    def _sync_pipeline(self, current: Mapping[str, Any], desired: Mapping[str, Any]) -> str:
        # First in _converge: nothing is touched while the model's name is still unknown.
        pending = [k for k in ("model_name",) if desired.get(k) is UNKNOWN]
        if pending:
            raise ProviderError(f"batch job {desired['name']}: the model's name is not known yet")
        text = bt.definition_text(desired["name"], desired)
        return self._put_pipeline(
            current,
            desired,
            definition=lambda: text,
            differs=lambda now: any(now.get(k) != desired.get(k) for k in bt.TRANSFORM_FIELDS),
            PipelineDescription=f"Batch job {desired['name']} (mlops-gitops)",
        )

    def _schedule_request(self, desired: Mapping[str, Any], pipeline_arn: str) -> dict[str, Any]:
        # The job's pipeline declares no parameters: the trigger passes none.
        request = st.schedule_request({**desired, "parameters": {}}, pipeline_arn)
        request["Description"] = f"Runs batch job {desired['name']} (mlops-gitops)"
        return request

    def _rule_request(
        self, desired: Mapping[str, Any], pipeline_arn: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        pending = [s for s, arn in desired["also_on"].items() if arn is UNKNOWN]
        if pending:
            raise ProviderError(
                f"batch job {desired['name']}: the pipeline of "
                f"{', '.join(f'schedule.{s}' for s in pending)} is not known yet"
            )
        return (
            bt.rule_request(desired, tag_list(desired["tags"])),
            st.pipeline_target(pipeline_arn, {**desired, "parameters": {}}),
        )

    # ---- delete -------------------------------------------------------------------------------
    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        """Transform jobs already run stay in SageMaker's history (they cannot be deleted), as
        their outputs stay in S3."""
        self._delete_all(prior, ctx)

    # ---- import -------------------------------------------------------------------------------
    def import_resource(self, cloud_id: str) -> dict[str, Any]:
        """Adopt a pipeline made by a batch job (one Transform step), with the schedule and the
        after-retraining rule of the same name if they exist."""
        desc = self._describe_pipeline(cloud_id)
        if desc is None:
            raise ProviderError(
                f"no SageMaker pipeline named {cloud_id!r} in {self.cfg.region}", code="NotFound"
            )
        if bt.transform_step(_parse(desc["PipelineDefinition"])) is None:
            raise ProviderError(f"pipeline {cloud_id!r} has no Transform step: it is not a batch job")
        attrs = self._read({"name": cloud_id}, schedule=True, rule=bt.rule_name(cloud_id))
        if attrs is None:
            raise self.not_found(cloud_id)
        return attrs

    def import_references(self, attributes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        return [("model", "model", str(attributes["model_name"]))]

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """Stack YAML for an imported batch job. SageMaker's MultiRecord packs as many records
        into a request as `max_payload_mb` allows, whatever the count: it is written
        `mini_batch_size: 100` (any count above 1 means MultiRecord)."""
        spec: dict[str, Any] = {
            "model": attributes["model_name"],
            "input": {"uri": attributes["input_uri"]},
            "output": {"uri": attributes["output_uri"]},
            "instance_type": attributes["instance_type"],
        }
        if attributes.get("input_format", "csv") != "csv":
            spec["input"]["format"] = attributes["input_format"]
        if attributes.get("input_format", "csv") in bt.LINE_FORMATS and attributes.get("split") == "none":
            spec["input"]["split"] = "none"
        if attributes.get("assemble") == "none":
            spec["output"]["assemble"] = "none"
        if attributes.get("instance_count", 1) != 1:
            spec["instance_count"] = attributes["instance_count"]
        strategy = attributes.get("batch_strategy")
        if strategy:
            spec["mini_batch_size"] = 1 if strategy == "SingleRecord" else 100
        for attribute, key, scale in (
            ("max_payload_mb", "max_payload_mb", 1),
            ("max_concurrent_transforms", "max_concurrency", 1),
            ("invocation_timeout_seconds", "timeout_minutes", 60),
            ("invocation_max_retries", "retries", 1),
        ):
            if attributes.get(attribute) is not None:
                spec[key] = attributes[attribute] // scale
        if attributes.get("environment"):
            spec["environment"] = dict(attributes["environment"])
        if attributes.get("cron"):
            spec["cron"] = attributes["cron"]
            spec["timezone"] = attributes["timezone"]
        if attributes.get("also_on"):
            spec["also_on"] = list(attributes["also_on"])
        if not attributes.get("enabled", True):
            spec["enabled"] = False
        if user_tags(attributes.get("tags", {})):
            spec["tags"] = user_tags(attributes["tags"])
        settings: dict[str, str] = {}
        role = attributes.get("execution_role_arn")
        if role and role != self.cfg.role_arn:
            settings["execution_role_arn"] = role
        if attributes.get("scheduler_role_arn") and attributes["scheduler_role_arn"] != role:
            settings["scheduler_role_arn"] = attributes["scheduler_role_arn"]
        if settings:
            spec["sagemaker"] = settings
        return spec

    # ---- run ----------------------------------------------------------------------------------
    def run(self, attributes: Mapping[str, Any], ctx: ApplyContext, *, wait: bool = True) -> dict[str, Any]:
        """Start an execution of the pipeline (one transform job) and follow it."""
        sm = self.aws.sagemaker
        name = attributes.get("pipeline_name", attributes["name"])
        arn = self._start_execution(name, ctx)
        run_id = arn.rsplit("/", 1)[-1]
        result: dict[str, Any] = {"id": run_id, "status": "Executing", "output": attributes.get("output_uri")}
        if not wait:
            return result
        job: dict[str, Any] | None = None
        for delay in self.aws.polling.delays():
            execution = call(sm, "describe_pipeline_execution", PipelineExecutionArn=arn)
            status = str(execution.get("PipelineExecutionStatus"))
            step = self._transform_step(arn)
            job_arn = (step or {}).get("Metadata", {}).get("TransformJob", {}).get("Arn")
            if job_arn:
                job = call(sm, "describe_transform_job", TransformJobName=job_arn.rsplit("/", 1)[-1])
            result["status"] = status
            if job:
                result["job"] = job["TransformJobName"]
                result["output"] = job.get("TransformOutput", {}).get("S3OutputPath", result["output"])
            if status in _SUCCEEDED:
                return result
            if status in _FAILED:
                reason = (
                    (job or {}).get("FailureReason")
                    or (step or {}).get("FailureReason")
                    or execution.get("FailureReason")
                    or "no reason given"
                )
                where = f"transform job {job['TransformJobName']}" if job else f"execution {run_id}"
                raise ProviderError(f"batch job {attributes['name']}: {where} {status.lower()}: {reason}")
            shown = f"transform job {job['TransformJobName']}: {job['TransformJobStatus']}" if job else status
            ctx.progress(f"execution {run_id}: {status}; {shown}")
            if ctx.cancel.wait(delay):
                result["message"] = "stopped following the run; it goes on in SageMaker"
                return result
        raise AssertionError("unreachable")  # delays() never ends

    def _transform_step(self, execution_arn: str) -> dict[str, Any] | None:
        steps = collect(
            self.aws.sagemaker,
            "list_pipeline_execution_steps",
            "PipelineExecutionSteps",
            PipelineExecutionArn=execution_arn,
        )
        return next((s for s in steps if s.get("StepName") == bt.STEP_NAME), steps[0] if steps else None)


def _parse(text: str) -> Any:
    """A definition as SageMaker returns it; one that is not JSON reads as holding no step."""
    try:
        return json.loads(text)
    except ValueError:
        return {}
