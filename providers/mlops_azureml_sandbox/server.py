"""The Azure Machine Learning control-plane emulator behind `mlops --sandbox`: the ARM REST API of
`Microsoft.MachineLearningServices` workspaces (online endpoints and deployments, models,
environments, data, schedules, jobs, datastores) and Azure Monitor autoscale settings, over TLS on
one loopback port, so that the real `azure.ai.ml.MLClient` and
`azure.mgmt.monitor.MonitorManagementClient` work against it unmodified (see
`tests/azureml/conftest.py` for how to build them: a static bearer-token credential,
`cloud_metadata` pointing at the emulator, `connection_verify=<settings["tls_ca_file"]>`).

The URL is `https://127.0.0.1:<port>`; at `start()` the emulator serves a self-signed certificate
(subjectAltName IP:127.0.0.1, DNS:localhost; one per process, see `tls.py`) whose PEM path is the
read-only setting `tls_ca_file` while it runs.

Also served, because the SDK calls them: `computes/{C}` (any compute named exists, an AmlCompute
made on first GET), `datastores` (workspaceblobstore & co, with `listSecrets`), `data`,
`components` and `codes` assets (the SDK registers data assets for a deployment's data collector
and anonymous components for pipeline jobs), and `GET /discovery`. `regenerateKeys` makes a new key
even when the SDK sends the current one as `keyValue` (as it does).

Paths: `/subscriptions/{S}/resourceGroups/{G}/providers/Microsoft.MachineLearningServices/
workspaces/{W}/...` for any S, G and W (a workspace exists once named, in the `location`
setting), matched case-insensitively, with any `api-version`; `.../providers/Microsoft.Insights/
autoscalesettings/{N}` for autoscale. What each resource does and the rules Azure enforces that
the emulator enforces too are in `resources.py`, `batch.py` (batch endpoints, deployments, their
invocation and jobs, compute clusters), `schedules.py` and `autoscale.py`.

Long-running calls keep to the ARM asynchronous protocol: a PUT answers 201 (created) or 200
(updated) with the resource in `provisioningState` Creating/Updating, a PATCH or DELETE answers
202, each with `Azure-AsyncOperation` (a status document `{id, name, status, startTime, endTime,
error}` ending Succeeded/Failed/Canceled), `Location` (202 while running; then 200 with the
resource, or 204 after a delete) and an integer `Retry-After`. Operations end
`operation_delay_seconds` after they start (0: at once). Poll answers carry a `Retry-After` no
longer than what the operation has left (a fraction of a second: azure-core takes it there), so
the SDK's pollers return soon after the operation ends. Every answer has `x-ms-request-id` and
`x-ms-correlation-request-id`.

Settings (constructor argument, or at runtime through the control API):

    operation_delay_seconds  how long long-running operations take (default 1.0)
    latency_ms               milliseconds added to every API call (default 0)
    location                 the region of workspaces made from now on (default "westeurope")
    retry_after_seconds      the integer Retry-After of accepted long-running calls (default 1)
    instance_types           the VM sizes deployments may use (default: settings.DEFAULT_INSTANCE_TYPES)
    throttle                 [{"method": "PUT", "path": regex, "operation": name, "times": N,
                               "retry_after": 1, "message": ...}]: matching calls get 429
                             TooManyRequests with Retry-After and x-ms-ratelimit-remaining-* 0
    fail                     [{"method", "path", "operation", "times", "status": 500, "code": ARM
                               code, "message", "rate": 0.3, "lose_reply": false}]: matching calls
                             are answered with that error instead; with `lose_reply` the call takes
                             effect first and only its answer is lost; with `rate` (and `seed`)
                             only that share of them fails
    fail_async               [{"method", "path", "operation", "times": 1, "code":
                               "DeploymentFailed", "message"}]: the matching long-running calls
                             are accepted, then their operation ends Failed with that error and
                             the resource's provisioningState is Failed. E.g. "deployment green
                             fails mid-rollout":
                               {"fail_async": [{"operation": "OnlineDeployments_CreateOrUpdate",
                                                "path": "/deployments/green$", "times": 1}]}
    seed                     seeds the draws of `fail` rules with a `rate`
    chaos                    random faults on every API call: {"rate": 0.3, "seed": 7, "kinds":
                               ["throttle", "server_error", "lost_reply"], "methods":
                               ["OnlineDeployments_*"]} (see chaos.py)
    tls_ca_file              (read-only, set by start()) the PEM of the emulator's certificate

A rule matches when each of `method`, `path` (a regex searched case-insensitively in the
percent-decoded path without query) and `operation` it gives matches; `times` counts down as it
fires (the rule is dropped at 0; omitted: it fires for ever). Operation names are those of the
Azure REST reference: Workspaces_Get, OnlineEndpoints_{CreateOrUpdate,Update,Get,List,Delete,
ListKeys,RegenerateKeys,GetToken}, OnlineDeployments_{CreateOrUpdate,Update,Get,List,Delete,
GetLogs}, {Model,Environment,Data,Component,Code}{Containers,Versions}_{CreateOrUpdate,Get,List,
Delete}, Schedules_*, Jobs_{CreateOrUpdate,Get,List,Delete,Cancel}, Datastores_{Get,List,
ListSecrets}, Compute_{Get,List,CreateOrUpdate,Delete}, BatchEndpoints_{CreateOrUpdate,Get,List,Delete,
Invoke}, BatchDeployments_{CreateOrUpdate,Get,List,Delete}, Runs_Get,
AutoscaleSettings_{CreateOrUpdate,Get,Update,Delete,ListByResourceGroup},
Operations_{GetStatus,GetResult}, Discovery_Get.

Control API: the one every sandbox emulator serves (`mlops_gitops.sandbox.emulator`: health with
label "Azure Machine Learning", settings, reset), plus

    GET {url}/_emulator/requests
        200 {"requests": [{"method", "path", "operation", "status", "time"}, ...]}: every API
        call since start or the last reset, oldest first (at most the last 20000): `path` without
        the query, `status` the HTTP status answered (for `lose_reply`, the error the client got),
        `time` seconds since the epoch. For tests asserting call counts and that traffic never
        named a missing deployment (an endpoint's GET shows its traffic at any time).

`POST /_emulator/reset` wipes every resource, operation and the request log and restores the
settings the emulator was built with (its certificate and `tls_ca_file` stay).
`mlops sandbox up --operation-delay`
sets `operation_delay_seconds`, `--latency-ms` sets `latency_ms`.

Importing this module imports no Azure library: the standard library, pydantic and (at start)
cryptography."""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import ssl
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote

from mlops_gitops.sandbox import control
from mlops_gitops.sandbox.background import BackgroundEmulator, LoopbackHTTPServer
from mlops_gitops.sandbox.control import CONTROL_PREFIX

from . import autoscale, batch, resources, schedules
from .arm import ArmError, State
from .chaos import DISCONNECT, hang_up
from .resources import Call, Reply
from .settings import AsyncFailRule, EmulatorSettings, FailRule, ThrottleRule
from .tls import shared_certificate

__all__ = ["AzureMLEmulator", "EmulatorSettings"]

_log = logging.getLogger(__name__)
_REQUEST_LOG_SIZE = 20000

# ---- routes --------------------------------------------------------------------------------------------

Handler = Callable[[State, Call], Reply]


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    operation: str
    handler: Handler


_SEG = r"[^/]+"
_WS = (
    rf"/subscriptions/(?P<subscription>{_SEG})/resourceGroups/(?P<group>{_SEG})"
    rf"/providers/Microsoft\.MachineLearningServices/workspaces/(?P<workspace>{_SEG})"
)
_EP = rf"{_WS}/onlineEndpoints/(?P<endpoint>{_SEG})"
_DEP = rf"{_EP}/deployments/(?P<deployment>{_SEG})"
_ASSET = rf"{_WS}/(?P<collection>models|environments|data|components|codes)"
_CONTAINER = rf"{_ASSET}/(?P<name>{_SEG})"
_VERSION = rf"{_CONTAINER}/versions/(?P<version>{_SEG})"
_SCHEDULE = rf"{_WS}/schedules/(?P<schedule>{_SEG})"
_JOB = rf"{_WS}/jobs/(?P<job>{_SEG})"
_BEP = rf"{_WS}/batchEndpoints/(?P<endpoint>{_SEG})"
_BDEP = rf"{_BEP}/deployments/(?P<deployment>{_SEG})"
_COMPUTE = rf"{_WS}/computes/(?P<compute>{_SEG})"
_DATASTORE = rf"{_WS}/datastores/(?P<datastore>{_SEG})"
_OPERATION = (
    rf"/subscriptions/(?P<subscription>{_SEG})/providers/Microsoft\.MachineLearningServices"
    rf"/locations/(?P<location>{_SEG})/(?P<kind>mfeOperationsStatus|mfeOperationResults)/(?P<operation>{_SEG})"
)
_AUTOSCALE_RG = (
    rf"/subscriptions/(?P<subscription>{_SEG})/resourceGroups/(?P<group>{_SEG})"
    r"/providers/Microsoft\.Insights/autoscalesettings"
)
_AUTOSCALE = rf"{_AUTOSCALE_RG}/(?P<setting>{_SEG})"

_ROUTE_TABLE: list[tuple[str, str, str, Handler]] = [
    ("GET", _WS, "Workspaces_Get", resources.get_workspace),
    ("GET", r"/discovery", "Discovery_Get", resources.discovery),
    ("GET", rf"{_WS}/onlineEndpoints", "OnlineEndpoints_List", resources.list_endpoints),
    ("GET", _EP, "OnlineEndpoints_Get", resources.get_endpoint),
    ("PUT", _EP, "OnlineEndpoints_CreateOrUpdate", resources.put_endpoint),
    ("PATCH", _EP, "OnlineEndpoints_Update", resources.patch_endpoint),
    ("DELETE", _EP, "OnlineEndpoints_Delete", resources.delete_endpoint),
    ("POST", rf"{_EP}/listKeys", "OnlineEndpoints_ListKeys", resources.list_keys),
    ("POST", rf"{_EP}/regenerateKeys", "OnlineEndpoints_RegenerateKeys", resources.regenerate_keys),
    ("POST", rf"{_EP}/token", "OnlineEndpoints_GetToken", resources.get_token),
    ("GET", rf"{_EP}/deployments", "OnlineDeployments_List", resources.list_deployments),
    ("GET", _DEP, "OnlineDeployments_Get", resources.get_deployment),
    ("PUT", _DEP, "OnlineDeployments_CreateOrUpdate", resources.put_deployment),
    ("PATCH", _DEP, "OnlineDeployments_Update", resources.patch_deployment),
    ("DELETE", _DEP, "OnlineDeployments_Delete", resources.delete_deployment),
    ("POST", rf"{_DEP}/getLogs", "OnlineDeployments_GetLogs", resources.deployment_logs),
    ("GET", _ASSET, "Containers_List", resources.list_containers),
    ("GET", _CONTAINER, "Containers_Get", resources.get_container),
    ("PUT", _CONTAINER, "Containers_CreateOrUpdate", resources.put_container),
    ("DELETE", _CONTAINER, "Containers_Delete", resources.delete_container),
    ("GET", rf"{_CONTAINER}/versions", "Versions_List", resources.list_versions),
    ("GET", _VERSION, "Versions_Get", resources.get_version),
    ("PUT", _VERSION, "Versions_CreateOrUpdate", resources.put_version),
    ("DELETE", _VERSION, "Versions_Delete", resources.delete_version),
    ("GET", rf"{_WS}/schedules", "Schedules_List", resources.list_schedules),
    ("GET", _SCHEDULE, "Schedules_Get", resources.get_schedule),
    ("PUT", _SCHEDULE, "Schedules_CreateOrUpdate", resources.put_schedule),
    ("DELETE", _SCHEDULE, "Schedules_Delete", resources.delete_schedule),
    ("GET", rf"{_WS}/jobs", "Jobs_List", resources.list_jobs),
    ("GET", _JOB, "Jobs_Get", resources.get_job),
    ("PUT", _JOB, "Jobs_CreateOrUpdate", schedules.put_job),
    ("DELETE", _JOB, "Jobs_Delete", resources.delete_job),
    ("POST", rf"{_JOB}/cancel", "Jobs_Cancel", resources.cancel_job),
    ("GET", rf"{_WS}/computes", "Compute_List", resources.list_computes),
    ("GET", _COMPUTE, "Compute_Get", resources.get_compute),
    ("PUT", _COMPUTE, "Compute_CreateOrUpdate", batch.put_compute),
    ("DELETE", _COMPUTE, "Compute_Delete", batch.delete_compute),
    ("GET", rf"{_WS}/batchEndpoints", "BatchEndpoints_List", batch.list_endpoints),
    ("GET", _BEP, "BatchEndpoints_Get", batch.get_endpoint),
    ("PUT", _BEP, "BatchEndpoints_CreateOrUpdate", batch.put_endpoint),
    ("DELETE", _BEP, "BatchEndpoints_Delete", batch.delete_endpoint),
    ("POST", rf"{_BEP}/jobs", "BatchEndpoints_Invoke", batch.invoke),
    ("GET", rf"{_BEP}/deployments", "BatchDeployments_List", batch.list_deployments),
    ("GET", _BDEP, "BatchDeployments_Get", batch.get_deployment),
    ("PUT", _BDEP, "BatchDeployments_CreateOrUpdate", batch.put_deployment),
    ("DELETE", _BDEP, "BatchDeployments_Delete", batch.delete_deployment),
    ("GET", rf"/history/v1\.0{_WS}/runs/(?P<run>{_SEG})", "Runs_Get", batch.run_history),
    ("GET", rf"{_WS}/datastores", "Datastores_List", resources.list_datastores),
    ("GET", _DATASTORE, "Datastores_Get", resources.get_datastore),
    ("POST", rf"{_DATASTORE}/listSecrets", "Datastores_ListSecrets", resources.datastore_secrets),
    ("GET", _OPERATION, "Operations_Get", resources.operation_status),
    ("GET", _AUTOSCALE_RG, "AutoscaleSettings_ListByResourceGroup", autoscale.list_settings),
    ("GET", _AUTOSCALE, "AutoscaleSettings_Get", autoscale.get_setting),
    ("PUT", _AUTOSCALE, "AutoscaleSettings_CreateOrUpdate", autoscale.put_setting),
    ("PATCH", _AUTOSCALE, "AutoscaleSettings_Update", autoscale.patch_setting),
    ("DELETE", _AUTOSCALE, "AutoscaleSettings_Delete", autoscale.delete_setting),
]
_ROUTES = tuple(
    _Route(method, re.compile(pattern, re.IGNORECASE), operation, handler)
    for method, pattern, operation, handler in _ROUTE_TABLE
)
_ASSET_PREFIX = {
    "models": "Model",
    "environments": "Environment",
    "data": "Data",
    "components": "Component",
    "codes": "Code",
}


def _route(method: str, path: str) -> tuple[_Route, dict[str, str], str] | None:
    """The route, its path groups and the operation name (asset ones named for their kind)."""
    known_path = False
    for route in _ROUTES:
        match = route.pattern.fullmatch(path)
        if match is None:
            continue
        known_path = True
        if route.method != method:
            continue
        groups = {key: value for key, value in match.groupdict().items() if value is not None}
        operation = route.operation
        if "collection" in groups:
            operation = _ASSET_PREFIX[groups["collection"].lower()] + operation
        elif operation == "Operations_Get":
            operation = (
                "Operations_GetStatus"
                if groups["kind"].lower() == "mfeoperationsstatus"
                else "Operations_GetResult"
            )
        return route, groups, operation
    if known_path:
        raise ArmError(
            405, "MethodNotAllowed", f"The requested resource does not support http method '{method}'."
        )
    return None


def _operation_handler(route: _Route, operation: str) -> Handler:
    if operation == "Operations_GetResult":
        return resources.operation_result
    return route.handler


# ---- the gateway ---------------------------------------------------------------------------------------


@dataclass
class _Answer:
    status: int
    body: Any
    headers: dict[str, str]


def _matches(rule: ThrottleRule | FailRule | AsyncFailRule, method: str, path: str, operation: str) -> bool:
    if rule.method is not None and rule.method.upper() != method:
        return False
    if rule.operation is not None and rule.operation.lower() != operation.lower():
        return False
    return rule.path is None or re.search(rule.path, path, re.IGNORECASE) is not None


class _Gateway:
    """Turns HTTP requests into answers: the control API, the request log, injected latency and
    failures, then the resource handlers under the state lock."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self._initial = settings.model_copy(deep=True)
        self._settings = settings.model_copy(deep=True)
        self.state = State(settings.operation_delay_seconds)
        self._random = random.Random(settings.seed)
        self._requests: deque[dict[str, Any]] = deque(maxlen=_REQUEST_LOG_SIZE)
        self.base_url = ""  # set by the emulator at start

    # ---- settings and reset ------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        with self.state.lock:
            return self._settings.model_dump(mode="json")

    def set_ca_file(self, path: str | None) -> None:
        with self.state.lock:
            self._settings.tls_ca_file = self._initial.tls_ca_file = path

    def update_settings(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            if "tls_ca_file" in changes and changes["tls_ca_file"] != self._settings.tls_ca_file:
                raise ValueError("tls_ca_file: read-only (the emulator sets it to its certificate at start)")
            self._settings = EmulatorSettings.model_validate({**self._settings.model_dump(), **changes})
            self.state.operation_delay = self._settings.operation_delay_seconds
            if "seed" in changes:
                self._random.seed(self._settings.seed)
            return self._settings.model_dump(mode="json")

    def reset(self) -> None:
        with self.state.lock:
            self.state.clear()
            self._requests.clear()
            self._settings = self._initial.model_copy(deep=True)
            self.state.operation_delay = self._settings.operation_delay_seconds
            self._random.seed(self._settings.seed)

    # ---- requests ------------------------------------------------------------------------------------
    def handle(self, method: str, target: str, raw: bytes, headers: Mapping[str, str]) -> _Answer:
        path, _, query_string = target.partition("?")
        path = unquote(path)
        if path.startswith(CONTROL_PREFIX):
            return self._control(method, path[len(CONTROL_PREFIX) :], raw)
        ids = {
            "x-ms-request-id": str(uuid.uuid4()),
            "x-ms-correlation-request-id": headers.get("x-ms-correlation-request-id") or str(uuid.uuid4()),
        }
        if headers.get("x-ms-client-request-id"):
            ids["x-ms-client-request-id"] = headers["x-ms-client-request-id"]
        answer, operation = self._answer(method, path, query_string, raw)
        answer.headers.update(ids)
        with self.state.lock:
            self._requests.append(
                {
                    "method": method,
                    "path": path,
                    "operation": operation,
                    "status": answer.status,
                    "time": time.time(),
                }
            )
        return answer

    def _control(self, method: str, what: str, raw: bytes) -> _Answer:
        if what == "requests":
            if method != "GET":
                return _Answer(405, {"error": f"{method} not allowed on {CONTROL_PREFIX}requests"}, {})
            with self.state.lock:
                return _Answer(200, {"requests": list(self._requests)}, {})
        status, document = control.answer(self, method, what, raw, label=AzureMLEmulator.label)
        return _Answer(status, document, {})

    def _answer(self, method: str, path: str, query_string: str, raw: bytes) -> tuple[_Answer, str]:
        try:
            found = _route(method, path)
        except ArmError as exc:
            return _error(exc), "Unknown"
        if found is None:
            return _error(
                ArmError(404, "InvalidResourceType", f"The Azure ML emulator serves no resource at {path}.")
            ), "Unknown"
        route, groups, operation = found
        with self.state.lock:
            latency = self._settings.latency_ms
            refusal = self._throttled(method, path, operation)
            failure = self._take_failure(method, path, operation) if refusal is None else None
            if refusal is None and failure is None and self._settings.chaos is not None:
                refusal, failure = self._settings.chaos.draw(method, path, operation)  # type: ignore[assignment]
        if latency:
            time.sleep(latency / 1000)
        if refusal is not None:
            return _error(refusal), operation
        if failure is not None and not failure.lose_reply:
            return _error(self._failure_error(failure, method, path)), operation
        answer = self._serve(route, groups, operation, method, path, query_string, raw)
        if failure is not None:  # done, and the answer lost on its way back
            return _error(self._failure_error(failure, method, path)), operation
        return answer, operation

    def _serve(
        self,
        route: _Route,
        groups: dict[str, str],
        operation: str,
        method: str,
        path: str,
        query_string: str,
        raw: bytes,
    ) -> _Answer:
        try:
            query = {
                key: values[-1] for key, values in parse_qs(query_string, keep_blank_values=True).items()
            }
            with self.state.lock:
                call = Call(
                    method=method,
                    path=path,
                    query=query,
                    body=_parse_body(raw),
                    groups=groups,
                    base_url=self.base_url,
                    operation=operation,
                    settings=self._settings.model_copy(deep=True),
                    async_failure=lambda: self._take_async_failure(method, path, operation),
                )
                self.state.settle()
                reply = _operation_handler(route, operation)(self.state, call)
                body = None if reply.body is None else json.loads(json.dumps(reply.body))  # a snapshot
            reply_headers = dict(reply.headers)
            if method == "GET":
                reply_headers.setdefault("x-ms-ratelimit-remaining-subscription-reads", "11999")
            else:
                reply_headers.setdefault("x-ms-ratelimit-remaining-subscription-writes", "1199")
            return _Answer(reply.status, body, reply_headers)
        except ArmError as exc:
            return _error(exc)
        except Exception as exc:
            _log.exception("the Azure ML emulator failed on %s %s", method, path)
            return _error(
                ArmError(
                    500, "InternalServerError", f"The Azure ML emulator failed: {type(exc).__name__}: {exc}"
                )
            )

    # ---- injected faults -----------------------------------------------------------------------------
    def _throttled(self, method: str, path: str, operation: str) -> ArmError | None:
        for rule in self._settings.throttle:
            if not _matches(rule, method, path, operation):
                continue
            _count_down(self._settings.throttle, rule)
            kind = "reads" if method == "GET" else "writes"
            return ArmError(
                429,
                "TooManyRequests",
                rule.message
                or f"The request was throttled: too many requests for subscription {kind} (throttling "
                "injected by the Azure ML emulator). Please retry after the time in the Retry-After header.",
                headers={
                    "Retry-After": str(rule.retry_after),
                    f"x-ms-ratelimit-remaining-subscription-{kind}": "0",
                },
            )
        return None

    def _take_failure(self, method: str, path: str, operation: str) -> FailRule | None:
        for rule in self._settings.fail:
            if not _matches(rule, method, path, operation):
                continue
            if rule.rate < 1 and self._random.random() >= rule.rate:
                continue
            chosen = rule.model_copy()
            _count_down(self._settings.fail, rule)
            return chosen
        return None

    @staticmethod
    def _failure_error(rule: FailRule, method: str, path: str) -> ArmError:
        what = "its reply was lost" if rule.lose_reply else "it was not processed"
        return ArmError(
            rule.status,
            rule.code,
            rule.message or f"{method} {path} failed ({what}): injected by the Azure ML emulator.",
        )

    def _take_async_failure(self, method: str, path: str, operation: str) -> ArmError | None:
        with self.state.lock:
            for rule in self._settings.fail_async:
                if not _matches(rule, method, path, operation):
                    continue
                _count_down(self._settings.fail_async, rule)
                return ArmError(
                    500 if rule.code in ("InternalServerError", "InternalError") else 400,
                    rule.code,
                    rule.message
                    or f"The operation of {method} {path} failed: injected by the Azure ML emulator.",
                )
        return None


def _count_down(rules: list[Any], rule: ThrottleRule | FailRule | AsyncFailRule) -> None:
    if rule.times is not None:
        rule.times -= 1
        if rule.times == 0:
            rules.remove(rule)


def _error(exc: ArmError) -> _Answer:
    headers = dict(exc.headers)
    headers.setdefault("x-ms-failure-cause", "service" if exc.status >= 500 else "gateway")
    return _Answer(exc.status, exc.body(), headers)


def _parse_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"The request content was invalid and could not be deserialized: {exc}",
        ) from None
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    return body


# ---- HTTP over TLS ---------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK reuses its connections
    # http.server writes headers and body separately; with Nagle on, every call waits for a
    # delayed ACK (40-80 ms).
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        # The TLS handshake happens here, in the connection's own thread, not in the accept loop.
        self.request = self.server.context.wrap_socket(self.request, server_side=True)
        self.server.track(self.request)
        super().setup()

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.untrack(self.request)

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.send_error(400, "invalid Content-Length")
            return
        raw = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        answer = self.server.gateway.handle(self.command, self.path, raw, headers)
        if answer.status == DISCONNECT:  # a reply lost with its connection (chaos.py)
            return hang_up(self)
        body = b"" if answer.body is None else json.dumps(answer.body).encode()
        self.send_response(answer.status)
        if answer.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s %s", self.address_string(), format % args)


class _Server(LoopbackHTTPServer):
    label = "the Azure ML emulator"
    track_requests = False  # the TLS-wrapped socket is tracked, by the handler's setup()
    client_errors = (OSError,)  # ssl.SSLError too: a client that fails the handshake

    def __init__(self, address: tuple[str, int], gateway: _Gateway, context: ssl.SSLContext) -> None:
        self.gateway = gateway
        self.context = context
        super().__init__(address, _Handler, _log)


# ---- the emulator ----------------------------------------------------------------------------------------


class AzureMLEmulator(BackgroundEmulator):
    """The Azure ML ARM API over TLS on `host:port` (port 0: any free port), in a background thread.

    `settings` are validated at once (pydantic's ValidationError, a ValueError, if invalid); a
    `tls_ca_file` among them is ignored (start() sets it). `reset()` wipes every resource,
    operation and the request log."""

    label = "Azure Machine Learning"
    operation_delay_setting = "operation_delay_seconds"
    latency_setting = "latency_ms"

    def __init__(
        self, settings: Mapping[str, Any] | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        given = dict(settings or {})
        validated = EmulatorSettings.model_validate(given)
        validated.tls_ca_file = None
        super().__init__(_Gateway(validated), host, port, _log)
        self._ca_file: str | None = None

    @property
    def url(self) -> str:
        return "https" + super().url[len("http") :]

    @property
    def ca_file(self) -> str:
        """The PEM of the certificate it serves (while started)."""
        if self._ca_file is None:
            raise RuntimeError("the emulator is not started")
        return self._ca_file

    def _make_server(self) -> _Server:
        certificate = shared_certificate()
        server = _Server((self._host, self._port), self._gateway, certificate.server_context())  # type: ignore[arg-type]
        self._ca_file = str(certificate.cert_file)
        gateway: _Gateway = self._gateway  # type: ignore[assignment]
        gateway.set_ca_file(str(certificate.cert_file))
        host = f"[{self._host}]" if ":" in self._host else self._host
        gateway.base_url = f"https://{host}:{server.server_port}"
        return server

    def _bound_port(self, server: Any) -> int:
        return int(server.server_port)

    def _close_connections(self, server: Any) -> None:
        server.close_connections()
