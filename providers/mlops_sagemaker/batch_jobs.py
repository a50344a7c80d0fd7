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

import contextlib
import json
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from mlops_gitops.cron import next_runs_note
from mlops_gitops.errors import Diagnostic, ProviderError
from mlops_gitops.features import ANY
from mlops_gitops.handlers import Request
from mlops_gitops.ownership import TAGS
from mlops_gitops.provider import UNKNOWN, ApplyContext, ResourceType, known
from mlops_gitops.stack.schema import BatchJobSpec
from mlops_sagemaker import aws_cron
from mlops_sagemaker import batch_jobs_translate as bt
from mlops_sagemaker import schedules_translate as st
from mlops_sagemaker.client import NotFoundError, call, collect
from mlops_sagemaker.config import _ROLE_ARN
from mlops_sagemaker.kind import KindHandler, already_exists
from mlops_sagemaker.schedules import _cron_read_back
from mlops_sagemaker.translate import tag_changes, tag_dict, tag_list

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
    "cron",
    "timezone",
    "schedule_arn",
    "enabled",
    "scheduler_role_arn",
    "rule_name",
    "also_on",
    "tags",
)
_SUCCEEDED, _FAILED = ("Succeeded",), ("Failed", "Stopped")


class BatchJobSettings(BaseModel):
    """`batch_jobs.<name>.sagemaker`."""

    model_config = ConfigDict(extra="forbid")

    execution_role_arn: str | None = Field(
        None, pattern=_ROLE_ARN, description="role the pipeline runs as; overrides the provider's role_arn"
    )
    scheduler_role_arn: str | None = Field(
        None,
        pattern=_ROLE_ARN,
        description="role EventBridge Scheduler and the after-retraining rule assume to start the "
        "pipeline (default: the execution role)",
    )


class BatchJobHandler(KindHandler[BatchJobSpec, BatchJobSettings]):
    rtype: ClassVar[ResourceType] = BATCH_JOB
    settings_model: ClassVar[type[BaseModel] | None] = BatchJobSettings
    noun = "SageMaker batch pipeline"

    # ---- offline ------------------------------------------------------------------------------
    def validate(self, req: Request[BatchJobSpec, BatchJobSettings]) -> list[Diagnostic]:
        spec, chosen = req.spec, req.settings
        diags = self.tag_problems(req.resource)
        if not (chosen.execution_role_arn or self.cfg.role_arn):
            diags.append(
                Diagnostic(
                    "a SageMaker pipeline needs an execution role: set role_arn in the sagemaker "
                    "provider block, or execution_role_arn here",
                    "sagemaker.execution_role_arn",
                )
            )
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
        if spec.cron:
            try:
                aws_cron.to_aws(spec.cron)
            except aws_cron.CronError as exc:
                diags.append(Diagnostic(f"cron {spec.cron!r}: {exc}", "cron"))
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
        if spec.cron:
            attrs["cron"] = spec.cron
            attrs["timezone"] = spec.timezone
            attrs["schedule_arn"] = was.get("schedule_arn", UNKNOWN)
        attrs["enabled"] = spec.enabled
        attrs["scheduler_role_arn"] = chosen.scheduler_role_arn or role
        if spec.also_on:
            attrs["rule_name"] = bt.rule_name(attrs["name"])
            attrs["also_on"] = {
                s: refs.get(f"schedule.{s}", {}).get("pipeline_arn", UNKNOWN) for s in spec.also_on
            }
        attrs["tags"] = self.tags(resource)
        return attrs

    # ---- read ---------------------------------------------------------------------------------
    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        return self._read(
            attributes,
            schedule="cron" in attributes or "schedule_arn" in attributes,
            rule=attributes.get("rule_name"),
        )

    def _read(self, prior: Mapping[str, Any], *, schedule: bool, rule: str | None) -> dict[str, Any] | None:
        name = prior["name"]
        attrs: dict[str, Any] = {"name": name, "pipeline_name": prior.get("pipeline_name", name)}
        pipeline = self._describe_pipeline(attrs["pipeline_name"])
        if pipeline is not None and pipeline.get("PipelineStatus") != "Deleting":
            attrs["pipeline_arn"] = pipeline["PipelineArn"]
            try:
                body = json.loads(pipeline["PipelineDefinition"])
            except ValueError:
                body = {}
            attrs.update(bt.from_definition(body))
            attrs["execution_role_arn"] = pipeline["RoleArn"]
            tags = tag_dict(
                collect(self.aws.sagemaker, "list_tags", "Tags", ResourceArn=pipeline["PipelineArn"])
            )
            if tags:
                attrs["tags"] = tags
        states: list[str] = []
        roles: list[str] = []
        found = self._get_schedule(name) if schedule else None
        if found is not None:
            attrs["cron"] = _cron_read_back(found["ScheduleExpression"], prior.get("cron"))
            attrs["timezone"] = found.get("ScheduleExpressionTimezone") or "UTC"
            attrs["schedule_arn"] = found["Arn"]
            states.append(found["State"])
            roles.append(found["Target"].get("RoleArn", ""))
        rule_desc = self._describe_rule(rule) if rule else None
        if rule and rule_desc is not None:
            targets = collect(self.aws.client("events"), "list_targets_by_rule", "Targets", Rule=rule)
            ours = next((t for t in targets if t["Id"] == bt.TARGET_ID), {})
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

    def _describe_pipeline(self, name: str) -> dict[str, Any] | None:
        try:
            return call(self.aws.sagemaker, "describe_pipeline", PipelineName=name)
        except NotFoundError:
            return None

    def _get_schedule(self, name: str) -> dict[str, Any] | None:
        try:
            return call(self.aws.client("scheduler"), "get_schedule", Name=name, GroupName=st.SCHEDULE_GROUP)
        except NotFoundError:
            return None

    def _describe_rule(self, name: str) -> dict[str, Any] | None:
        try:
            return call(self.aws.client("events"), "describe_rule", Name=name)
        except NotFoundError:
            return None

    # ---- create / update ----------------------------------------------------------------------
    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        existing = self.read(desired)
        if existing is not None and not _owned(existing, desired):
            raise ProviderError(
                f"a SageMaker pipeline, schedule or rule named {desired['name']!r} already exists: "
                f"import it (mlops import {ctx.address} {desired['name']}) or rename the batch job",
                code="AlreadyExists",
            )
        return self._converge(existing or {}, desired, ctx)

    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        return self._converge(self.read(prior) or {}, desired, ctx)

    def _converge(
        self, current: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        pending = [k for k in ("model_name",) if desired.get(k) is UNKNOWN]
        if pending:
            raise ProviderError(f"batch job {desired['name']}: the model's name is not known yet")
        pipeline_arn = self._sync_pipeline(current, desired)
        done = {**desired, "pipeline_arn": pipeline_arn}
        ctx.checkpoint(known(done))
        schedule_arn = self._sync_schedule(current, desired, pipeline_arn)
        if schedule_arn is not None:
            done["schedule_arn"] = schedule_arn
            ctx.checkpoint(known(done))
        if self._sync_rule(current, desired, pipeline_arn):
            ctx.checkpoint(known(done))
        return self.must_read(desired)

    def _sync_pipeline(self, current: Mapping[str, Any], desired: Mapping[str, Any]) -> str:
        sm = self.aws.sagemaker
        name = desired["pipeline_name"]
        text = bt.definition_text(desired["name"], desired)
        if "pipeline_arn" not in current:
            try:
                created = call(
                    sm,
                    "create_pipeline",
                    PipelineName=name,
                    PipelineDefinition=text,
                    PipelineDescription=f"Batch job {desired['name']} (mlops-gitops)",
                    RoleArn=desired["execution_role_arn"],
                    Tags=tag_list(desired["tags"]),
                )
                return str(created["PipelineArn"])
            except ProviderError as exc:
                if not already_exists(exc):
                    raise
                found = self._read(
                    {"name": desired["name"], "pipeline_name": name}, schedule=False, rule=None
                )
                if found is None or not _owned(found, desired):
                    raise ProviderError(
                        f"a SageMaker pipeline named {name!r} was created by someone else meanwhile",
                        code="AlreadyExists",
                    ) from exc
                current = found
        changes: dict[str, str] = {}
        if any(current.get(k) != desired.get(k) for k in bt.TRANSFORM_FIELDS):
            changes["PipelineDefinition"] = text
        if current.get("execution_role_arn") != desired["execution_role_arn"]:
            changes["RoleArn"] = desired["execution_role_arn"]
        if changes:
            call(sm, "update_pipeline", PipelineName=name, **changes)
        arn = str(current["pipeline_arn"])
        add, remove = tag_changes(current.get("tags", {}), desired["tags"])
        if remove:
            call(sm, "delete_tags", ResourceArn=arn, TagKeys=remove)
        if add:
            call(sm, "add_tags", ResourceArn=arn, Tags=tag_list(add))
        return arn

    def _sync_schedule(
        self, current: Mapping[str, Any], desired: Mapping[str, Any], pipeline_arn: str
    ) -> str | None:
        scheduler = self.aws.client("scheduler")
        if "cron" not in desired:
            if "schedule_arn" in current:
                with contextlib.suppress(NotFoundError):
                    call(scheduler, "delete_schedule", Name=current["name"], GroupName=st.SCHEDULE_GROUP)
            return None
        request = st.schedule_request({**desired, "parameters": {}}, pipeline_arn)
        request["Description"] = f"Runs batch job {desired['name']} (mlops-gitops)"
        method = "update_schedule" if "schedule_arn" in current else "create_schedule"
        return str(call(scheduler, method, **request)["ScheduleArn"])

    def _sync_rule(self, current: Mapping[str, Any], desired: Mapping[str, Any], pipeline_arn: str) -> bool:
        if "rule_name" not in desired:
            if "rule_name" in current:
                self._delete_rule(current["rule_name"])
            return False
        pending = [s for s, arn in desired["also_on"].items() if arn is UNKNOWN]
        if pending:
            raise ProviderError(
                f"batch job {desired['name']}: the pipeline of "
                f"{', '.join(f'schedule.{s}' for s in pending)} is not known yet"
            )
        events = self.aws.client("events")
        call(events, "put_rule", **bt.rule_request(desired, tag_list(desired["tags"])))
        target = st.pipeline_target(pipeline_arn, {**desired, "parameters": {}})
        result = call(
            events, "put_targets", Rule=desired["rule_name"], Targets=[{"Id": bt.TARGET_ID, **target}]
        )
        if result.get("FailedEntryCount"):
            failed = "; ".join(
                f"{e.get('ErrorCode')}: {e.get('ErrorMessage')}" for e in result.get("FailedEntries", [])
            )
            raise ProviderError(f"PutTargets on rule {desired['rule_name']}: {failed}")
        return True

    # ---- delete -------------------------------------------------------------------------------
    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        """Triggers first, so nothing starts the pipeline while it goes. Transform jobs already
        run stay in SageMaker's history (they cannot be deleted), as their outputs stay in S3."""
        if "cron" in prior or "schedule_arn" in prior:
            with contextlib.suppress(NotFoundError):
                call(
                    self.aws.client("scheduler"),
                    "delete_schedule",
                    Name=prior["name"],
                    GroupName=st.SCHEDULE_GROUP,
                )
        if prior.get("rule_name"):
            self._delete_rule(prior["rule_name"])
        name = prior.get("pipeline_name", prior["name"])
        with contextlib.suppress(NotFoundError):
            call(self.aws.sagemaker, "delete_pipeline", PipelineName=name)
        for delay in self.aws.polling.delays():
            desc = self._describe_pipeline(name)
            if desc is None:
                return
            if desc.get("PipelineStatus") != "Deleting":
                raise ProviderError(
                    f"DeletePipeline: pipeline {name} is still there ({desc.get('PipelineStatus')})"
                )
            ctx.progress(f"Deleting pipeline {name}… status=Deleting")
            if ctx.cancel.wait(delay):
                raise ProviderError(
                    f"stopped waiting for pipeline {name} to be deleted: the apply was cancelled",
                    code="Cancelled",
                )

    def _delete_rule(self, rule: str) -> None:
        events = self.aws.client("events")
        try:
            targets = collect(events, "list_targets_by_rule", "Targets", Rule=rule)
        except NotFoundError:
            return
        with contextlib.suppress(NotFoundError):
            if targets:
                call(events, "remove_targets", Rule=rule, Ids=[t["Id"] for t in targets])
            call(events, "delete_rule", Name=rule)

    # ---- import -------------------------------------------------------------------------------
    def import_resource(self, cloud_id: str) -> dict[str, Any]:
        """Adopt a pipeline made by a batch job (one Transform step), with the schedule and the
        after-retraining rule of the same name if they exist."""
        desc = self._describe_pipeline(cloud_id)
        if desc is None:
            raise ProviderError(
                f"no SageMaker pipeline named {cloud_id!r} in {self.cfg.region}", code="NotFound"
            )
        try:
            body = json.loads(desc["PipelineDefinition"])
        except ValueError:
            body = {}
        if bt.transform_step(body) is None:
            raise ProviderError(f"pipeline {cloud_id!r} has no Transform step: it is not a batch job")
        attrs = self._read({"name": cloud_id}, schedule=True, rule=bt.rule_name(cloud_id))
        if attrs is None:
            raise self.not_found(cloud_id)
        return attrs

    # ---- run ----------------------------------------------------------------------------------
    def run(self, attributes: Mapping[str, Any], ctx: ApplyContext, *, wait: bool = True) -> dict[str, Any]:
        """Start an execution of the pipeline (one transform job) and follow it. The request
        token is made once for this call, so the start sent again after a lost reply names the
        same execution rather than a second one."""
        sm = self.aws.sagemaker
        name = attributes.get("pipeline_name", attributes["name"])
        token = uuid.uuid5(uuid.NAMESPACE_URL, f"{ctx.address}/{uuid.uuid4()}").hex
        started = call(
            sm,
            "start_pipeline_execution",
            PipelineName=name,
            ClientRequestToken=token,
            PipelineExecutionDescription=f"started by mlops run {ctx.address}",
            cancel=ctx.cancel,
        )
        arn = str(started["PipelineExecutionArn"])
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


def _owned(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    tags = existing.get("tags", {})
    return "pipeline_arn" in existing and all(tags.get(k) == desired["tags"][k] for k in TAGS.keys)
