"""Retraining schedules on SageMaker: the `schedule` kind.

A `schedule` owns up to three cloud objects, all named after the resource:

- the SageMaker Pipeline it starts (CreatePipeline / UpdatePipeline), its definition read from
  the JSON file at `pipeline.definition`;
- an EventBridge Scheduler schedule (group `default`) when the stack gives a `cron`, starting the
  pipeline with the stack's `parameters` in the schedule's time zone;
- an EventBridge rule `<name>-on-alarm` when the stack gives `also_on`, starting the pipeline
  (same parameters) whenever one of those monitors' CloudWatch alarms goes into ALARM.

Everything changes in place: a new definition is an UpdatePipeline, a new cron or `enabled: false`
an UpdateSchedule, and triggers come and go with the stack. Only the names cannot change, and
they never do: they are the resource's own, or those of the objects it was imported from.

The plan shows a definition as a digest of the whole plus a short digest per top-level step
(`definition.steps.Train`), not as JSON. The definition text itself stays out of the attributes
(and so out of state and plans): `desired()` reads the file and keeps the text in memory under
its digest for `create()`/`update()`, which the engine always calls after `desired()` in the same
process.

Not mapped: `max_concurrent_runs`. SageMaker has no limit on concurrent executions of a pipeline
(ParallelismConfiguration caps the steps running inside one execution, which is something else),
so the stack may not set it; SageMaker starts a new execution on every trigger.

The Scheduler schedule and the rule assume `scheduler_role_arn` (by default the pipeline's
execution role) to call StartPipelineExecution: that role must trust `scheduler.amazonaws.com`
and `events.amazonaws.com`. Importing this module imports no AWS SDK and no croniter."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, Field

from mlops_gitops.cron import next_runs_note
from mlops_gitops.errors import Diagnostic, ProviderError, StackError
from mlops_gitops.handlers import Request
from mlops_gitops.ownership import TAGS
from mlops_gitops.provider import UNKNOWN, ApplyContext, ResourceType
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import ScheduleSpec
from mlops_gitops.stack.suggest import did_you_mean
from mlops_sagemaker import aws_cron
from mlops_sagemaker import schedules_translate as st
from mlops_sagemaker.client import call
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

if TYPE_CHECKING:
    from mlops_sagemaker.provider import SageMakerProvider

SCHEDULE = ResourceType(
    "schedule",
    force_new=("name", "pipeline_name"),
    computed=("pipeline_arn", "schedule_arn"),
    # Ownership tags are written with every change, but their absence is no reason for one: a
    # schedule made by hand and imported plans with no changes.
    not_drift=TAGS.not_drift,
    # The pipeline, schedule and rule have fixed names: a replacement must delete first.
    create_before_destroy=False,
)
# The order attributes are shown in, in plans and in `read()`.
_ORDER = (
    "name",
    "pipeline_name",
    "pipeline_arn",
    "definition",
    "parameters",
    "execution_role_arn",
    *TRIGGER_ORDER,
)
_TRIGGER_FIELDS = ("parameters", "enabled", "scheduler_role_arn")


class ScheduleSettings(PipelineRoles):
    """`schedules.<name>.sagemaker`."""

    scheduler_role_arn: str | None = Field(
        None,
        pattern=_ROLE_ARN,
        description="role EventBridge Scheduler and the alarm rule assume to start the pipeline "
        "(default: the execution role)",
    )


class _DefinitionError(Exception):
    """The pipeline definition file cannot be used (unreadable, not JSON, not an object)."""


def _load_definition(resource: Resource, spec: ScheduleSpec) -> tuple[str, dict[str, Any]]:
    """The definition file's text and its parsed JSON object."""
    relative = spec.pipeline.definition or ""
    try:
        text = (Path(resource.base_dir) / relative).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _DefinitionError(f"cannot read {relative!r}: {exc}") from exc
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise _DefinitionError(f"{relative!r} is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise _DefinitionError(f"{relative!r} must hold a SageMaker pipeline definition (a JSON object)")
    return text, body


class ScheduleHandler(PipelineTriggerHandler[ScheduleSpec, ScheduleSettings]):
    rtype: ClassVar[ResourceType] = SCHEDULE
    target_id: ClassVar[str] = st.TARGET_ID
    settings_model: ClassVar[type[BaseModel] | None] = ScheduleSettings

    def __init__(self, provider: SageMakerProvider) -> None:
        super().__init__(provider)
        # Definition texts by digest, filled by desired(): see the module docstring.
        self._definitions: dict[str, str] = {}

    # ---- offline ------------------------------------------------------------------------------
    def validate(self, req: Request[ScheduleSpec, ScheduleSettings]) -> list[Diagnostic]:
        resource = req.resource
        spec = req.spec
        chosen = req.settings
        diags = self.tag_problems(resource)
        if spec.pipeline.template_uri:
            diags.append(
                Diagnostic(
                    "SageMaker runs pipelines from their JSON definition, not from a template: give "
                    "pipeline.definition, a file holding the pipeline's definition",
                    "pipeline.template_uri",
                )
            )
        if "max_concurrent_runs" in spec.model_fields_set:
            diags.append(
                Diagnostic(
                    "SageMaker cannot limit concurrent executions of a pipeline (every trigger starts "
                    "a new one): remove max_concurrent_runs",
                    "max_concurrent_runs",
                )
            )
        diags += self._role_problems(chosen.execution_role_arn)
        diags += cron_problems(spec.cron)
        if spec.pipeline.definition:
            try:
                _, body = _load_definition(resource, spec)
            except _DefinitionError as exc:
                diags.append(Diagnostic(str(exc), "pipeline.definition"))
            else:
                diags += _parameter_problems(spec, body)
        return diags

    def notes(self, attributes: Mapping[str, Any]) -> list[str]:
        if not attributes.get("enabled", True):
            return ["disabled: neither the cron nor a monitor alarm starts the pipeline"]
        lines = []
        if attributes.get("cron"):
            lines.append(next_runs_note(attributes["cron"], attributes["timezone"]))
        if attributes.get("also_on"):
            lines.append("also on ALARM of " + ", ".join(f"monitor.{m}" for m in attributes["also_on"]))
        return lines

    # ---- pure (the definition file aside) -------------------------------------------------------
    def desired(self, req: Request[ScheduleSpec, ScheduleSettings]) -> dict[str, Any]:
        resource, refs, prior = req.resource, req.refs, req.prior
        spec = req.spec
        chosen = req.settings
        try:
            text, body = _load_definition(resource, spec)
        except _DefinitionError as exc:
            path = f"schedules.{resource.name}.pipeline.definition"
            raise StackError.of([Diagnostic(str(exc), path, resource.position)]) from exc
        definition = st.definition_attributes(body)
        self._definitions[definition["sha256"]] = text
        role = chosen.execution_role_arn or self.cfg.role_arn or ""
        was = prior or {}
        # Names carry over, so an imported schedule keeps the names it was imported with.
        name = was.get("name", resource.name)
        attrs: dict[str, Any] = {
            "name": name,
            "pipeline_name": was.get("pipeline_name", resource.name),
            "pipeline_arn": was.get("pipeline_arn", UNKNOWN),
            "definition": definition,
            "parameters": {k: st.parameter_value(v) for k, v in spec.pipeline.parameters.items()},
            "execution_role_arn": role,
        }
        attrs.update(
            trigger_attributes(spec.cron, spec.timezone, spec.enabled, chosen.scheduler_role_arn or role, was)
        )
        if spec.also_on:
            attrs["rule_name"] = st.rule_name(name)
            attrs["also_on"] = {m: _alarm_arn(resource, i, m, refs) for i, m in enumerate(spec.also_on)}
        attrs["tags"] = self.tags(resource)
        return attrs

    # ---- read ---------------------------------------------------------------------------------
    def _read(self, prior: Mapping[str, Any], *, schedule: bool, rule: str | None) -> dict[str, Any] | None:
        name = prior["name"]
        attrs, text = self._read_pipeline(prior)
        if text is not None:
            attrs["definition"] = st.definition_attributes(_parse(text))
        triggers: list[tuple[str, Mapping[str, Any]]] = []  # (State, target) of each trigger found
        found = self._read_schedule(name, prior, attrs) if schedule else None
        if found is not None:
            triggers.append((found["State"], found["Target"]))
        on_rule = self._read_rule(rule) if rule else None
        if rule and on_rule is not None:
            rule_desc, ours = on_rule
            arns = st.alarm_arns(rule_desc.get("EventPattern", ""))
            attrs["rule_name"] = rule
            attrs["also_on"] = st.also_on_from_aws(arns, prior.get("also_on") or {})
            triggers.append((rule_desc["State"], ours))
        if "pipeline_arn" not in attrs and not triggers:
            return None
        if triggers:
            attrs.update(_trigger_fields(triggers, prior))
        return {k: attrs[k] for k in _ORDER if k in attrs}

    # ---- create / update ----------------------------------------------------------------------
    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        existing = self.read(desired)
        # Ours only if the pipeline carries this resource's tags (left by a create that died
        # before recording it); anything else would be someone else's, and the next plan would
        # otherwise take it over or delete it.
        if existing is not None and not owned(existing, desired):
            found = [
                label
                for key, label in (
                    ("pipeline_arn", f"SageMaker pipeline {existing['pipeline_name']!r}"),
                    ("schedule_arn", f"EventBridge Scheduler schedule {existing['name']!r}"),
                    ("rule_name", f"EventBridge rule {existing.get('rule_name')!r}"),
                )
                if key in existing
            ]
            raise ProviderError(
                f"{' and '.join(found)} already exist(s): import it (mlops import {ctx.address} "
                f"{desired['name']}) or rename the schedule",
                code="AlreadyExists",
            )
        return self._converge(existing or {}, desired, ctx)

    def _sync_pipeline(self, current: Mapping[str, Any], desired: Mapping[str, Any]) -> str:
        return self._put_pipeline(
            current,
            desired,
            definition=lambda: self._definition_text(desired),
            differs=lambda now: now.get("definition") != desired["definition"],
        )

    def _definition_text(self, desired: Mapping[str, Any]) -> str:
        digest = desired["definition"]["sha256"]
        text = self._definitions.get(digest)
        if text is None:
            raise ProviderError(
                f"pipeline {desired['pipeline_name']}: the definition {digest[:12]} was not loaded "
                "from the stack in this run: plan again"
            )
        return text

    def _schedule_request(self, desired: Mapping[str, Any], pipeline_arn: str) -> dict[str, Any]:
        return st.schedule_request(desired, pipeline_arn)

    def _rule_request(
        self, desired: Mapping[str, Any], pipeline_arn: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        pending = [m for m, arn in desired["also_on"].items() if arn is UNKNOWN]
        if pending:
            raise ProviderError(
                f"schedule {desired['name']}: the alarm of {', '.join(f'monitor.{m}' for m in pending)} "
                "is not known yet"
            )
        return (
            st.rule_request(desired, tag_list(desired["tags"])),
            st.pipeline_target(pipeline_arn, desired),
        )

    # ---- delete -------------------------------------------------------------------------------
    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        self._delete_all(prior, ctx)

    # ---- run ----------------------------------------------------------------------------------
    def run(self, attributes: Mapping[str, Any], ctx: ApplyContext, *, wait: bool = True) -> dict[str, Any]:
        """`mlops run schedule.X`: start the retraining pipeline now with the schedule's
        parameters, as its trigger would, and follow the execution."""
        sm = self.aws.sagemaker
        name = attributes["pipeline_name"]
        arn = self._start_execution(
            name,
            ctx,
            PipelineParameters=[
                {"Name": k, "Value": st.parameter_value(v)}
                for k, v in (attributes.get("parameters") or {}).items()
            ],
        )
        result: dict[str, Any] = {"id": arn.rsplit("/", 1)[-1], "status": "Executing"}
        if not wait:
            return result
        for delay in self.aws.polling.delays():
            execution = call(sm, "describe_pipeline_execution", PipelineExecutionArn=arn)
            status = str(execution.get("PipelineExecutionStatus"))
            result["status"] = status
            if status == "Succeeded":
                return result
            if status in ("Failed", "Stopped"):
                reason = execution.get("FailureReason") or "no reason given"
                raise ProviderError(
                    f"schedule {attributes['name']}: pipeline {name} execution {result['id']} "
                    f"{status.lower()}: {reason}"
                )
            ctx.progress(f"pipeline {name} execution {result['id']}: {status}")
            if ctx.cancel.wait(delay):
                result["message"] = "stopped following the run; it goes on in SageMaker"
                return result
        raise AssertionError("unreachable")  # delays() never ends

    # ---- import and generated config ----------------------------------------------------------
    def import_resource(self, cloud_id: str) -> dict[str, Any]:
        """Adopt a Scheduler schedule (group `default`) by name, with the pipeline it starts."""
        found = self._get_schedule(cloud_id)
        if found is None:
            raise ProviderError(
                f"no EventBridge Scheduler schedule named {cloud_id!r} in group {st.SCHEDULE_GROUP} "
                f"in {self.cfg.region}",
                code="NotFound",
            )
        target = found["Target"]["Arn"]
        pipeline = st.pipeline_name_from_arn(target)
        if pipeline is None:
            raise ProviderError(
                f"schedule {cloud_id!r} does not start a SageMaker pipeline (target {target})"
            )
        if aws_cron.from_aws(found["ScheduleExpression"]) is None:
            raise ProviderError(
                f"schedule {cloud_id!r} runs on {found['ScheduleExpression']}: only cron(...) "
                "expressions without a year have a five-field cron equivalent"
            )
        attrs = self._read({"name": cloud_id, "pipeline_name": pipeline}, schedule=True, rule=None)
        if attrs is None or "pipeline_arn" not in attrs:
            raise ProviderError(f"schedule {cloud_id!r} starts pipeline {pipeline!r}, which does not exist")
        return attrs

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """Stack YAML for the schedule. The definition is referenced as `<pipeline>.json` beside
        the stack file: the caller writes that file from `files()`."""
        pipeline: dict[str, Any] = {"definition": definition_file(attributes)}
        if attributes.get("parameters"):
            pipeline["parameters"] = dict(attributes["parameters"])
        spec: dict[str, Any] = {}
        if attributes.get("cron"):
            spec["cron"] = attributes["cron"]
            spec["timezone"] = attributes["timezone"]
        spec["pipeline"] = pipeline
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

    def files(self, attributes: Mapping[str, Any]) -> dict[str, str]:
        """{path relative to the stack file: content} of the files `to_spec()` refers to: the
        pipeline's definition, as SageMaker holds it now."""
        name = attributes.get("pipeline_name", attributes["name"])
        desc = self._describe_pipeline(name)
        if desc is None:
            raise ProviderError(f"SageMaker pipeline {name!r} does not exist", code="NotFound")
        body = _parse(desc["PipelineDefinition"])
        return {definition_file(attributes): json.dumps(body, indent=2, ensure_ascii=False) + "\n"}


def definition_file(attributes: Mapping[str, Any]) -> str:
    return f"{attributes.get('pipeline_name', attributes['name'])}.json"


def _parse(text: str) -> Any:
    """A definition as SageMaker returns it. Not JSON cannot come from SageMaker; if it does,
    the text itself stands in, so its digest still tells versions apart."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parameter_problems(spec: ScheduleSpec, body: Mapping[str, Any]) -> list[Diagnostic]:
    declared = st.declared_parameters(body)
    diags = []
    for name, value in spec.pipeline.parameters.items():
        path = f"pipeline.parameters.{name}"
        if name not in declared:
            known_names = f"it declares {', '.join(declared)}" if declared else "it declares no Parameters"
            message = (
                f"the pipeline in {spec.pipeline.definition} has no parameter {name!r}"
                f"{did_you_mean(name, declared)} ({known_names})"
            )
            diags.append(Diagnostic(message, path))
        elif (problem := st.parameter_problem(value, declared[name])) is not None:
            diags.append(Diagnostic(problem, path))
    return diags


def _alarm_arn(resource: Resource, index: int, monitor: str, refs: Mapping[str, Mapping[str, Any]]) -> Any:
    """The CloudWatch alarm of `monitor`, UNKNOWN until the monitor is planned or created."""
    ref = refs.get(f"monitor.{monitor}")
    if ref is None:
        return UNKNOWN
    arn = ref.get("alarm_arn")
    if arn is None:
        path = f"schedules.{resource.name}.also_on[{index}]"
        message = f"monitor {monitor!r} has no alarm to start retraining on: give it an alert"
        raise StackError.of([Diagnostic(message, path, resource.position)])
    return arn


def _trigger_fields(
    triggers: list[tuple[str, Mapping[str, Any]]], prior: Mapping[str, Any]
) -> dict[str, Any]:
    """`parameters`, `enabled` and `scheduler_role_arn`, which the schedule and the rule share.
    In sync they agree; when a console edit changed one, that one is shown, so it is drift."""
    views = [
        {
            "parameters": st.parameters_from_aws(
                target.get("SageMakerPipelineParameters", {}).get("PipelineParameterList", [])
            ),
            "enabled": state == "ENABLED",
            "scheduler_role_arn": target.get("RoleArn", ""),
        }
        for state, target in triggers
    ]
    expected = {k: prior.get(k) for k in _TRIGGER_FIELDS}
    return next((v for v in views if v != expected), views[0])
