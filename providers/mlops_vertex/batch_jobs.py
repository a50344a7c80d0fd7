"""Batch predictions on Vertex AI: the `batch_job` kind.

A `batch_job` with a `cron` owns one Vertex AI Schedule (ID assigned by Vertex) that creates a
PipelineJob on the cron, in its time zone (`TZ=Europe/Paris 0 2 * * *`), one run at a time. The
pipeline is written by the provider, not read from a file: a compiled PipelineSpec whose one task,
`model-batch-predict`, runs the launcher of Google's `ModelBatchPredictOp`
(google-cloud-pipeline-components) with the BatchPredictionJob as its payload: the model version
the stack's model serves, the input (`gcsSource` for gs://, `bigquerySource` for bq://), the output
(`gcsDestination` / `bigqueryDestination`), the machine type, the replica counts and the batch
size. The spec is a pure function of the attributes (named `batch-<name>`, versioned by its
digest), so a read-back compares equal and a second plan shows no change. Runs write under
`<staging_bucket>/pipeline-root` and run as the provider's `service_account`, if one. `enabled:
false` pauses the schedule (resuming skips the runs missed meanwhile). Everything changes in
place: a new model version, input, output or compute updates the schedule's PipelineJob.

A batch job without a cron owns nothing in Vertex until it is run: its attributes are the job
`mlops run` starts.

`mlops run batch_job.NAME` creates a BatchPredictionJob now (display name `<name>-run-<UTC time of
the call>-<4 hex>`, with the ownership labels and `mlops-gitops-run`: a start retried after a lost answer
finds that job instead of making a second), follows it (`ctx.progress` at each state and every
few seconds), stops following when `ctx.cancel` is set (the job goes on), cancels it past
`timeout_minutes`, and returns its id, state and output directory
(`outputInfo.gcsOutputDirectory`, or the BigQuery dataset and table). A failed job raises
ProviderError with the job's `error.message`.

Mapping of the neutral spec: `input.format` csv/jsonl -> `instancesFormat` csv/jsonl, `file` ->
`file-list` (the input URI is a file listing gs:// files, one instance each), a bq:// input ->
`bigquery`; predictions are `jsonl` on Cloud Storage, `bigquery` in BigQuery; `instance_count` ->
starting and max replica count, `replicas` -> starting = min, max = max; `mini_batch_size` ->
`manualBatchTuningParameters.batchSize`.

Not supported, and refused at validate time (see `BATCH_JOB.unsupported` and `validate`):
`model_package`, `also_on`, `max_payload_mb`, `max_concurrency`, `retries`, parquet input, input
`split: none` and output `assemble: none`, a container `environment`, and `timeout_minutes` on a
scheduled job (Vertex batch prediction jobs have no time limit; `mlops run` honours it itself).

Attributes: id? (the schedule's, when there is a cron), display_name, model, model_version,
input {uri, instances_format}, output {uri, predictions_format}, machine_type, starting_replicas,
max_replicas, batch_size?, timeout_minutes?, cron?, timezone?, enabled, pipeline_root?,
service_account?, labels (on the runs' PipelineJobs and BatchPredictionJobs)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from mlops_gitops.cron import next_runs_note
from mlops_gitops.errors import Diagnostic, ProviderError
from mlops_gitops.features import ANY
from mlops_gitops.handlers import Request
from mlops_gitops.provider import UNKNOWN, ApplyContext, ResourceType
from mlops_gitops.stack.schema import BatchJobSpec
from mlops_vertex import labels, machines, pipelines, translate
from mlops_vertex.client import NotFoundError, to_dict
from mlops_vertex.pipeline_schedules import PipelineScheduleHandler

# The launcher of google-cloud-pipeline-components' ModelBatchPredictOp (v1 batch_predict_job).
GCPC_IMAGE = "gcr.io/ml-pipeline/google-cloud-pipeline-components:2.19.0"
LAUNCHER = "google_cloud_pipeline_components.container.v1.batch_prediction_job.launcher"
TASK = "model-batch-predict"
_COMPONENT = f"comp-{TASK}"
_EXECUTOR = f"exec-{TASK}"
LABEL_RUN = "mlops-gitops-run"  # on the BatchPredictionJob `mlops run` makes: the run's token

_INSTANCES_FORMAT = {"csv": "csv", "jsonl": "jsonl", "file": "file-list"}
_ENDED = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED")
_SUCCEEDED = ("JOB_STATE_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED")

BATCH_JOB = ResourceType(
    "batch_job",
    computed=("id",),
    create_before_destroy=True,
    id_field="id",
    not_drift=labels.MARKERS.not_drift,
    supports={"replicas": ANY, "mini_batch_size": ANY},
    unsupported={
        "model_package": "models on Vertex AI are the registry (versions live inside the model): name "
        "a model of this stack with model:",
        "also_on": "Vertex AI has no trigger that starts a batch prediction when a pipeline run ends: "
        "add a batch-predict task to the retraining pipeline, or run the job on a cron",
        "max_payload_mb": "Vertex AI batch prediction sets no request size: size requests with "
        "mini_batch_size (records per request) instead",
        "max_concurrency": "Vertex AI batch prediction chooses the requests in flight per replica "
        "itself: scale the job with replicas instead",
        "retries": "Vertex AI batch prediction has no retry setting (failed instances are listed in the "
        "output's error files): remove retries, and run the job again with mlops run",
    },
)


class BatchJobHandler(PipelineScheduleHandler[BatchJobSpec, None]):
    rtype: ClassVar[ResourceType] = BATCH_JOB
    noun: ClassVar[str] = "Vertex AI batch prediction schedule"

    # ---- offline ------------------------------------------------------------------------------
    def validate(self, req: Request[BatchJobSpec, None]) -> list[Diagnostic]:
        spec = req.spec
        diags = super().validate(req)
        for path, uri in (("input.uri", spec.input.uri), ("output.uri", spec.output.uri)):
            if not uri.startswith(("gs://", "bq://")):
                diags.append(
                    Diagnostic("Vertex AI batch prediction reads and writes gs:// or bq:// URIs", path)
                )
        if spec.input.uri.startswith("gs://"):
            if spec.input.format == "parquet":
                diags.append(
                    Diagnostic(
                        "Vertex AI batch prediction reads csv, jsonl or file lists, not parquet: load the "
                        "data into BigQuery and give a bq:// input, or write it as jsonl",
                        "input.format",
                    )
                )
            if spec.input.split == "none" and spec.input.format in ("csv", "jsonl"):
                diags.append(
                    Diagnostic(
                        "Vertex AI sends each csv or jsonl record as an instance: for whole files, use "
                        "format: file with a file listing them",
                        "input.split",
                    )
                )
        if spec.output.assemble == "none":
            diags.append(
                Diagnostic(
                    "Vertex AI writes one prediction per instance: remove assemble (or set line)",
                    "output.assemble",
                )
            )
        if spec.environment:
            diags.append(
                Diagnostic(
                    "a Vertex AI batch prediction runs the model's own container: set environment on the "
                    "model instead",
                    "environment",
                )
            )
        if spec.instance_type:
            problem = machines.machine_problem(spec.instance_type)
            if problem is not None:
                diags.append(Diagnostic(problem, "instance_type"))
        if spec.cron:
            if spec.timeout_minutes is not None:
                diags.append(
                    Diagnostic(
                        "Vertex AI batch prediction jobs have no time limit, so scheduled runs could not "
                        "honour it: remove timeout_minutes (mlops run only) or the cron",
                        "timeout_minutes",
                    )
                )
            if not self.cfg.staging_bucket:
                diags.append(
                    Diagnostic(
                        "a scheduled batch job runs a pipeline, which needs a root: set staging_bucket in "
                        "the vertex provider block",
                        "cron",
                    )
                )
        return diags

    def notes(self, attributes: Mapping[str, Any]) -> list[str]:
        if not attributes.get("cron"):
            return ["no cron: runs only when started with mlops run"]
        if not attributes.get("enabled", True):
            return ["paused: the cron starts no runs"]
        return [next_runs_note(attributes["cron"], attributes["timezone"])]

    # ---- pure ---------------------------------------------------------------------------------
    def desired(self, req: Request[BatchJobSpec, None]) -> dict[str, Any]:
        resource, prior, spec = req.resource, req.prior, req.spec
        model = req.refs.get(f"model.{spec.model}", {})
        attrs: dict[str, Any] = {}
        if spec.cron:
            attrs["id"] = (prior or {}).get("id") or UNKNOWN
        attrs["display_name"] = resource.name
        attrs["model"] = model.get("id", UNKNOWN)
        attrs["model_version"] = model.get("version_id", UNKNOWN)
        bigquery_in = spec.input.uri.startswith("bq://")
        attrs["input"] = {
            "uri": spec.input.uri,
            "instances_format": "bigquery"
            if bigquery_in
            else _INSTANCES_FORMAT.get(spec.input.format, "jsonl"),
        }
        attrs["output"] = {
            "uri": spec.output.uri,
            "predictions_format": "bigquery" if spec.output.uri.startswith("bq://") else "jsonl",
        }
        attrs["machine_type"] = spec.instance_type
        low, high = (spec.replicas.min, spec.replicas.max) if spec.replicas else (spec.instance_count,) * 2
        attrs["starting_replicas"] = low
        attrs["max_replicas"] = high
        if spec.mini_batch_size:
            attrs["batch_size"] = spec.mini_batch_size
        if spec.timeout_minutes:
            attrs["timeout_minutes"] = spec.timeout_minutes
        attrs["enabled"] = spec.enabled
        if spec.cron:
            attrs["cron"] = spec.cron
            attrs["timezone"] = spec.timezone
            if self.cfg.staging_bucket:
                attrs["pipeline_root"] = f"{self.cfg.staging_bucket.rstrip('/')}/pipeline-root"
            if self.cfg.service_account:
                attrs["service_account"] = self.cfg.service_account
        attrs["labels"] = self.labels(resource)
        return attrs

    # ---- read ---------------------------------------------------------------------------------
    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        schedule_id = attributes.get("id")
        if "id" not in attributes:  # no cron: nothing in Vertex until a run
            return dict(attributes)
        if not schedule_id or schedule_id is UNKNOWN:
            return None
        found = self._get_schedule(schedule_id)
        return None if found is None else from_schedule(found)

    # ---- create / update / delete -------------------------------------------------------------
    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        if not desired.get("cron"):
            return dict(desired)
        existing = self._find_own_schedule(desired["display_name"], ctx.address, from_schedule)
        if existing is not None:
            return self.update(existing, {**desired, "id": existing["id"]}, ctx)
        return self._create_schedule(desired, ctx, schedule_body(desired, self.api.parent), from_schedule)

    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        had = prior.get("id") not in (None, UNKNOWN)
        if not desired.get("cron"):
            if had:
                self.delete(prior, ctx)
            return {k: v for k, v in desired.items() if k != "id"}
        if not had:
            return self.create(desired, ctx)
        attrs = {**desired, "id": prior["id"]}
        current = self.must_read(prior)
        body = schedule_body(attrs, self.api.parent)
        mask = [] if current["display_name"] == attrs["display_name"] else ["display_name"]
        if (current["cron"], current["timezone"]) != (attrs["cron"], attrs["timezone"]):
            mask.append("cron")
        if _job_basis(current) != _job_basis(attrs):
            mask.append("create_pipeline_job_request")
        return self._update_schedule(current, attrs, body, mask)

    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        """The schedule, then the BatchPredictionJobs the resource's runs made (found by their
        ownership labels; one still running is cancelled first, as Vertex deletes only ended jobs).
        Their predictions stay where they were written."""
        if prior.get("id") not in (None, UNKNOWN):
            self._delete_schedule(prior["id"], ctx)
        for job in self._own_jobs(ctx.address):
            self._delete_job(job, ctx)

    def _own_jobs(self, address: str) -> list[dict[str, Any]]:
        found = self.api.collect(
            self.api.jobs.list_batch_prediction_jobs, "ListBatchPredictionJobs", parent=self.api.parent
        )
        return [j for j in found if labels.owned_by(j.get("labels") or {}, stack=self.stack, address=address)]

    def _delete_job(self, job: Mapping[str, Any], ctx: ApplyContext) -> None:
        name = str(job["name"])
        job_id = name.rsplit("/", 1)[-1]
        with contextlib.suppress(NotFoundError):
            if str(job.get("state")) not in _ENDED:
                if str(job.get("state")) != "JOB_STATE_CANCELLING":
                    try:
                        self.api.call(
                            self.api.jobs.cancel_batch_prediction_job,
                            f"CancelBatchPredictionJob {job_id}",
                            idempotent=True,
                            name=name,
                        )
                    except ProviderError:
                        # Refused when the job ended since it was listed: then there is nothing
                        # to cancel, and it can be deleted. Any other refusal stands.
                        if self._job_state(name) not in _ENDED:
                            raise
                self._follow(dict(job), ctx, None, quiet=True)
            self.api.call_and_wait(
                self.api.jobs.delete_batch_prediction_job,
                ctx,
                f"deleting batch prediction job {job_id}",
                idempotent=True,
                name=name,
            )

    def _job_state(self, name: str) -> str:
        found = self.api.call(
            self.api.jobs.get_batch_prediction_job, f"GetBatchPredictionJob {name}", name=name
        )
        return str(to_dict(found).get("state"))

    # ---- import -------------------------------------------------------------------------------
    def import_resource(self, cloud_id: str) -> dict[str, Any]:
        attrs = self.read({"id": cloud_id})
        if attrs is None:
            raise ProviderError(
                f"no Vertex AI schedule {cloud_id!r} running a batch prediction in {self.api.parent} "
                "(a schedule of another pipeline is a schedule resource)",
                code="NotFound",
            )
        return attrs

    def import_references(self, attributes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        return [("model", "model", f"{attributes['model']}@{attributes['model_version']}")]

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "model": attributes["model"],
            "input": {"uri": attributes["input"]["uri"]},
            "output": {"uri": attributes["output"]["uri"]},
            "instance_type": attributes["machine_type"],
        }
        fmt = {v: k for k, v in _INSTANCES_FORMAT.items()}.get(attributes["input"]["instances_format"])
        if fmt and fmt != "csv":
            spec["input"]["format"] = fmt
        low, high = attributes["starting_replicas"], attributes["max_replicas"]
        if low == high:
            spec["instance_count"] = low
        else:
            spec["replicas"] = {"min": low, "max": high}
        if attributes.get("batch_size"):
            spec["mini_batch_size"] = attributes["batch_size"]
        if attributes.get("cron"):
            spec["cron"] = attributes["cron"]
            spec["timezone"] = attributes["timezone"]
        if not attributes.get("enabled", True):
            spec["enabled"] = False
        if labels.user_labels(attributes.get("labels", {})):
            spec["tags"] = labels.user_labels(attributes["labels"])
        return spec

    # ---- run ----------------------------------------------------------------------------------
    def run(self, attributes: Mapping[str, Any], ctx: ApplyContext, *, wait: bool = True) -> dict[str, Any]:
        # Chosen once per call: a retried create looks for this token rather than making another.
        token = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
        display = f"{attributes['display_name']}-run-{token}"
        run_labels = {**dict(attributes.get("labels", {})), LABEL_RUN: token}
        body = job_body(attributes, self.api.parent, display_name=display, labels=run_labels)

        def recover() -> dict[str, Any] | None:
            found = self.api.collect(
                self.api.jobs.list_batch_prediction_jobs,
                "ListBatchPredictionJobs",
                parent=self.api.parent,
                filter=f'display_name="{display}"',
            )
            return next((j for j in found if (j.get("labels") or {}).get(LABEL_RUN) == token), None)

        created = self.api.call(
            self.api.jobs.create_batch_prediction_job,
            f"CreateBatchPredictionJob {display}",
            recover=recover,  # Vertex names the job: a repeat would make a second one
            cancel=ctx.cancel,
            parent=self.api.parent,
            batch_prediction_job=body,
        )
        job = created if isinstance(created, dict) else to_dict(created)
        job_id = str(job["name"]).rsplit("/", 1)[-1]
        ctx.progress(f"batch prediction job {job_id}: {_shown(str(job.get('state', 'JOB_STATE_PENDING')))}")
        if not wait:
            return {"id": job_id, "status": _shown(str(job.get("state", "JOB_STATE_PENDING")))}
        job = self._follow(job, ctx, attributes.get("timeout_minutes"))
        return _result(job_id, job)

    def _follow(
        self, job: dict[str, Any], ctx: ApplyContext, timeout_minutes: int | None, *, quiet: bool = False
    ) -> dict[str, Any]:
        """Poll the job until it ends, saying its state when it changes and every few seconds."""
        t = self.api.timing
        name = str(job["name"])
        job_id = name.rsplit("/", 1)[-1]
        started = time.monotonic()
        last_state, last_said = str(job.get("state", "")), started
        delay = t.poll_initial
        cancelled = False
        while str(job.get("state")) not in _ENDED:
            if ctx.cancel.wait(delay):
                raise ProviderError(
                    f"stopped following batch prediction job {job_id}: it goes on in Vertex AI",
                    code="Cancelled",
                )
            delay = min(delay * 2, t.poll_max)
            job = to_dict(
                self.api.call(
                    self.api.jobs.get_batch_prediction_job, f"GetBatchPredictionJob {job_id}", name=name
                )
            )
            state = str(job.get("state", ""))
            elapsed = time.monotonic() - started
            if elapsed > t.operation_timeout and not timeout_minutes:
                raise ProviderError(
                    f"batch prediction job {job_id} still {_shown(state)} after {elapsed:.0f}s; it goes on "
                    "in Vertex AI",
                    code="Timeout",
                )
            said = state != last_state or time.monotonic() - last_said >= t.progress_every
            if said and not quiet and state not in _ENDED:
                ctx.progress(f"batch prediction job {job_id}: {_shown(state)}")
                last_state, last_said = state, time.monotonic()
            if (
                timeout_minutes
                and not cancelled
                and state not in _ENDED
                and elapsed > timeout_minutes * t.minute
            ):
                self.api.call(
                    self.api.jobs.cancel_batch_prediction_job,
                    f"CancelBatchPredictionJob {job_id}",
                    idempotent=True,
                    name=name,
                )
                cancelled = True
        if cancelled:
            raise ProviderError(
                f"batch prediction job {job_id} ran longer than timeout_minutes ({timeout_minutes}) and was "
                f"cancelled ({job.get('state')})",
                code="Timeout",
            )
        return job


# ------------------------------------------------------------------------------ pure translation
def model_name(parent: str, attrs: Mapping[str, Any]) -> str:
    return translate.model_resource(parent, attrs["model"], attrs["model_version"])


def job_body(
    attrs: Mapping[str, Any], parent: str, *, display_name: str, labels: Mapping[str, str]
) -> dict[str, Any]:
    """The BatchPredictionJob of a run (snake_case, as the client takes it)."""
    source = attrs["input"]
    if source["instances_format"] == "bigquery":
        input_config: dict[str, Any] = {
            "instances_format": "bigquery",
            "bigquery_source": {"input_uri": source["uri"]},
        }
    else:
        input_config = {
            "instances_format": source["instances_format"],
            "gcs_source": {"uris": [source["uri"]]},
        }
    target = attrs["output"]
    if target["predictions_format"] == "bigquery":
        output_config: dict[str, Any] = {
            "predictions_format": "bigquery",
            "bigquery_destination": {"output_uri": target["uri"]},
        }
    else:
        output_config = {
            "predictions_format": target["predictions_format"],
            "gcs_destination": {"output_uri_prefix": target["uri"]},
        }
    body: dict[str, Any] = {
        "display_name": display_name,
        "model": model_name(parent, attrs),
        "input_config": input_config,
        "output_config": output_config,
        "dedicated_resources": {
            "machine_spec": {"machine_type": attrs["machine_type"]},
            "starting_replica_count": attrs["starting_replicas"],
            "max_replica_count": attrs["max_replicas"],
        },
        "labels": dict(labels),
    }
    if attrs.get("batch_size"):
        body["manual_batch_tuning_parameters"] = {"batch_size": attrs["batch_size"]}
    return body


def _payload(attrs: Mapping[str, Any], parent: str) -> dict[str, Any]:
    """The job the pipeline's task creates, in the REST (camelCase) JSON the launcher parses; the
    pipeline job's uuid makes each run's display name unique."""
    body = job_body(
        attrs,
        parent,
        display_name=f"{attrs['display_name']}-{{{{$.pipeline_job_uuid}}}}",
        labels=attrs.get("labels", {}),
    )
    return _camel(body)


def _camel(value: Any) -> Any:
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            head, *rest = str(key).split("_")
            name = head + "".join(part.title() for part in rest) if key != "labels" else key
            out[name] = item if key == "labels" else _camel(item)
        return out
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def pipeline_spec(attrs: Mapping[str, Any], parent: str) -> dict[str, Any]:
    """A compiled KFP PipelineSpec (schema 2.1.0) with one task running ModelBatchPredictOp's
    launcher on this job: what `kfp compiler` writes for a pipeline calling the component with
    constant arguments. Named `batch-<name>`; its version is the digest of the payload."""
    payload = json.dumps(_payload(attrs, parent), sort_keys=True, separators=(",", ":"))
    project, location = parent.split("/")[1], parent.split("/")[3]
    version = hashlib.sha256(payload.encode()).hexdigest()[:12]
    return {
        "pipelineInfo": {
            "name": f"batch-{attrs['display_name']}",
            "description": f"Batch prediction {attrs['display_name']} (mlops-gitops, version {version})",
        },
        "schemaVersion": "2.1.0",
        "sdkVersion": "kfp-2.7.0",
        "components": {
            _COMPONENT: {
                "executorLabel": _EXECUTOR,
                "outputDefinitions": {
                    "parameters": {"gcp_resources": {"parameterType": "STRING"}},
                    "artifacts": {
                        "batchpredictionjob": {
                            "artifactType": {
                                "schemaTitle": "google.VertexBatchPredictionJob",
                                "schemaVersion": "0.0.1",
                            }
                        }
                    },
                },
            }
        },
        "deploymentSpec": {
            "executors": {
                _EXECUTOR: {
                    "container": {
                        "image": GCPC_IMAGE,
                        "command": ["python3", "-u", "-m", LAUNCHER],
                        "args": [
                            "--type",
                            "BatchPredictionJob",
                            "--payload",
                            payload,
                            "--project",
                            project,
                            "--location",
                            location,
                            "--gcp_resources",
                            "{{$.outputs.parameters['gcp_resources'].output_file}}",
                            "--executor_input",
                            "{{$}}",
                        ],
                    }
                }
            }
        },
        "root": {
            "dag": {"tasks": {TASK: {"taskInfo": {"name": TASK}, "componentRef": {"name": _COMPONENT}}}}
        },
    }


def schedule_body(attrs: Mapping[str, Any], parent: str) -> dict[str, Any]:
    runtime: dict[str, Any] = {}
    if attrs.get("pipeline_root"):
        runtime["gcs_output_directory"] = attrs["pipeline_root"]
    job: dict[str, Any] = {
        "display_name": attrs["display_name"],
        "pipeline_spec": pipeline_spec(attrs, parent),
        "runtime_config": runtime,
        "labels": dict(attrs.get("labels", {})),
    }
    if attrs.get("service_account"):
        job["service_account"] = attrs["service_account"]
    return {
        "display_name": attrs["display_name"],
        "cron": pipelines.vertex_cron(attrs["cron"], attrs["timezone"]),
        "max_concurrent_run_count": 1,
        "create_pipeline_job_request": {"parent": parent, "pipeline_job": job},
    }


# What the schedule's PipelineJob is made of: a change of any updates create_pipeline_job_request.
_JOB_KEYS = (
    "model", "model_version", "input", "output", "machine_type", "starting_replicas", "max_replicas",
    "batch_size", "pipeline_root", "service_account", "labels", "display_name",
)  # fmt: skip


def _job_basis(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: attrs.get(k) for k in _JOB_KEYS}


def _payload_of(spec: Mapping[str, Any]) -> dict[str, Any] | None:
    executor = ((spec.get("deploymentSpec") or {}).get("executors") or {}).get(_EXECUTOR) or {}
    args = list((executor.get("container") or {}).get("args") or [])
    if "--payload" not in args or args.index("--payload") + 1 >= len(args):
        return None
    try:
        payload = json.loads(args[args.index("--payload") + 1])
    except (TypeError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def from_schedule(schedule: Mapping[str, Any]) -> dict[str, Any] | None:
    """The attributes of a schedule running the batch-predict pipeline; None for any other."""
    request = schedule.get("create_pipeline_job_request") or {}
    job = request.get("pipeline_job") or {}
    payload = _payload_of(job.get("pipeline_spec") or {})
    if payload is None:
        return None
    cron, timezone = pipelines.split_cron(str(schedule.get("cron", "")))
    model = str(payload.get("model", ""))
    model_id, _, version = model.rsplit("/", 1)[-1].partition("@")
    source = payload.get("inputConfig") or {}
    target = payload.get("outputConfig") or {}
    resources = payload.get("dedicatedResources") or {}
    attrs: dict[str, Any] = {
        "id": str(schedule["name"]).rsplit("/", 1)[-1],
        "display_name": schedule.get("display_name", ""),
        "model": model_id,
        "model_version": version,
        "input": {
            "uri": (source.get("bigquerySource") or {}).get("inputUri")
            or ((source.get("gcsSource") or {}).get("uris") or [""])[0],
            "instances_format": source.get("instancesFormat", ""),
        },
        "output": {
            "uri": (target.get("bigqueryDestination") or {}).get("outputUri")
            or (target.get("gcsDestination") or {}).get("outputUriPrefix", ""),
            "predictions_format": target.get("predictionsFormat", ""),
        },
        "machine_type": (resources.get("machineSpec") or {}).get("machineType", ""),
        "starting_replicas": int(resources.get("startingReplicaCount", 1)),
        "max_replicas": int(resources.get("maxReplicaCount", 1)),
    }
    batch_size = (payload.get("manualBatchTuningParameters") or {}).get("batchSize")
    if batch_size:
        attrs["batch_size"] = int(batch_size)
    attrs["enabled"] = schedule.get("state") != pipelines.PAUSED
    attrs["cron"] = cron
    attrs["timezone"] = timezone
    runtime = job.get("runtime_config") or {}
    if runtime.get("gcs_output_directory"):
        attrs["pipeline_root"] = runtime["gcs_output_directory"]
    if job.get("service_account"):
        attrs["service_account"] = job["service_account"]
    attrs["labels"] = dict(job.get("labels") or {})
    return attrs


def _shown(state: str) -> str:
    return state.removeprefix("JOB_STATE_")


def _result(job_id: str, job: Mapping[str, Any]) -> dict[str, Any]:
    state = str(job.get("state", ""))
    if state not in _SUCCEEDED:
        error = job.get("error") or {}
        reason = error.get("message") or "no reason given"
        raise ProviderError(f"batch prediction job {job_id} ended {state}: {reason}", code=state)
    info = job.get("output_info") or {}
    output = info.get("gcs_output_directory") or ".".join(
        p for p in (info.get("bigquery_output_dataset"), info.get("bigquery_output_table")) if p
    )
    result: dict[str, Any] = {"id": job_id, "status": _shown(state), "output": output}
    stats = job.get("completion_stats") or {}
    if stats:
        result["message"] = (
            f"{stats.get('successful_count', 0)} predictions, {stats.get('failed_count', 0)} failed"
        )
    return result
