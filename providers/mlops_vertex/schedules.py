"""Retraining schedules on Vertex AI: the `schedule` kind.

A `schedule` owns one Vertex AI Schedule (ID assigned by Vertex) that creates a PipelineJob on its
cron, in its time zone (`TZ=Europe/Paris 0 3 * * 1`), at most `max_concurrent_runs` at a time. The
pipeline is the compiled spec at `pipeline.definition` (JSON or YAML, relative to the stack file)
or a `pipeline.template_uri` (Artifact Registry or gs://), started with the stack's parameter
values. Runs write under `vertex.pipeline_root`, else `<staging_bucket>/pipeline-root`, and run
as `vertex.service_account`, else the provider's. Everything changes in place: an update (the
definition, parameters and root are the PipelineJob the schedule creates), or pause and resume for
`enabled` (resuming skips the runs missed while paused).

Not supported, and refused at validate time: `also_on`. Vertex has no trigger that starts a
pipeline when a model monitoring alert fires; route the monitor's alert (e-mail or Cloud Logging)
to something that runs the pipeline, outside the stack.

The spec itself stays out of the attributes (and so out of state and plans): `desired()` reads
the file and keeps the parsed spec in memory under its digest for `create()`/`update()`, which
the engine always calls after `desired()` in the same process.

`mlops run schedule.NAME` starts the schedule's PipelineJob now, as its cron would: the job of the
Schedule's `create_pipeline_job_request` as Vertex holds it (the same spec or template,
parameters, root, service account and labels), created under an id chosen once per call
(`<name>-<UTC time>-<4 hex>`), so that a create retried after a lost answer finds that job
instead of starting a second. It is followed (`ctx.progress` at each state and every few
seconds) to PIPELINE_STATE_SUCCEEDED; FAILED or CANCELLED raise ProviderError with the job's
`error.message`. A set `ctx.cancel` stops following (the job goes on); `wait=False` returns at
once.

Attributes: id, display_name, cron, timezone, pipeline {definition {sha256, tasks} | template_uri},
parameters, max_concurrent_runs, enabled, pipeline_root?, service_account?, labels (on the runs:
a Schedule has none of its own)."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from mlops_gitops.cron import next_runs_note
from mlops_gitops.errors import Diagnostic, NotSupportedError, ProviderError, StackError
from mlops_gitops.handlers import Request
from mlops_gitops.provider import UNKNOWN, ApplyContext, ResourceType
from mlops_gitops.stack.schema import ScheduleSpec
from mlops_vertex import labels, pipelines
from mlops_vertex.client import AlreadyExistsError, NotFoundError, to_dict
from mlops_vertex.config import ScheduleSettings
from mlops_vertex.pipeline_schedules import Parse, PipelineScheduleHandler

if TYPE_CHECKING:
    from mlops_vertex.provider import VertexProvider

_ENDED = ("PIPELINE_STATE_SUCCEEDED", "PIPELINE_STATE_FAILED", "PIPELINE_STATE_CANCELLED")
_MAX_JOB_ID = 128  # pipelineJobId: [a-z][-a-z0-9]{0,127}

SCHEDULE = ResourceType(
    "schedule",
    computed=("id",),
    create_before_destroy=True,
    id_field="id",
    not_drift=labels.MARKERS.not_drift,
)


class ScheduleHandler(PipelineScheduleHandler[ScheduleSpec, ScheduleSettings]):
    rtype: ClassVar[ResourceType] = SCHEDULE
    settings_model: ClassVar[type[BaseModel] | None] = ScheduleSettings
    noun: ClassVar[str] = "Vertex AI schedule"

    def __init__(self, provider: VertexProvider) -> None:
        super().__init__(provider)
        self._specs: dict[str, dict[str, Any]] = {}  # sha256 -> parsed spec, filled by desired()

    # ---- offline ------------------------------------------------------------------------------
    def validate(self, req: Request[ScheduleSpec, ScheduleSettings]) -> list[Diagnostic]:
        resource = req.resource
        spec = req.spec
        diags = super().validate(req)
        if spec.also_on:
            diags.append(
                Diagnostic(
                    "Vertex AI has no trigger that starts a pipeline when a model monitoring alert "
                    "fires: remove also_on and retrain on the cron (or route the monitor's alert to "
                    "something that runs the pipeline, outside this stack)",
                    "also_on",
                )
            )
        if not spec.cron:  # the cron and time zone themselves are checked when the stack loads
            diags.append(Diagnostic("a Vertex AI schedule needs a cron", "cron"))
        root = self._pipeline_root(req.settings)
        if spec.pipeline.definition:
            try:
                body = pipelines.load_spec(Path(resource.base_dir) / spec.pipeline.definition)
            except pipelines.SpecError as exc:
                return [*diags, Diagnostic(str(exc), "pipeline.definition")]
            problems = pipelines.parameter_problems(
                spec.pipeline.parameters, pipelines.declared_parameters(body)
            )
            diags += [Diagnostic(p, "pipeline.parameters") for p in problems]
            if root is None and not body.get("defaultPipelineRoot"):
                diags.append(
                    Diagnostic(
                        "the pipeline has no default root: set staging_bucket in the vertex provider "
                        "block, or vertex.pipeline_root here",
                        "vertex.pipeline_root",
                    )
                )
        elif not str(spec.pipeline.template_uri).startswith(("https://", "gs://")):
            diags.append(
                Diagnostic(
                    "a pipeline template is an Artifact Registry https:// URL or a gs:// file",
                    "pipeline.template_uri",
                )
            )
        return diags

    def notes(self, attributes: Mapping[str, Any]) -> list[str]:
        if not attributes.get("enabled", True):
            return ["paused: the cron starts no runs"]
        return [next_runs_note(attributes["cron"], attributes["timezone"])]

    # ---- pure (the spec file aside) -----------------------------------------------------------
    def desired(self, req: Request[ScheduleSpec, ScheduleSettings]) -> dict[str, Any]:
        resource, prior = req.resource, req.prior
        spec = req.spec
        chosen = req.settings
        if spec.pipeline.definition:
            try:
                body = pipelines.load_spec(Path(resource.base_dir) / spec.pipeline.definition)
            except pipelines.SpecError as exc:
                path = f"schedules.{resource.name}.pipeline.definition"
                raise StackError.of([Diagnostic(str(exc), path, resource.position)]) from exc
            definition = pipelines.definition_attributes(body)
            self._specs[definition["sha256"]] = body
            pipeline: dict[str, Any] = {"definition": definition}
        else:
            pipeline = {"template_uri": spec.pipeline.template_uri}
        attrs: dict[str, Any] = {
            "id": (prior or {}).get("id", UNKNOWN),
            "display_name": resource.name,
            "cron": spec.cron,
            "timezone": spec.timezone,
            "pipeline": pipeline,
            "parameters": pipelines.normalise(dict(spec.pipeline.parameters)),
            "max_concurrent_runs": spec.max_concurrent_runs,
            "enabled": spec.enabled,
        }
        root = self._pipeline_root(chosen)
        if root:
            attrs["pipeline_root"] = root
        account = chosen.service_account or self.cfg.service_account
        if account:
            attrs["service_account"] = account
        attrs["labels"] = self.labels(resource)
        return attrs

    def _pipeline_root(self, settings: ScheduleSettings | None) -> str | None:
        if settings is not None and settings.pipeline_root:
            return settings.pipeline_root
        bucket = self.cfg.staging_bucket
        return f"{bucket.rstrip('/')}/pipeline-root" if bucket else None

    # ---- read ---------------------------------------------------------------------------------
    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        schedule_id = attributes.get("id")
        if not schedule_id or schedule_id is UNKNOWN:
            return None
        found = self._get_schedule(schedule_id)
        return None if found is None else pipelines.schedule_from_api(found)

    def _parser(self, display_name: str) -> Parse:
        """Read-back for `_find_own_schedule`, which takes only a schedule of that very name."""

        def parse(item: Mapping[str, Any]) -> dict[str, Any] | None:
            attrs = pipelines.schedule_from_api(item)
            return attrs if attrs["display_name"] == display_name else None

        return parse

    # ---- create / update / delete ---------------------------------------------------------------
    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        name = desired["display_name"]
        existing = self._find_own_schedule(name, ctx.address, self._parser(name))
        if existing is not None:
            return self.update(existing, {**desired, "id": existing["id"]}, ctx)
        body = pipelines.schedule_body(desired, self.api.parent, self._spec(desired))
        return self._create_schedule(desired, ctx, body, self._parser(name))

    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        attrs = {**desired, "id": prior["id"]}
        current = self.must_read(prior)
        mask = pipelines.update_mask(current, attrs)
        body = pipelines.schedule_body(attrs, self.api.parent, self._spec(attrs)) if mask else {}
        return self._update_schedule(current, attrs, body, mask)

    def _spec(self, attrs: Mapping[str, Any]) -> dict[str, Any] | None:
        definition = attrs["pipeline"].get("definition")
        if definition is None:
            return None
        spec = self._specs.get(definition["sha256"])
        if spec is None:  # desired() was not called in this process: a bug, not a user error
            raise ProviderError(f"schedule {attrs['display_name']}: the pipeline spec was not loaded")
        return spec

    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        if not prior.get("id"):
            return
        self._delete_schedule(prior["id"], ctx)

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        template = attributes["pipeline"].get("template_uri")
        if template is None:
            raise NotSupportedError(
                f"schedule {attributes['id']} runs a compiled pipeline spec, which the stack reads "
                "from a file: export the spec and write the schedule by hand"
            )
        spec: dict[str, Any] = {
            "cron": attributes["cron"],
            "timezone": attributes["timezone"],
            "pipeline": {"template_uri": template, "parameters": dict(attributes.get("parameters", {}))},
            "max_concurrent_runs": attributes["max_concurrent_runs"],
        }
        if not attributes.get("enabled", True):
            spec["enabled"] = False
        if labels.user_labels(attributes.get("labels", {})):
            spec["tags"] = labels.user_labels(attributes["labels"])
        settings = {k: attributes[k] for k in ("pipeline_root", "service_account") if attributes.get(k)}
        if settings:
            spec["vertex"] = settings
        return spec

    # ---- run ----------------------------------------------------------------------------------
    def run(self, attributes: Mapping[str, Any], ctx: ApplyContext, *, wait: bool = True) -> dict[str, Any]:
        """`mlops run schedule.X`: create the schedule's PipelineJob now and follow it."""
        display = attributes["display_name"]
        schedule_id = attributes.get("id")
        found = self._get_schedule(schedule_id) if schedule_id and schedule_id is not UNKNOWN else None
        if found is None:
            raise ProviderError(
                f"schedule {display}: Vertex AI schedule {schedule_id} is gone: run mlops apply to make it "
                "again",
                code="NotFound",
            )
        # The job as Vertex holds it, not as the stack would make it now: what the cron would run.
        job = dict((found.get("create_pipeline_job_request") or {}).get("pipeline_job") or {})
        job_id = run_id(display, datetime.now(UTC), secrets.token_hex(2))
        name = self.name("pipelineJobs", job_id)
        try:
            created = self.api.call(
                self.api.pipelines.create_pipeline_job,
                f"CreatePipelineJob {job_id}",
                # The id is ours: after a failure that may hide a success, the job is looked for.
                recover=lambda: self._pipeline_job(name),
                cancel=ctx.cancel,
                parent=self.api.parent,
                pipeline_job=job,
                pipeline_job_id=job_id,
            )
        except AlreadyExistsError:
            # A repeat of our own create (the id holds the time and a random token): the first
            # one made the job.
            created = self._pipeline_job(name)
            if created is None:
                raise
        current = created if isinstance(created, dict) else to_dict(created)
        state = str(current.get("state") or "PIPELINE_STATE_QUEUED")
        ctx.progress(f"pipeline job {job_id}: {_shown(state)}")
        result: dict[str, Any] = {"id": job_id, "status": _shown(state)}
        if not wait:
            return result
        return self._follow(display, name, current, ctx)

    def _pipeline_job(self, name: str) -> dict[str, Any] | None:
        try:
            return to_dict(
                self.api.call(
                    self.api.pipelines.get_pipeline_job,
                    f"GetPipelineJob {name.rsplit('/', 1)[-1]}",
                    name=name,
                )
            )
        except NotFoundError:
            return None

    def _follow(self, display: str, name: str, job: dict[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        """Poll the job until it ends, saying its state when it changes and every few seconds. No
        time limit: a retraining runs for hours, and Ctrl-C stops following it."""
        t = self.api.timing
        job_id = name.rsplit("/", 1)[-1]
        last_state, last_said = str(job.get("state", "")), time.monotonic()
        delay = t.poll_initial
        while str(job.get("state")) not in _ENDED:
            if ctx.cancel.wait(delay):
                return {
                    "id": job_id,
                    "status": _shown(str(job.get("state", ""))),
                    "message": "stopped following the run; it goes on in Vertex AI",
                }
            delay = min(delay * 2, t.poll_max)
            found = self._pipeline_job(name)
            if found is None:
                raise ProviderError(f"schedule {display}: pipeline job {job_id} disappeared", code="NotFound")
            job = found
            state = str(job.get("state", ""))
            if state not in _ENDED and (
                state != last_state or time.monotonic() - last_said >= t.progress_every
            ):
                ctx.progress(f"pipeline job {job_id}: {_shown(state)}")
                last_state, last_said = state, time.monotonic()
        return _result(display, name, job)


def run_id(display_name: str, moment: datetime, token: str) -> str:
    """The id of a run's PipelineJob: `<name>-<UTC time>-<token>`, as Vertex takes ids."""
    stem = re.sub(r"[^a-z0-9-]+", "-", display_name.lower()).strip("-")
    if not stem[:1].isalpha():
        stem = f"run-{stem}".rstrip("-")
    suffix = f"-{moment:%Y%m%d%H%M%S}-{token}"
    return stem[: _MAX_JOB_ID - len(suffix)].rstrip("-") + suffix


def _shown(state: str) -> str:
    return state.removeprefix("PIPELINE_STATE_")


def _result(display: str, name: str, job: Mapping[str, Any]) -> dict[str, Any]:
    state = str(job.get("state", ""))
    job_id = name.rsplit("/", 1)[-1]
    if state != "PIPELINE_STATE_SUCCEEDED":
        reason = (job.get("error") or {}).get("message") or "no reason given"
        raise ProviderError(
            f"schedule {display}: pipeline job {job_id} ended {state}: {reason}", code=_shown(state)
        )
    result: dict[str, Any] = {"id": job_id, "status": _shown(state)}
    root = (job.get("runtime_config") or {}).get("gcs_output_directory")
    if root:
        # Vertex writes a run's artifacts under <root>/<project number>/<job id>/; the job's name
        # carries the project number.
        result["output"] = f"{str(root).rstrip('/')}/{str(job.get('name', name)).split('/')[1]}/{job_id}/"
    return result
