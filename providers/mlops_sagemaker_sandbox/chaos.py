"""Random faults on AWS calls ("chaos"), the `chaos` setting of the SageMaker emulator:

    chaos  {"rate": 0.3, "seed": 7, "kinds": ["throttle", "server_error", "lost_reply"],
            "methods": ["Create*", "PutMetricAlarm"] (omit: every call)}

Each AWS call the emulator serves draws once: with probability `rate` it gets one of `kinds`
(picked evenly). The n-th call of a kind (its operation and the names in it) draws from
(`seed`, kind, n) alone, so it meets the same fate on every run, whatever the order in which
parallel calls arrive. The kinds, in AWS's own shapes (botocore raises the ClientError or the
connection error it raises against AWS):

* `throttle`: refused before anything happens, `ThrottlingException` (`Throttling` on the query
  protocol) with HTTP 400, as SageMaker, Auto Scaling, SNS and CloudWatch answer; 429 on
  EventBridge Scheduler's REST API, as it does;
* `server_error`: refused with a 5xx, `InternalFailure` 500 or `ServiceUnavailable` 503;
* `lost_reply`: carried out, then its reply is lost: an `InternalFailure` 500, or the connection
  closed without a reply (each half of the time).

Unlike the `fail` rules (which match the JSON and query protocols only), chaos also reaches
CloudWatch (Smithy RPC v2 CBOR, errors in CBOR) and EventBridge Scheduler (REST-JSON, its
operation named from the method and path). S3 and DynamoDB, where state and locks live, are left
alone: chaos is about the cloud's control plane, not the state store. `methods` are globs over the
operation names of the API reference ("CreateEndpoint", "Describe*", "PutMetricAlarm",
"CreateSchedule"). Any change of the settings starts the
counts again; `injected` counts the faults by kind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_gitops.sandbox.chaos import ChaosDraws

if TYPE_CHECKING:
    from wsgiref.types import WSGIEnvironment

# Where state and locks live: never hit by chaos.
_SPARED_SERVICES = frozenset({"s3", "dynamodb"})
_CBOR_PREFIX = "/service/"


class Chaos(ChaosDraws):
    def draw(
        self, service: str, action: str, environ: WSGIEnvironment, params: Mapping[str, Any]
    ) -> Fault | None:
        """The fault this call gets, if any; the caller holds the settings lock."""
        if service in _SPARED_SERVICES:
            return None
        operation = action or rest_operation(service, environ)
        if not operation or not self.selects(operation):
            return None
        fate = self._draw(_key(service, operation, environ, params))
        if fate is None:
            return None
        kind, half = fate
        tail = "(chaos injected by the SageMaker emulator)"
        if kind == "throttle":
            query = environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
            code = "Throttling" if query else "ThrottlingException"
            return Fault(code, f"Rate exceeded {tail}", 429 if service == "scheduler" else 400)
        if kind == "server_error":
            if half:
                return Fault("ServiceUnavailable", f"Service is unavailable {tail}", 503)
            return Fault("InternalFailure", f"{operation} failed {tail}", 500)
        message = f"{operation} took effect but its reply was lost {tail}"
        return Fault("InternalFailure", message, 500, lose_reply=True, disconnect=half)


@dataclass(frozen=True)
class Fault:
    """What the gateway does with a failing call: the fields of a `FailRule` it reads."""

    code: str
    message: str
    status: int
    lose_reply: bool = False
    disconnect: bool = False


def _key(service: str, operation: str, environ: WSGIEnvironment, params: Mapping[str, Any]) -> str:
    """What tells one call from another across runs: the operation, its path (a REST call's names
    are there) and the names it is given (its `...Name` parameters), not its tokens or bodies."""
    names = ",".join(
        f"{k}={v}" for k, v in sorted(params.items()) if k.endswith("Name") and isinstance(v, str)
    )
    return f"{service}:{operation}:{environ.get('PATH_INFO', '')}:{names}"


def rest_operation(service: str, environ: WSGIEnvironment) -> str:
    """The operation of a call whose protocol puts it in the path: CloudWatch's CBOR protocol
    (`/service/<Service>/operation/<Operation>`) and EventBridge Scheduler's REST API."""
    path = environ.get("PATH_INFO", "")
    if path.startswith(_CBOR_PREFIX) and "/operation/" in path:
        return path.rpartition("/operation/")[2]
    if service != "scheduler":
        return ""
    method = environ.get("REQUEST_METHOD", "GET")
    parts = [part for part in path.split("/") if part]
    if not parts:
        return ""
    noun = {"schedules": "Schedule", "schedule-groups": "ScheduleGroup", "tags": "Tags"}.get(parts[0], "")
    if noun == "Tags":
        tagging = {"GET": "ListTagsForResource", "POST": "TagResource", "DELETE": "UntagResource"}
        return tagging.get(method, "")
    if not noun:
        return ""
    if len(parts) == 1:
        return f"List{noun}s" if method == "GET" else ""
    verb = {"POST": "Create", "GET": "Get", "PUT": "Update", "DELETE": "Delete"}.get(method, "")
    return f"{verb}{noun}" if verb else ""


def cbor_error(code: str, message: str) -> tuple[list[tuple[str, str]], bytes]:
    """An error in Smithy RPC v2 CBOR (CloudWatch): botocore reads `__type` and `message` from the
    body. (headers, body)."""
    body = b"\xa2" + _cbor_text("__type") + _cbor_text(code) + _cbor_text("message") + _cbor_text(message)
    return [("Content-Type", "application/cbor"), ("Smithy-Protocol", "rpc-v2-cbor")], body


def _cbor_text(text: str) -> bytes:
    """A CBOR text string (major type 3), which is all an error document holds."""
    data = text.encode()
    size = len(data)
    if size < 24:
        head = bytes([0x60 | size])
    elif size < 0x100:
        head = bytes([0x78, size])
    elif size < 0x10000:
        head = b"\x79" + size.to_bytes(2, "big")
    else:
        head = b"\x7a" + size.to_bytes(4, "big")
    return head + data
