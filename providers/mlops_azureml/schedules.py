"""Retraining schedules in Azure ML: the `schedule` kind.

A `schedule` is a `JobSchedule` (named after the resource) whose `CronTrigger` runs a `PipelineJob`
loaded from the repository (`pipeline.definition`: an Azure ML pipeline job YAML, read with
`azure.ai.ml.load_job`), with the stack's `parameters` as the pipeline's inputs. The stack's time
zone is IANA (`Europe/Paris`); Azure ML takes Windows names (`Romance Standard Time`), converted
through tzlocal's CLDR table (`timezones`): a zone without one is refused at validate time.
`enabled: false` disables the schedule.

The pipeline YAML stays out of the attributes (and so of state and plans): its sha256 is there, and
on the schedule as the tag `mlops-gitops:pipeline-sha256`, which is how a read tells the pipeline
the schedule runs (Azure returns the job with its components resolved, not the file).

Refused at validate time: `pipeline.template_uri` (Azure ML schedules run a job definition, not a
template), `also_on` (Azure ML has no trigger on a monitor's alert); `max_concurrent_runs` other
than 1 is ignored with a warning (Azure ML schedules have no such limit).

`mlops run schedule.NAME` submits the schedule's PipelineJob now, as its trigger would: the job of
the JobSchedule as Azure ML holds it (`create_job`: the same steps, inputs, experiment and
compute), through `ml.jobs.create_or_update` under a name chosen once per call (`<name>-<UTC
time>-<4 hex>`): a PUT under our name, so a submission retried after a lost answer names the same
job instead of starting a second. The job is followed (`ml.jobs.get`; `ctx.progress` at each
status and every few seconds) to Completed; Failed, Canceled or NotResponding raise ProviderError
with the run's error as the run history holds it. A set `ctx.cancel` stops following (the job
goes on); `wait=False` returns at once.

Attributes: name, cron, timezone, time_zone (Windows), pipeline {definition, sha256}, parameters,
enabled, experiment_name?, default_compute?, tags."""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from mlops_azureml import files, names, sdk_private, timezones
from mlops_azureml.client import NotFoundError, quiet
from mlops_azureml.config import ScheduleSettings
from mlops_azureml.kind import MARKERS
from mlops_azureml.ml_schedules import MLScheduleHandler
from mlops_gitops.cron import next_runs_note
from mlops_gitops.errors import Diagnostic, ProviderError, StackError
from mlops_gitops.handlers import Request
from mlops_gitops.provider import ApplyContext, ResourceType
from mlops_gitops.stack.schema import ScheduleSpec

PIPELINE_TAG = "mlops-gitops:pipeline-sha256"
SCHEDULE_TAG = "mlops-gitops:schedule"  # on a job `mlops run` submits: the schedule it ran
_SUCCEEDED = ("Completed",)
_ENDED_BADLY = ("Failed", "Canceled", "NotResponding")

SCHEDULE = ResourceType("schedule", not_drift=MARKERS.not_drift, create_before_destroy=False)


class ScheduleHandler(MLScheduleHandler[ScheduleSpec, ScheduleSettings]):
    rtype: ClassVar[ResourceType] = SCHEDULE
    settings_model: ClassVar[type[BaseModel] | None] = ScheduleSettings
    noun: ClassVar[str] = "Azure ML job schedule"
    schedule_noun: ClassVar[str] = "job schedule"

    def __init__(self, provider: Any) -> None:
        super().__init__(provider)
        self._files: dict[str, Path] = {}  # pipeline sha256 -> its file, filled by desired()

    # ---- offline ------------------------------------------------------------------------------
    def validate(self, req: Request[ScheduleSpec, ScheduleSettings]) -> list[Diagnostic]:
        resource, spec = req.resource, req.spec
        diags = super().validate(req)
        if spec.also_on:
            diags.append(
                Diagnostic(
                    "Azure ML has no trigger that starts a pipeline when a monitor alerts: remove also_on "
                    "and retrain on the cron (or route the monitor's alert e-mail to something that runs "
                    "the pipeline, outside this stack)",
                    "also_on",
                )
            )
        if not spec.cron:
            diags.append(Diagnostic("an Azure ML schedule needs a cron", "cron"))
        try:
            timezones.windows_name(spec.timezone)
        except timezones.UnknownTimeZone as exc:
            diags.append(Diagnostic(str(exc), "timezone"))
        if spec.max_concurrent_runs != 1:
            diags.append(
                Diagnostic(
                    "Azure ML schedules have no limit of concurrent runs: max_concurrent_runs is ignored",
                    "max_concurrent_runs",
                    severity="warning",
                )
            )
        if spec.pipeline.template_uri:
            diags.append(
                Diagnostic(
                    "Azure ML schedules run a pipeline job from the repository: give pipeline.definition "
                    "(an Azure ML pipeline YAML) instead of template_uri",
                    "pipeline.template_uri",
                )
            )
            return diags
        try:
            body = files.load_pipeline(resource.base_dir, str(spec.pipeline.definition))
        except files.FileProblem as exc:
            return [*diags, Diagnostic(str(exc), "pipeline.definition")]
        declared = body.get("inputs") or {}
        for key in spec.pipeline.parameters:
            if key not in declared:
                shown = ", ".join(sorted(declared)) or "none"
                diags.append(
                    Diagnostic(
                        f"the pipeline declares no input {key!r} (inputs: {shown})",
                        f"pipeline.parameters.{key}",
                    )
                )
        return diags

    def notes(self, attributes: Mapping[str, Any]) -> list[str]:
        if not attributes.get("enabled", True):
            return ["disabled: the cron starts no runs"]
        return [next_runs_note(attributes["cron"], attributes["timezone"])]

    # ---- pure (the pipeline file aside) -------------------------------------------------------
    def desired(self, req: Request[ScheduleSpec, ScheduleSettings]) -> dict[str, Any]:
        resource, spec, chosen = req.resource, req.spec, req.settings
        definition = str(spec.pipeline.definition)
        try:
            body = files.load_pipeline(resource.base_dir, definition)
            zone = timezones.windows_name(spec.timezone)
        except (files.FileProblem, timezones.UnknownTimeZone) as exc:
            where = "timezone" if isinstance(exc, timezones.UnknownTimeZone) else "pipeline.definition"
            raise StackError.of(
                [Diagnostic(str(exc), f"schedules.{resource.name}.{where}", resource.position)]
            ) from exc
        attrs: dict[str, Any] = {
            "name": resource.name,
            "cron": spec.cron,
            "timezone": spec.timezone,
            "time_zone": zone,
            "pipeline": {
                "definition": definition,
                "sha256": names.content_digest(body),
            },
            "parameters": dict(spec.pipeline.parameters),
            "enabled": spec.enabled,
        }
        if chosen.experiment_name:
            attrs["experiment_name"] = chosen.experiment_name
        if chosen.default_compute:
            attrs["default_compute"] = chosen.default_compute
        attrs["tags"] = self.tags(resource)
        self._files[attrs["pipeline"]["sha256"]] = Path(resource.base_dir) / definition
        return attrs

    # ---- read ---------------------------------------------------------------------------------
    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        found = self._get(attributes["name"])
        return schedule_from_api(found, attributes) if found is not None else None

    # ---- create / update / delete ---------------------------------------------------------------
    def _entity(self, desired: Mapping[str, Any]) -> Callable[[], Any]:
        path = self._files.get(desired["pipeline"]["sha256"])
        if path is None:  # desired() was not called in this process: a bug, not a user error
            raise ProviderError(f"schedule {desired['name']}: the pipeline definition was not loaded")
        return lambda: schedule_entity(desired, path)

    # ---- run ----------------------------------------------------------------------------------
    def run(self, attributes: Mapping[str, Any], ctx: ApplyContext, *, wait: bool = True) -> dict[str, Any]:
        """`mlops run schedule.X`: submit the schedule's pipeline job now and follow it."""
        ml = self.api.ml
        name = attributes["name"]
        schedule = self._get(name)
        job = getattr(schedule, "create_job", None)
        if schedule is None or job is None or isinstance(job, str):
            raise ProviderError(
                f"schedule {name}: Azure ML holds no job schedule {name} with a pipeline job: run mlops "
                "apply to make it again",
                code="NotFound",
            )
        # The job as Azure holds it, not as the stack would make it now: what the cron would run.
        job_name = run_name(name, datetime.now(UTC), secrets.token_hex(2))
        job.name = job_name
        job.tags = {**dict(getattr(job, "tags", None) or {}), SCHEDULE_TAG: name}
        self.api.call(
            lambda: ml.jobs.create_or_update(job),
            f"submitting pipeline job {job_name} of schedule {name}",
            idempotent=True,  # a PUT under a name chosen once: a repeat names the same job
            cancel=ctx.cancel,
        )
        ctx.progress(f"pipeline job {job_name}: NotStarted")
        if not wait:
            return {"id": job_name, "status": "NotStarted"}
        return self._follow(name, job_name, ctx)

    def _job(self, job_name: str) -> Any | None:
        ml = self.api.ml
        try:
            return self.api.call(lambda: ml.jobs.get(job_name), f"get job {job_name}", idempotent=True)
        except NotFoundError:
            return None

    def _follow(self, name: str, job_name: str, ctx: ApplyContext) -> dict[str, Any]:
        """Poll the job until it ends, saying its status when it changes and every few seconds.
        No time limit: a retraining runs for hours, and Ctrl-C stops following it."""
        timing = self.api.timing
        delay, last, last_said = timing.poll_initial, "NotStarted", time.monotonic()
        while True:
            if ctx.cancel.wait(delay):
                return {
                    "id": job_name,
                    "status": last,
                    "message": "stopped following the run; it goes on in Azure ML",
                }
            delay = min(delay * 2, timing.poll_max)
            job = self._job(job_name)
            if job is None:
                raise ProviderError(f"schedule {name}: pipeline job {job_name} disappeared", code="NotFound")
            status = str(getattr(job.status, "value", job.status))
            if status in _SUCCEEDED:
                return {"id": job_name, "status": status}
            if status in _ENDED_BADLY:
                raise ProviderError(
                    f"schedule {name}: pipeline job {job_name} {status.lower()}: {self._error(job_name)}",
                    code=f"Job{status}",
                )
            if status != last or time.monotonic() - last_said >= timing.progress_every:
                ctx.progress(f"pipeline job {job_name}: {status}")
                last, last_said = status, time.monotonic()

    def _error(self, job_name: str) -> str:
        """The run's error, as the run history holds it (the job itself does not say)."""
        ml = self.api.ml
        try:
            error = self.api.call(
                lambda: sdk_private.run_error(ml, job_name), f"get run {job_name}", idempotent=True
            )
        except ProviderError as exc:
            return f"(its error could not be read: {exc})"
        if error is None:
            return "Azure ML gives no reason"
        code, message = getattr(error, "code", None), getattr(error, "message", None)
        return f"{message} ({code})" if code else str(message)

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        raise ProviderError(
            f"schedule {attributes['name']} runs a pipeline job the stack reads from a YAML file: export the "
            "job (az ml schedule show) and write the schedule by hand",
            code="NotSupported",
        )


# ---------------------------------------------------------------------------------- translation
def run_name(schedule: str, moment: datetime, token: str) -> str:
    """The name of a run's job: `<schedule>-<UTC time>-<token>`, in the characters job names take."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", schedule).strip("-") or "run"
    return f"{stem}-{moment:%Y%m%d%H%M%S}-{token}"


def schedule_entity(attrs: Mapping[str, Any], definition: Path) -> Any:
    from azure.ai.ml import load_job
    from azure.ai.ml.entities import CronTrigger, JobSchedule

    quiet()  # what loading the job imported has loggers of its own
    overrides = [{f"inputs.{key}": value} for key, value in attrs.get("parameters", {}).items()]
    job = load_job(source=definition, params_override=overrides)
    if attrs.get("experiment_name"):
        job.experiment_name = attrs["experiment_name"]
    if attrs.get("default_compute"):
        job.settings.default_compute = attrs["default_compute"]
    tags = {**attrs.get("tags", {}), PIPELINE_TAG: attrs["pipeline"]["sha256"]}
    return JobSchedule(
        name=attrs["name"],
        trigger=CronTrigger(expression=attrs["cron"], time_zone=attrs["time_zone"]),
        create_job=job,
        tags=tags,
    )


def _input_value(value: Any) -> Any:
    """A pipeline input as read back: the SDK wraps literals in Input/PipelineInput objects."""
    for attribute in ("_data", "default", "path", "value"):
        inner = getattr(value, attribute, None)
        if inner is not None and not callable(inner):
            return _input_value(inner) if hasattr(inner, "_data") else inner
    return value


def schedule_from_api(schedule: Any, recorded: Mapping[str, Any]) -> dict[str, Any]:
    trigger = schedule.trigger
    zone = str(getattr(trigger.time_zone, "value", trigger.time_zone))
    tags = dict(schedule.tags or {})
    sha = tags.pop(PIPELINE_TAG, None)
    job = schedule.create_job
    declared = set(recorded.get("parameters", {}))
    inputs = dict(getattr(job, "inputs", None) or {})
    parameters = {
        k: _coerce(_input_value(v), recorded.get("parameters", {}).get(k))
        for k, v in inputs.items()
        if k in declared
    }
    recorded_zone = recorded.get("timezone")
    attrs: dict[str, Any] = {
        "name": schedule.name,
        "cron": trigger.expression,
        # The IANA zone as written while it still maps to what Azure holds; else Azure's, as IANA.
        "timezone": recorded_zone if recorded.get("time_zone") == zone else timezones.iana_name(zone),
        "time_zone": zone,
        "pipeline": {"definition": (recorded.get("pipeline") or {}).get("definition"), "sha256": sha},
        "parameters": parameters,
        "enabled": bool(schedule.is_enabled),
    }
    # Azure fills both in by default: read only when the stack sets them.
    experiment = getattr(job, "experiment_name", None)
    if experiment and recorded.get("experiment_name"):
        attrs["experiment_name"] = experiment
    settings = getattr(job, "settings", None)
    compute = getattr(settings, "default_compute", None)
    if compute and recorded.get("default_compute"):
        attrs["default_compute"] = str(compute).rsplit("/", 1)[-1]
    attrs["tags"] = tags
    return attrs


def _coerce(value: Any, like: Any) -> Any:
    """An input Azure returns as a string, as the type the stack wrote it (`epochs: 100`)."""
    if isinstance(value, str) and like is not None and not isinstance(like, str):
        with contextlib.suppress(ValueError):
            if isinstance(like, bool):
                return value.lower() == "true"
            if isinstance(like, int):
                return int(value)
            if isinstance(like, float):
                return float(value)
    return value
