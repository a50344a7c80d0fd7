"""Vertex AI model deployment monitoring jobs and schedules for the emulator: the handlers of the
`JobService` and `ScheduleService` routes it serves.

* A monitoring job watches deployed models of one endpoint (an endpoint names its monitoring job,
  so it has at most one). It is created `JOB_STATE_PENDING` and runs (`JOB_STATE_RUNNING`) once
  `operation_delay_seconds` have passed; pause/resume move it to and from `JOB_STATE_PAUSED`.
  Creating it, pausing and resuming are plain calls; updating and deleting are long-running.
* A schedule starts a pipeline on a cron (`TZ=`/`CRON_TZ=` prefix with an IANA zone, then five
  fields). Its `nextRunTime` is computed when it is read, so it never lags behind the clock; the
  emulator never starts a run on the cron. Only deletion is long-running.
* A pipeline job (`PipelineService`: `POST {L}/pipelineJobs?pipelineJobId=ID`, get, list,
  `:cancel`, delete) is what a schedule's trigger, or anyone, starts by hand: a plain call answering
  the job `PIPELINE_STATE_QUEUED`. It runs (`PIPELINE_STATE_RUNNING`, `startTime`) once
  `operation_delay_seconds` have passed and succeeds (`PIPELINE_STATE_SUCCEEDED`, `endTime`) after
  as long again. The id is the caller's when it gives one (`[a-z][-a-z0-9]{0,127}`; a second
  create under it is ALREADY_EXISTS, which is how a retried create is recognised), else 19
  digits. A fail rule with `in_operation: true` matching the create (`POST .../pipelineJobs`) lets
  the create succeed and makes the job end `PIPELINE_STATE_FAILED` with the rule's status and
  message as its `error` (a google.rpc.Status). `:cancel` moves a queued or running job to
  `PIPELINE_STATE_CANCELLING`, then to `PIPELINE_STATE_CANCELLED`; delete is long-running and
  refused until the job has ended (FAILED_PRECONDITION), as on Vertex."""

from __future__ import annotations

import copy
import math
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .core import (
    EMPTY,
    ApiError,
    Call,
    Enum,
    EnumSpec,
    State,
    apply_mask,
    canonical_enums,
    canonical_name,
    check_labels,
    drop,
    get_int,
    get_list,
    get_object,
    get_string,
    invalid,
    list_page,
    mask_paths,
    not_found,
    now,
    parse_duration,
    parse_timestamp,
    precondition,
    set_or_drop,
    snake,
    timestamp,
)

JOB_STATE = Enum(
    "google.cloud.aiplatform.v1.JobState",
    {
        "JOB_STATE_UNSPECIFIED": 0,
        "JOB_STATE_QUEUED": 1,
        "JOB_STATE_PENDING": 2,
        "JOB_STATE_RUNNING": 3,
        "JOB_STATE_SUCCEEDED": 4,
        "JOB_STATE_FAILED": 5,
        "JOB_STATE_CANCELLING": 6,
        "JOB_STATE_CANCELLED": 7,
        "JOB_STATE_PAUSED": 8,
        "JOB_STATE_EXPIRED": 9,
        "JOB_STATE_UPDATING": 10,
        "JOB_STATE_PARTIALLY_SUCCEEDED": 11,
    },
)
MONITORING_SCHEDULE_STATE = Enum(
    "google.cloud.aiplatform.v1.ModelDeploymentMonitoringJob.MonitoringScheduleState",
    {"MONITORING_SCHEDULE_STATE_UNSPECIFIED": 0, "PENDING": 1, "OFFLINE": 2, "RUNNING": 3},
)
PREDICTION_FORMAT = Enum(
    "google.cloud.aiplatform.v1.ModelMonitoringObjectiveConfig.ExplanationConfig.ExplanationBaseline."
    "PredictionFormat",
    {"PREDICTION_FORMAT_UNSPECIFIED": 0, "JSONL": 2, "BIGQUERY": 3},
)
SCHEDULE_STATE = Enum(
    "google.cloud.aiplatform.v1.Schedule.State",
    {"STATE_UNSPECIFIED": 0, "ACTIVE": 1, "PAUSED": 2, "COMPLETED": 3},
)
PIPELINE_STATE = Enum(
    "google.cloud.aiplatform.v1.PipelineState",
    {
        "PIPELINE_STATE_UNSPECIFIED": 0,
        "PIPELINE_STATE_QUEUED": 1,
        "PIPELINE_STATE_PENDING": 2,
        "PIPELINE_STATE_RUNNING": 3,
        "PIPELINE_STATE_SUCCEEDED": 4,
        "PIPELINE_STATE_FAILED": 5,
        "PIPELINE_STATE_CANCELLING": 6,
        "PIPELINE_STATE_CANCELLED": 7,
        "PIPELINE_STATE_PAUSED": 8,
    },
)
PIPELINE_FAILURE_POLICY = Enum(
    "google.cloud.aiplatform.v1.PipelineFailurePolicy",
    {
        "PIPELINE_FAILURE_POLICY_UNSPECIFIED": 0,
        "PIPELINE_FAILURE_POLICY_FAIL_SLOW": 1,
        "PIPELINE_FAILURE_POLICY_FAIL_FAST": 2,
    },
)

JOB_SPEC: EnumSpec = {
    "state": JOB_STATE,
    "scheduleState": MONITORING_SCHEDULE_STATE,
    "modelDeploymentMonitoringObjectiveConfigs": {
        "objectiveConfig": {
            "explanationConfig": {"explanationBaseline": {"predictionFormat": PREDICTION_FORMAT}}
        }
    },
}
SCHEDULE_SPEC: EnumSpec = {
    "state": SCHEDULE_STATE,
    "createPipelineJobRequest": {
        "pipelineJob": {"state": PIPELINE_STATE, "runtimeConfig": {"failurePolicy": PIPELINE_FAILURE_POLICY}}
    },
}

_JOB_OUTPUT_ONLY = frozenset(
    {
        "name", "state", "scheduleState", "latestMonitoringPipelineMetadata", "createTime", "updateTime",
        "nextScheduleTime", "error", "bigqueryTables", "satisfiesPzs", "satisfiesPzi",
    }
)  # fmt: skip
_JOB_UPDATABLE = frozenset(
    {
        "displayName", "modelDeploymentMonitoringScheduleConfig", "modelMonitoringAlertConfig",
        "loggingSamplingStrategy", "labels", "logTtl", "enableMonitoringPipelineLogs",
        "modelDeploymentMonitoringObjectiveConfigs",
    }
)  # fmt: skip
_OBJECTIVES = "modelDeploymentMonitoringObjectiveConfigs"

_SCHEDULE_OUTPUT_ONLY = frozenset(
    {
        "name", "state", "createTime", "updateTime", "nextRunTime", "lastPauseTime", "lastResumeTime",
        "startedRunCount", "lastScheduledRunResponse", "catchUp",
    }
)  # fmt: skip
_SCHEDULE_UPDATABLE = frozenset(
    {
        "displayName", "cron", "maxConcurrentRunCount", "maxRunCount", "startTime", "endTime",
        "allowQueueing", "createPipelineJobRequest",
    }
)  # fmt: skip
_CRON_TZ = re.compile(r"(?:CRON_TZ|TZ)=(\S*)\s+(.*)", re.DOTALL)


# ---- monitoring jobs -----------------------------------------------------------------------------


def _job(state: State, call: Call) -> dict[str, Any]:
    name = f"{call.parent}/modelDeploymentMonitoringJobs/{call.groups['job']}"
    job = state.jobs.get(name)
    if job is None:
        raise not_found(f"ModelDeploymentMonitoringJob {name} is not found.")
    return job


def _check_objectives(job: dict[str, Any], deployed_ids: set[str], endpoint: str) -> None:
    configs = get_list(job, _OBJECTIVES)
    if not configs:
        raise invalid("model_deployment_monitoring_objective_configs is required.")
    seen: set[str] = set()
    for index, config in enumerate(configs):
        where = f"model_deployment_monitoring_objective_configs[{index}]"
        if not isinstance(config, dict):
            raise invalid(f"Invalid value at '{where}': expected an object.")
        deployed_id = get_string(config, "deployedModelId", where, required=True)
        if deployed_id not in deployed_ids:
            raise invalid(f"{where}: DeployedModel {deployed_id} is not deployed on endpoint {endpoint}.")
        if deployed_id in seen:
            raise invalid(f"{where}: DeployedModel {deployed_id} is configured twice.")
        seen.add(deployed_id)
        objective = get_object(config, "objectiveConfig", where, required=True)
        skew = get_object(objective, "trainingPredictionSkewDetectionConfig", f"{where}.objective_config")
        if skew and not get_object(objective, "trainingDataset", f"{where}.objective_config"):
            raise invalid(
                f"{where}.objective_config: skew detection needs a training_dataset to compare with."
            )


def _check_job(state: State, call: Call, job: dict[str, Any]) -> dict[str, Any]:
    """Validate a monitoring job document; returns the endpoint it monitors."""
    get_string(job, "displayName", "model_deployment_monitoring_job", required=True)
    endpoint_name = canonical_name(
        get_string(job, "endpoint", "model_deployment_monitoring_job", required=True)
    )
    job["endpoint"] = endpoint_name
    if not endpoint_name.startswith(f"{call.parent}/endpoints/"):
        raise invalid(f"endpoint {endpoint_name!r} must be an endpoint of {call.parent}.")
    endpoint = state.endpoints.get(endpoint_name)
    if endpoint is None:
        raise not_found(f"Endpoint {endpoint_name} is not found.")
    deployed_ids = {deployed["id"] for deployed in endpoint.get("deployedModels", [])}
    _check_objectives(job, deployed_ids, endpoint_name)
    schedule = get_object(job, "modelDeploymentMonitoringScheduleConfig", required=True)
    where = "model_deployment_monitoring_schedule_config.monitor_interval"
    if parse_duration(schedule.get("monitorInterval"), where) <= 0:
        raise invalid(f"{where} must be positive.")
    sampling = get_object(job, "loggingSamplingStrategy", required=True)
    rate = get_object(sampling, "randomSampleConfig", "logging_sampling_strategy", required=True).get(
        "sampleRate"
    )
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
        raise invalid(
            f"logging_sampling_strategy.random_sample_config.sample_rate must be in (0, 1], got {rate!r}."
        )
    alerts = get_object(get_object(job, "modelMonitoringAlertConfig"), "emailAlertConfig")
    for email in get_list(alerts, "userEmails", "model_monitoring_alert_config.email_alert_config"):
        if not isinstance(email, str) or "@" not in email:
            raise invalid(
                f"model_monitoring_alert_config.email_alert_config: {email!r} is not an email address."
            )
    check_labels(job.get("labels", {}), "model_deployment_monitoring_job.labels")
    return endpoint


def _job_document(job: dict[str, Any]) -> dict[str, Any]:
    doc = dict(job)
    if job["state"] in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING"):
        # Runs start every monitor interval from the job's creation.
        interval = parse_duration(job["modelDeploymentMonitoringScheduleConfig"]["monitorInterval"], "")
        created = parse_timestamp(job["createTime"], "createTime")
        elapsed = (now() - created).total_seconds()
        runs = max(1, math.floor(elapsed / interval) + 1)
        doc["nextScheduleTime"] = timestamp(created + timedelta(seconds=runs * interval))
    return doc


def create_job(state: State, call: Call) -> dict[str, Any]:
    job = drop(copy.deepcopy(call.body), _JOB_OUTPUT_ONLY)
    canonical_enums(job, JOB_SPEC, "model_deployment_monitoring_job")
    endpoint = _check_job(state, call, job)
    existing = endpoint.get("modelDeploymentMonitoringJob")
    if existing:
        raise precondition(f"Endpoint {endpoint['name']} is already monitored by {existing}.")
    prefix = f"{call.parent}/modelDeploymentMonitoringJobs/"
    name = prefix + state.new_id(state.jobs, prefix)
    moment = timestamp(now())
    job.update(
        name=name, state="JOB_STATE_PENDING", scheduleState="PENDING", createTime=moment, updateTime=moment
    )
    state.jobs[name] = job
    endpoint["modelDeploymentMonitoringJob"] = name

    def start() -> None:
        if state.jobs.get(name) is job and job["state"] == "JOB_STATE_PENDING":
            job.update(state="JOB_STATE_RUNNING", updateTime=timestamp(now()))

    state.after_delay(start)
    state.settle()
    return call.reply(_job_document(job), JOB_SPEC)


def get_job(state: State, call: Call) -> dict[str, Any]:
    return call.reply(_job_document(_job(state, call)), JOB_SPEC)


def list_jobs(state: State, call: Call) -> dict[str, Any]:
    prefix = f"{call.parent}/modelDeploymentMonitoringJobs/"
    docs = [_job_document(job) for name, job in state.jobs.items() if name.startswith(prefix)]
    key = "modelDeploymentMonitoringJobs"
    return call.reply(list_page(call.query, docs, key, call.path), {key: JOB_SPEC})


def _apply_job_changes(job: dict[str, Any], changes: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """`job` with the masked paths taken from `changes`. Paths inside an objective config
    (`model_deployment_monitoring_objective_configs.objective_config.training_dataset`) update the
    config of the same deployed model."""
    candidate = copy.deepcopy(job)
    for path in paths:
        top, _, inner = path.partition(".")
        if top != _OBJECTIVES or not inner:
            apply_mask(candidate, changes, [path])
            continue
        current = {config.get("deployedModelId"): config for config in candidate.get(_OBJECTIVES, [])}
        for config in get_list(changes, _OBJECTIVES):
            target = current.get(config.get("deployedModelId")) if isinstance(config, dict) else None
            if target is None:
                raise invalid(f"{path}: no objective config for deployed model {config!r} to update.")
            apply_mask(target, config, [inner])
    return candidate


def update_job(state: State, call: Call) -> dict[str, Any]:
    job = _job(state, call)
    name = job["name"]
    changes = copy.deepcopy(call.body)
    canonical_enums(changes, JOB_SPEC, "model_deployment_monitoring_job")
    paths = mask_paths(
        call.query.get("updateMask"), _JOB_UPDATABLE, "ModelDeploymentMonitoringJob", required=False
    )
    # Without a mask, the fields the request sets are the ones to change.
    paths = paths or [key for key in sorted(_JOB_UPDATABLE) if changes.get(key) not in (None, "", [], {})]
    if not paths:
        raise invalid("Nothing to update: give an update_mask or set the fields to change.")
    _check_job(state, call, _apply_job_changes(job, changes, paths))

    def complete() -> dict[str, Any]:
        current = state.jobs.get(name)
        if current is None:
            raise not_found(f"ModelDeploymentMonitoringJob {name} is not found.")
        candidate = _apply_job_changes(current, changes, paths)
        _check_job(state, call, candidate)
        candidate["updateTime"] = timestamp(now())
        current.clear()
        current.update(candidate)
        return _job_document(current)

    return state.start_operation(
        call,
        name,
        "UpdateModelDeploymentMonitoringJobOperationMetadata",
        "ModelDeploymentMonitoringJob",
        complete,
        response_spec=JOB_SPEC,
    )


def delete_job(state: State, call: Call) -> dict[str, Any]:
    name = _job(state, call)["name"]

    def complete() -> dict[str, Any]:
        job = state.jobs.pop(name, None)
        if job is None:
            raise not_found(f"ModelDeploymentMonitoringJob {name} is not found.")
        endpoint = state.endpoints.get(job["endpoint"])
        if endpoint is not None and endpoint.get("modelDeploymentMonitoringJob") == name:
            del endpoint["modelDeploymentMonitoringJob"]
        return {}

    return state.start_operation(call, name, "DeleteOperationMetadata", EMPTY, complete)


def pause_job(state: State, call: Call) -> dict[str, Any]:
    job = _job(state, call)
    if job["state"] not in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING"):
        raise precondition(
            f"ModelDeploymentMonitoringJob {job['name']} is {job['state']}: it cannot be paused."
        )
    job.update(state="JOB_STATE_PAUSED", scheduleState="OFFLINE", updateTime=timestamp(now()))
    return {}


def resume_job(state: State, call: Call) -> dict[str, Any]:
    job = _job(state, call)
    if job["state"] != "JOB_STATE_PAUSED":
        raise precondition(
            f"ModelDeploymentMonitoringJob {job['name']} is {job['state']}: only a paused job resumes."
        )
    job.update(state="JOB_STATE_RUNNING", scheduleState="PENDING", updateTime=timestamp(now()))
    return {}


# ---- schedules -----------------------------------------------------------------------------------


def parse_cron(cron: Any) -> tuple[ZoneInfo, str]:
    """`[TZ=Zone ]m h dom mon dow` -> (zone, five-field expression); INVALID_ARGUMENT otherwise."""
    if not isinstance(cron, str) or not cron.strip():
        raise invalid("cron is required.")
    zone_name, expression = "UTC", cron.strip()
    prefixed = _CRON_TZ.fullmatch(expression)
    if prefixed is not None:
        zone_name, expression = prefixed.groups()
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid(f"Invalid cron {cron!r}: {zone_name!r} is not an IANA time zone.") from None
    fields = expression.split()
    if len(fields) != 5:
        raise invalid(
            f"Invalid cron {cron!r}: expected 5 fields (minute hour day month weekday), got {len(fields)}."
        )
    # Imported here: the emulator module loads fast, and only schedules need croniter.
    from croniter import croniter

    expression = " ".join(fields)
    if not croniter.is_valid(expression):
        raise invalid(f"Invalid cron {cron!r}: {expression!r} is not a valid cron expression.")
    return zone, expression


def _check_schedule(call: Call, schedule: dict[str, Any]) -> None:
    get_string(schedule, "displayName", "schedule", required=True)
    parse_cron(schedule.get("cron"))
    if schedule.get("createNotebookExecutionJobRequest"):
        raise ApiError(
            "UNIMPLEMENTED", "The emulator schedules pipeline jobs only (create_pipeline_job_request)."
        )
    request = get_object(schedule, "createPipelineJobRequest", "schedule", required=True)
    parent = canonical_name(
        get_string(request, "parent", "schedule.create_pipeline_job_request", required=True)
    )
    request["parent"] = parent
    if parent != call.parent:
        raise invalid(
            f"create_pipeline_job_request.parent {parent!r} must be the schedule's parent {call.parent!r}."
        )
    job = get_object(request, "pipelineJob", "schedule.create_pipeline_job_request", required=True)
    if bool(job.get("templateUri")) == bool(job.get("pipelineSpec")):
        raise invalid(
            "create_pipeline_job_request.pipeline_job needs exactly one of template_uri and pipeline_spec."
        )
    for key, minimum in (("maxConcurrentRunCount", 1), ("maxRunCount", 0)):
        count = get_int(schedule, key, "schedule", minimum=minimum)
        set_or_drop(schedule, key, str(count) if count else None)  # int64: a string in proto3 JSON
    start = schedule.get("startTime")
    end = schedule.get("endTime")
    if (
        start is not None
        and end is not None
        and parse_timestamp(end, "end_time") <= parse_timestamp(start, "start_time")
    ):
        raise invalid("end_time must be after start_time.")
    for key in ("startTime", "endTime"):
        if key in schedule:
            schedule[key] = timestamp(parse_timestamp(schedule[key], key))


def _schedule(state: State, call: Call) -> dict[str, Any]:
    name = f"{call.parent}/schedules/{call.groups['schedule']}"
    schedule = state.schedules.get(name)
    if schedule is None:
        raise not_found(f"Schedule {name} is not found.")
    return schedule


def _next_run(schedule: dict[str, Any], moment: datetime) -> datetime | None:
    from croniter import croniter

    zone, expression = parse_cron(schedule["cron"])
    base = moment
    if "startTime" in schedule:
        # A run may fall on the start time itself: look from just before it.
        base = max(base, parse_timestamp(schedule["startTime"], "startTime") - timedelta(microseconds=1))
    following: datetime = croniter(expression, base.astimezone(zone)).get_next(datetime)
    if "endTime" in schedule and following > parse_timestamp(schedule["endTime"], "endTime"):
        return None
    return following


def _schedule_document(schedule: dict[str, Any]) -> dict[str, Any]:
    moment = now()
    if "endTime" in schedule and moment >= parse_timestamp(schedule["endTime"], "endTime"):
        schedule["state"] = "COMPLETED"
    doc = dict(schedule)
    if schedule["state"] == "ACTIVE":
        following = _next_run(schedule, moment)
        if following is not None:
            doc["nextRunTime"] = timestamp(following)
    return doc


def create_schedule(state: State, call: Call) -> dict[str, Any]:
    schedule = drop(copy.deepcopy(call.body), _SCHEDULE_OUTPUT_ONLY)
    canonical_enums(schedule, SCHEDULE_SPEC, "schedule")
    _check_schedule(call, schedule)
    prefix = f"{call.parent}/schedules/"
    name = prefix + state.new_id(state.schedules, prefix)
    moment = timestamp(now())
    schedule.update(name=name, state="ACTIVE", createTime=moment, updateTime=moment)
    state.schedules[name] = schedule
    return call.reply(_schedule_document(schedule), SCHEDULE_SPEC)


def get_schedule(state: State, call: Call) -> dict[str, Any]:
    return call.reply(_schedule_document(_schedule(state, call)), SCHEDULE_SPEC)


def list_schedules(state: State, call: Call) -> dict[str, Any]:
    prefix = f"{call.parent}/schedules/"
    docs = [_schedule_document(s) for name, s in state.schedules.items() if name.startswith(prefix)]
    return call.reply(list_page(call.query, docs, "schedules", call.path), {"schedules": SCHEDULE_SPEC})


def update_schedule(state: State, call: Call) -> dict[str, Any]:
    """PATCH (not long-running). As Vertex documents: a field that is set cannot be unset."""
    schedule = _schedule(state, call)
    changes = copy.deepcopy(call.body)
    canonical_enums(changes, SCHEDULE_SPEC, "schedule")
    paths = mask_paths(call.query.get("updateMask"), _SCHEDULE_UPDATABLE, "Schedule")
    candidate = copy.deepcopy(schedule)
    apply_mask(candidate, changes, paths)
    unset = sorted({path.split(".")[0] for path in paths} & (schedule.keys() - candidate.keys()))
    if unset:
        raise invalid(
            f"Field(s) {[snake(key) for key in unset]} of the schedule are set and cannot be unset."
        )
    _check_schedule(call, candidate)
    candidate["updateTime"] = timestamp(now())
    schedule.clear()
    schedule.update(candidate)
    return call.reply(_schedule_document(schedule), SCHEDULE_SPEC)


def delete_schedule(state: State, call: Call) -> dict[str, Any]:
    name = _schedule(state, call)["name"]

    def complete() -> dict[str, Any]:
        if state.schedules.pop(name, None) is None:
            raise not_found(f"Schedule {name} is not found.")
        return {}

    return state.start_operation(call, name, "DeleteOperationMetadata", EMPTY, complete)


def pause_schedule(state: State, call: Call) -> dict[str, Any]:
    schedule = _schedule(state, call)
    _schedule_document(schedule)  # a schedule past its end time is COMPLETED, not ACTIVE
    if schedule["state"] != "ACTIVE":
        raise precondition(
            f"Schedule {schedule['name']} is {schedule['state']}: only an active schedule pauses."
        )
    moment = timestamp(now())
    schedule.update(state="PAUSED", lastPauseTime=moment, updateTime=moment)
    return {}


def resume_schedule(state: State, call: Call) -> dict[str, Any]:
    schedule = _schedule(state, call)
    _schedule_document(schedule)
    if schedule["state"] != "PAUSED":
        raise precondition(
            f"Schedule {schedule['name']} is {schedule['state']}: only a paused schedule resumes."
        )
    catch_up = call.body.get("catchUp", False)
    if not isinstance(catch_up, bool):
        raise invalid("Invalid value at 'catch_up': expected a boolean.")
    moment = timestamp(now())
    schedule.update(state="ACTIVE", lastResumeTime=moment, updateTime=moment)
    set_or_drop(schedule, "catchUp", catch_up)
    return {}


# ---- pipeline jobs -------------------------------------------------------------------------------

PIPELINE_JOB_SPEC: EnumSpec = {
    "state": PIPELINE_STATE,
    "runtimeConfig": {"failurePolicy": PIPELINE_FAILURE_POLICY},
}
_PIPELINE_OUTPUT_ONLY = frozenset(
    {
        "name", "createTime", "startTime", "endTime", "updateTime", "state", "jobDetail", "error",
        "scheduleName", "templateMetadata", "satisfiesPzs", "satisfiesPzi",
    }
)  # fmt: skip
_PIPELINE_JOB_ID = re.compile(r"[a-z][-a-z0-9]{0,127}")
_PIPELINE_ACTIVE = (
    "PIPELINE_STATE_QUEUED", "PIPELINE_STATE_PENDING", "PIPELINE_STATE_RUNNING", "PIPELINE_STATE_CANCELLING",
)  # fmt: skip
_PIPELINE_JOBS = "pipelineJobs"


def _pipeline_job(state: State, call: Call) -> dict[str, Any]:
    name = f"{call.parent}/{_PIPELINE_JOBS}/{call.groups['pipeline_job']}"
    # Pipeline jobs share the store of monitoring jobs (cleared with it on reset): their names,
    # under `pipelineJobs/`, never meet those under `modelDeploymentMonitoringJobs/`.
    job = state.jobs.get(name)
    if job is None:
        raise not_found(f"PipelineJob {name} is not found.")
    return job


def create_pipeline_job(state: State, call: Call) -> dict[str, Any]:
    job = drop(copy.deepcopy(call.body), _PIPELINE_OUTPUT_ONLY)
    canonical_enums(job, PIPELINE_JOB_SPEC, "pipeline_job")
    if bool(job.get("templateUri")) == bool(job.get("pipelineSpec")):
        raise invalid("pipeline_job needs exactly one of template_uri and pipeline_spec.")
    runtime = get_object(job, "runtimeConfig", "pipeline_job")
    get_object(runtime, "parameterValues", "pipeline_job.runtime_config")
    root = runtime.get("gcsOutputDirectory")
    if job.get("pipelineSpec") and not root and not job["pipelineSpec"].get("defaultPipelineRoot"):
        raise invalid(
            "pipeline_job.runtime_config.gcs_output_directory is required: the pipeline spec has no "
            "default pipeline root."
        )
    if root is not None and (not isinstance(root, str) or not root.startswith("gs://")):
        raise invalid(f"pipeline_job.runtime_config.gcs_output_directory {root!r} must be a gs:// URI.")
    check_labels(job.get("labels", {}), "pipeline_job.labels")
    prefix = f"{call.parent}/{_PIPELINE_JOBS}/"
    chosen = call.query.get("pipelineJobId")
    if chosen:
        if not _PIPELINE_JOB_ID.fullmatch(chosen):
            raise invalid(f"pipeline_job_id {chosen!r} must match [a-z][-a-z0-9]{{0,127}}.")
        if prefix + chosen in state.jobs:
            raise ApiError("ALREADY_EXISTS", f"PipelineJob {prefix + chosen} already exists.")
    name = prefix + (chosen or state.new_id(state.jobs, prefix))
    moment = timestamp(now())
    job.update(name=name, state="PIPELINE_STATE_QUEUED", createTime=moment, updateTime=moment)
    state.jobs[name] = job
    injected: ApiError | None = call.operation_failure()

    def start() -> None:
        if state.jobs.get(name) is job and job["state"] == "PIPELINE_STATE_QUEUED":
            stamp = timestamp(now())
            job.update(state="PIPELINE_STATE_RUNNING", startTime=stamp, updateTime=stamp)
            state.after_delay(finish)

    def finish() -> None:
        if state.jobs.get(name) is not job or job["state"] != "PIPELINE_STATE_RUNNING":
            return
        stamp = timestamp(now())
        job.update(endTime=stamp, updateTime=stamp)
        if injected is not None:
            job.update(state="PIPELINE_STATE_FAILED", error=injected.rpc_status())
        else:
            job["state"] = "PIPELINE_STATE_SUCCEEDED"

    state.after_delay(start)
    return call.reply(job, PIPELINE_JOB_SPEC)


def get_pipeline_job(state: State, call: Call) -> dict[str, Any]:
    return call.reply(_pipeline_job(state, call), PIPELINE_JOB_SPEC)


def list_pipeline_jobs(state: State, call: Call) -> dict[str, Any]:
    prefix = f"{call.parent}/{_PIPELINE_JOBS}/"
    docs = [job for name, job in state.jobs.items() if name.startswith(prefix)]
    return call.reply(
        list_page(call.query, docs, _PIPELINE_JOBS, call.path), {_PIPELINE_JOBS: PIPELINE_JOB_SPEC}
    )


def cancel_pipeline_job(state: State, call: Call) -> dict[str, Any]:
    job = _pipeline_job(state, call)
    if job["state"] == "PIPELINE_STATE_CANCELLING":
        return {}
    if job["state"] not in _PIPELINE_ACTIVE:
        raise precondition(f"PipelineJob {job['name']} is {job['state']}: it cannot be cancelled.")
    job.update(state="PIPELINE_STATE_CANCELLING", updateTime=timestamp(now()))
    name = job["name"]

    def cancelled() -> None:
        if state.jobs.get(name) is job and job["state"] == "PIPELINE_STATE_CANCELLING":
            stamp = timestamp(now())
            job.update(
                state="PIPELINE_STATE_CANCELLED",
                endTime=stamp,
                updateTime=stamp,
                error=ApiError("CANCELLED", "The pipeline job was cancelled.").rpc_status(),
            )

    state.after_delay(cancelled)
    return {}


def delete_pipeline_job(state: State, call: Call) -> dict[str, Any]:
    job = _pipeline_job(state, call)
    if job["state"] in _PIPELINE_ACTIVE:
        raise precondition(
            f"PipelineJob {job['name']} is {job['state']}: cancel it and wait for it to end before "
            "deleting it."
        )
    name = job["name"]

    def complete() -> dict[str, Any]:
        if state.jobs.pop(name, None) is None:
            raise not_found(f"PipelineJob {name} is not found.")
        return {}

    return state.start_operation(call, name, "DeleteOperationMetadata", EMPTY, complete)
