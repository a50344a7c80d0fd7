"""The Azure ML clients (`MLClient`, and Azure Monitor's for autoscale settings), built on first
use, and the one place Azure errors become ProviderErrors.

`azure.ai.ml` is imported inside functions only (~1 s, which `mlops validate` must not pay), through
`mlops_gitops.sdk.import_sdk`. Credentials: `DefaultAzureCredential` against Azure (environment,
managed identity, `az login`, and the OIDC workload identity federation of CI jobs); in the sandbox,
a static token and `MLClient(cloud="Local<port>", cloud_metadata=..., connection_verify=<the
emulator's CA file>)` pointed at the emulator's ARM URL (bearer tokens need https).

Retries: the core's `RetryPolicy` runs every call (`Clients.call`). The SDK's own azure-core retry
is kept for GETs only (`_ReadsOnly`, a few attempts), never for a write, which may not be sent
twice blindly: a long-running operation is waited on with the SDK's ARM poller, whose polls and
final GET are out of the policy's reach (a throttled or lost poll would otherwise fail an operation
that went well), as are the GETs the SDK makes inside one of its calls. Progress is reported and
cancellation honoured between waits.

The SDK talks on the console: progress dots on stdout while it polls, notices about experimental
classes and small SKUs through its loggers (to stderr). `quiet()` silences those once, before the
first client is built, so none of it reaches our output."""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from mlops_azureml import sdk_private
from mlops_azureml.config import AzureMLConfig
from mlops_gitops.cloud_errors import Kind, map_error, redact
from mlops_gitops.cloud_errors import NotFoundError as NotFoundError
from mlops_gitops.errors import ProviderError
from mlops_gitops.provider import ApplyContext, SandboxEndpoints
from mlops_gitops.retry import Failure, RetryPolicy, status_failure
from mlops_gitops.sdk import import_sdk

T = TypeVar("T")

# What Azure's error codes mean. Beyond these, a 429 is throttling and a 5xx (but 501) may pass
# (`status_failure`). A 409 Conflict is Azure refusing a write while the object is Creating or
# Updating: it did nothing, so it is sent again after a pause, like throttling.
_KINDS: dict[str, Kind] = {
    "ResourceNotFound": NotFoundError,
    "NotFound": NotFoundError,
    "UserError.NotFound": NotFoundError,
    "TooManyRequests": Failure.THROTTLED,
    "Conflict": Failure.THROTTLED,
}
# Provisioning states of an endpoint or deployment while Azure works on it: no write now.
BUSY = frozenset({"Creating", "Updating", "Deleting", "Provisioning", "Scaling"})
FAILED = frozenset({"Failed", "Canceled"})
_SILENT = logging.CRITICAL + 1
_SDK_LOGGERS = ("azure.ai.ml", "azure.core", "azure.identity", "azure.mgmt", "azure.monitor", "opentelemetry")


@dataclass(frozen=True)
class Timing:
    """How long to wait for what. The emulator answers in milliseconds; Azure takes minutes to
    provision a deployment."""

    poll_initial: float  # first pause between reads while waiting for an object to settle
    poll_max: float
    progress_every: float  # seconds between progress messages while an operation runs
    operation_timeout: float  # give up waiting for one operation after this long
    minute: float  # seconds in a rollout minute (bakes and intervals)


CLOUD_TIMING = Timing(2.0, 20.0, 15.0, 3600.0, 60.0)
SANDBOX_TIMING = Timing(0.02, 0.2, 1.0, 300.0, 1.0)
# Ten tries of a throttled or transiently failing call, the first included (Terraform's AWS
# provider makes up to 25), within the deadline: where 30% of calls fail, one call in 170,000
# fails through, with five tries one in 400.
CLOUD_RETRY = RetryPolicy(attempts=10, base=1.0, cap=30.0, deadline=300.0)
SANDBOX_RETRY = RetryPolicy(attempts=10, base=0.05, cap=0.5, deadline=15.0)
# azure-core's own retries of a GET (see `_reads_only`), its default total count: a long-running
# operation's polls have no other retry, and ARM throttles reads in bursts (each throttled answer
# names its pause in Retry-After), so a few in a row must not fail an operation that went well.
_READ_RETRIES = 10


def sandbox_timing(settings: Mapping[str, Any]) -> Timing:
    """The sandbox timing; `rollout_minute_seconds` in the sandbox's azureml settings (read by the
    provider only) compresses rollout bakes further, for tests."""
    minute = settings.get("rollout_minute_seconds", SANDBOX_TIMING.minute)
    return Timing(**{**SANDBOX_TIMING.__dict__, "minute": float(minute)})


_QUIET = threading.Lock()
_quieted = False


def quiet() -> None:
    """Silence the SDK's console output (see the module docstring). Cheap after the first call,
    and called again where the SDK may have imported more of itself (each creating loggers)."""
    global _quieted
    with _QUIET:
        if not _quieted:
            # Deprecation notices of its own and of the libraries it uses (marshmallow), attributed
            # to its modules: installed before the import, which raises most of them.
            warnings.filterwarnings("ignore", module=r"azure(\.|$)")
            polling = import_sdk(sdk_private.POLLING_MODULE, extra="azureml", package="azure-ai-ml")
            # Its poller prints a dot per poll with the builtin `print`: shadowed in that module
            # alone (redirecting sys.stdout would swallow our own progress, from other threads).
            sdk_private.silence_poller(polling)
            _quieted = True
        _silence_loggers()


def _silence_loggers() -> None:
    """The SDK's loggers: their messages are notices for interactive users (failures reach us as
    exceptions). Several modules give theirs an INFO level and a stderr handler of their own, so
    each existing `azure*` logger is raised above CRITICAL rather than only their parent."""
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(_SDK_LOGGERS):
            logger = logging.getLogger(name)
            if logger.level != _SILENT:
                logger.setLevel(_SILENT)
                logger.propagate = False
    for name in _SDK_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(_SILENT)
        logger.propagate = False
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())


class StaticToken:
    """The sandbox's credential: the emulator checks that a bearer token comes, not which. It is
    JWT-shaped (unsigned), since the SDK reads the caller's claims from it when it submits a job."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        expires = int(time.time()) + 3600
        # Submitting a job checks that the token's audience is the scope it was asked for.
        audience = scopes[0].removesuffix("/.default") if scopes else "https://management.azure.com/"
        return AccessToken(_unsigned_jwt(expires, audience), expires)


def _unsigned_jwt(expires: int, audience: str = "https://management.azure.com/") -> str:
    def part(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")

    claims = {
        "aud": audience,
        "iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
        "oid": "00000000-0000-0000-0000-00000000cafe",
        "tid": "00000000-0000-0000-0000-000000000000",
        "upn": "sandbox@mlops-gitops.local",
        "exp": expires,
    }
    # The signature must be valid base64url, which PyJWT checks even when it verifies nothing.
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.c2FuZGJveA"


class Clients:
    """The clients of one provider instance. They are thread-safe once built; building is not,
    hence the lock."""

    def __init__(self, config: AzureMLConfig, sandbox: SandboxEndpoints | None) -> None:
        self.config = config
        self._sandbox = sandbox
        self._lock = threading.Lock()
        self._ml: Any = None
        self._monitor: Any = None
        self._credential: Any = None
        self._location: str | None = None
        settings = (sandbox.settings.get("azureml") or {}) if sandbox is not None else {}
        self._settings: Mapping[str, Any] = settings
        self.timing = sandbox_timing(settings) if sandbox is not None else CLOUD_TIMING
        self.retry = SANDBOX_RETRY if sandbox is not None else CLOUD_RETRY
        self.workspace_id = (
            f"/subscriptions/{config.subscription_id}/resourceGroups/{config.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{config.workspace}"
        )

    # ---- clients ------------------------------------------------------------------------------
    @property
    def ml(self) -> Any:
        with self._lock:
            if self._ml is None:
                self._ml = self._build_ml()
            return self._ml

    @property
    def monitor(self) -> Any:
        """Azure Monitor's management client, for autoscale settings."""
        with self._lock:
            if self._monitor is None:
                self._monitor = self._build_monitor()
            return self._monitor

    def location(self) -> str:
        """The workspace's region (autoscale settings live there), read once."""
        if self._location is None:
            ml = self.ml
            workspace = self.call(
                lambda: ml.workspaces.get(self.config.workspace),
                f"get workspace {self.config.workspace}",
                idempotent=True,
            )
            self._location = str(workspace.location)
        return self._location

    def _arm(self) -> str | None:
        """The emulator's ARM URL in the sandbox, None against Azure."""
        if self._sandbox is None:
            return None
        url = self._sandbox.urls.get("azureml")
        if not url:
            raise ProviderError("the sandbox has no Azure ML emulator URL: is the sandbox running?")
        return url.rstrip("/")

    def _transport(self) -> dict[str, Any]:
        """What every client gets: no retry of its own, and the emulator's CA in the sandbox."""
        options: dict[str, Any] = {"retry_policy": _reads_only(self.retry), "user_agent": "mlops-gitops"}
        if self._sandbox is not None:
            ca = self._settings.get("tls_ca_file")
            if not ca:
                raise ProviderError("the sandbox's Azure ML emulator reports no tls_ca_file setting")
            options["connection_verify"] = ca
        return options

    def _credentials(self) -> Any:
        if self._credential is None:
            if self._sandbox is not None:
                self._credential = StaticToken()
            else:
                identity = import_sdk("azure.identity", extra="azureml", package="azure-identity")
                self._credential = identity.DefaultAzureCredential()
        return self._credential

    def _forget_inherited_cloud(self) -> None:
        """The SDK records the cloud of the last MLClient in the environment (AZUREML_CURRENT_CLOUD)
        and reads it back when it is imported, failing on a cloud it does not know: a `Local<port>`
        of the emulator a parent process used. In the sandbox the cloud is ours, given to MLClient:
        an inherited one is dropped before the import."""
        if self._sandbox is not None and "azure.ai.ml" not in sys.modules:
            os.environ.pop("AZUREML_CURRENT_CLOUD", None)

    def _build_ml(self) -> Any:
        self._forget_inherited_cloud()
        quiet()
        aml = import_sdk("azure.ai.ml", extra="azureml", package="azure-ai-ml")
        kwargs: dict[str, Any] = {**self._transport(), "enable_telemetry": False, "show_progress": False}
        arm = self._arm()
        if arm is not None:
            port = urllib.parse.urlsplit(arm).port
            # Cloud names are registered process-wide: one per emulator URL.
            kwargs["cloud"] = f"Local{port}"
            kwargs["cloud_metadata"] = {
                "azure_portal": arm,
                "resource_manager": arm,
                "active_directory": arm,
                "aml_resource_id": arm,
                "storage_endpoint": "core.localhost",
                "registry_discovery_endpoint": arm,
            }
        client = aml.MLClient(
            self._credentials(),
            self.config.subscription_id,
            self.config.resource_group,
            self.config.workspace,
            **kwargs,
        )
        quiet()  # the loggers of what building it imported
        return client

    def _build_monitor(self) -> Any:
        self._forget_inherited_cloud()
        quiet()
        monitor = import_sdk("azure.mgmt.monitor", extra="azureml", package="azure-mgmt-monitor")
        kwargs = self._transport()
        arm = self._arm()
        if arm is not None:
            kwargs["base_url"] = arm
            kwargs["credential_scopes"] = [f"{arm}/.default"]
        return monitor.MonitorManagementClient(self._credentials(), self.config.subscription_id, **kwargs)

    # ---- calls --------------------------------------------------------------------------------
    def call(
        self,
        send: Callable[[], T],
        what: str,
        *,
        idempotent: bool,
        recover: Callable[[], T | None] | None = None,
        cancel: threading.Event | None = None,
    ) -> T:
        """`send()`, with Azure's errors as ProviderErrors, run by the retry policy. Reads and
        PUTs of objects named by us are idempotent (a PUT sets the whole object: twice is once);
        the rest pass `recover`."""
        return self.retry.run(
            lambda: _send(what, send), idempotent=idempotent, recover=recover, cancel=cancel
        )

    def wait(self, poller: Any, ctx: ApplyContext | None, what: str) -> Any:
        """The result of a long-running operation (an LROPoller), reporting progress every
        `progress_every` seconds; a cancelled apply stops waiting (Azure carries on, and the next
        plan reads how it ended)."""
        started = time.monotonic()
        while True:
            try:
                poller.wait(timeout=self.timing.progress_every)
                if poller.done():
                    return _send(what, poller.result)
            except ProviderError:
                raise
            except Exception as exc:
                error = as_provider_error(exc, what)
                if error is None:
                    raise
                raise error from exc
            elapsed = time.monotonic() - started
            if elapsed > self.timing.operation_timeout:
                raise ProviderError(
                    f"{what}: still running after {elapsed:.0f}s; Azure ML carries on and the next plan "
                    "shows the outcome",
                    code="Timeout",
                )
            if ctx is not None:
                ctx.progress(f"{what}… ({elapsed:.0f}s elapsed)")
                check_cancel(ctx, what)

    def start_and_wait(
        self, begin: Callable[[], Any], ctx: ApplyContext | None, what: str, *, idempotent: bool = True
    ) -> Any:
        cancel = ctx.cancel if ctx is not None else None
        return self.wait(self.call(begin, what, idempotent=idempotent, cancel=cancel), ctx, what)

    def settle(self, read: Callable[[], str | None], ctx: ApplyContext | None, what: str) -> str | None:
        """Wait until `read()` (a provisioning state, None when the object is gone) leaves the
        busy states: Azure answers 409 to a write on an endpoint that is Creating or Updating.
        Reads go through the retry policy; the pause between them backs off to `poll_max`."""
        t = self.timing
        started = time.monotonic()
        delay = t.poll_initial
        while True:
            state = self.call(read, f"reading {what}", idempotent=True)
            if state not in BUSY:
                return state
            elapsed = time.monotonic() - started
            if elapsed > t.operation_timeout:
                raise ProviderError(f"{what} is still {state} after {elapsed:.0f}s", code="Timeout")
            if ctx is not None:
                ctx.progress(f"{what} is {state}: waiting before changing it")
                if ctx.cancel.wait(delay):
                    check_cancel(ctx, what)
            else:
                time.sleep(delay)
            delay = min(delay * 2, t.poll_max)


def _reads_only(policy: RetryPolicy) -> Any:
    """azure-core's retry for GETs alone (throttled, 5xx, connection lost: a read is safe to send
    again), with `policy`'s pauses; a write gets one attempt here, the core policy deciding what
    follows. Also what keeps an ARM poller polling through a fault."""
    policies = import_sdk("azure.core.pipeline.policies", extra="azureml", package="azure-core")

    class _ReadsOnly(policies.RetryPolicy):  # type: ignore[misc,name-defined]
        def _is_method_retryable(self, settings: Any, request: Any, response: Any = None) -> bool:
            return str(request.method).upper() == "GET"

        def is_retry(self, settings: Any, response: Any) -> bool:
            # The base class retries any answer with a Retry-After, a PUT's included.
            get = str(response.http_request.method).upper() == "GET"
            return get and bool(super().is_retry(settings, response))

    return _ReadsOnly(
        retry_total=_READ_RETRIES,
        # Each kind of failure has a count of its own (3 by default), which ends the retries first.
        retry_status=_READ_RETRIES,
        retry_connect=_READ_RETRIES,
        retry_read=_READ_RETRIES,
        retry_backoff_factor=policy.base,
        retry_backoff_max=policy.cap,
    )


def check_cancel(ctx: ApplyContext, what: str) -> None:
    if ctx.cancel.is_set():
        raise ProviderError(
            f"stopped waiting for {what}: the apply was cancelled; Azure ML carries on and the next plan "
            "shows the outcome",
            code="Cancelled",
        )


def _send(what: str, function: Callable[[], T]) -> T:
    try:
        return function()
    except ProviderError:
        raise
    except Exception as exc:
        error = as_provider_error(exc, what)
        if error is None:
            raise
        raise error from exc


def as_provider_error(exc: BaseException, what: str) -> ProviderError | None:
    """`exc` as a ProviderError; None if it is no Azure, HTTP or credential failure (a bug)."""
    from azure.core import exceptions as aze

    if isinstance(exc, aze.ResourceNotFoundError):
        return map_error(what, _code(exc) or "ResourceNotFound", _message(exc), NotFoundError)
    if isinstance(exc, aze.ResourceExistsError):
        # azure-core names every 409 so, but ARM writes are PUTs that create or update: a 409 is
        # Azure refusing a write while the object is busy (Creating, Updating), which did nothing.
        return map_error(what, _code(exc) or "Conflict", _message(exc), Failure.THROTTLED)
    if isinstance(exc, aze.ClientAuthenticationError):
        return map_error(
            what,
            "AuthenticationFailed",
            f"{_message(exc)} (sign in with `az login`, or in CI configure Azure workload identity "
            "federation: AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE)",
        )
    if isinstance(exc, aze.ServiceRequestError):  # no connection made: the request never left
        return map_error(what, "ServiceUnavailable", f"{type(exc).__name__}: {exc}", Failure.UNSENT)
    if isinstance(exc, aze.ServiceResponseError):  # sent, the answer lost: it may have taken effect
        return map_error(what, "ServiceUnavailable", f"{type(exc).__name__}: {exc}", Failure.TRANSIENT)
    if isinstance(exc, aze.HttpResponseError):
        status = exc.status_code
        code = _code(exc) or ("Conflict" if status == 409 else type(exc).__name__)
        kind: Kind | None = _KINDS.get(code)
        if kind is None:
            kind = Failure.THROTTLED if status == 409 else (NotFoundError if status == 404 else None)
        if kind is None:
            kind = status_failure(status)
        return map_error(what, code, _message(exc), kind)
    if isinstance(exc, aze.AzureError):
        return map_error(what, type(exc).__name__, _message(exc))
    try:
        from azure.ai.ml.exceptions import MlException
    except ImportError:  # pragma: no cover - the SDK is what raised
        return None
    if isinstance(exc, MlException):  # the SDK's own checks of what we sent: a verdict
        return map_error(what, type(exc).__name__, _message(exc))
    return None


def _code(exc: Any) -> str:
    error = getattr(exc, "error", None)
    return str(getattr(error, "code", "") or "")


def _message(exc: Any) -> str:
    error = getattr(exc, "error", None)
    text = getattr(error, "message", None) or getattr(exc, "message", None) or str(exc)
    # The SDK's messages carry a multi-line preamble: the first line says what happened.
    return redact(" ".join(str(text).split()))
