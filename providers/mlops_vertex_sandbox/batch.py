"""Vertex AI batch prediction jobs for the emulator: the `JobService` routes of
`BatchPredictionJob`.

* Creating a job is a plain call (not long-running) answering the job `JOB_STATE_PENDING`. It
  runs (`JOB_STATE_RUNNING`, `startTime`) once `operation_delay_seconds` have passed and succeeds
  (`JOB_STATE_SUCCEEDED`, `endTime`, `completionStats`, `outputInfo`) after as long again. The
  output goes to a directory of its own under the destination, as on Vertex:
  `outputInfo.gcsOutputDirectory` = `<outputUriPrefix>/prediction-<model display name>-<time>`,
  or for BigQuery `outputInfo.bigqueryOutputDataset` (and a `predictions_<time>` table).
* The model must exist (`model` names a Model, optionally `@version` or `@alias`); the job then
  records `modelVersionId`. Machine types are those Vertex predicts on (`mlops_vertex.machines`).
* A fail rule with `in_operation: true` matching the create (`POST .../batchPredictionJobs`)
  lets the create succeed and makes the JOB fail when it would have succeeded:
  `JOB_STATE_FAILED` with `error` set to the rule's status and message (a google.rpc.Status).
* `:cancel` moves a pending or running job to `JOB_STATE_CANCELLING`, then (after the delay) to
  `JOB_STATE_CANCELLED`; a job that has ended cannot be cancelled (FAILED_PRECONDITION). Delete
  is long-running and refused while the job has not ended (FAILED_PRECONDITION), as on Vertex."""

from __future__ import annotations

import copy
from typing import Any

from mlops_vertex import machines

from .core import (
    EMPTY,
    ApiError,
    Call,
    EnumSpec,
    State,
    canonical_enums,
    check_labels,
    drop,
    get_int,
    get_list,
    get_object,
    get_string,
    invalid,
    list_page,
    not_found,
    now,
    precondition,
    timestamp,
)
from .jobs import JOB_STATE
from .models import _model, _split_model_ref

BATCH_SPEC: EnumSpec = {"state": JOB_STATE}
_OUTPUT_ONLY = frozenset(
    {
        "name", "modelVersionId", "outputInfo", "state", "error", "partialFailures", "resourcesConsumed",
        "completionStats", "createTime", "startTime", "endTime", "updateTime", "satisfiesPzs", "satisfiesPzi",
    }
)  # fmt: skip
_INSTANCE_FORMATS = ("jsonl", "csv", "tf-record", "tf-record-gzip", "file-list", "bigquery")
_PREDICTION_FORMATS = ("jsonl", "csv", "bigquery")
_ACTIVE = ("JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_CANCELLING")
_COLLECTION = "batchPredictionJobs"


def _job(state: State, call: Call) -> dict[str, Any]:
    name = f"{call.parent}/{_COLLECTION}/{call.groups['batch_job']}"
    job = state.batch_jobs.get(name)
    if job is None:
        raise not_found(f"BatchPredictionJob {name} is not found.")
    return job


def _check_input(job: dict[str, Any]) -> None:
    where = "batch_prediction_job.input_config"
    config = get_object(job, "inputConfig", "batch_prediction_job", required=True)
    instances = get_string(config, "instancesFormat", where, required=True)
    if instances not in _INSTANCE_FORMATS:
        raise invalid(
            f"{where}.instances_format {instances!r} is not supported; use one of "
            f"{', '.join(_INSTANCE_FORMATS)}."
        )
    gcs = get_object(config, "gcsSource", where)
    bigquery = get_object(config, "bigquerySource", where)
    if bool(gcs) == bool(bigquery):
        raise invalid(f"{where} needs exactly one of gcs_source and bigquery_source.")
    if gcs:
        uris = get_list(gcs, "uris", f"{where}.gcs_source")
        if not uris or any(not isinstance(u, str) or not u.startswith("gs://") for u in uris):
            raise invalid(f"{where}.gcs_source.uris must be gs:// URIs.")
        if instances == "bigquery":
            raise invalid(f"{where}: instances_format bigquery needs a bigquery_source.")
    else:
        uri = get_string(bigquery, "inputUri", f"{where}.bigquery_source", required=True)
        if not uri.startswith("bq://") or instances != "bigquery":
            raise invalid(f"{where}.bigquery_source needs a bq:// input_uri and instances_format bigquery.")


def _check_output(job: dict[str, Any]) -> None:
    where = "batch_prediction_job.output_config"
    config = get_object(job, "outputConfig", "batch_prediction_job", required=True)
    predictions = get_string(config, "predictionsFormat", where, required=True)
    if predictions not in _PREDICTION_FORMATS:
        raise invalid(
            f"{where}.predictions_format {predictions!r} is not supported; use one of "
            f"{', '.join(_PREDICTION_FORMATS)}."
        )
    gcs = get_object(config, "gcsDestination", where)
    bigquery = get_object(config, "bigqueryDestination", where)
    if bool(gcs) == bool(bigquery):
        raise invalid(f"{where} needs exactly one of gcs_destination and bigquery_destination.")
    if gcs:
        prefix = get_string(gcs, "outputUriPrefix", f"{where}.gcs_destination", required=True)
        if not prefix.startswith("gs://") or predictions == "bigquery":
            raise invalid(f"{where}.gcs_destination needs a gs:// output_uri_prefix and jsonl or csv.")
    else:
        uri = get_string(bigquery, "outputUri", f"{where}.bigquery_destination", required=True)
        if not uri.startswith("bq://") or predictions != "bigquery":
            raise invalid(
                f"{where}.bigquery_destination needs a bq:// output_uri and predictions_format bigquery."
            )


def _check_resources(job: dict[str, Any]) -> None:
    where = "batch_prediction_job.dedicated_resources"
    resources = get_object(job, "dedicatedResources", "batch_prediction_job")
    if not resources:
        raise invalid(f"{where} is required: the model does not support automatic resources.")
    machine = get_string(
        get_object(resources, "machineSpec", where, required=True),
        "machineType",
        f"{where}.machine_spec",
        required=True,
    )
    problem = machines.machine_problem(machine)
    if problem is not None:
        raise invalid(f"{where}.machine_spec.machine_type: {problem}.")
    starting = get_int(resources, "startingReplicaCount", where, minimum=0) or 1
    maximum = get_int(resources, "maxReplicaCount", where, minimum=0) or starting
    if maximum < starting:
        raise invalid(f"{where}: max_replica_count {maximum} is below starting_replica_count {starting}.")
    resources["startingReplicaCount"] = starting
    resources["maxReplicaCount"] = maximum
    tuning = get_object(job, "manualBatchTuningParameters", "batch_prediction_job")
    if tuning:
        get_int(tuning, "batchSize", "batch_prediction_job.manual_batch_tuning_parameters", minimum=1)


def _stamp(moment: Any) -> str:
    """`2026-12-04T02:31:05.123456Z` -> `2026_12_04T02_31_05_123Z`, as Vertex names output directories."""
    text = timestamp(moment).rstrip("Z")
    seconds, _, fraction = text.partition(".")
    return f"{seconds}_{(fraction + '000')[:3]}Z".replace("-", "_").replace(":", "_")


def _output_info(job: dict[str, Any], model_name: str) -> dict[str, Any]:
    config = job["outputConfig"]
    moment = _stamp(now())
    if config.get("gcsDestination"):
        prefix = config["gcsDestination"]["outputUriPrefix"].rstrip("/")
        return {"gcsOutputDirectory": f"{prefix}/prediction-{model_name}-{moment}"}
    dataset = config["bigqueryDestination"]["outputUri"]
    return {"bigqueryOutputDataset": dataset, "bigqueryOutputTable": f"predictions_{moment}"}


def create_batch_prediction_job(state: State, call: Call) -> dict[str, Any]:
    job = drop(copy.deepcopy(call.body), _OUTPUT_ONLY)
    canonical_enums(job, BATCH_SPEC, "batch_prediction_job")
    get_string(job, "displayName", "batch_prediction_job", required=True)
    model_ref = get_string(job, "model", "batch_prediction_job", required=True)
    model_name, version = _split_model_ref(model_ref, "batch_prediction_job.model")
    if not model_name.startswith(f"{call.parent}/models/"):
        raise invalid(f"model {model_name!r} must be a model of {call.parent}.")
    record = _model(state, model_name)
    version_id = record.resolve(version)
    job["model"] = model_name if version is None else f"{model_name}@{version}"
    _check_input(job)
    _check_output(job)
    _check_resources(job)
    check_labels(job.get("labels", {}), "batch_prediction_job.labels")
    prefix = f"{call.parent}/{_COLLECTION}/"
    name = prefix + state.new_id(state.batch_jobs, prefix)
    moment = timestamp(now())
    job.update(
        name=name,
        modelVersionId=version_id,
        state="JOB_STATE_PENDING",
        createTime=moment,
        updateTime=moment,
    )
    state.batch_jobs[name] = job
    injected: ApiError | None = call.operation_failure()
    display = record.fields.get("displayName", model_name.rsplit("/", 1)[-1])

    def start() -> None:
        if state.batch_jobs.get(name) is job and job["state"] == "JOB_STATE_PENDING":
            stamp = timestamp(now())
            job.update(state="JOB_STATE_RUNNING", startTime=stamp, updateTime=stamp)
            state.after_delay(finish)

    def finish() -> None:
        if state.batch_jobs.get(name) is not job or job["state"] != "JOB_STATE_RUNNING":
            return
        stamp = timestamp(now())
        job.update(endTime=stamp, updateTime=stamp)
        if injected is not None:
            job.update(state="JOB_STATE_FAILED", error=injected.rpc_status())
            return
        job.update(
            state="JOB_STATE_SUCCEEDED",
            outputInfo=_output_info(job, display),
            completionStats={"successfulCount": "100", "failedCount": "0", "incompleteCount": "0"},
        )

    state.after_delay(start)
    return call.reply(job, BATCH_SPEC)


def get_batch_prediction_job(state: State, call: Call) -> dict[str, Any]:
    return call.reply(_job(state, call), BATCH_SPEC)


def list_batch_prediction_jobs(state: State, call: Call) -> dict[str, Any]:
    prefix = f"{call.parent}/{_COLLECTION}/"
    docs = [job for name, job in state.batch_jobs.items() if name.startswith(prefix)]
    return call.reply(list_page(call.query, docs, _COLLECTION, call.path), {_COLLECTION: BATCH_SPEC})


def cancel_batch_prediction_job(state: State, call: Call) -> dict[str, Any]:
    job = _job(state, call)
    if job["state"] not in _ACTIVE or job["state"] == "JOB_STATE_CANCELLING":
        if job["state"] == "JOB_STATE_CANCELLING":
            return {}
        raise precondition(f"BatchPredictionJob {job['name']} is {job['state']}: it cannot be cancelled.")
    moment = timestamp(now())
    job.update(state="JOB_STATE_CANCELLING", updateTime=moment)
    name = job["name"]

    def cancelled() -> None:
        if state.batch_jobs.get(name) is job and job["state"] == "JOB_STATE_CANCELLING":
            stamp = timestamp(now())
            job.update(
                state="JOB_STATE_CANCELLED",
                endTime=stamp,
                updateTime=stamp,
                error=ApiError("CANCELLED", "The job was cancelled.").rpc_status(),
            )

    state.after_delay(cancelled)
    return {}


def delete_batch_prediction_job(state: State, call: Call) -> dict[str, Any]:
    job = _job(state, call)
    if job["state"] in _ACTIVE:
        raise precondition(
            f"BatchPredictionJob {job['name']} is {job['state']}: cancel it and wait for it to end "
            "before deleting it."
        )
    name = job["name"]

    def complete() -> dict[str, Any]:
        if state.batch_jobs.pop(name, None) is None:
            raise not_found(f"BatchPredictionJob {name} is not found.")
        return {}

    # Vertex names this operation under the location (the client has no route for
    # `batchPredictionJobs/*/operations/*`).
    return state.start_operation(
        call, call.parent, "DeleteOperationMetadata", EMPTY, complete, holds=frozenset({name})
    )
