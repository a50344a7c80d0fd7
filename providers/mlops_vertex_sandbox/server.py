"""The Vertex AI control-plane emulator behind `mlops --sandbox`: the Vertex AI REST v1 API for
models, endpoints, model deployment monitoring jobs, schedules, pipeline jobs and batch prediction
jobs, on one loopback port.

The real `google.cloud.aiplatform_v1` clients talk to it unchanged::

    client = aiplatform_v1.EndpointServiceClient(
        transport="rest", credentials=AnonymousCredentials(),
        client_options={"api_endpoint": emulator.url})        # http://127.0.0.1:PORT

Resources live in memory, under any `projects/*/locations/*`, and take the shapes of the Vertex
REST reference in proto3 JSON (camelCase, int64 as strings, enums as numbers when the client asks
for `enum-encoding=int`, as it always does). Mutations that are long-running on Vertex
(uploads, deployments, deletions, ...) answer a `google.longrunning.Operation` that completes
after `operation_delay_seconds`; their effect shows only then. Operations are served under
`/ui/` (where the client polls them) and `/v1/`. Invalid requests get the errors Vertex gives
(`{"error": {code, message, status}}` with 400/404/409...). What each resource does is described
in `models.py`, `jobs.py` and `batch.py`; the wire conventions in `core.py`.

Settings (constructor argument, or at runtime through the control API):

    latency_ms               milliseconds added to every API call (default 0)
    operation_delay_seconds  how long operations take, and a monitoring job takes to start
                             (default 0.5)
    throttle                 {"times": N (omit: every call), "method": "GET", "path": regex,
                              "message": ...}: matching API calls get 429 RESOURCE_EXHAUSTED
    fail                     rules failing matching API calls, each
                             {"method": "POST", "path": ":deployModel$", "status":
                              "FAILED_PRECONDITION" or "code": 400, "message": ..., "times": N
                              (omit: every call), "in_operation": false}; with `in_operation`,
                             the call succeeds and the operation it starts fails with that
                             status instead (the effect is not applied); for a batch
                             prediction job's create, the job runs and ends
                             JOB_STATE_FAILED with that status as its `error` (a
                             pipeline job's, PIPELINE_STATE_FAILED)
    transient                rules failing a share of matching API calls with a transient
                             server error, each {"rate": 0.2, "method": "GET", "path": regex,
                             "status": "UNAVAILABLE" (or INTERNAL, DEADLINE_EXCEEDED),
                             "lost_reply": false, "disconnect": false, "times": N}; with
                             `lost_reply` the call takes effect and only its answer is lost;
                             with `disconnect` the connection is dropped instead of answered
    seed                     seeds the random draws of the transient rules (default: none)
    chaos                    random faults on every API call: {"rate": 0.3, "seed": 7, "kinds":
                             ["throttle", "server_error", "lost_reply"], "methods": ["POST *"]}
                             (see chaos.py)

Resource names carry the project NUMBER, as Vertex's do: a request may name the project by its
ID (`projects/acme-ml/...`) or its number, and every name the emulator returns has the number (a
stable 12-digit digest of the ID, `core.project_number`).

Paths are matched (`re.search`) against the percent-decoded request path with the project
number in it, e.g. `/v1/projects/123456789012/locations/l/models/m@2`. A fail rule's status
follows from its code and the code from its status (INTERNAL/500 if neither is given).

Control API: the one every sandbox emulator serves (`mlops_gitops.sandbox.emulator`: health,
settings, reset). Here `POST /_emulator/reset` wipes every resource and operation and restores the
settings the emulator was built with. `mlops sandbox up --operation-delay` sets
`operation_delay_seconds`.

Importing this module imports no Google library (the CLI imports provider modules on its start-up
path); it needs only the standard library, pydantic and, for schedules, croniter."""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qs, unquote

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlops_gitops.sandbox import control
from mlops_gitops.sandbox.background import BackgroundEmulator, LoopbackHTTPServer
from mlops_gitops.sandbox.control import CONTROL_PREFIX, reset, update_settings

from . import batch, jobs, models
from .chaos import Chaos
from .core import (
    CODES,
    STATUS_FOR_HTTP,
    ApiError,
    Call,
    State,
    canonical_name,
    list_page,
    not_found,
    parse_duration,
)

__all__ = [
    "EmulatorSettings",
    "FailRule",
    "ThrottleRule",
    "TransientRule",
    "VertexEmulator",
    "reset",
    "update_settings",
]

_log = logging.getLogger(__name__)

# The "status" of an answer that is no answer: the connection is dropped (see TransientRule).
DISCONNECT = -1
# How long a WaitOperation call blocks at most, whatever timeout it asks for.
_MAX_WAIT_SECONDS = 60.0


# ---- settings ------------------------------------------------------------------------------------


def _check_regex(pattern: str | None) -> str | None:
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return pattern


def _status_of(status: str | None, code: int | None) -> str:
    """The google.rpc.Code name a rule fails with, from its status and/or HTTP code."""
    if status is None:
        if code is None:
            return "INTERNAL"
        if code not in STATUS_FOR_HTTP:
            raise ValueError(f"give the status that goes with code {code}")
        return STATUS_FOR_HTTP[code]
    if status not in CODES:
        raise ValueError(f"unknown status {status!r} (one of {', '.join(CODES)})")
    if code is not None and code != CODES[status][0]:
        raise ValueError(f"status {status} is HTTP {CODES[status][0]}, not {code}")
    return status


class ThrottleRule(BaseModel):
    """Refuse matching API calls with 429 RESOURCE_EXHAUSTED, as Vertex does past a quota."""

    model_config = ConfigDict(extra="forbid")

    times: int | None = Field(default=None, ge=1)  # calls left to refuse; None refuses them all
    method: str | None = None  # HTTP method, e.g. "POST"
    path: str | None = None  # regex searched in the decoded path
    message: str | None = None

    @field_validator("path")
    @classmethod
    def check_path(cls, pattern: str | None) -> str | None:
        return _check_regex(pattern)


class FailRule(BaseModel):
    """Fail matching API calls (or, with `in_operation`, the operation they start) with a Google
    error, so that the client raises the matching `google.api_core.exceptions` class."""

    model_config = ConfigDict(extra="forbid")

    method: str | None = None
    path: str | None = None
    code: int | None = Field(default=None, ge=400, le=599)  # HTTP status
    status: str | None = None  # google.rpc.Code name, e.g. "FAILED_PRECONDITION"
    message: str | None = None
    times: int | None = Field(default=None, ge=1)  # calls left to fail; None fails them all
    in_operation: bool = False

    @field_validator("path")
    @classmethod
    def check_path(cls, pattern: str | None) -> str | None:
        return _check_regex(pattern)

    @model_validator(mode="after")
    def check_status(self) -> FailRule:
        _status_of(self.status, self.code)
        return self

    @property
    def error_status(self) -> str:
        return _status_of(self.status, self.code)


class TransientRule(BaseModel):
    """Fail a share of the matching API calls with a transient server error, as Google's front
    ends do now and then. With `lost_reply` the call takes effect first and only its answer is
    lost, so a client cannot tell whether it happened; with `disconnect` the connection is
    dropped without an answer instead of answering the error."""

    model_config = ConfigDict(extra="forbid")

    rate: float = Field(gt=0, le=1)  # share of the matching calls that fail
    method: str | None = None
    path: str | None = None
    status: Literal["UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED"] = "UNAVAILABLE"
    lost_reply: bool = False
    disconnect: bool = False
    times: int | None = Field(default=None, ge=1)  # failures left to inject; None: no limit
    message: str | None = None

    @field_validator("path")
    @classmethod
    def check_path(cls, pattern: str | None) -> str | None:
        return _check_regex(pattern)


class EmulatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latency_ms: float = Field(default=0.0, ge=0)
    # Long enough that a sandbox user sees operations in flight, as on Vertex; tests set less.
    operation_delay_seconds: float = Field(default=0.5, ge=0)
    throttle: ThrottleRule | None = None
    fail: list[FailRule] = Field(default_factory=list)
    transient: list[TransientRule] = Field(default_factory=list)
    seed: int | None = None  # seeds the draws of `transient` rules, for reproducible runs
    chaos: Chaos | None = None  # random faults on every API call (chaos.py)


def _matches(rule: ThrottleRule | FailRule | TransientRule, method: str, path: str) -> bool:
    if rule.method is not None and rule.method.upper() != method:
        return False
    return rule.path is None or re.search(rule.path, path) is not None


# ---- operations ----------------------------------------------------------------------------------


def _operation(state: State, call: Call) -> Any:
    operation = state.operations.get(call.groups["operation"])
    if operation is None:
        raise not_found(f"Operation {call.groups['operation']} is not found.")
    return operation


def get_operation(state: State, call: Call) -> dict[str, Any]:
    return _operation(state, call).document(call.int_enums)


def cancel_operation(state: State, call: Call) -> dict[str, Any]:
    """Cancelling an operation in flight makes it fail with CANCELLED; its effect never happens."""
    state.cancel(_operation(state, call))
    return {}


def delete_operation(state: State, call: Call) -> dict[str, Any]:
    del state.operations[_operation(state, call).name]
    return {}


def list_operations(state: State, call: Call) -> dict[str, Any]:
    prefix = f"{call.groups['resource']}/"
    docs = [op.document(call.int_enums) for name, op in state.operations.items() if name.startswith(prefix)]
    return list_page(call.query, docs, "operations", call.path)


def wait_operation(state: State, call: Call) -> dict[str, Any]:
    """Block until the operation is done or the request's timeout passes; runs without the state
    lock held, so that other calls proceed meanwhile."""
    timeout = parse_duration(call.query.get("timeout") or f"{_MAX_WAIT_SECONDS:g}s", "timeout")
    deadline = time.monotonic() + min(max(timeout, 0.0), _MAX_WAIT_SECONDS)
    while True:
        with state.lock:
            state.settle()
            operation = _operation(state, call)
            left = min(operation.due, deadline) - time.monotonic()
            if operation.done or time.monotonic() >= deadline:
                return operation.document(call.int_enums)
        # Short naps: a cancel or a settings change may end the wait early.
        time.sleep(min(max(left, 0.001), 0.05))


# ---- routes --------------------------------------------------------------------------------------

Handler = Callable[[State, Call], dict[str, Any]]


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    locked: bool = True  # run under the state lock (all but WaitOperation)


_ID = r"[^/:@]+"
_L = rf"projects/(?P<project>{_ID})/locations/(?P<location>{_ID})"
_VERSION = r"(?:@(?P<version>[^/:]+))?"
_MODEL = rf"/v1/{_L}/models/(?P<model>{_ID}){_VERSION}"
_ENDPOINT = rf"/v1/{_L}/endpoints/(?P<endpoint>{_ID})"
_JOB = rf"/v1/{_L}/modelDeploymentMonitoringJobs/(?P<job>{_ID})"
_SCHEDULE = rf"/v1/{_L}/schedules/(?P<schedule>{_ID})"
_BATCH_JOB = rf"/v1/{_L}/batchPredictionJobs/(?P<batch_job>{_ID})"
_PIPELINE_JOB = rf"/v1/{_L}/pipelineJobs/(?P<pipeline_job>{_ID})"
_OPERATION = rf"/(?:ui|v1)/(?P<operation>{_L}(?:/[^:]*?)?/operations/{_ID})"

_ROUTES: tuple[_Route, ...] = tuple(
    _Route(method, re.compile(pattern), handler, handler is not wait_operation)
    for method, pattern, handler in [
        ("POST", rf"/v1/{_L}/models:upload", models.upload_model),
        ("GET", rf"/v1/{_L}/models", models.list_models),
        ("GET", _MODEL, models.get_model),
        ("PATCH", _MODEL, models.update_model),
        ("DELETE", _MODEL, models.delete_model),
        ("DELETE", rf"{_MODEL}:deleteVersion", models.delete_model_version),
        ("POST", rf"{_MODEL}:mergeVersionAliases", models.merge_version_aliases),
        ("GET", rf"{_MODEL}:listVersions", models.list_model_versions),
        ("POST", rf"/v1/{_L}/endpoints", models.create_endpoint),
        ("GET", rf"/v1/{_L}/endpoints", models.list_endpoints),
        ("GET", _ENDPOINT, models.get_endpoint),
        ("PATCH", _ENDPOINT, models.update_endpoint),
        ("DELETE", _ENDPOINT, models.delete_endpoint),
        ("POST", rf"{_ENDPOINT}:deployModel", models.deploy_model),
        ("POST", rf"{_ENDPOINT}:undeployModel", models.undeploy_model),
        ("POST", rf"{_ENDPOINT}:mutateDeployedModel", models.mutate_deployed_model),
        ("POST", rf"/v1/{_L}/modelDeploymentMonitoringJobs", jobs.create_job),
        ("GET", rf"/v1/{_L}/modelDeploymentMonitoringJobs", jobs.list_jobs),
        ("GET", _JOB, jobs.get_job),
        ("PATCH", _JOB, jobs.update_job),
        ("DELETE", _JOB, jobs.delete_job),
        ("POST", rf"{_JOB}:pause", jobs.pause_job),
        ("POST", rf"{_JOB}:resume", jobs.resume_job),
        ("POST", rf"/v1/{_L}/schedules", jobs.create_schedule),
        ("GET", rf"/v1/{_L}/schedules", jobs.list_schedules),
        ("GET", _SCHEDULE, jobs.get_schedule),
        ("PATCH", _SCHEDULE, jobs.update_schedule),
        ("DELETE", _SCHEDULE, jobs.delete_schedule),
        ("POST", rf"{_SCHEDULE}:pause", jobs.pause_schedule),
        ("POST", rf"{_SCHEDULE}:resume", jobs.resume_schedule),
        ("POST", rf"/v1/{_L}/batchPredictionJobs", batch.create_batch_prediction_job),
        ("GET", rf"/v1/{_L}/batchPredictionJobs", batch.list_batch_prediction_jobs),
        ("GET", _BATCH_JOB, batch.get_batch_prediction_job),
        ("DELETE", _BATCH_JOB, batch.delete_batch_prediction_job),
        ("POST", rf"{_BATCH_JOB}:cancel", batch.cancel_batch_prediction_job),
        ("POST", rf"/v1/{_L}/pipelineJobs", jobs.create_pipeline_job),
        ("GET", rf"/v1/{_L}/pipelineJobs", jobs.list_pipeline_jobs),
        ("GET", _PIPELINE_JOB, jobs.get_pipeline_job),
        ("DELETE", _PIPELINE_JOB, jobs.delete_pipeline_job),
        ("POST", rf"{_PIPELINE_JOB}:cancel", jobs.cancel_pipeline_job),
        ("GET", _OPERATION, get_operation),
        ("DELETE", _OPERATION, delete_operation),
        ("POST", rf"{_OPERATION}:cancel", cancel_operation),
        ("POST", rf"{_OPERATION}:wait", wait_operation),
        ("GET", rf"/(?:ui|v1)/(?P<resource>{_L}(?:/[^:]*?)?)/operations", list_operations),
    ]
)


def _route(method: str, path: str) -> tuple[_Route, dict[str, str]]:
    for route in _ROUTES:
        match = route.pattern.fullmatch(path)
        if match is not None and route.method == method:
            return route, {key: value for key, value in match.groupdict().items() if value is not None}
    # Not 404: a client would take that for a missing resource.
    raise ApiError("UNIMPLEMENTED", f"The Vertex AI emulator does not implement {method} {path}.")


# ---- the application -----------------------------------------------------------------------------


class _Gateway:
    """Turns HTTP requests into answers: the control API, injected latency and failures, then
    the resource handlers."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self._initial = settings
        self._settings = settings.model_copy(deep=True)
        self.state = State(settings.operation_delay_seconds)
        self._random = random.Random(settings.seed)

    # ---- settings and reset ----------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        with self.state.lock:
            return self._settings.model_dump(mode="json")

    def update_settings(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            self._settings = EmulatorSettings.model_validate({**self._settings.model_dump(), **changes})
            self.state.operation_delay = self._settings.operation_delay_seconds
            if "seed" in changes:
                self._random.seed(self._settings.seed)
            return self._settings.model_dump(mode="json")

    def reset(self) -> None:
        with self.state.lock:
            self.state.clear()
            self._settings = self._initial.model_copy(deep=True)
            self.state.operation_delay = self._settings.operation_delay_seconds
            self._random.seed(self._settings.seed)

    # ---- requests ---------------------------------------------------------------------------------
    def handle(self, method: str, target: str, raw: bytes) -> tuple[int, Any]:
        """(HTTP status, JSON document) for one request."""
        path, _, query_string = target.partition("?")
        path = unquote(path)
        if path.startswith(CONTROL_PREFIX):
            return control.answer(self, method, path[len(CONTROL_PREFIX) :], raw, label=VertexEmulator.label)
        # Requests may name the project by ID or number; resources are kept under the number.
        path = canonical_name(path)
        with self.state.lock:
            latency = self._settings.latency_ms
            refusal = self._throttled(method, path) or self._take_failure(method, path, in_operation=False)
            transient = self._take_transient(method, path) if refusal is None else None
            if refusal is None and transient is None and self._settings.chaos is not None:
                refusal, transient = self._settings.chaos.draw(method, path)  # type: ignore[assignment]
        if latency:
            time.sleep(latency / 1000)
        if refusal is not None:
            return refusal.http_status, refusal.body()
        if transient is not None and not transient.lost_reply:
            return self._transient_answer(transient, method, path)
        answer = self._serve(method, path, query_string, raw)
        if transient is not None:  # done, and the answer lost on its way back
            return self._transient_answer(transient, method, path)
        return answer

    def _serve(self, method: str, path: str, query_string: str, raw: bytes) -> tuple[int, Any]:
        try:
            route, groups = _route(method, path)
            query = {
                key: values[-1] for key, values in parse_qs(query_string, keep_blank_values=True).items()
            }
            call = Call(
                method,
                path,
                query,
                _parse_body(raw),
                groups,
                operation_failure=lambda: self._take_failure(method, path, in_operation=True),
            )
            if not route.locked:
                return 200, route.handler(self.state, call)
            with self.state.lock:
                self.state.settle()
                return 200, route.handler(self.state, call)
        except ApiError as exc:
            return exc.http_status, exc.body()
        except Exception as exc:
            _log.exception("the Vertex AI emulator failed on %s %s", method, path)
            failure = ApiError("INTERNAL", f"The Vertex AI emulator failed: {type(exc).__name__}: {exc}")
            return failure.http_status, failure.body()

    def _throttled(self, method: str, path: str) -> ApiError | None:
        rule = self._settings.throttle
        if rule is None or not _matches(rule, method, path):
            return None
        if rule.times is not None:
            rule.times -= 1
            if rule.times == 0:
                self._settings.throttle = None
        return ApiError(
            "RESOURCE_EXHAUSTED",
            rule.message
            or "Quota exceeded for aiplatform.googleapis.com: too many requests (throttling injected by "
            "the Vertex AI emulator).",
        )

    def _take_transient(self, method: str, path: str) -> TransientRule | None:
        """The transient rule (if any) whose draw fails this call; caller holds the lock."""
        for rule in self._settings.transient:
            if not _matches(rule, method, path) or self._random.random() >= rule.rate:
                continue
            chosen = rule.model_copy()
            if rule.times is not None:
                rule.times -= 1
                if rule.times == 0:
                    self._settings.transient.remove(rule)
            return chosen
        return None

    def _transient_answer(self, rule: TransientRule, method: str, path: str) -> tuple[int, Any]:
        if rule.disconnect:
            return DISCONNECT, None
        what = "its reply was lost" if rule.lost_reply else "it was not processed"
        error = ApiError(
            rule.status,
            rule.message
            or f"{method} {path}: the service is unavailable, {what} (injected by the Vertex AI emulator).",
        )
        return error.http_status, error.body()

    def _take_failure(self, method: str, path: str, in_operation: bool) -> ApiError | None:
        with self.state.lock:
            for rule in self._settings.fail:
                if rule.in_operation != in_operation or not _matches(rule, method, path):
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times == 0:
                        self._settings.fail.remove(rule)
                where = "the operation started by " if in_operation else ""
                message = (
                    rule.message or f"{where}{method} {path} failed: injected by the Vertex AI emulator."
                )
                return ApiError(rule.error_status, message)
        return None


def _parse_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError("INVALID_ARGUMENT", f"Invalid JSON payload received. {exc}") from None
    if not isinstance(body, dict):
        raise ApiError("INVALID_ARGUMENT", "Invalid JSON payload received: expected an object.")
    return body


# ---- HTTP ----------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses its connections
    # http.server writes the headers and the body separately; with Nagle's algorithm on, the body
    # waits for the client's delayed ACK and every call costs 40-80 ms.
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.send_error(400, "invalid Content-Length")
            return
        raw = self.rfile.read(length) if length else b""
        status, document = self.server.gateway.handle(self.command, self.path, raw)
        if status == DISCONNECT:
            # Hang up without a word, as a front end that lost the backend may.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s %s", self.address_string(), format % args)


class _Server(LoopbackHTTPServer):
    label = "the Vertex AI emulator"

    def __init__(self, address: tuple[str, int], gateway: _Gateway) -> None:
        self.gateway = gateway
        super().__init__(address, _Handler, _log)


# ---- the emulator --------------------------------------------------------------------------------


class VertexEmulator(BackgroundEmulator):
    """The Vertex AI REST API on `host:port` (port 0: any free port), in a background thread.

    `settings` are validated at once (pydantic's ValidationError, a ValueError, if invalid).
    `reset()` wipes every resource and operation."""

    label = "Vertex AI"
    operation_delay_setting = "operation_delay_seconds"
    latency_setting = "latency_ms"

    def __init__(
        self, settings: Mapping[str, Any] | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__(_Gateway(EmulatorSettings.model_validate(dict(settings or {}))), host, port, _log)

    def _make_server(self) -> _Server:
        return _Server((self._host, self._port), self._gateway)  # type: ignore[arg-type]

    def _bound_port(self, server: Any) -> int:
        return int(server.server_port)

    def _close_connections(self, server: Any) -> None:
        # A stopped server must not go on answering on connections clients kept alive.
        server.close_connections()
