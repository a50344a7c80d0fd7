"""The core retry policy: which failures are sent again, how long it waits, when it gives up."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from mlops_gitops.errors import ProviderError
from mlops_gitops.retry import (
    NO_RETRY,
    Failure,
    OutcomeUnknownError,
    RetryableError,
    RetryPolicy,
    failure_of,
    status_failure,
)


class Clock:
    """Time that passes only when the policy sleeps: tests run instantly and see every pause."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def policy(clock: Clock, **overrides: object) -> RetryPolicy:
    base = RetryPolicy(attempts=5, base=1.0, cap=8.0, deadline=None, sleep=clock.sleep, clock=clock)
    return replace(base, **overrides)  # type: ignore[arg-type]


def flaky(failures: list[ProviderError], answer: str = "done") -> tuple[Callable[[], str], list[int]]:
    """A call that raises each of `failures` in turn, then answers; and the count of its sends."""
    sent = [0]

    def send() -> str:
        sent[0] += 1
        if sent[0] <= len(failures):
            raise failures[sent[0] - 1]
        return answer

    return send, sent


def throttled() -> RetryableError:
    return RetryableError(
        "DescribeEndpoint: ThrottlingException: slow down",
        code="ThrottlingException",
        failure=Failure.THROTTLED,
    )


def lost() -> RetryableError:
    return RetryableError("UpdateEndpoint: InternalFailure: reply lost", code="InternalFailure")


def test_a_call_throttled_three_times_succeeds_on_the_fourth() -> None:
    clock = Clock()
    send, sent = flaky([throttled() for _ in range(3)])
    # Throttling is safe to resend even for a call that is not idempotent.
    assert policy(clock).run(send, idempotent=False) == "done"
    assert sent == [4] and len(clock.pauses) == 3


def test_attempts_are_bounded_and_the_last_error_is_raised_retryable() -> None:
    clock = Clock()
    failures = [throttled() for _ in range(10)]
    send, sent = flaky(failures)
    with pytest.raises(RetryableError) as raised:
        policy(clock, attempts=4).run(send, idempotent=True)
    assert sent == [4] and raised.value is failures[3] and raised.value.retryable
    assert len(clock.pauses) == 3  # no pause after the last attempt


def test_no_retry_starts_after_the_deadline() -> None:
    clock = Clock()
    # Pauses at their bound: 1, 2, 4, 8... The third would end at 7 s, past the 5 s deadline.
    strict = policy(clock, attempts=10, deadline=5.0, jitter=lambda low, high: high)
    send, sent = flaky([throttled() for _ in range(10)])
    with pytest.raises(RetryableError):
        strict.run(send, idempotent=True)
    assert clock.pauses == [1.0, 2.0] and sent == [3]
    assert clock.now <= 5.0


def test_a_verdict_passes_straight_through() -> None:
    clock = Clock()
    refusal = ProviderError("DescribeEndpoint: AccessDeniedException: no", code="AccessDeniedException")
    send, sent = flaky([refusal])
    with pytest.raises(ProviderError) as raised:
        policy(clock).run(send, idempotent=True)
    assert raised.value is refusal and sent == [1] and clock.pauses == []


def test_other_exceptions_are_not_retried_either() -> None:
    clock = Clock()

    def send() -> str:
        raise KeyError("a bug, not a cloud failure")

    with pytest.raises(KeyError):
        policy(clock).run(send, idempotent=True)
    assert clock.pauses == []


def test_a_lost_reply_on_a_call_that_may_not_be_repeated_is_an_unknown_outcome() -> None:
    clock = Clock()
    send, sent = flaky([lost()])
    with pytest.raises(OutcomeUnknownError, match="may have taken effect") as raised:
        policy(clock).run(send, idempotent=False)
    assert sent == [1] and clock.pauses == []
    assert raised.value.code == "InternalFailure" and raised.value.retryable
    assert "reply lost" in str(raised.value)


def test_a_lost_reply_on_an_idempotent_call_is_sent_again() -> None:
    clock = Clock()
    send, sent = flaky([lost(), lost()])
    assert policy(clock).run(send, idempotent=True) == "done" and sent == [3]


def test_a_call_that_never_left_is_sent_again_even_if_not_idempotent() -> None:
    clock = Clock()
    refused = RetryableError("CreateModel: ConnectionError: refused", failure=Failure.UNSENT)
    send, sent = flaky([refused])
    assert policy(clock).run(send, idempotent=False) == "done" and sent == [2]


def test_recover_finds_what_a_lost_reply_did_and_the_call_is_not_sent_again() -> None:
    clock = Clock()
    send, sent = flaky([lost()])
    assert policy(clock).run(send, idempotent=False, recover=lambda: "found") == "found"
    assert sent == [1]


def test_recover_finding_nothing_sends_the_call_again() -> None:
    clock = Clock()
    looked: list[int] = []
    send, sent = flaky([lost(), lost()])
    result = policy(clock).run(send, idempotent=False, recover=lambda: looked.append(1))
    assert result == "done" and sent == [3] and looked == [1, 1]


def test_recover_is_asked_after_the_last_attempt_too() -> None:
    clock = Clock()
    send, sent = flaky([lost()])
    assert policy(clock, attempts=1).run(send, idempotent=False, recover=lambda: "found") == "found"
    assert sent == [1]


def test_recover_is_not_asked_about_throttling() -> None:
    clock = Clock()
    send, _ = flaky([throttled()])

    def recover() -> str:
        raise AssertionError("a throttled call did nothing: nothing to look for")

    assert policy(clock).run(send, idempotent=False, recover=recover) == "done"


def test_a_retryable_error_that_does_not_say_counts_as_possibly_done() -> None:
    unsure = ProviderError("something retryable", retryable=True)
    assert failure_of(unsure) is Failure.TRANSIENT
    assert failure_of(ProviderError("a verdict")) is None
    assert failure_of(ValueError("not ours")) is None
    with pytest.raises(OutcomeUnknownError):
        policy(Clock()).run(flaky([unsure])[0], idempotent=False)


@pytest.mark.parametrize(
    ("status", "failure"),
    [
        (429, Failure.THROTTLED),
        (500, Failure.TRANSIENT),
        (503, Failure.TRANSIENT),
        (501, None),
        (404, None),
        (None, None),
    ],
)
def test_http_statuses(status: int | None, failure: Failure | None) -> None:
    assert status_failure(status) is failure


def test_jitter_is_full_and_bounded_by_the_exponential_and_the_cap() -> None:
    rng = random.Random(7)
    jittered = RetryPolicy(base=0.5, cap=3.0, jitter=rng.uniform)
    for retry in range(8):
        bound = min(3.0, 0.5 * 2**retry)
        samples = [jittered.backoff(retry) for _ in range(300)]
        assert all(0.0 <= s <= bound for s in samples)
        # Full jitter: pauses spread over the whole range, short ones included.
        assert min(samples) < bound * 0.1 and max(samples) > bound * 0.9
    highest = RetryPolicy(base=0.5, cap=3.0, jitter=lambda low, high: high)
    assert [highest.backoff(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_cancel_event_stops_the_retries() -> None:
    clock = Clock()
    cancel = threading.Event()
    sent = [0]

    def send() -> str:
        sent[0] += 1
        cancel.set()  # the user interrupts while the first attempt is refused
        raise throttled()

    with pytest.raises(ProviderError, match="apply was cancelled") as raised:
        policy(clock).run(send, idempotent=True, cancel=cancel)
    assert raised.value.code == "Cancelled" and sent == [1]


def test_a_cancel_event_wakes_a_real_wait() -> None:
    cancel = threading.Event()
    long_waits = RetryPolicy(attempts=3, base=30.0, cap=30.0, deadline=None, jitter=lambda low, high: high)
    threading.Timer(0.05, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(ProviderError, match="apply was cancelled"):
        long_waits.run(flaky([throttled(), throttled()])[0], idempotent=True, cancel=cancel)
    assert time.monotonic() - started < 5


def test_no_retry_makes_one_attempt() -> None:
    send, sent = flaky([throttled()])
    with pytest.raises(RetryableError):
        NO_RETRY.run(send, idempotent=True)
    assert sent == [1]
