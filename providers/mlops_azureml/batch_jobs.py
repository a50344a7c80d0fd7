"""Batch inference in Azure ML: the `batch_job` kind.

A `batch_job` owns four Azure ML objects, shown in the plan as one resource:

- a compute cluster (`AmlCompute`) the job runs on, named `bj-<10 hex>` (the digest of the stack
  and the resource: compute names have at most 16 characters), of `instance_type` VMs scaling
  from 0 to `instance_count` nodes, with a system-assigned identity;
- a `BatchEndpoint` named after the resource;
- one `ModelBatchDeployment` on it, `scoring`, the endpoint's default, serving the stack's model
  (its version and environment from the model's planned attributes) on the cluster:
  `instance_count` nodes, `mini_batch_size` (files per mini batch: Azure ML hands the scoring code
  files, not records), `max_concurrency` -> `max_concurrency_per_instance`, `retries` ->
  `retry_settings.max_retries`, `timeout_minutes` -> `retry_settings.timeout` (seconds),
  `output.assemble` line -> `append_row` (into `azureml.output_file_name`, default
  predictions.csv) or none -> `summary_only`, the stack's `environment` as environment
  variables. A model that is not an MLflow model needs a scoring script (`azureml: {code,
  scoring_script}`): Azure refuses the deployment otherwise;
- with a `cron`, a `JobSchedule` `<name>-schedule` whose cron trigger (in the Windows time zone
  converted from the stack's IANA one, see `timezones`) runs a one-step pipeline job on the
  cluster: `az ml batch-endpoint invoke` of the endpoint with `input.uri` and `output.uri`, as
  the cluster's identity (which needs the AzureML Data Scientist role on the workspace: role
  assignments are outside this stack). Its definition's digest is the tag
  `mlops-gitops:invocation-sha256` of the schedule; `enabled: false` disables it.

`mlops run` invokes the endpoint now (`ml.batch_endpoints.invoke`, input `input.uri`, output
`score` at `output.uri`) under a job name chosen once per run, so a retried invocation finds the
job the first one started instead of starting another; it follows the job (`ml.jobs.get`) to
Completed, or raises the run's error (the run history's) when it fails.

Refused at validate time: `model_package`, `replicas`, `max_payload_mb` and `also_on` (see
`BATCH_JOB.unsupported`), URIs that are not `azureml://` (or `https://` for the input).

Attributes: name, compute {name, instance_type, instance_count}, deployment {name, model,
environment, instance_count, mini_batch_size, max_concurrency_per_instance, max_retries,
timeout_seconds, output_action, output_file_name, environment_variables, code?, scoring_script?},
input {uri, type}, output {uri}, schedule {name, cron, timezone, time_zone, enabled, sha256} or
None, experiment_name?, tags, scoring_uri (read)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from mlops_azureml import names, sdk_private, timezones, translate
from mlops_azureml.client import FAILED, NotFoundError, check_cancel, quiet
from mlops_azureml.kind import MARKERS, KindHandler
from mlops_gitops.cron import next_runs_note
from mlops_gitops.errors import Diagnostic, ProviderError, StackError
from mlops_gitops.features import ANY
from mlops_gitops.handlers import Request
from mlops_gitops.provider import UNKNOWN, ApplyContext, ResourceType, known
from mlops_gitops.stack.schema import BatchJobSpec

DEPLOYMENT = "scoring"
INVOCATION_TAG = "mlops-gitops:invocation-sha256"
CLI_IMAGE = "mcr.microsoft.com/azure-cli:2.67.0"
TERMINAL_OK = ("Completed",)
TERMINAL_BAD = ("Failed", "Canceled", "NotResponding")
_INPUT_SCHEMES = ("azureml://", "https://")


class BatchJobSettings(BaseModel):
    """`batch_jobs.<name>.azureml`."""

    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(
        None, description="folder of the scoring code (an azureml: code asset or a datastore/https URI)"
    )
    scoring_script: str | None = Field(None, description="entry script in `code` (e.g. score.py)")
    output_file_name: str = Field("predictions.csv", description="file the appended predictions go to")
    experiment_name: str | None = Field(None, description="experiment of the runs (default: the endpoint's)")
    error_threshold: int = Field(
        -1, ge=-1, description="failed files tolerated before the job fails (-1: all)"
    )


BATCH_JOB = ResourceType(
    "batch_job",
    computed=("scoring_uri",),
    not_drift=MARKERS.not_drift,
    create_before_destroy=False,
    supports={"mini_batch_size": ANY, "max_concurrency": ANY, "retries": ANY},
    unsupported={
        "model_package": "Azure ML batch deployments serve a model of this stack: name one with model (its "
        "artifact may be a registry version, azureml://registries/<registry>/models/<name>/versions/<v>)",
        "replicas": "Azure ML batch deployments run on a fixed number of cluster nodes: give instance_count",
        "also_on": "Azure ML has no trigger that starts a batch job after another schedule's runs: "
        "give the job "
        "a cron of its own, later than the retraining's",
        "max_payload_mb": "Azure ML batch deployments hand the scoring code whole files, in mini batches of "
        "mini_batch_size files: remove max_payload_mb",
    },
)


def compute_name(stack: str, resource: str) -> str:
    """`bj-<10 hex>`: Azure ML compute names have 2 to 16 characters."""
    return f"bj-{names.digest({'stack': stack, 'batch_job': resource}, 10)}"


class BatchJobHandler(KindHandler[BatchJobSpec, BatchJobSettings]):
    rtype: ClassVar[ResourceType] = BATCH_JOB
    settings_model: ClassVar[type[BaseModel] | None] = BatchJobSettings
    noun: ClassVar[str] = "Azure ML batch endpoint"

    # ---- offline ------------------------------------------------------------------------------
    def validate(self, req: Request[BatchJobSpec, BatchJobSettings]) -> list[Diagnostic]:
        spec, name, chosen = req.spec, req.resource.name, req.settings
        diags = super().validate(req)
        if not names.ENDPOINT_RE.match(name):
            diags.append(
                Diagnostic(
                    f"Azure ML batch endpoint names have 3 to {names.MAX_ENDPOINT} characters "
                    "(letters, digits "
                    f"and hyphens, starting with a letter): {name!r}",
                    "",
                )
            )
        if not spec.input.uri.startswith(_INPUT_SCHEMES):
            diags.append(
                Diagnostic(
                    "Azure ML batch jobs read azureml:// (datastore paths, data assets) or https:// inputs",
                    "input.uri",
                )
            )
        if not spec.output.uri.startswith("azureml://datastores/"):
            diags.append(
                Diagnostic(
                    "Azure ML batch jobs write to a datastore: use an azureml://datastores/<datastore>/paths/"
                    "<path> output",
                    "output.uri",
                )
            )
        if spec.cron:
            try:
                timezones.windows_name(spec.timezone)
            except timezones.UnknownTimeZone as exc:
                diags.append(Diagnostic(str(exc), "timezone"))
        if bool(chosen.code) != bool(chosen.scoring_script):
            diags.append(Diagnostic("give both code and scoring_script, or neither", "azureml"))
        if spec.input.split == "line" and spec.input.format == "file":
            diags.append(Diagnostic("whole files (format: file) cannot be split by line", "input.split"))
        return diags

    def notes(self, attributes: Mapping[str, Any]) -> list[str]:
        schedule = attributes.get("schedule")
        if not schedule:
            return ["no cron: runs only when started with mlops run"]
        if not schedule.get("enabled", True):
            return ["disabled: the cron starts no runs"]
        return [next_runs_note(schedule["cron"], schedule["timezone"])]

    def risks(
        self,
        action: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        *,
        destroying: bool,
    ) -> list[str]:
        if before is None or action not in ("delete", "replace"):
            return []
        return [
            f"deletes Azure ML batch endpoint {before.get('name')}, its deployment, schedule and compute "
            "cluster "
            f"{(before.get('compute') or {}).get('name')}; its past jobs stay in the workspace"
        ]

    # ---- pure ---------------------------------------------------------------------------------
    def desired(self, req: Request[BatchJobSpec, BatchJobSettings]) -> dict[str, Any]:
        resource, spec, chosen = req.resource, req.spec, req.settings
        model = req.refs.get(f"model.{spec.model}", {})
        env = model.get("environment") or {}
        known_model = model.get("name") not in (None, UNKNOWN) and model.get("version") not in (None, UNKNOWN)
        known_env = env.get("name") not in (None, UNKNOWN) and env.get("version") not in (None, UNKNOWN)
        append = spec.output.assemble == "line"
        deployment: dict[str, Any] = {
            "name": DEPLOYMENT,
            "model": translate.asset_ref(model["name"], model["version"]) if known_model else UNKNOWN,
            "environment": translate.asset_ref(env["name"], env["version"]) if known_env else UNKNOWN,
            "instance_count": spec.instance_count or 1,
            "mini_batch_size": spec.mini_batch_size or 10,
            "max_concurrency_per_instance": spec.max_concurrency or 1,
            "max_retries": spec.retries if spec.retries is not None else 3,
            "timeout_seconds": (spec.timeout_minutes or 0) * 60 or 30,
            "output_action": "append_row" if append else "summary_only",
            "output_file_name": chosen.output_file_name if append else None,
            "error_threshold": chosen.error_threshold,
            "environment_variables": {**dict(model.get("environment_variables") or {}), **spec.environment},
        }
        if chosen.code:
            deployment["code"] = chosen.code
            deployment["scoring_script"] = chosen.scoring_script
        attrs: dict[str, Any] = {
            "name": resource.name,
            "compute": {
                "name": compute_name(self.stack, resource.name),
                "instance_type": spec.instance_type,
                "instance_count": spec.instance_count or 1,
            },
            "deployment": deployment,
            "input": {
                "uri": spec.input.uri,
                "type": "uri_file" if _is_file(spec.input.uri) else "uri_folder",
            },
            "output": {"uri": spec.output.uri},
        }
        if chosen.experiment_name:
            attrs["experiment_name"] = chosen.experiment_name
        attrs["schedule"] = None
        if spec.cron:
            try:
                zone = timezones.windows_name(spec.timezone)
            except timezones.UnknownTimeZone as exc:
                path = f"batch_jobs.{resource.name}.timezone"
                raise StackError.of([Diagnostic(str(exc), path, resource.position)]) from exc
            attrs["schedule"] = {
                "name": f"{resource.name}-schedule",
                "cron": spec.cron,
                "timezone": spec.timezone,
                "time_zone": zone,
                "enabled": spec.enabled,
            }
            attrs["schedule"]["sha256"] = names.content_digest(invocation_basis(attrs))
        attrs["tags"] = self.tags(resource)
        attrs["scoring_uri"] = (req.prior or {}).get("scoring_uri", UNKNOWN)
        return attrs

    # ---- read ---------------------------------------------------------------------------------
    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        endpoint = self._get(lambda ml: ml.batch_endpoints.get(attributes["name"]), "batch endpoint")
        if endpoint is None:
            return None
        name = attributes["name"]
        recorded_compute = (attributes.get("compute") or {}).get("name") or compute_name(self.stack, name)
        deployment = self._get(
            lambda ml: ml.batch_deployments.get(DEPLOYMENT, name), f"batch deployment {name}/{DEPLOYMENT}"
        )
        compute = self._compute(recorded_compute)
        schedule_name = (attributes.get("schedule") or {}).get("name") or f"{name}-schedule"
        schedule = self._get(lambda ml: ml.schedules.get(schedule_name), f"job schedule {schedule_name}")
        attrs: dict[str, Any] = {
            "name": endpoint.name,
            "compute": _compute_from_api(compute, attributes.get("compute") or {}),
            "deployment": _deployment_from_api(deployment, attributes.get("deployment") or {}),
            "input": dict(attributes.get("input") or {}),
            "output": dict(attributes.get("output") or {}),
        }
        if attributes.get("experiment_name"):
            attrs["experiment_name"] = attributes["experiment_name"]
        attrs["schedule"] = _schedule_from_api(schedule, attributes.get("schedule") or {})
        attrs["tags"] = dict(endpoint.tags or {})
        attrs["scoring_uri"] = endpoint.scoring_uri
        if _defaults(endpoint) != DEPLOYMENT and attrs["deployment"] is not None:
            attrs["deployment"] = {**attrs["deployment"], "default": False}
        return attrs

    def _get(self, fetch: Any, what: str) -> Any | None:
        ml = self.api.ml
        try:
            return self.api.call(lambda: fetch(ml), f"get {what}", idempotent=True)
        except NotFoundError:
            return None

    def _compute(self, name: str) -> Any | None:
        # Listed rather than got: a GET of a cluster name is no proof of it in every workspace setup.
        ml = self.api.ml
        found = self.api.call(lambda: list(ml.compute.list()), "list computes", idempotent=True)
        return next((c for c in found if c.name == name), None)

    # ---- create / update / delete ---------------------------------------------------------------
    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        existing = self._get(lambda ml: ml.batch_endpoints.get(desired["name"]), "batch endpoint")
        if existing is not None and not self.owned(existing.tags, ctx.address):
            raise self.already_exists(ctx.address, desired["name"])
        compute = self._compute(desired["compute"]["name"])
        if compute is not None and not self.owned(getattr(compute, "tags", None), ctx.address):
            raise ProviderError(
                f"compute {desired['compute']['name']!r} already exists in workspace {self.cfg.workspace} "
                "and is "
                "not this stack's",
                code="AlreadyExists",
            )
        ctx.checkpoint(known({**desired, "schedule": None}))
        return self._converge(desired, ctx, None)

    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        return self._converge(desired, ctx, self.read(prior))

    def _converge(
        self, desired: Mapping[str, Any], ctx: ApplyContext, current: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        ml = self.api.ml
        name, tags = desired["name"], dict(desired["tags"])
        current = current or {}
        if current.get("compute") != desired["compute"]:
            self.api.start_and_wait(
                lambda: ml.compute.begin_create_or_update(compute_entity(desired, tags)),
                ctx,
                f"setting compute cluster {desired['compute']['name']}",
            )
        endpoint = self._get(lambda ml: ml.batch_endpoints.get(name), "batch endpoint")
        if endpoint is None or dict(endpoint.tags or {}) != tags:
            self.api.start_and_wait(
                lambda: ml.batch_endpoints.begin_create_or_update(
                    endpoint_entity(name, tags, _defaults(endpoint))
                ),
                ctx,
                f"setting batch endpoint {name}",
            )
        if current.get("deployment") != desired["deployment"]:
            self.api.start_and_wait(
                lambda: ml.batch_deployments.begin_create_or_update(
                    deployment_entity(desired, tags), skip_script_validation=True
                ),
                ctx,
                f"provisioning batch deployment {name}/{DEPLOYMENT}",
            )
            found = self._get(lambda ml: ml.batch_deployments.get(DEPLOYMENT, name), "batch deployment")
            state = str(getattr(found, "provisioning_state", "") or "")
            if found is None or state in FAILED:
                raise ProviderError(
                    f"batch deployment {name}/{DEPLOYMENT} is {state or 'gone'}", code="DeploymentFailed"
                )
        endpoint = self._get(lambda ml: ml.batch_endpoints.get(name), "batch endpoint")
        if _defaults(endpoint) != DEPLOYMENT:
            self.api.start_and_wait(
                lambda: ml.batch_endpoints.begin_create_or_update(endpoint_entity(name, tags, DEPLOYMENT)),
                ctx,
                f"making {DEPLOYMENT} the default deployment of {name}",
            )
        self._converge_schedule(desired, ctx, current.get("schedule"))
        return self.must_read(desired)

    def _converge_schedule(
        self, desired: Mapping[str, Any], ctx: ApplyContext, current: Mapping[str, Any] | None
    ) -> None:
        ml = self.api.ml
        wanted = desired.get("schedule")
        if not wanted:
            if current:
                self._delete_schedule(current["name"], ctx)
            return
        if current and current.get("name") != wanted["name"]:
            self._delete_schedule(current["name"], ctx)
            current = None
        if current is None or {**current, "enabled": True} != {**wanted, "enabled": True}:
            self.api.start_and_wait(
                lambda: ml.schedules.begin_create_or_update(schedule_entity(desired, self.cfg)),
                ctx,
                f"setting job schedule {wanted['name']}",
            )
        live = self._get(lambda ml: ml.schedules.get(wanted["name"]), "job schedule")
        if live is not None and bool(live.is_enabled) != wanted["enabled"]:
            begin = ml.schedules.begin_enable if wanted["enabled"] else ml.schedules.begin_disable
            self.api.start_and_wait(
                lambda: begin(wanted["name"]),
                ctx,
                f"{'enabling' if wanted['enabled'] else 'disabling'} schedule",
            )

    def _delete_schedule(self, name: str, ctx: ApplyContext) -> None:
        ml = self.api.ml
        with contextlib.suppress(NotFoundError):
            self.api.start_and_wait(
                lambda: ml.schedules.begin_delete(name), ctx, f"deleting job schedule {name}"
            )

    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        """The schedule, then the endpoint (its deployment goes with it), then the cluster."""
        ml = self.api.ml
        name = prior["name"]
        self._delete_schedule((prior.get("schedule") or {}).get("name") or f"{name}-schedule", ctx)
        if self._get(lambda ml: ml.batch_endpoints.get(name), "batch endpoint") is not None:
            with contextlib.suppress(NotFoundError):
                self.api.start_and_wait(
                    lambda: ml.batch_endpoints.begin_delete(name=name), ctx, f"deleting batch endpoint {name}"
                )
        cluster = (prior.get("compute") or {}).get("name") or compute_name(self.stack, name)
        if self._compute(cluster) is not None:
            with contextlib.suppress(NotFoundError):
                self.api.start_and_wait(
                    lambda: ml.compute.begin_delete(cluster), ctx, f"deleting compute cluster {cluster}"
                )

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        raise ProviderError(
            f"batch job {attributes.get('name')}: import is not supported for Azure ML batch endpoints (the "
            "stack's input and output are not kept on the endpoint): write the batch job by hand",
            code="NotSupported",
        )

    def import_resource(self, cloud_id: str) -> dict[str, Any]:
        raise ProviderError(
            f"importing Azure ML batch endpoint {cloud_id!r} is not supported: the stack's input, output "
            "and cron are not kept on the endpoint. Write the batch job in the stack (it adopts nothing: "
            "delete or rename "
            "the existing endpoint)",
            code="NotSupported",
        )

    # ---- run ------------------------------------------------------------------------------------
    def run(self, attributes: Mapping[str, Any], ctx: ApplyContext, *, wait: bool = True) -> dict[str, Any]:
        ml = self.api.ml
        name = attributes["name"]
        job_name = f"{name}-{uuid.uuid4().hex[:10]}"  # chosen once: a retried invoke names the same job

        def invoke() -> Any:
            from azure.ai.ml import Input, Output
            from azure.core.exceptions import ResourceExistsError

            try:
                return ml.batch_endpoints.invoke(
                    name,
                    input=Input(type=attributes["input"]["type"], path=attributes["input"]["uri"]),
                    outputs={"score": Output(type="uri_folder", path=attributes["output"]["uri"])},
                    job_name=job_name,
                    **(
                        {"experiment_name": attributes["experiment_name"]}
                        if attributes.get("experiment_name")
                        else {}
                    ),
                )
            except ResourceExistsError:  # the first attempt started it, its answer was lost
                return ml.jobs.get(job_name)

        self.api.call(
            invoke,
            f"invoking batch endpoint {name}",
            idempotent=False,
            recover=lambda: self._job(job_name),
            cancel=ctx.cancel,
        )
        ctx.progress(f"job {job_name} started")
        if not wait:
            return {"id": job_name, "status": "NotStarted", "output": attributes["output"]["uri"]}
        return self._follow(job_name, attributes, ctx)

    def _job(self, job_name: str) -> Any | None:
        return self._get(lambda ml: ml.jobs.get(job_name), f"job {job_name}")

    def _follow(self, job_name: str, attributes: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        timing = self.api.timing
        delay, last, started = timing.poll_initial, None, time.monotonic()
        while True:
            job = self._job(job_name)
            if job is None:
                raise ProviderError(f"job {job_name} disappeared", code="NotFound")
            status = str(getattr(job.status, "value", job.status))
            if status != last:
                ctx.progress(f"job {job_name}: {status}")
                last = status
            if status in TERMINAL_OK:
                output = _output_of(job) or attributes["output"]["uri"]
                return {"id": job_name, "status": status, "output": output}
            if status in TERMINAL_BAD:
                raise ProviderError(
                    f"batch job {job_name} of {attributes['name']} {status.lower()}: {self._error(job_name)}",
                    code=f"Job{status}",
                )
            if ctx.cancel.wait(delay):
                check_cancel(ctx, f"job {job_name}")
            if time.monotonic() - started > timing.progress_every:
                ctx.progress(f"job {job_name}: {status} ({time.monotonic() - started:.0f}s)")
            delay = min(delay * 2, timing.poll_max)

    def _error(self, job_name: str) -> str:
        """The run's error, as the run history holds it."""
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


# ---------------------------------------------------------------------------------- translation
def _output_of(job: Any) -> str | None:
    """Where the job's `score` output went, as the job says."""
    output = (getattr(job, "outputs", None) or {}).get("score")
    return getattr(output, "path", None) if output is not None else None


def _is_file(uri: str) -> bool:
    last = uri.rstrip("/").rsplit("/", 1)[-1]
    return not uri.endswith("/") and "." in last


def invocation_basis(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """What the scheduled pipeline does: a change is a new schedule definition."""
    return {
        "endpoint": attrs["name"],
        "deployment": DEPLOYMENT,
        "compute": attrs["compute"]["name"],
        "input": attrs["input"],
        "output": attrs["output"],
        "experiment_name": attrs.get("experiment_name"),
        "image": CLI_IMAGE,
    }


def compute_entity(attrs: Mapping[str, Any], tags: Mapping[str, str]) -> Any:
    from azure.ai.ml.entities import AmlCompute, IdentityConfiguration

    c = attrs["compute"]
    return AmlCompute(
        name=c["name"],
        size=c["instance_type"],
        min_instances=0,
        max_instances=c["instance_count"],
        idle_time_before_scale_down=120,
        identity=IdentityConfiguration(type="system_assigned"),
        tags=dict(tags),
    )


def endpoint_entity(name: str, tags: Mapping[str, str], default: str | None) -> Any:
    from azure.ai.ml.entities import BatchEndpoint

    endpoint = BatchEndpoint(name=name, tags=dict(tags))
    if default:
        endpoint.defaults = sdk_private.batch_endpoint_defaults(default)
    return endpoint


def deployment_entity(attrs: Mapping[str, Any], tags: Mapping[str, str]) -> Any:
    from azure.ai.ml.entities import (
        BatchRetrySettings,
        CodeConfiguration,
        ModelBatchDeployment,
        ModelBatchDeploymentSettings,
    )

    d = attrs["deployment"]
    code = (
        CodeConfiguration(code=d["code"], scoring_script=d["scoring_script"])
        if d.get("scoring_script")
        else None
    )
    return ModelBatchDeployment(
        name=DEPLOYMENT,
        endpoint_name=attrs["name"],
        model=d["model"],
        environment=d["environment"],
        code_configuration=code,
        compute=attrs["compute"]["name"],
        tags=dict(tags),
        settings=ModelBatchDeploymentSettings(
            instance_count=d["instance_count"],
            mini_batch_size=d["mini_batch_size"],
            max_concurrency_per_instance=d["max_concurrency_per_instance"],
            output_action=d["output_action"],
            output_file_name=d.get("output_file_name"),
            error_threshold=d["error_threshold"],
            retry_settings=BatchRetrySettings(max_retries=d["max_retries"], timeout=d["timeout_seconds"]),
            environment_variables=dict(d["environment_variables"]) or None,
        ),
    )


def _invoke_command(attrs: Mapping[str, Any], cfg: Any) -> str:
    i, o = attrs["input"], attrs["output"]
    experiment = f" --experiment-name {attrs['experiment_name']}" if attrs.get("experiment_name") else ""
    return (
        "az login --identity --allow-no-subscriptions --output none && "
        "az extension add --name ml --yes --output none && "
        f"az ml batch-endpoint invoke --subscription {cfg.subscription_id} "
        f"--resource-group {cfg.resource_group} "
        f"--workspace-name {cfg.workspace} --name {attrs['name']} --deployment-name {DEPLOYMENT} "
        f"--input {i['uri']} --input-type {i['type']} --output-path {o['uri']}{experiment}"
    )


def schedule_entity(attrs: Mapping[str, Any], cfg: Any) -> Any:
    from azure.ai.ml import command
    from azure.ai.ml.entities import CronTrigger, Environment, JobSchedule, PipelineJob

    quiet()
    s = attrs["schedule"]
    step = command(
        name="invoke",
        display_name=f"invoke {attrs['name']}",
        command=_invoke_command(attrs, cfg),
        environment=Environment(image=CLI_IMAGE),
        compute=attrs["compute"]["name"],
    )
    job = PipelineJob(
        display_name=f"{attrs['name']} batch scoring",
        experiment_name=attrs.get("experiment_name") or attrs["name"],
        jobs={"invoke": step},
    )
    job.settings.default_compute = attrs["compute"]["name"]
    return JobSchedule(
        name=s["name"],
        trigger=CronTrigger(expression=s["cron"], time_zone=s["time_zone"]),
        create_job=job,
        tags={**attrs["tags"], INVOCATION_TAG: s["sha256"]},
    )


def _defaults(endpoint: Any | None) -> str | None:
    defaults = getattr(endpoint, "defaults", None)
    if defaults is None:
        return None
    if isinstance(defaults, Mapping):
        return defaults.get("deploymentName") or defaults.get("deployment_name")
    return getattr(defaults, "deployment_name", None)


def _compute_from_api(compute: Any | None, recorded: Mapping[str, Any]) -> dict[str, Any] | None:
    if compute is None:
        return None
    size = getattr(compute, "size", None)
    # Azure answers VM sizes in its own casing (STANDARD_DS3_V2): the stack's while they match.
    wanted = recorded.get("instance_type")
    same = isinstance(size, str) and isinstance(wanted, str) and size.lower() == wanted.lower()
    return {
        "name": compute.name,
        "instance_type": wanted if same else size,
        "instance_count": int(getattr(compute, "max_instances", 0) or 0),
    }


def _deployment_from_api(d: Any | None, recorded: Mapping[str, Any]) -> dict[str, Any] | None:
    if d is None:
        return None
    retry = getattr(d, "retry_settings", None)
    resources = getattr(d, "resources", None)
    count = (
        resources.get("instance_count")
        if isinstance(resources, Mapping)
        else getattr(resources, "instance_count", None)
    )
    code = getattr(d, "code_configuration", None)
    action = str(getattr(d, "output_action", "") or "append_row").lower()
    attrs: dict[str, Any] = {
        "name": d.name,
        "model": _asset(d.model, recorded.get("model")),
        "environment": _asset(d.environment, recorded.get("environment")),
        "instance_count": int(count or 1),
        "mini_batch_size": d.mini_batch_size,
        "max_concurrency_per_instance": d.max_concurrency_per_instance,
        "max_retries": getattr(retry, "max_retries", None),
        "timeout_seconds": getattr(retry, "timeout", None),
        "output_action": action,
        "output_file_name": d.output_file_name if action == "append_row" else None,
        "error_threshold": d.error_threshold,
        "environment_variables": dict(d.environment_variables or {}),
    }
    if code is not None and getattr(code, "scoring_script", None):
        attrs["code"] = recorded.get("code") if recorded.get("code") else getattr(code, "code", None)
        attrs["scoring_script"] = code.scoring_script
    return attrs


def _asset(reference: Any, recorded: Any) -> Any:
    """An asset read back as an ARM id, as the stack's `azureml:<name>:<version>` when it is that."""
    ref = translate.parse_asset_ref(str(reference) if reference else None)
    if ref is None:
        return reference
    short = translate.asset_ref(*ref)
    return recorded if recorded == short else short


def _schedule_from_api(schedule: Any | None, recorded: Mapping[str, Any]) -> dict[str, Any] | None:
    if schedule is None:
        return None
    trigger = schedule.trigger
    zone = str(getattr(trigger.time_zone, "value", trigger.time_zone))
    tags = dict(schedule.tags or {})
    return {
        "name": schedule.name,
        "cron": trigger.expression,
        "timezone": recorded.get("timezone")
        if recorded.get("time_zone") == zone
        else timezones.iana_name(zone),
        "time_zone": zone,
        "enabled": bool(schedule.is_enabled),
        "sha256": tags.get(INVOCATION_TAG),
    }
