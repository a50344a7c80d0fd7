"""The core traffic-rollout driver (`mlops_gitops.rollout`) on an in-memory endpoint: the step
plan of each strategy, bakes on a clock that never sleeps, and the rollback signal (a health
check, a refused step, a read-back that differs, the timeout, a cancelled apply) restoring the
previous split."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from mlops_gitops.errors import ProviderError
from mlops_gitops.rollout import (
    Change,
    Shift,
    Step,
    TrafficDriver,
    TrafficTarget,
    blend,
    percentages,
    plan,
    steps,
)
from mlops_gitops.stack.schema import Rollout

MINUTE = 60.0


class FakeClock:
    """Time that passes only when waited for, at once. `at(t, action)` runs `action` once the
    clock reaches `t` seconds (someone acting mid-bake); a wait ends early only if the action
    cancels the apply, as `threading.Event.wait` does."""

    def __init__(self) -> None:
        self.t = 0.0
        self.events: list[tuple[float, Callable[[], None]]] = []
        self.waits: list[float] = []

    def now(self) -> float:
        return self.t

    def at(self, t: float, action: Callable[[], None]) -> None:
        self.events.append((t, action))
        self.events.sort(key=lambda e: e[0])

    def wait(self, cancel: threading.Event, seconds: float) -> bool:
        assert seconds > 0, "a wait of nothing would spin"
        self.waits.append(seconds)
        end = self.t + seconds
        while self.events and self.events[0][0] <= end and not cancel.is_set():
            when, action = self.events.pop(0)
            self.t = max(self.t, when)
            action()
        if cancel.is_set():
            return True
        self.t = end
        return False


class Ctx:
    def __init__(self) -> None:
        self.stack = "s"
        self.address = "endpoint.api"
        self.cancel = threading.Event()
        self.destroying = False
        self.messages: list[str] = []

    def checkpoint(self, attributes: Mapping[str, Any]) -> None:
        pass

    def progress(self, message: str) -> None:
        self.messages.append(message)


class MemoryEndpoint(TrafficTarget[str]):
    """An endpoint whose units serve a model version each; it behaves as the clouds do: a split
    may only name deployed units, and the first unit on an endpoint serving nothing takes it all."""

    name = "endpoint api"
    units = "deployments"

    def __init__(self, split: Mapping[str, int], clock: FakeClock) -> None:
        self.clock = clock
        self.split = dict(split)
        self.deployed = {u: f"{u}-model" for u in split}
        self.log: list[tuple[float, str, Any]] = []  # (time, call, argument)
        self.refuse: set[int] = set()  # set_split calls (1-based) refused
        self.refuse_retire: set[str] = set()
        self.fail_deploy: set[str] = set()  # keys whose deploy fails
        self.check: Callable[[Mapping[str, int], Sequence[str]], str | None] = lambda split, rolling: None
        self.checks: list[tuple[float, dict[str, int], list[str]]] = []
        self._sets = 0
        self._ids = 0

    def deploy(self, key: str, unit: str) -> str:
        if key in self.fail_deploy:
            raise ProviderError(f"deploying {key}: quota exceeded", code="ResourceExhausted")
        self._ids += 1
        unit_id = f"{key}-{self._ids}"
        self.deployed[unit_id] = unit
        if not self.split:
            self.split = {unit_id: 100}
        self.log.append((self.clock.t, "deploy", unit_id))
        return unit_id

    def retire(self, unit_id: str) -> None:
        if unit_id in self.refuse_retire:
            raise ProviderError(f"retiring {unit_id}: busy", code="FailedPrecondition")
        assert unit_id not in self.split or len(self.deployed) == 1, f"{unit_id} still takes traffic"
        self.deployed.pop(unit_id, None)
        self.split.pop(unit_id, None)
        self.log.append((self.clock.t, "retire", unit_id))

    def set_split(self, split: Mapping[str, int]) -> None:
        self._sets += 1
        if self._sets in self.refuse:
            raise ProviderError("setting the split: the endpoint is being updated", code="FailedPrecondition")
        assert sum(split.values()) == 100 and all(p > 0 for p in split.values()), split
        if not set(split) <= set(self.deployed):
            raise ProviderError(f"setting the split: no unit {sorted(set(split) - set(self.deployed))}")
        self.split = dict(split)
        self.log.append((self.clock.t, "set_split", dict(split)))

    def read_split(self) -> Mapping[str, int]:
        return dict(self.split)

    def health(self, split: Mapping[str, int], rolling: Sequence[str]) -> str | None:
        self.checks.append((self.clock.t, dict(split), list(rolling)))
        return self.check(split, rolling)

    def label(self, unit_id: str) -> str:
        return f"<{unit_id}>"

    # What the test reads back.
    def calls(self, name: str) -> list[Any]:
        return [arg for _, call, arg in self.log if call == name]

    def times(self, name: str) -> list[float]:
        return [t for t, call, _ in self.log if call == name]


def new_main(new: Mapping[str, str]) -> dict[str, int]:
    return {new["main"]: 100}


def rollout_of(
    start: Mapping[str, int], rollout: Mapping[str, Any] | None, *, timeout: float | None = None
) -> tuple[MemoryEndpoint, Ctx, TrafficDriver[str]]:
    """An endpoint serving `start`, an apply's context, and a driver of `rollout` for them (the
    endpoint's `clock` is the driver's)."""
    clock = FakeClock()
    endpoint = MemoryEndpoint(start, clock)
    settings = dict(rollout or {}, **({"timeout_minutes": timeout} if timeout else {}))
    ctx = Ctx()
    return endpoint, ctx, TrafficDriver(endpoint, ctx, settings, clock=clock, minute=MINUTE)


def replace_old() -> Change[str]:
    """v2 of the only variant, deployed beside v1 (unit `old`) and taking all its traffic."""
    return Change(start={"old": 100}, goal=new_main, deploy={"main": "v2"}, retire=["old"])


# -------------------------------------------------------------------------------------- the plan
def test_steps_of_each_strategy() -> None:
    assert steps(None) == [Step(1.0, 0.0)]
    assert steps({"strategy": "all_at_once", "bake_minutes": 5}) == [Step(1.0, 5.0)]
    assert steps({"strategy": "canary", "canary_percent": 10, "bake_minutes": 15}) == [
        Step(0.1, 15.0),
        Step(1.0, 0.0),
    ]
    assert steps({"strategy": "linear", "step_percent": 30, "bake_minutes": 9, "interval_minutes": 2}) == [
        Step(0.3, 2.0),
        Step(0.6, 2.0),
        Step(0.9, 2.0),
        Step(1.0, 2.0),
    ]
    assert steps({"strategy": "linear", "step_percent": 50, "bake_minutes": 3}) == [
        Step(0.5, 3.0),
        Step(1.0, 3.0),
    ]
    # The termination wait follows the last step, whatever the strategy.
    assert steps(
        {"strategy": "canary", "canary_percent": 20, "bake_minutes": 4, "termination_wait_minutes": 6}
    ) == [Step(0.2, 4.0), Step(1.0, 6.0)]


def test_steps_read_the_stack_model_as_its_attributes() -> None:
    model = Rollout(strategy="canary", canary_percent=10, bake_minutes=2, termination_wait_minutes=1)
    assert steps(model) == steps(model.model_dump(exclude_none=True)) == [Step(0.1, 2.0), Step(1.0, 1.0)]
    assert steps(Rollout()) == [Step(1.0, 5.0)]  # the schema's default bake


def test_the_plan_blends_the_live_split_into_the_goal() -> None:
    # A canary of a tenth of the champion's 80%, the challenger untouched.
    canary = {"strategy": "canary", "canary_percent": 10, "bake_minutes": 2}
    assert plan(canary, {"champ": 80, "chal": 20}, {"champ2": 80, "chal": 20}) == [
        Shift({"champ": 72, "chal": 20, "champ2": 8}, 2.0),
        Shift({"chal": 20, "champ2": 80}, 0.0),
    ]
    linear = {"strategy": "linear", "step_percent": 25, "bake_minutes": 1}
    shares = [s.split.get("new", 0) for s in plan(linear, {"old": 100}, {"new": 100})]
    assert shares == [25, 50, 75, 100]
    assert plan(linear, {"old": 100}, {"old": 100}) == [], "nothing to move"
    for shift in plan(linear, {"a": 34, "b": 33, "c": 33}, {"d": 50, "e": 50}):
        assert sum(shift.split.values()) == 100 and all(p > 0 for p in shift.split.values())


def test_percentages_and_blends_are_whole_and_sum_to_100() -> None:
    assert percentages({"a": 2, "b": 1}) == {"a": 67, "b": 33}
    assert percentages({"a": 1, "b": 1, "c": 1}) == {"a": 34, "b": 33, "c": 33}
    assert blend({"old": 100}, {"new": 100}, 0.1) == {"old": 90, "new": 10}
    assert blend({"old": 100}, {"new": 100}, 1.0) == {"new": 100}, "units left with nothing are dropped"
    with pytest.raises(ValueError):
        percentages({"a": 0})


# ------------------------------------------------------------------------------------ rolling out
def test_a_canary_deploys_bakes_shifts_and_retires_the_old_unit() -> None:
    endpoint, ctx, driver = rollout_of(
        {"old": 100}, {"strategy": "canary", "canary_percent": 10, "bake_minutes": 2}
    )
    new = driver.run(replace_old())
    assert new == {"main": "main-1"}
    assert endpoint.calls("deploy") == ["main-1"]
    assert endpoint.calls("set_split") == [{"old": 90, "main-1": 10}, {"main-1": 100}]
    assert endpoint.times("set_split") == [0.0, 2 * MINUTE], "the canary bakes for bake_minutes"
    assert endpoint.calls("retire") == ["old"] and endpoint.times("retire") == [2 * MINUTE]
    assert endpoint.split == {"main-1": 100} and set(endpoint.deployed) == {"main-1"}
    # The signal is checked after the step and every report_every seconds (15) through the bake.
    canary_checks = [t for t, split, _ in endpoint.checks if split == {"old": 90, "main-1": 10}]
    assert canary_checks == [15.0 * i for i in range(9)]
    assert all(rolling == ["main-1"] for _, _, rolling in endpoint.checks)
    assert ctx.messages[0] == "step 1/2: traffic <old>=90%, <main-1>=10%"
    assert "watching traffic <old>=90%, <main-1>=10%: 105s left" in ctx.messages


def test_linear_steps_wait_their_interval_and_the_last_its_termination_wait() -> None:
    endpoint, _, driver = rollout_of(
        {"old": 100},
        {
            "strategy": "linear",
            "step_percent": 40,
            "bake_minutes": 9,
            "interval_minutes": 3,
            "termination_wait_minutes": 5,
        },
    )
    driver.run(replace_old())
    assert [s.get("main-1") for s in endpoint.calls("set_split")] == [40, 80, 100]
    assert endpoint.times("set_split") == [0.0, 3 * MINUTE, 6 * MINUTE]
    assert endpoint.times("retire") == [(6 + 3 + 5) * MINUTE], "the old unit outlives the last step's waits"


def test_all_at_once_is_one_shift_and_its_bake() -> None:
    endpoint, _, driver = rollout_of({"old": 100}, {"strategy": "all_at_once", "bake_minutes": 4})
    driver.run(replace_old())
    assert endpoint.calls("set_split") == [{"main-1": 100}]
    assert endpoint.times("retire") == [4 * MINUTE]


def test_a_change_of_weights_alone_is_one_shift_without_a_bake() -> None:
    endpoint, _, driver = rollout_of(
        {"a": 80, "b": 20}, {"strategy": "canary", "canary_percent": 10, "bake_minutes": 30}
    )
    assert driver.run(Change(start={"a": 80, "b": 20}, goal={"a": 75, "b": 25})) == {}
    assert endpoint.calls("set_split") == [{"a": 75, "b": 25}] and endpoint.clock.t == 0.0
    assert len(endpoint.checks) == 1, "the new split is still checked once"


def test_nothing_to_shift_sets_nothing() -> None:
    endpoint, _, driver = rollout_of({"a": 100}, {"strategy": "canary", "canary_percent": 10})
    driver.run(Change(start={"a": 100}, goal={"a": 100}))
    assert endpoint.log == [] and endpoint.checks == []


def test_the_first_deployment_on_an_endpoint_serving_nothing_takes_it_without_steps() -> None:
    endpoint, _, driver = rollout_of({}, {"strategy": "linear", "step_percent": 10, "bake_minutes": 5})
    new = driver.run(Change(start={}, goal=lambda n: {n["a"]: 50, n["b"]: 50}, deploy={"a": "v1", "b": "v1"}))
    assert new == {"a": "a-1", "b": "b-2"}
    # The first deployment took all traffic (read back after deploying); one shift evens it out.
    assert endpoint.calls("set_split") == [{"a-1": 50, "b-2": 50}] and endpoint.clock.t == 0.0


def test_a_first_deployment_rolled_back_leaves_the_endpoint_serving_nothing() -> None:
    endpoint, _, driver = rollout_of({}, None)
    endpoint.refuse = {1}
    change = Change(start={}, goal=lambda n: {n["a"]: 50, n["b"]: 50}, deploy={"a": "v1", "b": "v1"})
    with pytest.raises(ProviderError, match=r"rolled back at step 1 of 1") as raised:
        driver.run(change)
    # Back on the split the deployments left (the first took it all), then both gone, it last.
    assert "Traffic is back on the previous split (<a-1>=100%)" in str(raised.value)
    assert endpoint.calls("retire") == ["b-2", "a-1"] and endpoint.deployed == {} and endpoint.split == {}


# ----------------------------------------------------------------------------------- rolling back
def assert_as_before(endpoint: MemoryEndpoint, start: Mapping[str, int], error: ProviderError) -> None:
    assert endpoint.split == dict(start), "the previous split is served again"
    assert set(endpoint.deployed) == set(start), "what the change deployed is gone, the rest kept"
    assert error.code == "RolledBack"
    assert (
        f"Traffic is back on the previous split ({', '.join(f'<{u}>={p}%' for u, p in start.items())})"
        in (str(error))
    )
    assert "the endpoint serves as before" in str(error)


def test_a_failed_health_check_rolls_back_between_steps() -> None:
    endpoint, _, driver = rollout_of(
        {"old": 100}, {"strategy": "linear", "step_percent": 40, "bake_minutes": 1}
    )
    endpoint.check = lambda split, rolling: "p99 latency 2.3 s" if split.get(rolling[0], 0) >= 80 else None
    with pytest.raises(ProviderError) as raised:
        driver.run(replace_old())
    assert str(raised.value).startswith(
        "endpoint api: the rollout was rolled back at step 2 of 3: health check: p99 latency 2.3 s."
    )
    assert endpoint.calls("set_split") == [{"old": 60, "main-1": 40}, {"old": 20, "main-1": 80}, {"old": 100}]
    assert endpoint.times("set_split")[-1] == MINUTE, "rolled back as soon as the check failed"
    assert endpoint.calls("retire") == ["main-1"], "the old unit is kept"
    assert_as_before(endpoint, {"old": 100}, raised.value)
    assert "The deployments made for this change were removed." in str(raised.value)


def test_a_health_check_that_raises_rolls_back() -> None:
    endpoint, _, driver = rollout_of({"old": 100}, {"strategy": "canary", "canary_percent": 10})

    def broken(split: Mapping[str, int], rolling: Sequence[str]) -> str | None:
        raise KeyError("p99")

    endpoint.check = broken
    with pytest.raises(ProviderError, match=r"step 1 of 2: health check failed: KeyError: 'p99'") as raised:
        driver.run(replace_old())
    assert_as_before(endpoint, {"old": 100}, raised.value)


def test_a_refused_step_restores_the_previous_split() -> None:
    endpoint, _, driver = rollout_of(
        {"old": 100}, {"strategy": "canary", "canary_percent": 10, "bake_minutes": 2}
    )
    endpoint.refuse = {2}  # the step after the canary; the restore (3rd) goes through
    with pytest.raises(
        ProviderError, match=r"rolled back at step 2 of 2: setting the split: the endpoint is"
    ) as raised:
        driver.run(replace_old())
    assert endpoint.calls("set_split") == [{"old": 90, "main-1": 10}, {"old": 100}]
    assert_as_before(endpoint, {"old": 100}, raised.value)


def test_a_refused_first_step_needs_no_restore() -> None:
    endpoint, _, driver = rollout_of({"old": 100}, {"strategy": "canary", "canary_percent": 10})
    endpoint.refuse = {1}
    with pytest.raises(ProviderError, match="rolled back at step 1 of 2") as raised:
        driver.run(replace_old())
    assert endpoint.calls("set_split") == [], "the endpoint never left the previous split"
    assert_as_before(endpoint, {"old": 100}, raised.value)


def test_a_split_changed_by_someone_else_mid_bake_rolls_back() -> None:
    endpoint, _, driver = rollout_of(
        {"old": 100}, {"strategy": "canary", "canary_percent": 10, "bake_minutes": 10}
    )
    endpoint.clock.at(200.0, lambda: endpoint.split.update({"old": 50, "main-1": 50}))
    with pytest.raises(ProviderError) as raised:
        driver.run(replace_old())
    assert "step 1 of 2: the traffic split changed outside this rollout, to <old>=50%, <main-1>=50%." in str(
        raised.value
    )
    # Caught at the next read-back (they come every 15 s), and restored.
    assert endpoint.times("set_split") == [0.0, 210.0]
    assert_as_before(endpoint, {"old": 100}, raised.value)


def test_a_unit_of_the_split_gone_mid_bake_rolls_back() -> None:
    endpoint, _, driver = rollout_of(
        {"a": 50, "b": 50}, {"strategy": "canary", "canary_percent": 20, "bake_minutes": 10}
    )

    def b_undeployed() -> None:
        del endpoint.deployed["b"]
        endpoint.split = {"a": 50, "a2-1": 50}

    endpoint.clock.at(100.0, b_undeployed)
    change = Change(start={"a": 50, "b": 50}, goal=lambda n: {n["a2"]: 50, "b": 50}, deploy={"a2": "v2"})
    with pytest.raises(ProviderError) as raised:
        driver.run(change)
    assert "changed outside this rollout, to <a>=50%, <a2-1>=50%, without <b>" in str(raised.value)
    # The previous split names the unit that is gone: the endpoint refuses it, and the error says so.
    assert raised.value.code == "RollbackFailed" and "no unit ['b']" in str(raised.value)
    assert endpoint.calls("retire") == []


def test_a_restore_that_fails_keeps_the_new_units_and_says_so() -> None:
    endpoint, _, driver = rollout_of(
        {"old": 100}, {"strategy": "canary", "canary_percent": 10, "bake_minutes": 2}
    )
    endpoint.refuse = {2, 3}
    with pytest.raises(ProviderError) as raised:
        driver.run(replace_old())
    assert raised.value.code == "RollbackFailed"
    assert "restoring the previous traffic split (<old>=100%) failed too" in str(raised.value)
    assert "Run plan to see what the endpoint serves now" in str(raised.value)
    assert endpoint.split == {"old": 90, "main-1": 10} and endpoint.calls("retire") == [], (
        "the new unit still takes traffic: it stays"
    )


def test_a_unit_that_cannot_be_retired_on_rollback_is_named() -> None:
    endpoint, _, driver = rollout_of({"old": 100}, {"strategy": "canary", "canary_percent": 10})
    endpoint.check = lambda split, rolling: "error rate 5%"
    endpoint.refuse_retire = {"main-1"}
    with pytest.raises(ProviderError) as raised:
        driver.run(replace_old())
    assert endpoint.split == {"old": 100} and raised.value.code == "RolledBack"
    assert "were removed, but for 1: retiring main-1: busy" in str(raised.value)


def test_the_timeout_rolls_back_when_it_is_due() -> None:
    endpoint, _, driver = rollout_of(
        {"old": 100}, {"strategy": "linear", "step_percent": 50, "bake_minutes": 10}, timeout=15
    )
    with pytest.raises(
        ProviderError, match=r"step 2 of 2: the rollout took longer than its timeout_minutes"
    ) as e:
        driver.run(replace_old())
    assert endpoint.times("set_split") == [0.0, 10 * MINUTE, 15 * MINUTE], "restored at the deadline"
    assert_as_before(endpoint, {"old": 100}, e.value)


def test_a_cancelled_apply_rolls_back_without_waiting_out_the_bake() -> None:
    endpoint, ctx, driver = rollout_of(
        {"old": 100}, {"strategy": "canary", "canary_percent": 10, "bake_minutes": 60}
    )
    endpoint.clock.at(100.0, ctx.cancel.set)
    with pytest.raises(ProviderError, match="step 1 of 2: the apply was cancelled") as raised:
        driver.run(replace_old())
    assert endpoint.clock.t == 100.0 and endpoint.times("set_split") == [0.0, 100.0]
    assert_as_before(endpoint, {"old": 100}, raised.value)


# ------------------------------------------------------------------------------------- deploying
def test_a_failed_deploy_removes_what_the_change_deployed_and_moves_no_traffic() -> None:
    endpoint, _, driver = rollout_of({"a": 50, "b": 50}, {"strategy": "canary", "canary_percent": 10})
    endpoint.fail_deploy = {"b"}
    change = Change(
        start={"a": 50, "b": 50}, goal=lambda n: {n["a"]: 50, n["b"]: 50}, deploy={"a": "v2", "b": "v2"}
    )
    with pytest.raises(ProviderError) as raised:
        driver.run(change)
    assert str(raised.value) == (
        "endpoint api: deploying b: quota exceeded. The deployments made for this change were removed; "
        "the endpoint serves as before."
    )
    assert raised.value.code == "ResourceExhausted"
    assert endpoint.calls("retire") == ["a-1"] and endpoint.calls("set_split") == []
    assert endpoint.split == {"a": 50, "b": 50} and set(endpoint.deployed) == {"a", "b"}


def test_a_cancelled_apply_deploys_nothing_more() -> None:
    endpoint, ctx, driver = rollout_of({"a": 100}, None)
    ctx.cancel.set()
    with pytest.raises(ProviderError, match="the apply was cancelled before deploying main") as raised:
        driver.run(Change(start={"a": 100}, goal=new_main, deploy={"main": "v2"}))
    assert raised.value.code == "Cancelled" and endpoint.log == []


# -------------------------------------------------------------------------------------- resuming
def test_a_half_done_rollout_moves_on_from_the_live_split() -> None:
    endpoint, ctx, driver = rollout_of(
        {"old": 75, "new": 25}, {"strategy": "linear", "step_percent": 25, "bake_minutes": 1}
    )
    change = Change(start={"old": 75, "new": 25}, goal={"new": 100}, retire=["old"], resuming=["new"])
    assert driver.run(change) == {}
    shares = [s.get("new", 0) for s in endpoint.calls("set_split")]
    assert shares == [44, 62, 81, 100], "on from 25%, in the rollout's four steps, never back"
    assert endpoint.times("set_split") == [0.0, MINUTE, 2 * MINUTE, 3 * MINUTE]
    assert endpoint.calls("retire") == ["old"]
    assert all(rolling == ["new"] for _, _, rolling in endpoint.checks)
    assert ctx.messages[0] == "resuming the rollout of <new> from the live split <old>=75%, <new>=25%"


def test_a_resumed_rollout_rolls_back_to_the_live_split_and_keeps_its_units() -> None:
    endpoint, _, driver = rollout_of(
        {"old": 75, "new": 25}, {"strategy": "linear", "step_percent": 25, "bake_minutes": 1}
    )
    endpoint.check = lambda split, rolling: "errors" if split["new"] > 50 else None
    change = Change(start={"old": 75, "new": 25}, goal={"new": 100}, retire=["old"], resuming=["new"])
    with pytest.raises(ProviderError, match="rolled back at step 2 of 4") as raised:
        driver.run(change)
    assert endpoint.split == {"old": 75, "new": 25} and set(endpoint.deployed) == {"old", "new"}
    assert endpoint.calls("retire") == [] and "were removed" not in str(raised.value)
