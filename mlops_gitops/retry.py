"""Retrying calls to a cloud API: one policy for every provider.

A provider turns each failure of its SDK into a `ProviderError` (see `cloud_errors.map_error`,
fed by the provider's table of its cloud's error codes) and marks those another attempt may get
past as retryable, with a `Failure` that says what the failure tells about the call:

* `THROTTLED`: refused before it did anything (rate limiting), so always safe to send again;
* `UNSENT`: it never reached the server (connection refused, connect timeout): always safe;
* `TRANSIENT`: it failed after it was sent (a 5xx, a connection that broke, a reply lost), so it
  may have taken effect. It is sent again only when that is harmless (`idempotent`: a read, a
  put, a create under a name the caller chose), or after `recover` looked for its effect and
  found none. Otherwise it surfaces at once as `OutcomeUnknownError`: the caller, or the next
  plan, looks at what exists rather than guessing.

Backoff is exponential with full jitter (a random pause between 0 and `base * 2**n`, at most
`cap`), so callers throttled together do not come back together; no retry starts after the
overall `deadline`, and a set cancel event ends the wait at once.

How this combines with the SDKs' own retries: botocore (its `retries` config) and google-api-core
(a method's `retry=`) can retry too, and layers multiply: a call would be sent up to our attempts
times theirs, and theirs resends a non-idempotent call after a 5xx, which is what `TRANSIENT`
exists to prevent. So wherever this policy runs a call, the SDK's layer is configured to one
attempt (botocore `total_max_attempts: 1`, `retry=None` on Google calls) and `attempts` alone
bounds the sends. Where the policy does not run, the SDK's retry is the one layer, given this
policy's numbers: google-api-core's polling of a long-running operation, which only reads."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from mlops_gitops.errors import ProviderError

T = TypeVar("T")


class Failure(Enum):
    """What a failure that another attempt may get past says about the call."""

    THROTTLED = "throttled"  # refused before it did anything
    UNSENT = "unsent"  # never reached the server
    TRANSIENT = "transient"  # failed after it was sent: it may have taken effect


class RetryableError(ProviderError):
    """A failure another attempt may get past; `failure` says whether the call may have taken
    effect. Still retryable (for whoever runs us) once the policy has given up on it."""

    def __init__(self, message: str, *, code: str = "", failure: Failure = Failure.TRANSIENT) -> None:
        super().__init__(message, code=code, retryable=True)
        self.failure = failure


class OutcomeUnknownError(RetryableError):
    """A call that may not simply be sent twice failed after it was sent: it may or may not have
    taken effect, so it was not sent again. Retryable for whoever reads what exists first (the
    next plan does)."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message, code=code, failure=Failure.TRANSIENT)


def failure_of(error: BaseException) -> Failure | None:
    """What `error` says about the call, or None when it is a verdict another attempt would not
    change. A retryable ProviderError that does not say counts as TRANSIENT, the cautious reading:
    it may have taken effect."""
    if not isinstance(error, ProviderError) or not error.retryable:
        return None
    return error.failure if isinstance(error, RetryableError) else Failure.TRANSIENT


def status_failure(status: int | None) -> Failure | None:
    """The failure an HTTP status alone says: 429 is throttling, a 5xx a server-side failure that
    may pass, but 501 (not implemented), which is a verdict."""
    if status == 429:
        return Failure.THROTTLED
    if status is not None and 500 <= status < 600 and status != 501:
        return Failure.TRANSIENT
    return None


def outcome_unknown(error: ProviderError) -> OutcomeUnknownError:
    """`error`, from a call that may have taken effect and must not be sent blindly again."""
    return OutcomeUnknownError(
        f"{error} (the call may have taken effect before it failed, so it was not sent again; "
        "the next plan shows what exists)",
        code=error.code,
    )


def cancelled(error: ProviderError) -> ProviderError:
    return ProviderError(f"{error} (not tried again: the apply was cancelled)", code="Cancelled")


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and how long, a failed call is tried again. `sleep` and `clock` are there for
    tests to make time instant; `sleep=None` waits in real time on the cancel event, if any."""

    attempts: int = 5  # in all, the first included
    base: float = 0.5  # seconds: the bound of the first pause, doubled for each next one
    cap: float = 20.0  # no pause is longer
    deadline: float | None = 120.0  # seconds after the first attempt when no retry starts any more
    sleep: Callable[[float], None] | None = None
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[float, float], float] = random.uniform

    def backoff(self, retry: int) -> float:
        """The pause before retry number `retry` (0 for the first): full jitter, a random point
        between 0 and the exponential bound, so callers refused together spread out."""
        return self.jitter(0.0, min(self.cap, self.base * 2**retry))

    def run(
        self,
        send: Callable[[], T],
        *,
        idempotent: bool,
        recover: Callable[[], T | None] | None = None,
        cancel: threading.Event | None = None,
    ) -> T:
        """`send()`, tried again while it fails with a retryable ProviderError (see the module
        docstring). `recover`, for a call that is not idempotent, looks for what the call would
        have made after a failure that may have taken effect: what it returns (not None) is taken
        as the call's answer, None means the call did nothing and may be sent again."""
        started = self.clock()
        retry = 0
        while True:
            try:
                return send()
            except ProviderError as exc:
                failure = failure_of(exc)
                if failure is None:
                    raise
                error = exc
            blind = failure is Failure.TRANSIENT and not idempotent
            if blind and recover is None:
                raise outcome_unknown(error) from error
            delay = self.backoff(retry)
            retry += 1
            again = retry < self.attempts and (
                self.deadline is None or self.clock() - started + delay <= self.deadline
            )
            if again and self._pause(delay, cancel):
                raise cancelled(error) from error
            if blind and recover is not None:
                # Looked at even when no attempt is left: the call may have done its work.
                found = recover()
                if found is not None:
                    return found
            if not again:
                raise error

    def _pause(self, delay: float, cancel: threading.Event | None) -> bool:
        """Wait `delay` seconds; True if the cancel event is (or gets) set."""
        if cancel is not None and cancel.is_set():
            return True
        if self.sleep is not None:
            self.sleep(delay)
        elif cancel is not None:
            return cancel.wait(delay)
        else:
            time.sleep(delay)
        return cancel is not None and cancel.is_set()


# One attempt and no pause: what a client gets when nobody chose a policy for it.
NO_RETRY = RetryPolicy(attempts=1, base=0.0, cap=0.0, deadline=None)
