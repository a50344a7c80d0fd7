"""boto3 clients, built on first use, and the one place botocore errors become ProviderErrors.

boto3 is imported inside functions only: loading the provider (as `mlops validate` does) must not
pay for it. In the sandbox every AWS service is served by the emulator's single URL, with dummy
credentials and quick polling.

Retries follow the core's policy (`mlops_gitops.retry`), not botocore's: botocore retries every
call that fails with a 5xx or a broken connection, and a call that took effect before its reply
was lost is then sent again. That is harmless for a read, and for a call whose second sending
leaves things as the first did (a delete, a put, a tag, a create whose caller adopts its own
object when it finds it there), but a second `UpdateEndpoint` fails ("in-progress endpoint") and
a second `CreateModelPackage` without a token registers a second version. So botocore makes one
attempt per call, and `call` / `collect` run the policy, which sends again:

* a throttled call, always: a throttled request is refused before it does anything;
* a call that never reached the server (connection refused, connect timeout), always;
* a 5xx, or a connection that broke after the request was sent, only if the operation may be
  sent twice (`_repeatable`): reads, the mutations listed in `_IDEMPOTENT`, and operations with
  an idempotency token, which `call` fills in once so every attempt carries the same one; or
  once the caller's `recover` found that the call did nothing. Otherwise the error says the
  outcome is unknown (`OutcomeUnknownError`), and the caller looks at what the call did.

What is AWS's own stays here: what its error codes mean (`_KINDS`), which operations may be sent
twice, and idempotency tokens. Only clients built by `Clients` retry; a client made elsewhere
gets one attempt."""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from mlops_gitops.cloud_errors import Kind, map_error, redact
from mlops_gitops.cloud_errors import NotFoundError as NotFoundError
from mlops_gitops.errors import ProviderError
from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.retry import NO_RETRY, Failure, RetryPolicy, status_failure
from mlops_gitops.retry import OutcomeUnknownError as OutcomeUnknownError
from mlops_gitops.sdk import import_sdk
from mlops_sagemaker.config import SageMakerConfig

_T = TypeVar("_T")

# What AWS's error codes mean. A code not listed is a verdict on the call, unless the answer is
# an HTTP 5xx (501, "not implemented", excepted: it never passes), a failure that may pass.
_KINDS: dict[str, Kind] = {
    # rate limiting
    **dict.fromkeys(
        (
            "Throttling",
            "ThrottlingException",
            "ThrottledException",
            "RequestThrottledException",
            "TooManyRequestsException",
            "RequestLimitExceeded",
            "SlowDown",
        ),
        Failure.THROTTLED,
    ),
    # server-side failures that may pass
    **dict.fromkeys(
        (
            "InternalFailure",
            "InternalError",
            "InternalServerError",
            "InternalServerException",
            "ServiceUnavailable",
            "ServiceUnavailableException",
            "RequestTimeout",
            "RequestTimeoutException",
        ),
        Failure.TRANSIENT,
    ),
    # a missing object
    **dict.fromkeys(
        ("ResourceNotFound", "ResourceNotFoundException", "ObjectNotFoundException"), NotFoundError
    ),
}
# SageMaker (and moto's Application Auto Scaling) report a missing object as a ValidationException;
# only these messages mean "absent", so other validation errors are never taken for it.
_ABSENT_MESSAGES = ("Could not find", "No scalable target found", "No scaling policy found")
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


SANDBOX_POLLING = Polling(initial=0.05, cap=0.5)
CLOUD_POLLING = Polling(initial=5.0, cap=30.0)
# Ten tries of a throttled or transiently failing call, the first included (Terraform's AWS
# provider makes up to 25), within the deadline: where 30% of calls fail, one call in 170,000
# fails through, with five tries one in 400.
SANDBOX_RETRY = RetryPolicy(attempts=10, base=0.02, cap=0.2, deadline=10.0)
CLOUD_RETRY = RetryPolicy(attempts=10, base=0.5, cap=20.0, deadline=120.0)
# The retry policy of each client `Clients` built (see the module docstring).
_RETRIES: weakref.WeakKeyDictionary[Any, RetryPolicy] = weakref.WeakKeyDictionary()


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
        boto3 = import_sdk("boto3", extra="sagemaker")
        from botocore.config import Config  # botocore comes with boto3
        from botocore.exceptions import BotoCoreError

        config = Config(
            # One attempt: `call` and `collect` retry what may be retried, through the core's
            # policy (module docstring). Retry layers multiply (a call is sent up to botocore's
            # attempts times the policy's), and botocore's would resend a call that may not be
            # sent twice: with its layer at 1, the policy's `attempts` alone bounds the sends.
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
            raise ProviderError(redact(f"AWS session: {exc}")) from exc


def call(
    client: Any,
    method: str,
    *,
    recover: Callable[[], dict[str, Any] | None] | None = None,
    cancel: threading.Event | None = None,
    **params: Any,
) -> dict[str, Any]:
    """`client.<method>(**params)`, retried as the module docstring says, with botocore's errors
    turned into ProviderErrors. `recover`, for an operation that may not be sent twice, looks
    after a failure that may have taken effect for what the call did (see `RetryPolicy.run`);
    `cancel` ends a wait between attempts."""
    operation = _operation(client, method)
    params = {**_tokens(client, operation, params), **params}
    return _RETRIES.get(client, NO_RETRY).run(
        lambda: _send(operation, lambda: getattr(client, method)(**params)),
        idempotent=_repeatable(client, operation),
        recover=recover,
        cancel=cancel,
    )


def collect(client: Any, method: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated list call (started over if a page fails and is retried)."""

    def pages() -> list[dict[str, Any]]:
        paginator = client.get_paginator(method)
        return [item for page in paginator.paginate(**params) for item in page.get(key, [])]

    operation = _operation(client, method)
    return _RETRIES.get(client, NO_RETRY).run(
        lambda: _send(operation, pages), idempotent=_repeatable(client, operation)
    )


def _send(operation: str, send: Callable[[], _T]) -> _T:
    """`send()`, with botocore's exceptions as ProviderErrors of the kinds the policy reads."""
    from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as NotConnected

    try:
        return send()
    except ClientError as exc:
        raise provider_error(exc) from exc
    except NotConnected as exc:  # no connection (refused, timed out): never reached the server
        raise map_error(operation, "ConnectionError", str(exc), Failure.UNSENT) from exc
    except HTTPClientError as exc:  # the connection broke or timed out after the request went
        raise map_error(operation, "ConnectionError", str(exc), Failure.TRANSIENT) from exc
    except BotoCoreError as exc:  # bad parameters, no credentials: trying again changes nothing
        raise map_error(operation, type(exc).__name__, str(exc)) from exc


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


def provider_error(exc: Any) -> ProviderError:
    """A botocore ClientError as a ProviderError carrying AWS's own code and message."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", exc))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return map_error(exc.operation_name, code, message, _kind(code, message, status))


def _kind(code: str, message: str, status: int) -> Kind | None:
    if code == "ValidationException" and message.startswith(_ABSENT_MESSAGES):
        return NotFoundError
    return _KINDS.get(code) or status_failure(status)
