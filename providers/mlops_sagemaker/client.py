"""boto3 clients, built on first use, and the one place botocore errors become ProviderErrors.

boto3 is imported inside functions only: loading the provider (as `mlops validate` does) must not
pay for it. In the sandbox every AWS service is served by the emulator's single URL, with dummy
credentials and quick polling.

Retries are ours, not botocore's: botocore retries every call that fails with a 5xx or a broken
connection, and a call that took effect before its reply was lost is then sent again. That is
harmless for a read, and for a call whose second sending leaves things as the first did (a
delete, a put, a tag, a create whose caller adopts its own object when it finds it there), but
a second `UpdateEndpoint` fails ("in-progress endpoint") and a second `CreateModelPackage`
without a token registers a second version. So botocore makes one attempt per call, and `call`
/ `collect` retry:

* a throttled call, always: a throttled request is refused before it does anything;
* a call that never reached the server (connection refused, connect timeout), always;
* a 5xx, or a connection that broke after the request was sent, only if the operation may be
  sent twice (`_repeatable`): reads, the mutations listed in `_IDEMPOTENT`, and operations with
  an idempotency token, which `call` fills in once so every attempt carries the same one.
  Otherwise the error says the outcome is unknown (`OutcomeUnknownError`), and the caller
  looks at what the call did (see `endpoints.py`).

Only clients built by `Clients` retry; a client made elsewhere gets one attempt."""

from __future__ import annotations

import random
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from mlops_gitops.errors import ProviderError
from mlops_gitops.provider import SandboxEndpoints
from mlops_sagemaker.config import SageMakerConfig

_T = TypeVar("_T")

# Error codes AWS uses for rate limiting.
_THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)
# Error codes of a server-side failure that may pass; HTTP 5xx answers count too (501, "not
# implemented", excepted: it never passes).
_TRANSIENT = frozenset(
    {
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "InternalServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# SageMaker (and moto's Application Auto Scaling) report a missing object as a ValidationException;
# only these messages mean "absent", so other validation errors are never taken for it.
_ABSENT_MESSAGES = ("Could not find", "No scalable target found", "No scaling policy found")
_ABSENT_CODES = frozenset({"ResourceNotFound", "ResourceNotFoundException", "ObjectNotFoundException"})
# Operations that only read.
_READ_PREFIXES = ("Describe", "List", "Get", "Search", "Query", "BatchGet", "BatchDescribe")
# Mutations whose second sending, after a first that took effect, leaves things as the first did
# or fails in a way the caller expects: a delete (the retry finds nothing, which callers accept),
# a put or tag (the same value again), and the creates whose callers adopt the object they find
# under that name when it carries their address and content.
_IDEMPOTENT = frozenset(
    {
        # SageMaker
        "AddTags",
        "DeleteTags",
        "CreateModel",
        "DeleteModel",
        "CreateEndpointConfig",
        "DeleteEndpointConfig",
        "CreateEndpoint",
        "DeleteEndpoint",
        "CreateModelPackageGroup",
        "DeleteModelPackageGroup",
        "DeleteModelPackage",
        "UpdateModelPackage",
        "CreateMonitoringSchedule",
        "DeleteMonitoringSchedule",
        "StartMonitoringSchedule",
        "StopMonitoringSchedule",
        "CreateDataQualityJobDefinition",
        "DeleteDataQualityJobDefinition",
        "CreateModelQualityJobDefinition",
        "DeleteModelQualityJobDefinition",
        "CreateProcessingJob",
        "UpdatePipeline",
        # Application Auto Scaling
        "RegisterScalableTarget",
        "DeregisterScalableTarget",
        "PutScalingPolicy",
        "DeleteScalingPolicy",
        # CloudWatch, SNS, EventBridge, EventBridge Scheduler
        "PutMetricAlarm",
        "DeleteAlarms",
        "SetAlarmState",
        "TagResource",
        "UntagResource",
        "CreateTopic",
        "DeleteTopic",
        "Subscribe",
        "Unsubscribe",
        "PutRule",
        "DeleteRule",
        "PutTargets",
        "RemoveTargets",
        "UpdateSchedule",
        "DeleteSchedule",
    }
)


class NotFoundError(ProviderError):
    """The object the call names does not exist."""


class OutcomeUnknownError(ProviderError):
    """A call that may not be sent twice failed after it was sent (a 5xx, or the connection
    broke): it may or may not have taken effect."""


@dataclass(frozen=True)
class Polling:
    """Exponential backoff between status polls."""

    initial: float
    cap: float

    def delays(self) -> Iterator[float]:
        delay = self.initial
        while True:
            yield delay
            delay = min(self.cap, delay * 2)


@dataclass(frozen=True)
class Retry:
    """How often a failed call is tried again, and the backoff between attempts: exponential
    with full jitter, so parallel callers throttled together do not come back together."""

    attempts: int  # in all, the first included
    base: float
    cap: float

    def delays(self) -> Iterator[float]:
        for n in range(self.attempts - 1):
            yield random.uniform(0, min(self.cap, self.base * 2**n))


SANDBOX_POLLING = Polling(initial=0.05, cap=0.5)
CLOUD_POLLING = Polling(initial=5.0, cap=30.0)
SANDBOX_RETRY = Retry(attempts=6, base=0.02, cap=0.2)
CLOUD_RETRY = Retry(attempts=6, base=0.5, cap=20.0)
_NO_RETRY = Retry(attempts=1, base=0.0, cap=0.0)
# The retry policy of each client `Clients` built (see the module docstring).
_RETRIES: weakref.WeakKeyDictionary[Any, Retry] = weakref.WeakKeyDictionary()


class Clients:
    """The `sagemaker` and `application-autoscaling` clients for one provider instance, sharing
    one boto3 session. boto3 clients are thread-safe once built; building them is not, hence
    the lock."""

    def __init__(self, config: SageMakerConfig, sandbox: SandboxEndpoints | None) -> None:
        self._config = config
        self._sandbox = sandbox
        self._lock = threading.Lock()
        self._session: Any = None
        self._clients: dict[str, Any] = {}
        self.polling = SANDBOX_POLLING if sandbox is not None else CLOUD_POLLING
        self.retry = SANDBOX_RETRY if sandbox is not None else CLOUD_RETRY

    @property
    def sagemaker(self) -> Any:
        return self._client("sagemaker")

    @property
    def autoscaling(self) -> Any:
        return self._client("application-autoscaling")

    def client(self, service: str) -> Any:
        """Any other AWS service's client (cloudwatch, sns, scheduler, events, s3, ...)."""
        return self._client(service)

    def _client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                client = self._build(service)
                _RETRIES[client] = self.retry
                self._clients[service] = client
            return self._clients[service]

    def _build(self, service: str) -> Any:
        try:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError
        except ImportError as exc:
            raise ProviderError(
                "the sagemaker provider needs boto3: pip install 'mlops-gitops[sagemaker]'"
            ) from exc
        config = Config(
            # One attempt: `call` and `collect` retry what may be retried (module docstring).
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=10,
            read_timeout=60,
            max_pool_connections=20,  # refresh reads resources in parallel
            user_agent_extra="mlops-gitops",
        )
        try:
            if self._sandbox is not None:
                url = self._sandbox.urls.get("sagemaker")
                if not url:
                    raise ProviderError("the sandbox has no SageMaker emulator URL: is the sandbox running?")
                if self._session is None:
                    self._session = boto3.session.Session(
                        aws_access_key_id="sandbox",
                        aws_secret_access_key="sandbox",
                        region_name=self._config.region,
                    )
                return self._session.client(service, endpoint_url=url, config=config)
            if self._session is None:
                self._session = boto3.session.Session(
                    profile_name=self._config.profile, region_name=self._config.region
                )
            # `endpoint_url` names the SageMaker API only; autoscaling keeps its regional endpoint.
            url = self._config.endpoint_url if service == "sagemaker" else None
            return self._session.client(service, endpoint_url=url, config=config)
        except BotoCoreError as exc:  # e.g. an unknown profile
            raise ProviderError(f"AWS session: {exc}") from exc


def call(client: Any, method: str, **params: Any) -> dict[str, Any]:
    """`client.<method>(**params)`, retried as the module docstring says, with botocore's errors
    turned into ProviderErrors."""
    operation = _operation(client, method)
    params = {**_tokens(client, operation, params), **params}
    return _attempts(client, operation, lambda: getattr(client, method)(**params))


def collect(client: Any, method: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated list call (started over if a page fails and is retried)."""

    def pages() -> list[dict[str, Any]]:
        paginator = client.get_paginator(method)
        return [item for page in paginator.paginate(**params) for item in page.get(key, [])]

    return _attempts(client, _operation(client, method), pages)


def _attempts(client: Any, operation: str, send: Callable[[], _T]) -> _T:
    from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as NotConnected

    repeatable = _repeatable(client, operation)
    delays = _RETRIES.get(client, _NO_RETRY).delays()
    while True:
        try:
            return send()
        except ClientError as exc:
            failure: Exception = exc
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            throttled = code in _THROTTLING
            # A 5xx may have done what was asked before it failed.
            maybe_done = not throttled and (code in _TRANSIENT or (status >= 500 and status != 501))
            if not throttled and not maybe_done:
                raise _provider_error(exc) from exc
        except NotConnected as exc:  # no connection (refused, timed out): never reached the server
            failure, throttled, maybe_done = exc, False, False
        except HTTPClientError as exc:  # the connection broke or timed out after the request went
            failure, throttled, maybe_done = exc, False, True
        except BotoCoreError as exc:  # bad parameters, no credentials: trying again changes nothing
            raise ProviderError(f"{operation}: {exc}") from exc
        if maybe_done and not repeatable:
            raise _unknown_outcome(operation, failure) from failure
        delay = next(delays, None)
        if delay is None:
            if isinstance(failure, ClientError):
                raise _provider_error(failure, retryable=True) from failure
            raise ProviderError(f"{operation}: {failure}", retryable=True) from failure
        time.sleep(delay)


def _operation(client: Any, method: str) -> str:
    """The API name of a client method (`describe_endpoint` -> `DescribeEndpoint`)."""
    meta = getattr(client, "meta", None)
    mapping = getattr(meta, "method_to_api_mapping", None) or {}
    return str(mapping.get(method) or "".join(part.title() for part in method.split("_")))


def _token_members(client: Any, operation: str) -> tuple[str, ...]:
    """The input members of `operation` that are idempotency tokens."""
    try:
        shape = client.meta.service_model.operation_model(operation).input_shape
    except Exception:  # a client without a service model (a test double), or no such operation
        return ()
    if shape is None:
        return ()
    return tuple(name for name, member in shape.members.items() if member.metadata.get("idempotencyToken"))


def _tokens(client: Any, operation: str, params: dict[str, Any]) -> dict[str, str]:
    """A token for each idempotency-token member the caller left out, made once per call so that
    every attempt carries it (botocore would make a new one per attempt of ours)."""
    return {name: str(uuid.uuid4()) for name in _token_members(client, operation) if name not in params}


def _repeatable(client: Any, operation: str) -> bool:
    return (
        operation.startswith(_READ_PREFIXES)
        or operation in _IDEMPOTENT
        or bool(_token_members(client, operation))
    )


def _unknown_outcome(operation: str, exc: Exception) -> OutcomeUnknownError:
    if hasattr(exc, "response"):
        detail = str(_provider_error(exc))
        code = str(exc.response.get("Error", {}).get("Code", ""))  # type: ignore[attr-defined]
    else:
        detail, code = f"{operation}: {exc}", "ConnectionError"
    return OutcomeUnknownError(
        f"{detail} (the call may have taken effect before it failed, so it was not sent again)",
        code=code,
        retryable=True,
    )


def _provider_error(exc: Any, *, retryable: bool = False) -> ProviderError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", exc))
    text = f"{exc.operation_name}: {code}: {message}"
    if code in _ABSENT_CODES or (code == "ValidationException" and message.startswith(_ABSENT_MESSAGES)):
        return NotFoundError(text, code=code)
    return ProviderError(text, code=code, retryable=retryable or code in _THROTTLING)
