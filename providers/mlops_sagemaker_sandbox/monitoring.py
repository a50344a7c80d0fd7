"""Monitoring schedules for the SageMaker emulator: moto has none of the MonitoringSchedule calls.

The gateway in `server.py` hands these operations to `MonitoringSchedules.serve()`, one instance
per account and region, with the request's parameters and moto's SageMaker backend for that account
and region, where the job definitions a schedule names live (moto stores all four kinds). Responses
are the API's output shapes as dicts (timestamps as datetimes, for the gateway to encode);
`MonitoringError` is an AWS error to answer. No moto import: the backend is used through the
attributes of its job-definition objects.

Behaviour, after the SageMaker API reference for these operations:

* a schedule is `Pending` for the emulator's endpoint delay after it is created or updated, then
  `Scheduled`; StopMonitoringSchedule makes it `Stopped`, StartMonitoringSchedule `Scheduled` again,
  and an update leaves a stopped schedule stopped;
* a schedule names a job definition (`MonitoringJobDefinitionName`, with `MonitoringType`, which is
  inferred from the definition found when omitted) or carries one inline (`MonitoringJobDefinition`,
  which SageMaker records as type DataQuality with a default StoppingCondition of one hour); the
  endpoint it watches is the job's endpoint input;
* monitoring jobs never run: ListMonitoringExecutions is always empty and no schedule has a
  LastMonitoringExecutionSummary;
* ListMonitoringSchedules sorts by CreationTime, Descending, 10 to a page unless told otherwise.

Messages of the errors SageMaker gives for a duplicate or missing schedule or job definition are
not documented; the codes are those of the API reference (ResourceInUse, ResourceNotFound) or
ValidationException for bad input."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["ACTIONS", "JOB_DEFINITION_TYPES", "MonitoringError", "MonitoringSchedules"]

# MonitoringType -> (the moto backend's dict of such job definitions, the definition's job-input attribute)
_JOB_DEFINITIONS: dict[str, tuple[str, str]] = {
    "DataQuality": ("data_quality_job_definitions", "data_quality_job_input"),
    "ModelQuality": ("model_quality_job_definitions", "model_quality_job_input"),
    "ModelBias": ("model_bias_job_definitions", "model_bias_job_input"),
    "ModelExplainability": ("model_explainability_job_definitions", "model_explainability_job_input"),
}
JOB_DEFINITION_TYPES = tuple(_JOB_DEFINITIONS)

# The expressions Model Monitor documents (API reference, ScheduleConfig): hourly
# `cron(0 * ? * * *)`, daily `cron(0 [00-23] ? * * *)`, every N hours from hour H
# `cron(0 [00-23]/[01-24] ? * * *)`, and NOW, one run at once.
_SCHEDULE_EXPRESSION = re.compile(
    r"cron\(0 (?:\*|(?P<hour>\d{1,2})(?:/(?P<every>\d{1,2}))?) \? \* \* \*\)|NOW"
)
_DEFAULT_MAX_RESULTS = 10
_DEFAULT_STOPPING_CONDITION = {"MaxRuntimeInSeconds": 3600}


class MonitoringError(Exception):
    """An AWS client error (HTTP 400) for the gateway to answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _validation(message: str) -> MonitoringError:
    return MonitoringError("ValidationException", message)


@dataclass
class _Schedule:
    name: str
    arn: str
    config: dict[str, Any]
    monitoring_type: str
    endpoint_name: str | None
    creation_time: datetime
    last_modified_time: datetime
    pending_until: datetime  # Pending until then, Scheduled after (unless stopped)
    stopped: bool = False
    tags: list[dict[str, str]] = field(default_factory=list)

    def status(self, now: datetime) -> str:
        if self.stopped:
            return "Stopped"
        return "Pending" if now < self.pending_until else "Scheduled"

    def summary(self, now: datetime) -> dict[str, Any]:
        summary = {
            "MonitoringScheduleName": self.name,
            "MonitoringScheduleArn": self.arn,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
            "MonitoringScheduleStatus": self.status(now),
            "EndpointName": self.endpoint_name,
            "MonitoringJobDefinitionName": self.config.get("MonitoringJobDefinitionName"),
            "MonitoringType": self.monitoring_type,
        }
        return {key: value for key, value in summary.items() if value is not None}

    def description(self, now: datetime) -> dict[str, Any]:
        description = {
            "MonitoringScheduleArn": self.arn,
            "MonitoringScheduleName": self.name,
            "MonitoringScheduleStatus": self.status(now),
            "MonitoringType": self.monitoring_type,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
            "MonitoringScheduleConfig": self.config,
            "EndpointName": self.endpoint_name,
        }
        return {key: value for key, value in description.items() if value is not None}


@dataclass(frozen=True)
class _Request:
    backend: Any  # moto's SageMakerModelBackend for the account and region
    params: Mapping[str, Any]
    now: datetime  # moto's clock: naive UTC
    delay: float  # seconds a created or updated schedule stays Pending


class MonitoringSchedules:
    """The monitoring schedules of one account and region."""

    def __init__(self) -> None:
        self._schedules: dict[str, _Schedule] = {}

    def serve(
        self, action: str, backend: Any, params: Mapping[str, Any], now: datetime, delay: float
    ) -> dict[str, Any]:
        """Answer one of `ACTIONS`."""
        return _HANDLERS[action](self, _Request(backend, params, now, delay))

    def by_arn(self, arn: str) -> _Schedule:
        """The schedule with this ARN, whose `tags` the gateway's tagging calls change."""
        for schedule in self._schedules.values():
            if schedule.arn == arn:
                return schedule
        raise _validation(f"Could not find monitoring-schedule with ARN {arn}")

    def using(self, monitoring_type: str, job_definition_name: str) -> list[str]:
        """The schedules that run this job definition (SageMaker keeps it from being deleted)."""
        return [
            s.name
            for s in self._schedules.values()
            if s.monitoring_type == monitoring_type
            and s.config.get("MonitoringJobDefinitionName") == job_definition_name
        ]

    def _get(self, request: _Request) -> _Schedule:
        name = request.params.get("MonitoringScheduleName", "")
        schedule = self._schedules.get(name)
        if schedule is None:
            raise MonitoringError("ResourceNotFound", f"Could not find monitoring schedule '{name}'.")
        return schedule

    def _create(self, request: _Request) -> dict[str, Any]:
        name = request.params.get("MonitoringScheduleName", "")
        existing = self._schedules.get(name)
        if existing is not None:
            raise MonitoringError("ResourceInUse", f'Monitoring schedule "{existing.arn}" already exists.')
        config, monitoring_type, endpoint_name = _resolve(request)
        backend = request.backend
        schedule = _Schedule(
            name=name,
            arn=(
                f"arn:{_partition(backend.region_name)}:sagemaker:{backend.region_name}:{backend.account_id}:"
                f"monitoring-schedule/{name.lower()}"
            ),
            config=config,
            monitoring_type=monitoring_type,
            endpoint_name=endpoint_name,
            creation_time=request.now,
            last_modified_time=request.now,
            pending_until=request.now + timedelta(seconds=request.delay),
            tags=[dict(tag) for tag in request.params.get("Tags") or []],
        )
        self._schedules[name] = schedule
        return {"MonitoringScheduleArn": schedule.arn}

    def _describe(self, request: _Request) -> dict[str, Any]:
        return self._get(request).description(request.now)

    def _update(self, request: _Request) -> dict[str, Any]:
        schedule = self._get(request)
        schedule.config, schedule.monitoring_type, schedule.endpoint_name = _resolve(request)
        schedule.last_modified_time = request.now
        schedule.pending_until = request.now + timedelta(seconds=request.delay)
        return {"MonitoringScheduleArn": schedule.arn}

    def _delete(self, request: _Request) -> dict[str, Any]:
        del self._schedules[self._get(request).name]
        return {}

    def _start(self, request: _Request) -> dict[str, Any]:
        return self._set_stopped(request, stopped=False)

    def _stop(self, request: _Request) -> dict[str, Any]:
        return self._set_stopped(request, stopped=True)

    def _set_stopped(self, request: _Request, *, stopped: bool) -> dict[str, Any]:
        schedule = self._get(request)
        if schedule.stopped != stopped:
            schedule.stopped = stopped
            schedule.last_modified_time = request.now
        return {}

    def _list(self, request: _Request) -> dict[str, Any]:
        params, now = request.params, request.now
        endpoint = params.get("EndpointName")
        name_contains = params.get("NameContains")
        status = params.get("StatusEquals")
        job_definition = params.get("MonitoringJobDefinitionName")
        monitoring_type = params.get("MonitoringTypeEquals")
        time_filters = [
            (key, _timestamp(params[key])) for key in _TIME_FILTERS if params.get(key) is not None
        ]
        selected = [
            s
            for s in self._schedules.values()
            if (endpoint is None or s.endpoint_name == endpoint)
            and (name_contains is None or name_contains in s.name)
            and (status is None or s.status(now) == status)
            and (job_definition is None or s.config.get("MonitoringJobDefinitionName") == job_definition)
            and (monitoring_type is None or s.monitoring_type == monitoring_type)
            and all(_TIME_FILTERS[key](s, bound) for key, bound in time_filters)
        ]
        sort_by = params.get("SortBy", "CreationTime")
        sort_keys: dict[str, Callable[[_Schedule], Any]] = {
            "Name": lambda s: s.name,
            "CreationTime": lambda s: s.creation_time,
            "Status": lambda s: s.status(now),
        }
        if sort_by not in sort_keys:
            raise _validation(f"Invalid SortBy {sort_by!r}: expected one of {', '.join(sort_keys)}.")
        selected.sort(key=sort_keys[sort_by], reverse=params.get("SortOrder", "Descending") == "Descending")

        token = params.get("NextToken") or "0"
        if not token.isdigit():
            raise _validation(f"Invalid NextToken {token!r}.")
        start, size = int(token), int(params.get("MaxResults") or _DEFAULT_MAX_RESULTS)
        page = selected[start : start + size]
        result: dict[str, Any] = {"MonitoringScheduleSummaries": [s.summary(now) for s in page]}
        if start + size < len(selected):
            result["NextToken"] = str(start + size)
        return result

    def _list_executions(self, request: _Request) -> dict[str, Any]:
        return {"MonitoringExecutionSummaries": []}


_HANDLERS: dict[str, Callable[[MonitoringSchedules, _Request], dict[str, Any]]] = {
    "CreateMonitoringSchedule": MonitoringSchedules._create,
    "DescribeMonitoringSchedule": MonitoringSchedules._describe,
    "UpdateMonitoringSchedule": MonitoringSchedules._update,
    "DeleteMonitoringSchedule": MonitoringSchedules._delete,
    "ListMonitoringSchedules": MonitoringSchedules._list,
    "StartMonitoringSchedule": MonitoringSchedules._start,
    "StopMonitoringSchedule": MonitoringSchedules._stop,
    "ListMonitoringExecutions": MonitoringSchedules._list_executions,
}
ACTIONS = frozenset(_HANDLERS)

_TIME_FILTERS: dict[str, Callable[[_Schedule, datetime], bool]] = {
    "CreationTimeBefore": lambda s, bound: s.creation_time < bound,
    "CreationTimeAfter": lambda s, bound: s.creation_time > bound,
    "LastModifiedTimeBefore": lambda s, bound: s.last_modified_time < bound,
    "LastModifiedTimeAfter": lambda s, bound: s.last_modified_time > bound,
}


def _resolve(request: _Request) -> tuple[dict[str, Any], str, str | None]:
    """A MonitoringScheduleConfig as SageMaker records it, its MonitoringType and its endpoint."""
    config = dict(request.params.get("MonitoringScheduleConfig") or {})
    expression = (config.get("ScheduleConfig") or {}).get("ScheduleExpression")
    if expression is not None:
        _check_expression(expression)
    monitoring_type = config.get("MonitoringType")
    if monitoring_type is not None and monitoring_type not in _JOB_DEFINITIONS:
        raise _validation(
            f"Value '{monitoring_type}' at 'monitoringScheduleConfig.monitoringType' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(_JOB_DEFINITIONS)}]"
        )
    name = config.get("MonitoringJobDefinitionName")
    inline = config.get("MonitoringJobDefinition")
    if (name is None) == (inline is None):
        raise _validation(
            "MonitoringScheduleConfig needs exactly one of MonitoringJobDefinitionName and "
            "MonitoringJobDefinition."
        )
    if inline is not None:
        config["MonitoringJobDefinition"] = {"StoppingCondition": _DEFAULT_STOPPING_CONDITION, **inline}
        config.setdefault("MonitoringType", "DataQuality")
        inputs = inline.get("MonitoringInputs") or [{}]
        endpoint = (inputs[0].get("EndpointInput") or {}).get("EndpointName")
        _check_endpoint(request, endpoint)
        return config, config["MonitoringType"], endpoint
    for kind in [monitoring_type] if monitoring_type else JOB_DEFINITION_TYPES:
        definitions, job_input = _JOB_DEFINITIONS[kind]
        definition = getattr(request.backend, definitions).get(name)
        if definition is not None:
            endpoint_input = (getattr(definition, job_input) or {}).get("EndpointInput") or {}
            _check_endpoint(request, endpoint_input.get("EndpointName"))
            return {**config, "MonitoringType": kind}, kind, endpoint_input.get("EndpointName")
    what = _words(monitoring_type) + " job definition" if monitoring_type else "monitoring job definition"
    raise _validation(f"Could not find {what} with name '{name}'.")


def _check_expression(expression: str) -> None:
    match = _SCHEDULE_EXPRESSION.fullmatch(expression)
    hour, every = (match.group("hour"), match.group("every")) if match else (None, None)
    if match and (hour is None or int(hour) <= 23) and (every is None or 1 <= int(every) <= 24):
        return
    raise _validation(
        f"Invalid ScheduleExpression {expression!r}: Model Monitor runs on cron(0 * ? * * *) (hourly), "
        "cron(0 H ? * * *) (daily at hour H, 0-23), cron(0 H/N ? * * *) (every N hours from hour H, "
        "N 1-24) or NOW (once, at once)."
    )


def _check_endpoint(request: _Request, name: str | None) -> None:
    """A schedule on an endpoint reads its captured data: the endpoint must exist and capture.
    (A job input without an endpoint reads batch transform output, which is not emulated.)"""
    if name is None:
        return
    endpoint = request.backend.endpoints.get(name)
    if endpoint is None:
        raise _validation(
            f"Endpoint {name} does not exist: a monitoring schedule watches an existing endpoint."
        )
    capture = getattr(endpoint, "data_capture_config", None) or {}
    if not capture.get("EnableCapture"):
        raise _validation(
            f"Endpoint {name} does not capture data: enable DataCaptureConfig in its endpoint "
            "configuration to monitor it."
        )


def _words(monitoring_type: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", monitoring_type).lower()  # "ModelQuality" -> "model quality"


def _timestamp(value: Any) -> datetime:
    # The JSON protocol sends timestamps as epoch seconds; moto's clock is naive UTC.
    return datetime.fromtimestamp(float(value), tz=UTC).replace(tzinfo=None)


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"
