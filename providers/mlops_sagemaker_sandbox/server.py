"""The AWS control-plane emulator behind `mlops --sandbox`: moto's server, extended for SageMaker.

Every moto service answers on one loopback port (the SageMaker provider also needs Application
Auto Scaling, CloudWatch, SNS, EventBridge, EventBridge Scheduler and S3). In front of moto's WSGI
application sits a small WSGI middleware that

* adds latency to AWS calls and fails the calls that match configured rules: refused, or carried
  out with their reply lost (an error or a dropped connection instead), always or at a rate;
* refuses SageMaker requests beyond the API reference's maximums (lengths, counts, ranges: 50
  tags, 63-character names, a 3600-second bake), which botocore does not check, in AWS's words;
* gives SageMaker endpoints their real lifecycle: `Creating` -> `InService` (or `Failed`),
  `Updating` -> `InService`, `Deleting` -> gone (the name is taken until then), instead of moto's
  instant `InService` and deletion; refuses to update an endpoint that is in progress or
  `Failed` (a failed endpoint can only be deleted), and to delete one in progress; and, through
  the control API, puts an endpoint in `SystemUpdating`, `RollingBack`, `OutOfService` or
  `Failed` as SageMaker itself would;
* implements `UpdateEndpoint` (missing in moto), including a failed update rolling back to the
  previous endpoint configuration with `FailureReason` set, and deployment guardrails: blue/green
  canary, linear or all-at-once traffic shifting and rolling batches with their baking periods, rolled
  back when an alarm of `AutoRollbackConfiguration` is in ALARM in moto's CloudWatch
  (`guardrails.py`);
* makes `UpdateEndpointWeightsAndCapacities` change only the fields it is given;
* refuses duplicate `CreateModel` / `CreateEndpointConfig` / `CreateEndpoint` as SageMaker does;
* implements the MonitoringSchedule calls (`monitoring.py`: only Model Monitor's cron
  forms, on an endpoint that exists and captures data) and refuses to delete a job definition a
  schedule runs;
* gives processing jobs (baselining jobs) a lifecycle: `InProgress` -> `Completed` (or `Failed`)
  after the endpoint delay, instead of moto's instant `Completed`; keeps the `Environment` and
  `ProcessingResources` moto drops from DescribeProcessingJob; refuses a name already used. No job
  runs: nothing is written to the job's outputs;
* gives transform jobs a lifecycle (`InProgress` -> `Completed`, `Failed` or, after
  StopTransformJob, `Stopped`), writing one object under a completed job's output prefix in moto's
  S3, and runs the `Transform` steps of pipeline executions as transform jobs named as the step's
  expressions say (StartPipelineExecution's ClientRequestToken honoured, ListPipelineExecutionSteps
  served): see `transform.py`;
* completes the model registry: `DeleteModelPackage`, `DeleteModelPackageGroup` (refused while the
  group has versions), `UpdateModelPackage` changing only what it is given, version numbers never
  reused, `CreateModelPackage`'s ClientToken (a request sent again gets the package it made),
  a version's `ModelLifeCycle` (its stage: moto drops it), and tags on model packages (moto's
  `ListTags` fails on their ARNs);
* serves a control API under `/_emulator/` to read and change the settings and to reset state.

Why a middleware rather than patching moto's `SageMakerResponse` class: a patch changes moto for
the whole process (a `mock_aws()` user in the same interpreter included) and leans on moto's
private dispatch, which moves between releases. The middleware depends on the AWS wire protocol,
which does not move, and on moto's SageMaker backend objects (`sagemaker_backends[account][region]`
and the attributes of its endpoint, endpoint-config and model objects), the most stable part of
moto.

Settings (constructor argument, or at runtime through the control API):

    latency_ms              milliseconds added to every AWS call (default 0)
    endpoint_delay_seconds  how long CreateEndpoint / UpdateEndpoint /
                            UpdateEndpointWeightsAndCapacities / DeleteEndpoint take (default 1.0)
    fail                    rules failing matching AWS calls, each
                            {"action": "CreateEndpoint" (or a glob: "Describe*"),
                             "service": "sagemaker" (optional), "name": "fraud-api" (optional),
                             "code": "ThrottlingException", "message": "...", "status": 400,
                             "times": 1 (omit: every call), "rate": 0.2 (omit: every call),
                             "lose_reply": true (carry the call out, then fail it),
                             "disconnect": true (close the connection instead of answering)};
                            code defaults to ValidationException, status to 400 (see FailRule)
    seed                    seeds the draws of rules with a `rate` (default: unseeded)
    chaos                   random faults on every AWS call but S3's and DynamoDB's:
                            {"rate": 0.3, "seed": 7, "kinds": ["throttle", "server_error",
                             "lost_reply"], "methods": ["Create*"]} (see chaos.py)
    fail_endpoint_creates   true, or a list of endpoint names: CreateEndpoint ends `Failed`
    fail_endpoint_updates   true, or a list of endpoint names: UpdateEndpoint rolls back
    fail_processing_jobs    true, or a list of processing job names: the job ends `Failed`
    fail_transform_jobs     true, or a list of names: a transform job so named, or started by a
                            pipeline so named, ends `Failed` (and its pipeline execution with it)
    guardrail_time_scale    factor applied to the baking periods of deployment guardrails
                            (WaitIntervalInSeconds, TerminationWaitInSeconds); default 0.01, so
                            a 10-minute bake takes 6 s

Latency and failure rules apply to AWS calls, i.e. signed requests; unsigned ones (health
probes, moto's own `/moto-api/`) go straight to moto.

Control API: the one every sandbox emulator serves (`mlops_gitops.sandbox.emulator`: health,
settings, reset). Here `POST /_emulator/reset` wipes every moto service's state (the emulator's
own, such as monitoring schedules, is kept on moto's backend objects and goes with it), drops
endpoint operations in flight and restores the settings the emulator was built with. One more:
`POST /_emulator/endpoint-status` with `{"endpoint": "fraud-api", "status": "SystemUpdating",
"seconds": 2 (optional), "region": ... (optional)}` puts an endpoint in a status SageMaker may give
it on its own (see `_Gateway.set_endpoint_status`), answering 200 with the endpoint's status or 400
`{"error": ...}`. `mlops sandbox up --operation-delay` sets `endpoint_delay_seconds`.

Error messages SageMaker does not document (a schedule on an endpoint without data capture, an
update of a Failed endpoint) are the emulator's own wording, with the documented error codes.

moto keeps its state per process, so emulators sharing a process share their AWS state. Its
account is 123456789012 unless the usual moto overrides (`MOTO_ACCOUNT_ID`, `x-moto-account-id`)
say otherwise; any region works.

Importing this module imports neither moto nor boto3; `start()` imports moto (~0.3 s)."""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import http
import io
import json
import logging
import os
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from pydantic import BaseModel, ConfigDict, Field

from mlops_gitops.sandbox.background import BackgroundEmulator
from mlops_gitops.sandbox.control import CONTROL_PREFIX, answer, reset, update_settings
from mlops_sagemaker_sandbox import transform as tj
from mlops_sagemaker_sandbox.chaos import Chaos, cbor_error
from mlops_sagemaker_sandbox.guardrails import Rollout, plan
from mlops_sagemaker_sandbox.monitoring import ACTIONS as MONITORING_ACTIONS
from mlops_sagemaker_sandbox.monitoring import JOB_DEFINITION_TYPES, MonitoringError, MonitoringSchedules
from mlops_sagemaker_sandbox.scheduler import ClientTokens

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from werkzeug.serving import BaseWSGIServer

__all__ = ["EmulatorSettings", "FailRule", "SageMakerEmulator", "reset", "update_settings"]

_log = logging.getLogger(__name__)

_MOTO_API_PREFIX = "/moto-api"

# SigV4: "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sagemaker/aws4_request, ..."
_CREDENTIAL_RE = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")
_DEFAULT_REGION = "us-east-1"
# Statuses in which SageMaker refuses UpdateEndpoint, UpdateEndpointWeightsAndCapacities and
# DeleteEndpoint: something is already happening to the endpoint.
_IN_PROGRESS = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
# Statuses the control API may put an endpoint in (see `set_endpoint_status`).
INJECTABLE_STATUSES = ("InService", "SystemUpdating", "RollingBack", "OutOfService", "Failed")
# The statuses an injected one lasts for `endpoint_delay_seconds` unless told; the others stay.
_PASSING_STATUSES = ("SystemUpdating", "RollingBack")
_DEFAULT_ACCOUNT = "123456789012"  # moto's
_LIST_PAGE = 10  # the page of a SageMaker list call that names no MaxResults

_T = TypeVar("_T")


# ---- settings ----------------------------------------------------------------------------------


class FailRule(BaseModel):
    """Fail the AWS calls that match with an AWS error, so the SDK raises a proper ClientError.

    Rules match on the operation name, which the JSON and query protocols carry (SageMaker,
    Application Auto Scaling, EventBridge, SNS); services on REST protocols or CBOR (S3,
    EventBridge Scheduler, and CloudWatch since botocore speaks CBOR to it) never match a rule.

    By default the call is refused: nothing happens and the client gets the error. With
    `lose_reply` the call is carried out first and its reply is lost: the client gets the error
    (or, with `disconnect`, a connection closed without a reply) for a call that took effect,
    as after a network failure on the way back. `disconnect` alone closes the connection without
    carrying the call out. `rate` fails only that fraction of the matching calls, at random (see
    the `seed` setting)."""

    model_config = ConfigDict(extra="forbid")

    action: str  # operation name as in the API reference, e.g. "CreateEndpoint"; or a glob: "Describe*"
    service: str | None = None  # SigV4 signing name ("sagemaker", "application-autoscaling")
    name: str | None = None  # only calls with a top-level parameter equal to this value
    code: str = "ValidationException"
    message: str | None = None
    status: int = Field(default=400, ge=400, le=599)
    times: int | None = Field(default=None, ge=1)  # calls left to fail; None fails them all
    rate: float | None = Field(default=None, gt=0, le=1)  # the share of matching calls that fail
    lose_reply: bool = False  # carry the call out, then fail it
    disconnect: bool = False  # close the connection instead of answering


class EmulatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latency_ms: float = Field(default=0.0, ge=0)
    # A sandbox user should see endpoints go through Creating/Updating like on AWS, so the
    # default is not 0; tests set a few tens of milliseconds.
    endpoint_delay_seconds: float = Field(default=1.0, ge=0)
    fail: list[FailRule] = Field(default_factory=list)
    fail_endpoint_creates: bool | list[str] = False
    fail_endpoint_updates: bool | list[str] = False
    fail_processing_jobs: bool | list[str] = False
    fail_transform_jobs: bool | list[str] = False
    # Baking periods of deployment guardrails are minutes on AWS; scaled down, a sandbox user still
    # sees a canary bake (and can trip its alarm) without waiting for it. Tests set it smaller.
    guardrail_time_scale: float = Field(default=0.01, ge=0)
    # Seeds the draws of failure rules with a `rate`, so that a test sees the same failures on
    # every run; None draws from the system's entropy.
    seed: int | None = None
    chaos: Chaos | None = None  # random faults on every AWS call (chaos.py)


class EndpointStatusChange(BaseModel):
    """The body of `POST /_emulator/endpoint-status` (see `_Gateway.set_endpoint_status`)."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str
    status: str
    seconds: float | None = Field(default=None, ge=0)
    region: str = _DEFAULT_REGION
    account: str | None = None


def _selects(setting: bool | list[str], name: str) -> bool:
    return setting is True or (isinstance(setting, list) and name in setting)


# ---- the AWS call as seen on the wire -----------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    protocol: str  # "json" (X-Amz-Target), "query" (form-encoded Action=...) or "rest"
    action: str  # operation name; "" for REST protocols, which encode it in the path
    service: str  # SigV4 signing name
    region: str
    access_key: str
    account_header: str  # moto's `x-moto-account-id` override, if sent
    params: dict[str, Any] = field(default_factory=dict)  # top-level request parameters

    def mentions(self, name: str) -> bool:
        return any(value == name for value in self.params.values())


def _protocol(environ: WSGIEnvironment) -> str:
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return "query"
    return "rest"


def _is_aws_call(environ: WSGIEnvironment) -> bool:
    """Signed requests only: unsigned ones (health probes, moto's own API) get no latency or
    injected failures."""
    if environ.get("PATH_INFO", "").startswith(_MOTO_API_PREFIX):
        return False
    return "HTTP_AUTHORIZATION" in environ or "X-Amz-Credential=" in environ.get("QUERY_STRING", "")


def _read_body(environ: WSGIEnvironment) -> bytes:
    """Read the request body and put it back, so moto can read it again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _parse_call(environ: WSGIEnvironment) -> _Call:
    protocol = _protocol(environ)
    credential = _CREDENTIAL_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    access_key, region, service = credential.groups() if credential else ("", _DEFAULT_REGION, "")
    params: dict[str, Any] = {}
    action = ""
    if protocol == "json":
        action = environ["HTTP_X_AMZ_TARGET"].rpartition(".")[2]
        try:
            document = json.loads(_read_body(environ) or b"{}")
        except ValueError:  # moto answers malformed bodies itself
            document = {}
        if isinstance(document, dict):
            params = document
    elif protocol == "query":
        form = parse_qs(_read_body(environ).decode("utf-8", "replace"), keep_blank_values=True)
        params = {key: values[0] for key, values in form.items()}
        action = params.get("Action", "")
    account_header = environ.get("HTTP_X_MOTO_ACCOUNT_ID", "")
    return _Call(protocol, action, service, region, access_key, account_header, params)


# ---- responses ----------------------------------------------------------------------------------


@dataclass
class _Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def send(self, start_response: StartResponse) -> list[bytes]:
        try:
            phrase = http.HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Error"
        headers = [*self.headers, ("Content-Length", str(len(self.body)))]
        start_response(f"{self.status} {phrase}", headers)
        return [self.body]


def _epoch_seconds(value: Any) -> float:
    # The JSON protocols carry timestamps as epoch seconds; moto's clock is naive UTC.
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json_response(status: int, document: Any, content_type: str = "application/json") -> _Response:
    headers = [("Content-Type", content_type), ("x-amzn-RequestId", str(uuid.uuid4()))]
    return _Response(status, headers, json.dumps(document, default=_epoch_seconds).encode())


def _sagemaker_result(document: dict[str, Any]) -> _Response:
    return _json_response(200, document, "application/x-amz-json-1.1")


def _aws_error(environ: WSGIEnvironment, code: str, message: str, status: int) -> _Response:
    """An AWS error in the request's protocol: botocore reads `__type` (JSON) or `Error/Code`
    (query XML), and `x-amzn-ErrorType` for REST-JSON."""
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-ErrorType", code), ("x-amzn-RequestId", request_id)]
    if environ.get("HTTP_SMITHY_PROTOCOL") == "rpc-v2-cbor":  # CloudWatch: errors in CBOR
        cbor_headers, body = cbor_error(code, message)
        return _Response(status, [("x-amzn-RequestId", request_id), *cbor_headers], body)
    if _protocol(environ) == "query":
        sender = "Sender" if status < 500 else "Receiver"
        body = (
            f"<ErrorResponse><Error><Type>{sender}</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        headers.append(("Content-Type", "text/xml"))
        return _Response(status, headers, body.encode())
    content_type = environ.get("CONTENT_TYPE", "")
    if not content_type.startswith("application/x-amz-json"):
        content_type = "application/x-amz-json-1.1"
    headers.append(("Content-Type", content_type))
    return _Response(status, headers, json.dumps({"__type": code, "message": message}).encode())


class _AwsError(Exception):
    """A client error (HTTP 400) the emulator itself answers."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _disconnect(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Close the connection without a reply, as a network failure would: botocore raises
    ConnectionClosedError. The server's own write of the (empty) reply then fails, which it
    takes for a client that went away."""
    sock = environ.get("werkzeug.socket")
    if sock is None:  # a server that does not hand out its socket: the nearest is a bare 500
        return _aws_error(environ, "InternalFailure", "connection lost", 500).send(start_response)
    with contextlib.suppress(OSError):  # already closed by the client
        sock.shutdown(socket.SHUT_RDWR)
    start_response("500 Internal Server Error", [("Content-Length", "0")])
    return [b""]


# ---- the limits of the API reference ------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _sagemaker_model() -> Any:
    """botocore's model of the SageMaker API: the lengths and ranges SageMaker enforces. botocore
    checks only the minimums on the client side; the maximums are the server's to refuse."""
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def _check_limits(call: _Call) -> None:
    """Refuse a SageMaker request with a string, list or map longer, or a number larger, than the
    API allows (e.g. more than 50 tags, a name over 63 characters, a bake over 3600 seconds), in
    AWS's words. Patterns are not checked: they use Java's Unicode classes."""
    from botocore.model import OperationNotFoundError

    try:
        shape = _sagemaker_model().operation_model(call.action).input_shape
    except OperationNotFoundError:
        return
    problems: list[str] = []
    if shape is not None:
        _check_shape(shape, call.params, "", problems)
    if problems:
        count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''} detected"
        raise _AwsError("ValidationException", f"{count}: {'; '.join(problems)}")


def _check_shape(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    meta, kind = shape.metadata, shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                child = name[:1].lower() + name[1:]
                _check_shape(member, value[name], f"{path}.{child}" if path else child, problems)
    elif kind == "list" and isinstance(value, list):
        _check_length(meta, value, path, problems)
        for i, item in enumerate(value, 1):
            _check_shape(shape.member, item, f"{path}.{i}.member", problems)
    elif kind == "map" and isinstance(value, dict):
        _check_length(meta, value, path, problems)
        for key, item in value.items():
            _check_shape(shape.key, key, f"{path}.{key}.key", problems)
            _check_shape(shape.value, item, f"{path}.{key}.value", problems)
    elif kind == "string" and isinstance(value, str):
        _check_length(meta, value, path, problems)
    elif kind in ("integer", "long") and isinstance(value, int) and not isinstance(value, bool):
        if "max" in meta and value > meta["max"]:
            problems.append(_constraint(value, path, f"have value less than or equal to {meta['max']}"))
        if "min" in meta and value < meta["min"]:
            problems.append(_constraint(value, path, f"have value greater than or equal to {meta['min']}"))


def _check_length(meta: Mapping[str, Any], value: Any, path: str, problems: list[str]) -> None:
    if "max" in meta and len(value) > meta["max"]:
        problems.append(_constraint(value, path, f"have length less than or equal to {meta['max']}"))


def _constraint(value: Any, path: str, rule: str) -> str:
    shown = value if isinstance(value, str | int) else json.dumps(value, default=str)
    shown = shown if len(str(shown)) <= 200 else f"{str(shown)[:200]}..."
    return f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must {rule}"


# ---- SageMaker endpoint descriptions ------------------------------------------------------------


def _weight(variant: Mapping[str, Any]) -> float:
    # SageMaker defaults a variant's weight to 1.0; moto drops a weight of 0 altogether.
    return float(variant.get("InitialVariantWeight", 1.0))


def _variant_summary(variant: Mapping[str, Any]) -> dict[str, Any]:
    """DescribeEndpoint's ProductionVariantSummary for a deployed EndpointConfig variant."""
    summary: dict[str, Any] = {
        "VariantName": variant["VariantName"],
        "CurrentWeight": _weight(variant),
        "DesiredWeight": _weight(variant),
    }
    if "InitialInstanceCount" in variant:
        summary["CurrentInstanceCount"] = variant["InitialInstanceCount"]
        summary["DesiredInstanceCount"] = variant["InitialInstanceCount"]
    if "ServerlessConfig" in variant:
        summary["CurrentServerlessConfig"] = dict(variant["ServerlessConfig"])
        summary["DesiredServerlessConfig"] = dict(variant["ServerlessConfig"])
    return summary


def _pending_summary(
    config_name: str,
    config_variants: list[dict[str, Any]],
    targets: list[dict[str, Any]],
    now: datetime,
    stage: tuple[str, str | None, datetime] | None = None,
) -> dict[str, Any]:
    """PendingDeploymentSummary: what an endpoint shows while it deploys a new EndpointConfig.
    `stage` is the variants' status (Status, StatusMessage, StartTime), `Creating` since `now` if
    not given."""
    status, message, since = stage or ("Creating", None, now)
    variant_status = {"Status": status, "StartTime": since}
    if message:
        variant_status["StatusMessage"] = message
    variants = []
    for variant, target in zip(config_variants, targets, strict=True):
        pending: dict[str, Any] = {
            "VariantName": target["VariantName"],
            "DesiredWeight": target["DesiredWeight"],
            "VariantStatus": [dict(variant_status)],
        }
        for key in ("DesiredInstanceCount", "DesiredServerlessConfig"):
            if key in target:
                pending[key] = target[key]
        if "InstanceType" in variant:
            pending["InstanceType"] = variant["InstanceType"]
        variants.append(pending)
    return {"EndpointConfigName": config_name, "ProductionVariants": variants, "StartTime": now}


def _data_capture_summary(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """DescribeEndpoint's DataCaptureConfigSummary (moto echoes the EndpointConfig's input form,
    whose fields mostly do not exist in the summary shape and are dropped on the wire)."""
    if not config:
        return None
    enabled = bool(config.get("EnableCapture", True))
    summary = {
        "EnableCapture": enabled,
        "CaptureStatus": "Started" if enabled else "Stopped",
        "CurrentSamplingPercentage": config.get("InitialSamplingPercentage"),
        "DestinationS3Uri": config.get("DestinationS3Uri"),
        "KmsKeyId": config.get("KmsKeyId"),
    }
    return {key: value for key, value in summary.items() if value is not None}


@dataclass
class _InFlight:
    """Something happening to an endpoint, applied lazily (by the next SageMaker or CloudWatch
    call that settles), so there are no timer threads and every change happens under the
    emulator's lock."""

    backend: Any  # moto's SageMakerModelBackend
    endpoint: Any  # moto's FakeEndpoint

    def current(self) -> bool:
        # False once the endpoint was deleted (and maybe re-created) or moto's state was reset.
        return self.backend.endpoints.get(self.endpoint.endpoint_name) is self.endpoint


@dataclass
class _Operation(_InFlight):
    """An endpoint operation in flight: the attributes of moto's endpoint object to set when it
    completes, at `due`; with `while_status`, only if the endpoint is still in that status (an
    injected status that passes, unless something else changed it meanwhile)."""

    due: float  # time.monotonic()
    changes: dict[str, Any]
    while_status: str | None = None

    def complete(self) -> None:
        if self.while_status in (None, self.endpoint.endpoint_status):
            for attribute, value in self.changes.items():
                setattr(self.endpoint, attribute, value)


@dataclass
class _Deletion(_InFlight):
    """A DeleteEndpoint in progress: the endpoint is `Deleting`, and its name taken, until `due`."""

    due: float  # time.monotonic()

    def complete(self) -> None:
        del self.backend.endpoints[self.endpoint.endpoint_name]


@dataclass
class _JobRun:
    """A processing job in flight: the attributes of moto's job object to set when it ends."""

    backend: Any  # moto's SageMakerModelBackend
    target: Any  # moto's FakeProcessingJob
    due: float  # time.monotonic()
    changes: dict[str, Any]

    def current(self) -> bool:
        return self.backend.processing_jobs.get(self.target.processing_job_name) is self.target

    def complete(self) -> None:
        for attribute, value in self.changes.items():
            setattr(self.target, attribute, value)


@dataclass
class _TransformRun:
    """A transform job in flight: the attributes of moto's job object to set at `due`, if it is
    still in `while_status` (a stop overtakes a completion), then `then()`."""

    backend: Any  # moto's SageMakerModelBackend
    target: Any  # moto's FakeTransformJob
    due: float  # time.monotonic()
    changes: dict[str, Any]
    then: Callable[[], None] = lambda: None
    while_status: str = "InProgress"

    def current(self) -> bool:
        return self.backend.transform_jobs.get(self.target.transform_job_name) is self.target

    def complete(self) -> None:
        if self.target.transform_job_status != self.while_status:
            return
        for attribute, value in self.changes.items():
            setattr(self.target, attribute, value)
        self.then()


@dataclass
class _GuardedUpdate(_InFlight):
    """An UpdateEndpoint going through deployment-guardrail stages, watching alarms in moto's
    CloudWatch backend of the endpoint's account and region."""

    rollout: Rollout
    alarms: Any  # moto's CloudWatchBackend
    summary: Callable[[tuple[str, str | None, datetime]], dict[str, Any]]  # PendingDeploymentSummary
    completed: dict[str, Any]  # endpoint attributes once the new fleet serves

    def firing(self) -> list[str]:
        states = self.alarms.alarms
        return [
            name for name in self.rollout.alarms if name in states and states[name].state_value == "ALARM"
        ]


def _extension_state(backend: Any, name: str, factory: Callable[[], _T]) -> _T:
    """State the emulator adds to one of moto's backends, kept on the backend object so it has
    moto's lifetime: moto's reset re-initialises the backend and drops it, and emulators sharing a
    process share it as they share moto's own state."""
    attribute = f"_mlops_emulator_{name}"
    state = getattr(backend, attribute, None)
    if state is None:
        state = factory()
        setattr(backend, attribute, state)
    return state


def _put_tags(current: list[dict[str, str]], added: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    """AddTags as SageMaker does it: a key already present gets the new value (moto appends it)."""
    tags = {tag["Key"]: tag["Value"] for tag in current}
    tags.update((tag["Key"], tag["Value"]) for tag in added)
    return [{"Key": key, "Value": value} for key, value in tags.items()]


# ---- moto ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Moto:
    """The few moto objects the emulator uses, imported when it starts."""

    app: WSGIApplication
    sagemaker_backends: Any
    account_for_access_key: Callable[[str], str]
    cloudwatch_backends: Any
    s3_backends: Any
    service_exception: Any  # moto's ServiceException class: `.code` and `.message`
    now: Callable[[], datetime]  # moto's clock (naive UTC), so our timestamps match its own


def _load_moto() -> _Moto:
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core.exceptions import ServiceException
    from moto.core.utils import utcnow
    from moto.iam.models import get_account_id_from
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from moto.s3.models import s3_backends
    from moto.sagemaker.models import sagemaker_backends

    return _Moto(
        app=DomainDispatcherApplication(create_backend_app),
        sagemaker_backends=sagemaker_backends,
        account_for_access_key=get_account_id_from,
        cloudwatch_backends=cloudwatch_backends,
        s3_backends=s3_backends,
        service_exception=ServiceException,
        now=utcnow,
    )


# The connections each server has open (kept alive between requests): stop() closes them, so a
# stopped emulator does not go on answering on them.
_CONNECTIONS_LOCK = threading.Lock()


def _open_connections(server: Any) -> set[socket.socket]:
    connections: set[socket.socket] | None = getattr(server, "mlops_connections", None)
    if connections is None:
        connections = server.mlops_connections = set()
    return connections


def _request_handler_class() -> type:
    # moto's handler keeps header names with underscores that werkzeug would drop (S3 metadata).
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class RequestHandler(MotoRequestHandler):
        # http.server writes the headers and the body separately; with Nagle's algorithm on, the
        # body waits for the client's delayed ACK and every call costs 40-80 ms.
        disable_nagle_algorithm = True
        # Keep-alive (see run_wsgi): botocore reuses its pooled connections, so a refresh of a
        # thousand resources opens ten connections, not one per call (each a handshake, and a
        # port left in TIME_WAIT). An idle connection's thread ends after this many seconds.
        protocol_version = "HTTP/1.1"
        timeout = 60
        _keep_alive = False

        def setup(self) -> None:
            super().setup()
            with _CONNECTIONS_LOCK:
                _open_connections(self.server).add(self.connection)

        def finish(self) -> None:
            with _CONNECTIONS_LOCK:
                _open_connections(self.server).discard(self.connection)
            super().finish()

        def run_wsgi(self) -> None:
            # werkzeug closes every connection, as http.server cannot skip a request body the
            # application left unread before the next request line (it drains the socket after
            # each answer, which on a kept-alive connection would eat the next request). So the
            # body is read here first and the application reads a copy: werkzeug's drain then
            # finds nothing, and its `Connection: close` is left out (send_header). A chunked
            # body, whose end only its decoder finds, keeps werkzeug's way.
            self._keep_alive = False
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                return super().run_wsgi()
            if (self.headers.get("Expect") or "").lower().strip(" \t") == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                del self.headers["Expect"]
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                return super().run_wsgi()
            body = self.rfile.read(length) if length > 0 else b""
            wire, self.rfile = self.rfile, io.BytesIO(body)
            self._keep_alive = True
            try:
                super().run_wsgi()
            finally:
                self.rfile = wire

        def log_error(self, format: str, *args: Any) -> None:
            if format.startswith("Request timed out"):  # an idle kept-alive connection: let go
                _log.debug(format, *args)
                return
            super().log_error(format, *args)

        def send_header(self, keyword: str, value: str) -> None:
            if (
                self._keep_alive
                and not self.close_connection  # the client's own `Connection: close` is answered
                and keyword.lower() == "connection"
                and value.lower() == "close"
            ):
                return  # werkzeug's blanket close (see run_wsgi)
            super().send_header(keyword, value)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            # AWS's JSON protocols name the operation in X-Amz-Target, not in the request line:
            # logged (and kept on the record as `aws_action`) so a count of calls can be read off.
            headers = getattr(self, "headers", None)
            action = (headers.get("X-Amz-Target") or "").rpartition(".")[2] if headers else ""
            _log.debug(
                '%s "%s" %s %s',
                self.address_string(),
                self.requestline,
                code,
                action,
                extra={"aws_action": action},
            )

    return RequestHandler


# ---- the middleware -----------------------------------------------------------------------------


class _SharedLock:
    """The gateway's lock on moto's objects: `with lock:` takes it exclusively (re-entrant, like
    the RLock it stands for), `with lock.shared():` with others. A thread waiting for it
    exclusively goes before threads arriving to share it, so a stream of reads cannot starve a
    change. A thread that shares it must not then take it exclusively (it would wait on itself)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._sharing = 0
        self._waiting = 0  # threads waiting to take it exclusively

    def __enter__(self) -> _SharedLock:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return self
            self._waiting += 1
            try:
                self._cond.wait_for(lambda: self._owner is None and not self._sharing)
            finally:
                self._waiting -= 1
            self._owner, self._depth = me, 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._depth -= 1
            if not self._depth:
                self._owner = None
                self._cond.notify_all()

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            if self._owner == threading.get_ident():  # held exclusively already: that covers it
                nested = True
            else:
                nested = False
                self._cond.wait_for(lambda: self._owner is None and not self._waiting)
                self._sharing += 1
        try:
            yield
        finally:
            if not nested:
                with self._cond:
                    self._sharing -= 1
                    if not self._sharing:
                        self._cond.notify_all()


class _Gateway:
    """WSGI middleware in front of moto's application; see the module docstring."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self._initial = settings
        self._settings = settings.model_copy(deep=True)
        # `_lock` guards what the gateway does to moto's objects: its operations in flight and
        # their completion (`_settle`), and each SageMaker call it serves itself, which changes
        # an endpoint (or a package, a job) in several steps, so those calls and settling hold it
        # exclusively: a describe never sees an endpoint half way through one of our changes,
        # and a guarded update never misses an alarm state. The calls moto serves unchanged (and
        # our handlers that only read) hold it shared: they run alongside each other, as in
        # moto's own threaded server, whose backends are plain dicts and objects that each of
        # its calls reads or changes in one step (atomic under the GIL), while never alongside
        # our multi-step changes. Settling takes it exclusively only when something is due, so
        # the common case (describes, lists, tags) never waits for other calls.
        self._lock = _SharedLock()
        # The settings and the failure rules (a rule's `times` counts down): a lock of their own,
        # held for microseconds by every call, so reading them never waits for moto.
        self._settings_lock = threading.Lock()
        self._operations: list[_Operation | _Deletion | _JobRun | _TransformRun] = []
        self._guarded: list[_GuardedUpdate] = []
        self._moto: _Moto | None = None
        self._random = random.Random(settings.seed)
        self._sagemaker_actions: dict[str, Callable[[_Call, WSGIEnvironment], _Response]] = {
            "CreateModel": self._create_model,
            "CreateEndpointConfig": self._create_endpoint_config,
            "CreateEndpoint": self._create_endpoint,
            "UpdateEndpoint": self._update_endpoint,
            "UpdateEndpointWeightsAndCapacities": self._update_weights_and_capacities,
            "DeleteEndpoint": self._delete_endpoint,
            "AddTags": self._add_tags,
            "ListTags": self._list_tags,
            "ListModels": self._list_models,
            "DeleteTags": self._delete_tags,
            "CreateModelPackage": self._create_model_package,
            "DescribeModelPackage": self._describe_model_package,
            "UpdateModelPackage": self._update_model_package,
            "DeleteModelPackage": self._delete_model_package,
            "DeleteModelPackageGroup": self._delete_model_package_group,
            "CreateProcessingJob": self._create_processing_job,
            "CreateTransformJob": self._create_transform_job,
            "StopTransformJob": self._stop_transform_job,
            "StartPipelineExecution": self._start_pipeline_execution,
            "DescribePipelineExecution": self._describe_pipeline_execution,
            "ListPipelineExecutionSteps": self._list_pipeline_execution_steps,
            **dict.fromkeys(MONITORING_ACTIONS, self._monitoring),
            **{f"Delete{kind}JobDefinition": self._delete_job_definition for kind in JOB_DEFINITION_TYPES},
        }

        # Our handlers that change nothing: served under the lock shared (see `_lock`).
        self._reading_actions = frozenset({"ListTags", "ListModels", "DescribeModelPackage"})
        self._schedule_tokens = ClientTokens()  # Scheduler's idempotency tokens (scheduler.py)

    def attach(self, moto: _Moto) -> None:
        self._moto = moto

    @property
    def moto(self) -> _Moto:
        if self._moto is None:
            raise RuntimeError("the emulator is not started")
        return self._moto

    # ---- settings and reset ---------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        with self._settings_lock:
            return self._settings.model_dump(mode="json")

    def update_settings(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        with self._settings_lock:
            merged = {**self._settings.model_dump(), **changes}
            self._settings = EmulatorSettings.model_validate(merged)
            if "seed" in changes:
                self._random = random.Random(self._settings.seed)
            return self._settings.model_dump(mode="json")

    def reset(self) -> None:
        with self._lock:
            if self._moto is not None:
                self._reset_moto()
            self._operations.clear()
            self._guarded.clear()
            self._schedule_tokens.clear()
            with self._settings_lock:
                self._settings = self._initial.model_copy(deep=True)
                self._random = random.Random(self._settings.seed)

    def _reset_moto(self) -> None:
        # Through moto's documented reset endpoint rather than its internal backend registry.
        from werkzeug.test import EnvironBuilder

        environ = EnvironBuilder(path=f"{_MOTO_API_PREFIX}/reset", method="POST").get_environ()
        response = self._call_moto(environ)
        if response.status != 200:
            raise RuntimeError(f"moto refused to reset: {response.status} {response.body[:200]!r}")

    # ---- WSGI -----------------------------------------------------------------------------------
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(CONTROL_PREFIX):
            return self._control(environ).send(start_response)
        if not _is_aws_call(environ):
            return self._forward(environ, start_response)
        call = _parse_call(environ)
        with self._settings_lock:
            latency = self._settings.latency_ms
            rule = self._take_rule(call)
            chaos = self._settings.chaos
            rule = rule or (chaos.draw(call.service, call.action, environ, call.params) if chaos else None)
        if latency:
            time.sleep(latency / 1000)
        if rule is None:
            if call.service == "sagemaker" and call.protocol == "json":
                return self._sagemaker(call, environ).send(start_response)
            if call.service == "monitoring":
                return self._cloudwatch(environ).send(start_response)
            if call.service == "scheduler":
                return self._respond(call, environ).send(start_response)
            return self._forward(environ, start_response)
        if rule.lose_reply:
            self._respond(call, environ)  # carried out; its reply goes nowhere
        if rule.disconnect:
            return _disconnect(environ, start_response)
        message = rule.message or f"{call.action} failed: injected by the sandbox emulator"
        return _aws_error(environ, rule.code, message, rule.status).send(start_response)

    def _respond(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        """Serve an AWS call to completion, keeping the response."""
        if call.service == "sagemaker" and call.protocol == "json":
            return self._sagemaker(call, environ)
        if call.service == "monitoring":
            return self._cloudwatch(environ)
        if call.service == "scheduler":
            where = (call.access_key, call.region)
            backend = functools.partial(self._scheduler_backend, call)
            return self._schedule_tokens.serve(environ, where, self._call_moto, backend)
        return self._call_moto(environ)

    def _scheduler_backend(self, call: _Call) -> Any:
        from moto.scheduler.models import scheduler_backends

        return scheduler_backends[self._account(call)][call.region]

    def _take_rule(self, call: _Call) -> FailRule | None:
        if not call.action:  # a REST call: its operation is in the path, which rules do not read
            return None
        for rule in self._settings.fail:
            if not fnmatch.fnmatchcase(call.action, rule.action) or rule.service not in (None, call.service):
                continue
            if rule.name is not None and not call.mentions(rule.name):
                continue
            if rule.rate is not None and self._random.random() >= rule.rate:
                continue
            if rule.times is not None:
                rule.times -= 1
                if rule.times == 0:
                    self._settings.fail.remove(rule)
            return rule
        return None

    def _forward(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            return self.moto.app(environ, start_response)
        except Exception as exc:
            return self._moto_failure(environ, exc).send(start_response)

    def _call_moto(self, environ: WSGIEnvironment) -> _Response:
        """Run moto's application to completion, keeping the response to amend or discard it."""
        captured: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [int(status.split(" ", 1)[0]), headers]
            return lambda data: None

        try:
            chunks = self.moto.app(environ, start_response)
            try:
                body = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        except Exception as exc:
            return self._moto_failure(environ, exc)
        status, headers = captured
        headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
        return _Response(status, headers, body)

    def _moto_failure(self, environ: WSGIEnvironment, exc: Exception) -> _Response:
        # moto raises NotImplementedError for operations it lacks; served raw, that is an HTML
        # 500 which botocore retries five times. 501 is an error botocore does not retry.
        action = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2] or "this operation"
        if isinstance(exc, NotImplementedError):
            message = f"The sandbox emulator does not implement {action} ({exc})."
            return _aws_error(environ, "NotImplemented", message, 501)
        _log.exception("moto failed on %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
        return _aws_error(environ, "InternalFailure", f"{type(exc).__name__}: {exc}", 500)

    def _control(self, environ: WSGIEnvironment) -> _Response:
        status, document = answer(
            self,
            environ.get("REQUEST_METHOD", "GET"),
            environ.get("PATH_INFO", "")[len(CONTROL_PREFIX) :],
            _read_body(environ),
            label=SageMakerEmulator.label,
            extra={"endpoint-status": self._endpoint_status_change},
        )
        return _json_response(status, document)

    def _endpoint_status_change(self, document: dict[str, Any]) -> dict[str, Any]:
        change = EndpointStatusChange.model_validate(document)
        options = {"seconds": change.seconds, "region": change.region, "account": change.account}
        return self.set_endpoint_status(change.endpoint, change.status, **options)

    # ---- SageMaker --------------------------------------------------------------------------------
    def _sagemaker(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        handler = self._sagemaker_actions.get(call.action)
        if handler is None or call.action in self._reading_actions:
            self._settle_due()
            lock: contextlib.AbstractContextManager[Any] = self._lock.shared()
        else:
            lock = self._lock
        with lock:
            if lock is self._lock:
                self._settle()
            try:
                _check_limits(call)
                return (handler or self._sagemaker_moto)(call, environ)
            except (_AwsError, MonitoringError, self.moto.service_exception) as exc:
                return _aws_error(environ, exc.code, exc.message, 400)

    def _settle_due(self) -> None:
        """Settle, exclusively, if an operation is due or a guarded update is under way; else
        nothing is taken. (Read without the lock: a hint, which `_settle` checks again.)"""
        now = time.monotonic()
        if self._guarded or any(operation.due <= now for operation in self._operations):
            with self._lock:
                self._settle()

    def _sagemaker_moto(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        return self._call_moto(environ)

    def _cloudwatch(self, environ: WSGIEnvironment) -> _Response:
        # Alarm states change only through these calls (moto never evaluates an alarm), so settling
        # first lets guarded updates see each state for exactly as long as it held; settling is
        # exclusive, so no guarded update reads alarms while a call changes one.
        self._settle_due()
        with self._lock.shared():
            return self._call_moto(environ)

    def _account(self, call: _Call) -> str:
        # Picked the way moto's BaseResponse.get_current_account does.
        return (
            os.environ.get("MOTO_ACCOUNT_ID")
            or call.account_header
            or self.moto.account_for_access_key(call.access_key)
        )

    def _backend(self, call: _Call) -> Any:
        return self.moto.sagemaker_backends[self._account(call)][call.region]

    def _settle(self) -> None:
        now = time.monotonic()
        pending = []
        for operation in self._operations:
            if operation.due > now:
                pending.append(operation)
            elif operation.current():
                operation.complete()
        self._operations = pending
        self._guarded = [
            update for update in self._guarded if update.current() and self._advance(update, now)
        ]

    def _advance(self, update: _GuardedUpdate, now: float) -> bool:
        """Show where a guarded update stands on its endpoint; False once it is over."""
        progress = update.rollout.advance(now, update.firing)
        endpoint = update.endpoint
        if progress.stage is not None:
            stage = (progress.stage.status, progress.stage.message, self._wall_clock(progress.since, now))
            endpoint.pending_deployment_summary = update.summary(stage)
            return True
        endpoint.endpoint_status = "InService"
        endpoint.pending_deployment_summary = None
        endpoint.last_modified_time = self._wall_clock(progress.since, now)
        if progress.rolled_back_by:
            # All traffic is back on the old fleet, which kept serving: config and variants stay.
            alarms = ", ".join(progress.rolled_back_by)
            endpoint.failure_reason = f"Deployment rolled back: alarm(s) {alarms} in ALARM"
        else:
            for attribute, value in update.completed.items():
                setattr(endpoint, attribute, value)
        return False

    def _wall_clock(self, instant: float, now: float) -> datetime:
        """A past time.monotonic() instant on moto's clock."""
        return self.moto.now() - timedelta(seconds=max(0.0, now - instant))

    def _schedule(self, backend: Any, endpoint: Any, changes: dict[str, Any]) -> None:
        delay = self._settings.endpoint_delay_seconds
        changes["last_modified_time"] = self.moto.now() + timedelta(seconds=delay)
        self._operations.append(_Operation(backend, endpoint, time.monotonic() + delay, changes))
        self._settle()  # a zero delay completes at once

    def _create_model(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        backend = self._backend(call)
        name = call.params.get("ModelName", "")
        try:
            existing = backend.describe_model(name)
        except self.moto.service_exception:
            existing = None
        if existing is not None:
            raise _AwsError("ValidationException", f'Cannot create already existing model "{existing.arn}".')
        response = self._call_moto(environ)
        if response.status == 200:
            # moto always reports EnableNetworkIsolation false, which would read as drift.
            model = backend.describe_model(name)
            model.enable_network_isolation = bool(call.params.get("EnableNetworkIsolation", False))
        return response

    def _create_endpoint_config(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        existing = self._backend(call).endpoint_configs.get(call.params.get("EndpointConfigName"))
        if existing is not None:
            raise _AwsError(
                "ValidationException",
                f'Cannot create already existing endpoint configuration "{existing.endpoint_config_arn}".',
            )
        return self._call_moto(environ)

    def _create_endpoint(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        backend = self._backend(call)
        name = call.params.get("EndpointName", "")
        existing = backend.endpoints.get(name)
        if existing is not None:
            raise _AwsError(
                "ValidationException", f'Cannot create already existing endpoint "{existing.arn}".'
            )
        response = self._call_moto(environ)
        endpoint = backend.endpoints.get(name)
        if response.status != 200 or endpoint is None:
            return response
        config = backend.endpoint_configs[endpoint.endpoint_config_name]
        now = self.moto.now()
        targets = [_variant_summary(variant) for variant in config.production_variants]
        endpoint.endpoint_status = "Creating"
        endpoint.production_variants = None  # SageMaker lists variants once they are deployed
        endpoint.pending_deployment_summary = _pending_summary(
            config.endpoint_config_name, config.production_variants, targets, now
        )
        endpoint.data_capture_config = _data_capture_summary(config.data_capture_config)
        endpoint.last_deployment_config = call.params.get("DeploymentConfig")
        changes: dict[str, Any] = {"pending_deployment_summary": None}
        if _selects(self._settings.fail_endpoint_creates, name):
            changes["endpoint_status"] = "Failed"
            changes["failure_reason"] = (
                "The endpoint could not be created: failure injected by the sandbox emulator "
                "(fail_endpoint_creates)."
            )
        else:
            changes["endpoint_status"] = "InService"
            changes["production_variants"] = targets
        self._schedule(backend, endpoint, changes)
        return response

    @staticmethod
    def _endpoint(backend: Any, name: str) -> Any:
        backend.describe_endpoint(name)  # moto's "Could not find endpoint ..." when absent
        return backend.endpoints[name]

    @staticmethod
    def _refuse_update(endpoint: Any) -> None:
        """SageMaker changes an endpoint only when nothing else is happening to it, and a Failed
        endpoint not at all: it can only be deleted."""
        if endpoint.endpoint_status in _IN_PROGRESS:
            raise _AwsError("ValidationException", f'Cannot update in-progress endpoint "{endpoint.arn}".')
        if endpoint.endpoint_status == "Failed":
            raise _AwsError(
                "ValidationException",
                f'Cannot update endpoint "{endpoint.arn}" because it is in Failed status; '
                "a failed endpoint can only be deleted.",
            )

    def _delete_endpoint(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        """The endpoint is `Deleting` for the endpoint delay, and its name cannot be reused until
        it is gone (moto deletes it at once)."""
        backend = self._backend(call)
        endpoint = self._endpoint(backend, call.params.get("EndpointName", ""))
        if endpoint.endpoint_status in _IN_PROGRESS:
            raise _AwsError("ValidationException", f'Cannot delete in-progress endpoint "{endpoint.arn}".')
        endpoint.endpoint_status = "Deleting"
        endpoint.failure_reason = None
        endpoint.last_modified_time = self.moto.now()
        delay = self._settings.endpoint_delay_seconds
        self._operations.append(_Deletion(backend, endpoint, time.monotonic() + delay))
        self._settle()  # a zero delay deletes at once
        return _sagemaker_result({})

    def set_endpoint_status(
        self,
        name: str,
        status: str,
        *,
        seconds: float | None = None,
        region: str = _DEFAULT_REGION,
        account: str | None = None,
    ) -> dict[str, Any]:
        """Put endpoint `name` in `status` (one of INJECTABLE_STATUSES), as SageMaker does on its
        own: a platform update (SystemUpdating), a rollback (RollingBack), lost instances
        (OutOfService), a broken endpoint (Failed). After `seconds` it is InService again;
        SystemUpdating and RollingBack last the endpoint delay by default, the others until
        changed. ValueError for an unknown endpoint or status, or an endpoint being created,
        updated or deleted."""
        if status not in INJECTABLE_STATUSES:
            raise ValueError(f"status {status!r}: expected one of {', '.join(INJECTABLE_STATUSES)}")
        with self._lock:
            self._settle()
            account = account or os.environ.get("MOTO_ACCOUNT_ID") or _DEFAULT_ACCOUNT
            backend = self.moto.sagemaker_backends[account][region]
            endpoint = backend.endpoints.get(name)
            if endpoint is None:
                raise ValueError(f"no endpoint {name!r} in account {account}, region {region}")
            if endpoint.endpoint_status in ("Creating", "Updating", "Deleting"):
                raise ValueError(f"endpoint {name} is {endpoint.endpoint_status}: wait for it to settle")
            endpoint.endpoint_status = status
            endpoint.last_modified_time = self.moto.now()
            endpoint.failure_reason = (
                f"The endpoint is {status}: set by the sandbox emulator's control API."
                if status in ("Failed", "OutOfService", "RollingBack")
                else None
            )
            if seconds is None and status in _PASSING_STATUSES:
                seconds = self._settings.endpoint_delay_seconds
            if seconds is not None and status != "InService":
                changes: dict[str, Any] = {"endpoint_status": "InService", "failure_reason": None}
                if status == "RollingBack":  # SageMaker says why it rolled back
                    changes.pop("failure_reason")
                due = time.monotonic() + seconds
                self._operations.append(_Operation(backend, endpoint, due, changes, while_status=status))
            self._settle()
            return {"endpoint": name, "status": endpoint.endpoint_status}

    def _update_endpoint(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        backend = self._backend(call)
        name = call.params.get("EndpointName", "")
        config_name = call.params.get("EndpointConfigName", "")
        endpoint = self._endpoint(backend, name)
        backend.describe_endpoint_config(config_name)  # "Could not find endpoint configuration ..."
        self._refuse_update(endpoint)
        config = backend.endpoint_configs[config_name]

        targets = [_variant_summary(variant) for variant in config.production_variants]
        data_capture = _data_capture_summary(config.data_capture_config)
        if call.params.get("RetainAllVariantProperties"):
            # Keep what the endpoint has now (typically instance counts set by the autoscaler)
            # for the variants it already serves, except the properties listed as excluded.
            excluded = {
                item.get("VariantPropertyType")
                for item in call.params.get("ExcludeRetainedVariantProperties") or []
            }
            deployed = {variant["VariantName"]: variant for variant in endpoint.production_variants or []}
            for target in targets:
                old = deployed.get(target["VariantName"])
                if old is None:
                    continue
                for prop, current in (
                    ("DesiredWeight", "CurrentWeight"),
                    ("DesiredInstanceCount", "CurrentInstanceCount"),
                ):
                    if prop not in excluded and prop in old:
                        target[prop] = target[current] = old[prop]
            if "DataCaptureConfig" not in excluded:
                data_capture = endpoint.data_capture_config
        if call.params.get("RetainDeploymentConfig"):
            deployment = endpoint.last_deployment_config
        else:
            deployment = call.params.get("DeploymentConfig")
        guarded = self._guardrails(call, backend, endpoint, config, deployment) if deployment else None
        endpoint.last_deployment_config = deployment

        now = self.moto.now()
        endpoint.endpoint_status = "Updating"
        endpoint.last_modified_time = now
        endpoint.failure_reason = None
        summary = functools.partial(_pending_summary, config_name, config.production_variants, targets, now)
        endpoint.pending_deployment_summary = summary(None)
        completed = {
            "endpoint_config_name": config_name,
            "production_variants": targets,
            "data_capture_config": data_capture,
        }
        failing = _selects(self._settings.fail_endpoint_updates, name)
        if guarded is not None and not failing:
            rollout, alarms = guarded
            self._guarded.append(_GuardedUpdate(backend, endpoint, rollout, alarms, summary, completed))
            self._settle()  # shows the first stage
            return _sagemaker_result({"EndpointArn": endpoint.arn})
        changes: dict[str, Any] = {"endpoint_status": "InService", "pending_deployment_summary": None}
        if failing:
            # SageMaker rolls a failed update back: the endpoint keeps serving the old config.
            changes["failure_reason"] = (
                f"Failed to update the endpoint to endpoint configuration {config_name!r}; "
                "the endpoint was rolled back to its previous configuration: failure injected by "
                "the sandbox emulator (fail_endpoint_updates)."
            )
        else:
            changes.update(completed)
        self._schedule(backend, endpoint, changes)
        return _sagemaker_result({"EndpointArn": endpoint.arn})

    def _guardrails(
        self, call: _Call, backend: Any, endpoint: Any, config: Any, deployment: Mapping[str, Any]
    ) -> tuple[Rollout, Any] | None:
        """The rollout of a DeploymentConfig and the CloudWatch backend its alarms live in, or None
        where SageMaker falls back to a plain update. Refuses what SageMaker refuses."""
        cloudwatch = self.moto.cloudwatch_backends[self._account(call)][call.region]
        alarms = [
            alarm.get("AlarmName", "")
            for alarm in (deployment.get("AutoRollbackConfiguration") or {}).get("Alarms") or []
        ]
        missing = [alarm for alarm in alarms if alarm not in cloudwatch.alarms]
        if missing:
            raise _AwsError(
                "ValidationException",
                f"The AutoRollbackConfiguration alarm(s) {', '.join(missing)} do not exist in CloudWatch.",
            )
        # The old fleet as configured; if its EndpointConfig was deleted, as deployed.
        old_config = backend.endpoint_configs.get(endpoint.endpoint_config_name)
        old_variants = old_config.production_variants if old_config else endpoint.production_variants or []
        try:
            stages = plan(
                deployment,
                old_variants,
                config.production_variants,
                provision_seconds=self._settings.endpoint_delay_seconds,
                time_scale=self._settings.guardrail_time_scale,
            )
        except ValueError as exc:
            raise _AwsError("ValidationException", str(exc)) from None
        return None if stages is None else (Rollout(stages, alarms, time.monotonic()), cloudwatch)

    def _update_weights_and_capacities(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        backend = self._backend(call)
        endpoint = self._endpoint(backend, call.params.get("EndpointName", ""))
        self._refuse_update(endpoint)
        requested = call.params.get("DesiredWeightsAndCapacities") or []
        variants = {variant["VariantName"]: variant for variant in endpoint.production_variants or []}
        seen: set[str] = set()
        for item in requested:
            variant_name = item.get("VariantName")
            if variant_name in seen:
                raise _AwsError(
                    "ValidationException",
                    f'The variant name "{variant_name}" was non-unique within the request.',
                )
            if variant_name not in variants:
                raise _AwsError(
                    "ValidationException",
                    f'The variant name(s) "{variant_name}" is/are not present within endpoint configuration '
                    f'"{endpoint.endpoint_config_name}".',
                )
            seen.add(variant_name)

        # The desired values change now; the current ones follow when the update completes.
        for item in requested:
            variant = variants[item["VariantName"]]
            if item.get("DesiredWeight") is not None:
                variant["DesiredWeight"] = float(item["DesiredWeight"])
            if item.get("DesiredInstanceCount") is not None:
                variant["DesiredInstanceCount"] = int(item["DesiredInstanceCount"])
        completed = []
        for variant in endpoint.production_variants:
            done = dict(variant)
            for desired, current in (
                ("DesiredWeight", "CurrentWeight"),
                ("DesiredInstanceCount", "CurrentInstanceCount"),
            ):
                if desired in done:
                    done[current] = done[desired]
            completed.append(done)

        endpoint.endpoint_status = "Updating"
        endpoint.last_modified_time = self.moto.now()
        endpoint.failure_reason = None
        self._schedule(backend, endpoint, {"endpoint_status": "InService", "production_variants": completed})
        return _sagemaker_result({"EndpointArn": endpoint.arn})

    # ---- SageMaker: processing jobs --------------------------------------------------------------
    def _create_processing_job(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        backend = self._backend(call)
        name = call.params.get("ProcessingJobName", "")
        existing = backend.processing_jobs.get(name)
        if existing is not None:  # moto would replace it
            raise _AwsError(
                "ResourceInUse",
                f"Processing job names must be unique within an AWS account and region, and a "
                f"processing job with this name already exists ({existing.arn})",
            )
        response = self._call_moto(environ)
        job = backend.processing_jobs.get(name)
        if response.status != 200 or job is None:
            return response
        # What DescribeProcessingJob echoes and moto drops; moto's job object describes itself
        # from its attributes.
        job.environment = call.params.get("Environment")
        job.processing_resources = call.params.get("ProcessingResources")
        job.processing_job_status = "InProgress"
        job.processing_start_time = job.creation_time
        job.processing_end_time = None
        delay = self._settings.endpoint_delay_seconds
        ended = self.moto.now() + timedelta(seconds=delay)
        changes: dict[str, Any] = {
            "processing_job_status": "Completed",
            "processing_end_time": ended,
            "last_modified_time": ended,
        }
        if _selects(self._settings.fail_processing_jobs, name):
            changes["processing_job_status"] = "Failed"
            changes["failure_reason"] = (
                "AlgorithmError: the processing job failed: failure injected by the sandbox emulator "
                "(fail_processing_jobs)."
            )
        self._operations.append(_JobRun(backend, job, time.monotonic() + delay, changes))
        self._settle()  # a zero delay completes at once
        return response

    # ---- SageMaker: transform jobs and the pipeline executions that run them (transform.py) ------
    def _create_transform_job(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        job = self._start_transform_job(self._backend(call), call, call.params, pipeline=None)
        return _sagemaker_result({"TransformJobArn": job.arn})

    def _start_transform_job(
        self,
        backend: Any,
        call: _Call,
        request: Mapping[str, Any],
        *,
        pipeline: str | None,
        then: Callable[[Any], None] = lambda job: None,
    ) -> Any:
        """Create a transform job `InProgress` and schedule its end; `then(job)` runs when it ends."""
        name = str(request.get("TransformJobName") or "")
        existing = backend.transform_jobs.get(name)
        if existing is not None:  # moto would replace it
            raise _AwsError(
                "ValidationException",
                f"Job name must be unique within an AWS account and region, and a job with this name "
                f"already exists ({existing.arn})",
            )
        if not request.get("ModelName"):
            raise _AwsError("ValidationException", "ModelName is required")
        try:
            backend.describe_model(request["ModelName"])
        except self.moto.service_exception:
            raise _AwsError(
                "ValidationException", f'Could not find model "{request["ModelName"]}".'
            ) from None
        job = backend.create_transform_job(**tj.moto_arguments(request))
        now = self.moto.now()
        job.transform_job_status = "InProgress"
        job.failure_reason = None
        job.transform_end_time = None
        job.creation_time = job.transform_start_time = job.last_modified_time = now
        delay = self._settings.endpoint_delay_seconds
        ended = now + timedelta(seconds=delay)
        changes: dict[str, Any] = {
            "transform_job_status": "Completed",
            "transform_end_time": ended,
            "last_modified_time": ended,
        }
        failing = self._settings.fail_transform_jobs
        if _selects(failing, name) or (pipeline is not None and _selects(failing, pipeline)):
            changes["transform_job_status"] = "Failed"
            changes["failure_reason"] = tj.INJECTED_FAILURE

        def ended_now() -> None:
            if job.transform_job_status == "Completed":
                problem = self._write_output(call, request)
                if problem:
                    job.transform_job_status, job.failure_reason = "Failed", problem
            then(job)

        self._operations.append(_TransformRun(backend, job, time.monotonic() + delay, changes, ended_now))
        self._settle()  # a zero delay completes at once
        return job

    def _write_output(self, call: _Call, request: Mapping[str, Any]) -> str | None:
        """The one object a completed job leaves under its output prefix; why not, if it cannot."""
        output = (request.get("TransformOutput") or {}).get("S3OutputPath", "")
        source = (request.get("TransformInput") or {}).get("DataSource", {}).get("S3DataSource", {})
        bucket, key = tj.marker_key(output, source.get("S3Uri", ""))
        if not output.startswith("s3://") or not bucket:
            return f"ClientError: S3OutputPath {output!r} is not an s3:// URI"
        s3 = self.moto.s3_backends[self._account(call)]["aws"]
        try:
            try:
                s3.get_bucket(bucket)
            except Exception:
                s3.create_bucket(bucket, call.region)
            body = {
                "emulated": True,
                "note": "written by the sandbox emulator: no model ran",
                "job": request.get("TransformJobName"),
                "model": request.get("ModelName"),
                "input": source.get("S3Uri"),
            }
            s3.put_object(bucket, key, (json.dumps(body) + "\n").encode())
        except Exception as exc:
            return f"ClientError: cannot write to {output}: {exc}"
        return None

    def _stop_transform_job(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        backend = self._backend(call)
        name = call.params.get("TransformJobName", "")
        job = backend.transform_jobs.get(name)
        if job is None:
            raise _AwsError("ValidationException", f"Could not find job to update with name {name}")
        if job.transform_job_status != "InProgress":
            raise _AwsError(
                "ValidationException",
                f"The job {name} cannot be stopped: its status is {job.transform_job_status}.",
            )
        job.transform_job_status = "Stopping"
        delay = self._settings.endpoint_delay_seconds
        ended = self.moto.now() + timedelta(seconds=delay)
        changes = {
            "transform_job_status": "Stopped",
            "transform_end_time": ended,
            "last_modified_time": ended,
        }
        owner = next((r for r in self._operations if isinstance(r, _TransformRun) and r.target is job), None)
        then = owner.then if owner is not None else (lambda: None)
        self._operations.append(
            _TransformRun(backend, job, time.monotonic() + delay, changes, then, "Stopping")
        )
        self._settle()
        return _sagemaker_result({})

    def _executions(self, backend: Any) -> dict[str, tj.ExecutionRun]:
        return _extension_state(backend, "transform_executions", dict)

    def _pipeline(self, backend: Any, name_or_arn: str) -> Any:
        name = name_or_arn.rpartition("/")[2] if name_or_arn.startswith("arn:") else name_or_arn
        pipeline = backend.pipelines.get(name)
        if pipeline is None:
            raise _AwsError("ResourceNotFound", f"Pipeline '{name_or_arn}' does not exist.")
        return pipeline

    def _start_pipeline_execution(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        backend = self._backend(call)
        pipeline = self._pipeline(backend, call.params.get("PipelineName", ""))
        token = call.params.get("ClientRequestToken")
        if token:  # a start sent again: the execution the first made
            for arn, execution in pipeline.pipeline_executions.items():
                if execution.client_request_token == token:
                    return _sagemaker_result({"PipelineExecutionArn": arn})
        try:
            definition = json.loads(pipeline.pipeline_definition or "{}")
        except ValueError:
            definition = {}
        steps = tj.transform_steps(definition)
        response = self._call_moto(environ)
        if response.status != 200 or not steps:
            return response
        arn = json.loads(response.body)["PipelineExecutionArn"]
        execution = pipeline.pipeline_executions[arn]
        execution.pipeline_execution_status = "Executing"
        run = tj.ExecutionRun(arn)
        self._executions(backend)[arn] = run
        variables = tj.variables_of(definition, arn, call.params.get("PipelineParameters") or [])

        def step_ended(step: tj.StepRun, job: Any) -> None:
            step.status = {"Completed": "Succeeded", "Stopped": "Stopped"}.get(
                job.transform_job_status, "Failed"
            )
            step.ended = self.moto.now()
            if step.status == "Failed":
                step.failure_reason = job.failure_reason
            if all(s.status != "Executing" for s in run.steps):
                failed = [s for s in run.steps if s.status != "Succeeded"]
                execution.pipeline_execution_status = "Failed" if failed else "Succeeded"
                if failed:
                    run.failure_reason = tj.STEP_FAILURE
                    execution.pipeline_execution_failure_reason = tj.STEP_FAILURE
                execution.last_modified_time = step.ended

        for spec in steps:
            step = tj.StepRun(str(spec.get("Name", "Transform")), "Transform", self.moto.now())
            run.steps.append(step)
            try:
                request = tj.evaluate(spec.get("Arguments") or {}, variables)
                job = self._start_transform_job(
                    backend,
                    call,
                    request,
                    pipeline=pipeline.pipeline_name,
                    then=functools.partial(step_ended, step),
                )
            except (_AwsError, tj.ExpressionError) as exc:
                step.status, step.ended = "Failed", self.moto.now()
                step.failure_reason = f"ClientError: {getattr(exc, 'message', exc)}"
                execution.pipeline_execution_status = "Failed"
                execution.pipeline_execution_failure_reason = run.failure_reason = tj.STEP_FAILURE
                continue
            step.job_name, step.job_arn = job.transform_job_name, job.arn
        return response

    def _describe_pipeline_execution(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        response = self._call_moto(environ)
        run = self._executions(self._backend(call)).get(call.params.get("PipelineExecutionArn", ""))
        if response.status != 200:
            return response
        document = json.loads(response.body)
        if run is not None and run.failure_reason:
            document["FailureReason"] = run.failure_reason
        elif not document.get("FailureReason"):
            document.pop("FailureReason", None)
        return _sagemaker_result(document)

    def _list_pipeline_execution_steps(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        backend = self._backend(call)
        arn = call.params.get("PipelineExecutionArn", "")
        pipeline = backend.pipelines.get(tj.pipeline_of(arn) or "")
        if pipeline is None or arn not in pipeline.pipeline_executions:
            raise _AwsError(
                "ResourceNotFound", f"Could not find pipeline execution with PipelineExecutionArn {arn}."
            )
        run = self._executions(backend).get(arn)
        steps = [s.describe() for s in reversed(run.steps)] if run else []  # newest first, as SageMaker
        return _sagemaker_result({"PipelineExecutionSteps": steps})

    # ---- SageMaker: monitoring schedules --------------------------------------------------------
    def _monitoring_schedules(self, call: _Call) -> MonitoringSchedules:
        return _extension_state(self._backend(call), "monitoring_schedules", MonitoringSchedules)

    def _monitoring(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        backend = self._backend(call)
        schedules = _extension_state(backend, "monitoring_schedules", MonitoringSchedules)
        now, delay = self.moto.now(), self._settings.endpoint_delay_seconds
        return _sagemaker_result(schedules.serve(call.action, backend, call.params, now=now, delay=delay))

    def _delete_job_definition(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        kind = call.action.removeprefix("Delete").removesuffix("JobDefinition")
        name = call.params.get("JobDefinitionName", "")
        users = self._monitoring_schedules(call).using(kind, name)
        if users:
            raise _AwsError(
                "ResourceInUse",
                f"Job definition {name} is used by monitoring schedule(s) {', '.join(users)}; "
                "delete them first.",
            )
        return self._call_moto(environ)

    # ---- SageMaker: listing models -------------------------------------------------------------------
    def _list_models(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        """ListModels with its filters, sort and pages. moto ignores them all and describes every
        model on every call: the provider lists with NameContains after each endpoint change,
        which made an apply of many models quadratic. Filtered first, then only the page is
        summarised (a ModelSummary: name, ARN, creation time)."""
        params = call.params
        contains = params.get("NameContains") or ""
        before, after = params.get("CreationTimeBefore"), params.get("CreationTimeAfter")
        models = []
        for model in list(self._backend(call).list_models()):  # a copy: others may add meanwhile
            if contains not in model.model_name:
                continue
            created = _epoch_seconds(model.creation_time)
            if (before is not None and created >= float(before)) or (
                after is not None and created < float(after)
            ):
                continue
            models.append((created, model))
        by_name = params.get("SortBy") == "Name"
        descending = params.get("SortOrder", "Descending") == "Descending"

        def key(item: tuple[float, Any]) -> list[Any]:
            # By creation time (the default), ties (models made in one instant) by name.
            return [item[1].model_name] if by_name else [item[0], item[1].model_name]

        models.sort(key=key, reverse=descending)
        # The token is the sort key of the page's last model: the next page starts after it, so
        # models created or deleted between pages shift nothing (an offset would skip some).
        token = params.get("NextToken")
        if token:
            try:
                last = json.loads(token)
                models = [m for m in models if (key(m) < last if descending else key(m) > last)]
            except (ValueError, TypeError):
                raise _AwsError("ValidationException", f"Invalid pagination token {token!r}.") from None
        size = int(params.get("MaxResults") or _LIST_PAGE)
        page = models[:size]
        document: dict[str, Any] = {
            "Models": [
                {"ModelName": model.model_name, "ModelArn": model.arn, "CreationTime": created}
                for created, model in page
            ]
        }
        if len(models) > size:
            document["NextToken"] = json.dumps(key(page[-1]))
        return _sagemaker_result(document)

    # ---- SageMaker: tags --------------------------------------------------------------------------
    def _tagged(self, call: _Call) -> Any:
        """The object whose `tags` a tagging call works on, for the ARNs moto cannot resolve
        (monitoring schedules, which moto lacks, and model packages); None for the others."""
        arn = call.params.get("ResourceArn", "")
        kind = arn.rpartition(":")[2].partition("/")[0]
        if kind == "monitoring-schedule":
            return self._monitoring_schedules(call).by_arn(arn)
        if kind == "model-package":
            package = self._backend(call).describe_model_package(arn)
            package.tags = package.tags or []
            return package
        return None

    def _add_tags(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        tagged = self._tagged(call)
        if tagged is None:
            return self._call_moto(environ)
        tagged.tags = _put_tags(tagged.tags, call.params.get("Tags") or [])
        return _sagemaker_result({"Tags": tagged.tags})

    def _list_tags(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        tagged = self._tagged(call)
        if tagged is None:
            return self._call_moto(environ)
        return _sagemaker_result({"Tags": tagged.tags})  # at most 50, within one page

    def _delete_tags(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        tagged = self._tagged(call)
        if tagged is None:
            return self._call_moto(environ)
        keys = set(call.params.get("TagKeys") or [])
        tagged.tags = [tag for tag in tagged.tags if tag["Key"] not in keys]
        return _sagemaker_result({})

    # ---- SageMaker: model registry ------------------------------------------------------------------
    def _create_model_package(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        response = self._register_package(call, environ)
        life_cycle = call.params.get("ModelLifeCycle")
        if response.status == 200 and life_cycle:
            arn = json.loads(response.body)["ModelPackageArn"]
            self._backend(call).describe_model_package(arn).model_life_cycle = dict(life_cycle)
        return response

    def _describe_model_package(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        """moto's description, with the version's ModelLifeCycle, which moto does not keep."""
        response = self._call_moto(environ)
        if response.status != 200:
            return response
        package = self._backend(call).describe_model_package(call.params.get("ModelPackageName", ""))
        life_cycle = getattr(package, "model_life_cycle", None)
        if not life_cycle:
            return response
        return _sagemaker_result({**json.loads(response.body), "ModelLifeCycle": life_cycle})

    def _register_package(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        """moto numbers a new version by counting the group's versions: after a DeleteModelPackage
        it would hand out a number again and replace the version that holds it. SageMaker never
        reuses a version number. A request carrying the ClientToken of an earlier one is that
        request again (a retry): it gets the package the first made."""
        backend = self._backend(call)
        token = call.params.get("ClientToken")
        if token:
            for package in backend.model_packages.values():
                if getattr(package, "client_token", None) == token:
                    return _sagemaker_result({"ModelPackageArn": package.arn})
        group = call.params.get("ModelPackageGroupName")
        if not group:
            return self._call_moto(environ)
        versions = {
            package.model_package_version: package
            for package in backend.model_packages.values()
            if package.model_package_group_name == group
        }
        version = max([_extension_state(backend, "retired_versions", dict).get(group, 0), *versions]) + 1
        moto_version = len(versions) + 1
        if version == moto_version:
            return self._call_moto(environ)
        clash = versions.get(moto_version)
        if clash is not None:  # set aside while moto creates the package under its number
            del backend.model_packages[clash.arn]
        response = self._call_moto(environ)
        created = None
        if response.status == 200:
            created = backend.model_packages.pop(json.loads(response.body)["ModelPackageArn"])
        if clash is not None:
            backend.model_packages[clash.arn] = clash
        if created is None:
            return response
        mapping = backend.model_package_name_mapping
        if clash is None:
            del mapping[created.arn]
        created.arn = f"{created.arn.rpartition('/')[0]}/{version}"
        created.model_package_version = version
        for statuses in created.model_package_status_details.values():
            for status in statuses:
                status["Name"] = created.arn
        backend.model_packages[created.arn] = created
        mapping[group] = mapping[created.arn] = created.arn
        return _sagemaker_result({"ModelPackageArn": created.arn})

    def _update_model_package(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        """moto resets the approval status, its description and the customer metadata a request
        leaves out (and fails removing metadata from a package without any); SageMaker changes
        only what the request gives."""
        params = call.params
        package = self._backend(call).describe_model_package(params.get("ModelPackageArn", ""))
        if "ModelApprovalStatus" in params:
            package.set_model_approval_status(params["ModelApprovalStatus"])  # moto checks the value
        if "ApprovalDescription" in params:
            package.approval_description = params["ApprovalDescription"]
        metadata = {
            **(package.customer_metadata_properties or {}),
            **params.get("CustomerMetadataProperties", {}),
        }
        for key in params.get("CustomerMetadataPropertiesToRemove") or []:
            metadata.pop(key, None)
        package.customer_metadata_properties = metadata or None
        if params.get("AdditionalInferenceSpecificationsToAdd"):
            package.add_additional_inference_specifications(params["AdditionalInferenceSpecificationsToAdd"])
        if "ModelLifeCycle" in params:  # replaced whole: Stage and StageStatus are both required
            package.model_life_cycle = dict(params["ModelLifeCycle"])
        package.modifications_done()
        return _sagemaker_result({"ModelPackageArn": package.arn})

    def _delete_model_package(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        backend = self._backend(call)
        package = backend.describe_model_package(call.params.get("ModelPackageName", ""))
        del backend.model_packages[package.arn]
        mapping = backend.model_package_name_mapping
        for key in [key for key, arn in mapping.items() if arn == package.arn]:
            del mapping[key]
        group, version = package.model_package_group_name, package.model_package_version
        if group and version:
            retired = _extension_state(backend, "retired_versions", dict)
            retired[group] = max(retired.get(group, 0), version)
        return _sagemaker_result({})

    def _delete_model_package_group(self, call: _Call, environ: WSGIEnvironment) -> _Response:
        backend = self._backend(call)
        name = call.params.get("ModelPackageGroupName", "").rpartition("/")[2]  # a name or an ARN
        group = backend.describe_model_package_group(name)  # moto's "... does not exist."
        remaining = sum(p.model_package_group_name == name for p in backend.model_packages.values())
        if remaining:
            raise _AwsError(
                "ConflictException",
                f"Model package group {group.arn} has {remaining} model package version(s); "
                "delete them before the group.",
            )
        del backend.model_package_groups[name]
        _extension_state(backend, "retired_versions", dict).pop(name, None)
        return _sagemaker_result({})


# ---- the emulator -------------------------------------------------------------------------------


class SageMakerEmulator(BackgroundEmulator):
    """moto's server plus the SageMaker behaviour above, on `host:port` (port 0: any free port).

    `settings` are validated at once (pydantic's ValidationError, a ValueError, if invalid).
    `reset()` also drops endpoint operations in flight."""

    label = "SageMaker"
    state_stores = ("s3",)  # moto serves S3 beside SageMaker: the sandbox's remote state store
    operation_delay_setting = "endpoint_delay_seconds"  # the long operations are endpoint changes
    latency_setting = "latency_ms"

    def __init__(
        self, settings: Mapping[str, Any] | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__(_Gateway(EmulatorSettings.model_validate(dict(settings or {}))), host, port, _log)

    def _make_server(self) -> BaseWSGIServer:
        from werkzeug.serving import make_server

        self._gateway.attach(_load_moto())  # type: ignore[attr-defined]
        # The socket is bound here: werkzeug calls sys.exit() when it cannot bind, and moto's
        # ThreadedMotoServer binds inside its thread, where a port in use hangs start().
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        with socket.create_server((self._host, self._port), family=family) as listener:
            return make_server(
                self._host,
                self._port,
                self._gateway,  # type: ignore[arg-type]
                threaded=True,
                request_handler=_request_handler_class(),
                fd=listener.fileno(),  # werkzeug works on a duplicate of it
            )

    def _bound_port(self, server: Any) -> int:
        return int(server.port)

    def _close_connections(self, server: Any) -> None:
        with _CONNECTIONS_LOCK:
            connections = list(_open_connections(server))
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def set_endpoint_status(self, name: str, status: str, **options: Any) -> dict[str, Any]:
        """See `_Gateway.set_endpoint_status`; over HTTP, `POST /_emulator/endpoint-status`."""
        return self._gateway.set_endpoint_status(name, status, **options)  # type: ignore[attr-defined]


# ---- control API clients ------------------------------------------------------------------------
