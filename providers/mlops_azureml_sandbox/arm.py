"""The Azure Resource Manager conventions the emulator keeps: the error shape, resource ids
(case-insensitive, the casing of the creating call kept), `systemData`, and the asynchronous
operation protocol (`Azure-AsyncOperation` status documents and `Location` result URLs) with the
in-memory state that holds resources and operations.

No HTTP here (see `server.py`); the resources themselves are in `resources.py`."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ML_PROVIDER = "Microsoft.MachineLearningServices"
SANDBOX_USER = "sandbox@mlops.local"
TENANT_ID = "72f988bf-0000-0000-0000-000000000000"  # a made-up tenant, the same in every answer

# HTTP status -> the ARM error code that goes with it when none is given.
DEFAULT_CODES: dict[int, str] = {
    400: "BadRequest",
    401: "AuthenticationFailed",
    403: "AuthorizationFailed",
    404: "ResourceNotFound",
    409: "Conflict",
    412: "PreconditionFailed",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


class ArmError(Exception):
    """An ARM error answer: `{"error": {"code", "message", "target", "details": [...]}}`."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        target: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or DEFAULT_CODES.get(
            status, "InternalServerError" if status >= 500 else "BadRequest"
        )
        self.message = message
        self.target = target
        self.details = details or []
        self.headers = headers or {}

    def error(self) -> dict[str, Any]:
        document: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target is not None:
            document["target"] = self.target
        document["details"] = self.details
        document["additionalInfo"] = []
        return document

    def body(self) -> dict[str, Any]:
        return {"error": self.error()}


def not_found(kind: str, name: str, container: str) -> ArmError:
    """What Azure ML answers for a missing object (the SDK raises ResourceNotFoundError)."""
    return ArmError(
        404,
        "UserError",
        f"{kind} {name} not found in {container}.",
        details=[{"code": "NotFound", "message": f"{kind} {name} does not exist."}],
    )


def bad_request(message: str, target: str | None = None, code: str = "UserError") -> ArmError:
    return ArmError(400, code, message, target=target, details=[{"code": "BadArgument", "message": message}])


def conflict(message: str, code: str = "Conflict") -> ArmError:
    return ArmError(409, code, message)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def system_data(previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """`systemData` for a resource created now, or modified now if it had `previous`."""
    stamp = now_iso()
    created = previous or {"createdAt": stamp, "createdBy": SANDBOX_USER, "createdByType": "User"}
    return {
        "createdAt": created["createdAt"],
        "createdBy": created.get("createdBy", SANDBOX_USER),
        "createdByType": created.get("createdByType", "User"),
        "lastModifiedAt": stamp,
        "lastModifiedBy": SANDBOX_USER,
        "lastModifiedByType": "User",
    }


def new_guid() -> str:
    return str(uuid.uuid4())


# ---- asynchronous operations -----------------------------------------------------------------------

TERMINAL = ("Succeeded", "Failed", "Canceled")


@dataclass
class Operation:
    """One ARM asynchronous operation: polled at `Azure-AsyncOperation` (status document) and
    `Location` (202 until done, then the result). `finish(error)` applies its effect when it ends,
    with the error it fails with, if any."""

    name: str
    subscription: str
    location: str
    resource_key: str
    method: str
    due: float  # time.monotonic() when it ends
    finish: Callable[[ArmError | None], None]
    result: Callable[[], dict[str, Any] | None]  # the resource after it, for the Location URL
    failure: ArmError | None = None  # what it will fail with
    status: str = "InProgress"
    start_time: str = field(default_factory=now_iso)
    end_time: str | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def path(self, kind: str) -> str:
        """kind: "mfeOperationsStatus" (Azure-AsyncOperation) or "mfeOperationResults" (Location)."""
        return (
            f"/subscriptions/{self.subscription}/providers/{ML_PROVIDER}/locations/{self.location}"
            f"/{kind}/{self.name}"
        )

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "id": self.path("mfeOperationsStatus"),
            "name": self.name,
            "status": self.status,
            "startTime": self.start_time,
        }
        if self.done:
            document["endTime"] = self.end_time
            document["percentComplete"] = 100.0
        if self.status == "Failed" and self.failure is not None:
            document["error"] = self.failure.error()
        return document


class State:
    """Resources (ARM documents keyed by their lower-cased id) and operations, behind one lock.
    Operations end when a request finds them due (`settle`), so no thread is needed."""

    def __init__(self, operation_delay: float) -> None:
        self.lock = threading.RLock()
        self.operation_delay = operation_delay
        self.resources: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, Operation] = {}
        self.extra: dict[str, Any] = {}  # per-resource server-side secrets (endpoint keys, ...)

    def clear(self) -> None:
        self.resources.clear()
        self.operations.clear()
        self.extra.clear()

    # ---- resources ----------------------------------------------------------------------------------
    def get(self, key: str) -> dict[str, Any] | None:
        return self.resources.get(key.lower())

    def put(self, document: dict[str, Any]) -> None:
        self.resources[str(document["id"]).lower()] = document

    def remove(self, key: str) -> None:
        """Remove a resource and everything under it."""
        key = key.lower()
        for other in [k for k in self.resources if k == key or k.startswith(key + "/")]:
            del self.resources[other]
            self.extra.pop(other, None)

    def children(self, collection: str) -> Iterator[dict[str, Any]]:
        """The resources directly in `collection` (an id ending with the collection's name)."""
        prefix = collection.lower().rstrip("/") + "/"
        for key, document in list(self.resources.items()):
            if key.startswith(prefix) and "/" not in key[len(prefix) :]:
                yield document

    # ---- operations ---------------------------------------------------------------------------------
    def start(
        self,
        subscription: str,
        location: str,
        resource_key: str,
        method: str,
        finish: Callable[[ArmError | None], None],
        result: Callable[[], dict[str, Any] | None],
        failure: ArmError | None = None,
    ) -> Operation:
        operation = Operation(
            name=new_guid(),
            subscription=subscription,
            location=location,
            resource_key=resource_key.lower(),
            method=method,
            due=time.monotonic() + self.operation_delay,
            finish=finish,
            result=result,
            failure=failure,
        )
        self.operations[operation.name] = operation
        if self.operation_delay <= 0:
            self._end(operation)
        return operation

    def busy(self, resource_key: str) -> Operation | None:
        """The operation in flight on that resource, if any."""
        key = resource_key.lower()
        for operation in self.operations.values():
            if not operation.done and operation.resource_key == key:
                return operation
        return None

    def settle(self) -> None:
        """End the operations that are due, oldest first."""
        now = time.monotonic()
        for operation in sorted(self.operations.values(), key=lambda op: op.due):
            if not operation.done and operation.due <= now:
                self._end(operation)

    def _end(self, operation: Operation) -> None:
        operation.status = "Failed" if operation.failure is not None else "Succeeded"
        operation.end_time = now_iso()
        operation.finish(operation.failure)

    def remaining(self, operation: Operation) -> float:
        return max(0.0, operation.due - time.monotonic())
