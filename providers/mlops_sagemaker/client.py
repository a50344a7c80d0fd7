"""boto3 clients, built on first use, and the one place botocore errors become ProviderErrors.

boto3 is imported inside functions only: loading the provider (as `mlops validate` does) must not
pay for it. In the sandbox every AWS service is served by the emulator's single URL, with dummy
credentials and quick polling."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlops_gitops.errors import ProviderError
from mlops_gitops.provider import SandboxEndpoints
from mlops_sagemaker.config import SageMakerConfig

# Error codes AWS uses for rate limiting; botocore retries them first, we report them as retryable.
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
# SageMaker (and moto's Application Auto Scaling) report a missing object as a ValidationException;
# only these messages mean "absent", so other validation errors are never taken for it.
_ABSENT_MESSAGES = ("Could not find", "No scalable target found", "No scaling policy found")
_ABSENT_CODES = frozenset({"ResourceNotFound", "ResourceNotFoundException", "ObjectNotFoundException"})


class NotFoundError(ProviderError):
    """The object the call names does not exist."""


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
                self._clients[service] = self._build(service)
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
            retries={"mode": "standard", "max_attempts": 5},
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
    """`client.<method>(**params)`, with botocore's errors turned into ProviderErrors."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return getattr(client, method)(**params)
    except ClientError as exc:
        raise _provider_error(exc) from exc
    except BotoCoreError as exc:  # connection failures, credentials, bad parameters
        raise ProviderError(f"{method}: {exc}") from exc


def collect(client: Any, method: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated list call."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        pages = client.get_paginator(method).paginate(**params)
        return [item for page in pages for item in page.get(key, [])]
    except ClientError as exc:
        raise _provider_error(exc) from exc
    except BotoCoreError as exc:
        raise ProviderError(f"{method}: {exc}") from exc


def _provider_error(exc: Any) -> ProviderError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", exc))
    text = f"{exc.operation_name}: {code}: {message}"
    if code in _ABSENT_CODES or (code == "ValidationException" and message.startswith(_ABSENT_MESSAGES)):
        return NotFoundError(text, code=code)
    return ProviderError(text, code=code, retryable=code in _THROTTLING)
