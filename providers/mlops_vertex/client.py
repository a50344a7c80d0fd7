"""The `aiplatform_v1` service clients, built on first use, and the one place Google API errors
become ProviderErrors.

`google.cloud.aiplatform_v1` is imported inside functions only: its package loads every service
(~0.6 s), which `mlops validate` must not pay. The clients use the REST transport: against
`<location>-aiplatform.googleapis.com` with Application Default Credentials (which cover a
service-account key, `gcloud auth application-default login` and workload identity federation in
CI), or in the sandbox against the emulator's `http://127.0.0.1:PORT` with anonymous credentials.

Calls are retried by the core's policy (`mlops_gitops.retry`, see `Clients.call`): throttled
calls always, transient failures when repeating the call is safe or its effect can be recognised.
The REST clients retry nothing by default, and every call says `retry=None`, so that a default
retry a later release adds cannot multiply the policy's attempts. Long-running operations are
polled by google-api-core, whose retry of a failed poll (a read) is then the one layer, given the
policy's numbers; progress is reported and cancellation honoured between polls. What is Google's
own stays here: what its errors mean (`_KINDS`, `provider_error`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops_gitops.cloud_errors import AlreadyExistsError as AlreadyExistsError
from mlops_gitops.cloud_errors import Kind, map_error, redact
from mlops_gitops.cloud_errors import NotFoundError as NotFoundError
from mlops_gitops.errors import ProviderError
from mlops_gitops.provider import ApplyContext, SandboxEndpoints
from mlops_gitops.retry import Failure, RetryPolicy, failure_of, status_failure
from mlops_gitops.sdk import import_sdk
from mlops_vertex.config import VertexConfig

_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# What Google's errors mean, by exception class (over REST the class follows the HTTP status).
# Beyond these, a 5xx but 501 may pass and a 429 is throttling (`status_failure`); ALREADY_EXISTS
# shares 409 with ABORTED, so it is told by the reply's status (`status_of`); the rest are verdicts.
_KINDS: dict[str, Kind] = {
    "TooManyRequests": Failure.THROTTLED,
    "ResourceExhausted": Failure.THROTTLED,
    "NotFound": NotFoundError,
}
_RPC_TIMEOUT = 60.0  # seconds for one HTTP call


@dataclass(frozen=True)
class Timing:
    """How long to wait for what. The sandbox's emulator answers in milliseconds; Vertex takes
    minutes to deploy a model."""

    poll_initial: float  # first delay between polls of an operation
    poll_max: float
    progress_every: float  # seconds between progress messages while an operation runs
    operation_timeout: float  # give up waiting for one operation after this long
    minute: float  # seconds in a rollout minute (bakes and intervals)


CLOUD_TIMING = Timing(1.0, 20.0, 15.0, 3600.0, 60.0)
SANDBOX_TIMING = Timing(0.02, 0.2, 1.0, 600.0, 1.0)
# Ten tries of a throttled or transiently failing call, the first included (Terraform's AWS
# provider makes up to 25), within the deadline: where 30% of calls fail, one call in 170,000
# fails through, with five tries one in 400.
CLOUD_RETRY = RetryPolicy(attempts=10, base=1.0, cap=20.0, deadline=120.0)
SANDBOX_RETRY = RetryPolicy(attempts=10, base=0.05, cap=1.0, deadline=10.0)


def sandbox_timing(settings: Mapping[str, Any]) -> Timing:
    """The sandbox timing. A rollout minute lasts a second (a 15-minute canary bake takes 15 s),
    or `rollout_minute_seconds` of the sandbox's vertex settings: tests and benchmarks pass it in
    the SandboxEndpoints they build (the provider reads it; the emulator never sees it)."""
    minute = settings.get("rollout_minute_seconds", SANDBOX_TIMING.minute)
    return Timing(**{**SANDBOX_TIMING.__dict__, "minute": float(minute)})


class Clients:
    """The service clients for one provider instance, sharing one set of credentials.
    Clients are thread-safe once built; building them is not, hence the lock."""

    def __init__(self, config: VertexConfig, sandbox: SandboxEndpoints | None) -> None:
        self._config = config
        self._sandbox = sandbox
        self._lock = threading.Lock()
        self._credentials: Any = None
        self._clients: dict[str, Any] = {}
        settings = (sandbox.settings.get("vertex") or {}) if sandbox is not None else {}
        self.timing = sandbox_timing(settings) if sandbox is not None else CLOUD_TIMING
        self.retry = SANDBOX_RETRY if sandbox is not None else CLOUD_RETRY
        self.parent = f"projects/{config.project}/locations/{config.location}"

    @property
    def models(self) -> Any:
        return self._client("ModelServiceClient")

    @property
    def endpoints(self) -> Any:
        return self._client("EndpointServiceClient")

    @property
    def jobs(self) -> Any:
        return self._client("JobServiceClient")

    @property
    def schedules(self) -> Any:
        return self._client("ScheduleServiceClient")

    @property
    def pipelines(self) -> Any:
        return self._client("PipelineServiceClient")

    def _client(self, kind: str) -> Any:
        with self._lock:
            if kind not in self._clients:
                self._clients[kind] = self._build(kind)
            return self._clients[kind]

    def _build(self, kind: str) -> Any:
        aiplatform_v1 = import_sdk(
            "google.cloud.aiplatform_v1", extra="vertex", package="google-cloud-aiplatform"
        )
        from google.api_core.gapic_v1.client_info import ClientInfo  # google-api-core comes with it

        if self._credentials is None:
            self._credentials = self._load_credentials()
        return getattr(aiplatform_v1, kind)(
            transport="rest",
            credentials=self._credentials,
            client_options={"api_endpoint": self._api_endpoint()},
            client_info=ClientInfo(user_agent="mlops-gitops"),
        )

    def _api_endpoint(self) -> str:
        if self._sandbox is not None:
            url = self._sandbox.urls.get("vertex")
            if not url:
                raise ProviderError("the sandbox has no Vertex AI emulator URL: is the sandbox running?")
            return url  # with its http:// scheme, without which the client assumes https
        return self._config.api_endpoint or f"{self._config.location}-aiplatform.googleapis.com"

    def _load_credentials(self) -> Any:
        if self._sandbox is not None:
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials()
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            credentials, _ = google.auth.default(scopes=list(_SCOPES))
        except DefaultCredentialsError as exc:
            raise ProviderError(
                "no Google Cloud credentials: run `gcloud auth application-default login`, set "
                "GOOGLE_APPLICATION_CREDENTIALS, or in CI configure workload identity federation "
                f"({exc})"
            ) from exc
        return credentials

    # ---- calls ------------------------------------------------------------------------------
    def call(
        self,
        method: Callable[..., Any],
        what: str,
        *,
        idempotent: bool | None = None,
        recover: Callable[[], Any] | None = None,
        cancel: threading.Event | None = None,
        **request: Any,
    ) -> Any:
        """`method(request=request)`, with Google's errors turned into ProviderErrors
        (NotFoundError, AlreadyExistsError), run by the retry policy (`cancel` ends its waits).

        Throttled calls (429) are retried: Vertex refused them before doing anything. Transient
        failures (5xx, UNAVAILABLE, DEADLINE_EXCEEDED, a dropped connection or a timeout) say
        nothing about whether the call took effect, so they are retried only when doing it twice
        is harmless: reads (Get*, List*) and calls passed `idempotent=True` (PATCHes that set
        values, deletes, undeploys, creates under an ID we chose, whose repeat Vertex refuses
        with ALREADY_EXISTS). Other mutating calls pass `recover`, which looks for what the call
        would have made and returns it (the call then succeeded, its answer was lost), or None
        (the call is made again)."""
        if idempotent is None:
            idempotent = _is_read(method)
        return self.retry.run(
            lambda: _send(what, lambda: method(request=request, timeout=_RPC_TIMEOUT, retry=None)),
            idempotent=idempotent,
            recover=recover,
            cancel=cancel,
        )

    def collect(self, method: Callable[..., Any], what: str, **request: Any) -> list[dict[str, Any]]:
        """Every item of a paginated list call, as dicts (pages are fetched while iterating, so
        the whole listing is retried when a page fails)."""

        def items() -> list[dict[str, Any]]:
            return [to_dict(item) for item in method(request=request, timeout=_RPC_TIMEOUT, retry=None)]

        return self.retry.run(lambda: _send(what, items), idempotent=True)

    def wait(self, operation: Any, ctx: ApplyContext | None, what: str) -> Any:
        """The result of a long-running operation, polled with backoff (a poll that fails
        transiently is polled again: polling is a read). Progress is reported every
        `progress_every` seconds; a cancelled apply stops waiting (Vertex carries on, and the
        next plan reads how it ended)."""
        import concurrent.futures

        import requests
        from google.api_core import exceptions as gexc
        from google.api_core import retry
        from google.api_core.future.polling import DEFAULT_POLLING
        from google.auth.exceptions import GoogleAuthError

        t = self.timing
        polling = DEFAULT_POLLING.with_delay(initial=t.poll_initial, maximum=t.poll_max, multiplier=2.0)
        # How a poll that is itself refused or lost is retried (not how often to poll): by
        # google-api-core, the one retry layer of a poll, with the policy's numbers. A poll is a
        # read, so every failure the policy would retry qualifies.
        poll_retry = retry.Retry(
            predicate=lambda exc: failure_of(_as_provider_error(exc, what)) is not None,
            initial=self.retry.base,
            maximum=self.retry.cap,
            timeout=self.retry.deadline,
        )
        started = time.monotonic()
        while True:
            try:
                return operation.result(timeout=t.progress_every, polling=polling, retry=poll_retry)
            except concurrent.futures.TimeoutError:
                elapsed = time.monotonic() - started
                if elapsed > t.operation_timeout:
                    raise ProviderError(
                        f"{what}: still running after {elapsed:.0f}s; Vertex AI carries on and the "
                        "next plan shows the outcome",
                        code="Timeout",
                    ) from None
                if ctx is not None:
                    ctx.progress(f"{what}… ({elapsed:.0f}s elapsed)")
                    self._check_cancel(ctx, what)
            except gexc.GoogleAPICallError as exc:
                raise provider_error(exc, what) from exc
            except gexc.RetryError as exc:
                raise ProviderError(
                    redact(f"{what}: polling the operation failed: {exc}"), retryable=True
                ) from exc
            except (requests.RequestException, GoogleAuthError) as exc:
                raise ProviderError(
                    redact(f"{what}: polling the operation failed: {type(exc).__name__}: {exc}")
                ) from exc

    def call_and_wait(
        self,
        method: Callable[..., Any],
        ctx: ApplyContext | None,
        what: str,
        *,
        idempotent: bool | None = None,
        **request: Any,
    ) -> Any:
        cancel = ctx.cancel if ctx is not None else None
        return self.wait(self.call(method, what, idempotent=idempotent, cancel=cancel, **request), ctx, what)

    def settle(self, client: Any, resource: str, ctx: ApplyContext | None, what: str) -> None:
        """Wait until no long-running operation on `resource` (a model, an endpoint) is running:
        one an interrupted apply left, or one whose start was answered by a lost reply. What it
        does then shows in the object, so the caller reads it after this."""
        t = self.timing
        started = time.monotonic()
        delay = t.poll_initial
        while True:
            pending: list[str] = []
            token = ""
            while True:
                page = self.call(
                    client.list_operations, f"ListOperations {resource}", name=resource, page_token=token
                )
                pending += [op.name for op in page.operations if not op.done]
                token = page.next_page_token
                if not token:
                    break
            if not pending:
                return
            elapsed = time.monotonic() - started
            if elapsed > t.operation_timeout:
                raise ProviderError(
                    f"{what}: {len(pending)} operation(s) on {resource} still running after "
                    f"{elapsed:.0f}s ({', '.join(pending)})",
                    code="Timeout",
                )
            if ctx is not None:
                ctx.progress(f"{what}: waiting for {len(pending)} operation(s) in flight on {resource}")
                self._check_cancel(ctx, what)
            time.sleep(delay)
            delay = min(delay * 2, t.poll_max)

    @staticmethod
    def _check_cancel(ctx: ApplyContext, what: str) -> None:
        if ctx.cancel.is_set():
            raise ProviderError(
                f"stopped waiting for {what}: the apply was cancelled; Vertex AI carries on and the "
                "next plan shows the outcome",
                code="Cancelled",
            )


def _is_read(method: Callable[..., Any]) -> bool:
    """Get* and List* calls change nothing: repeating one is always safe."""
    return getattr(method, "__name__", "").startswith(("get_", "list_"))


def _send(what: str, function: Callable[[], Any]) -> Any:
    """`function()`, with the exceptions of Google's libraries as ProviderErrors of the kinds the
    retry policy reads."""
    try:
        return function()
    except Exception as exc:
        error = _as_provider_error(exc, what)
        if error is None:
            raise
        raise error from exc


def _as_provider_error(exc: BaseException, what: str) -> ProviderError | None:
    """`exc` as a ProviderError, None if it is not an API, HTTP or credentials failure."""
    import requests
    from google.api_core import exceptions as gexc
    from google.auth.exceptions import GoogleAuthError

    if isinstance(exc, gexc.GoogleAPICallError):
        return provider_error(exc, what)
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):  # refused, reset, too slow
        return map_error(what, "Unavailable", f"{type(exc).__name__}: {exc}", _connection_failure(exc))
    if isinstance(exc, (requests.RequestException, GoogleAuthError)):  # TLS, token refresh: verdicts
        return map_error(what, type(exc).__name__, str(exc))
    return None


def _connection_failure(exc: BaseException) -> Failure:
    """UNSENT when no connection was made (refused, connect timeout): the request never left.
    Otherwise (reset, dropped, read timeout) it may have reached Vertex AI and taken effect."""
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, requests.ConnectTimeout):
        return Failure.UNSENT
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return Failure.UNSENT if isinstance(reason, NewConnectionError) else Failure.TRANSIENT


def status_of(exc: Any) -> str:
    """The google.rpc status name of an API error (`ALREADY_EXISTS`, `FAILED_PRECONDITION`).
    Over REST the exception class follows the HTTP status alone (409 is Conflict for both
    ALREADY_EXISTS and ABORTED, 400 BadRequest for FAILED_PRECONDITION too): the error reply
    names the status."""
    response = getattr(exc, "response", None)
    try:
        status = response.json()["error"]["status"] if response is not None else None
    except (ValueError, KeyError, TypeError, AttributeError):
        status = None
    if isinstance(status, str) and status:
        return status
    code = getattr(exc, "grpc_status_code", None)
    return str(getattr(code, "name", "") or "")


def provider_error(exc: Any, what: str) -> ProviderError:
    """A google.api_core GoogleAPICallError as a ProviderError carrying Google's own message."""
    code = type(exc).__name__
    message = getattr(exc, "message", None) or str(exc)
    if code != "NotFound" and status_of(exc) == "ALREADY_EXISTS":
        return map_error(what, "AlreadyExists", message, AlreadyExistsError)
    status = getattr(exc, "code", None)  # the HTTP status, for an API error over REST
    kind = _KINDS.get(code) or status_failure(status if isinstance(status, int) else None)
    return map_error(what, code, message, kind)


def to_dict(message: Any) -> dict[str, Any]:
    """A response message as a plain dict with the API's snake_case field names, enum names and
    only the fields that are set: what the pure translation functions read."""
    return type(message).to_dict(
        message,
        use_integers_for_enums=False,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=False,
    )
