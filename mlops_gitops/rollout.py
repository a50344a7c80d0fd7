"""Stepped traffic rollouts, for providers whose cloud lets the caller set an endpoint's traffic
split but does not step it itself.

A provider describes one change of the units behind an endpoint (deployed models, deployments:
whatever takes a share of its traffic) as a `Change`, and runs it with `TrafficDriver.run`
against a `TrafficTarget`, the endpoint seen through a few calls the provider implements:

    class AcmeEndpoint(TrafficTarget[VariantAttrs]):
        name = "endpoint fraud-api"    # what errors call the endpoint
        units = "deployments"          # what they call its units, plural

        def deploy(self, key, unit) -> str: ...         # a new unit taking no traffic: its id
        def retire(self, unit_id) -> None: ...          # remove a unit (one already gone is fine)
        def set_split(self, split) -> None: ...         # the whole split, in effect on return
        def read_split(self) -> Mapping[str, int]: ...  # the split the endpoint serves now
        def health(self, split, rolling) -> str | None: ...  # optional: a reason to roll back
        def label(self, unit_id) -> str: ...            # optional: how messages name a unit

    TrafficDriver(AcmeEndpoint(...), ctx, attrs.get("rollout"), minute=60.0).run(
        Change(start=live, goal=lambda new: {new["green"]: 100}, deploy={"green": v}, retire=[blue])
    )

`rollout` is the stack's `rollout:` settings, as the schema's `Rollout` model or a dict of its
fields (an endpoint's attributes); None is all at once without a bake. What `run` does:

1. Each unit of `Change.deploy` (key -> what the provider deploys it from) is deployed with
   `target.deploy(key, unit)`, which returns the new unit's id and must leave the traffic where it
   was. If a deploy fails (raises ProviderError), or the apply is cancelled before one starts
   (code "Cancelled"), the units this change deployed are retired, newest first, and a
   ProviderError with the failure's code says the endpoint serves as before.
2. The split moves from `Change.start` to the goal (`Change.goal`: a split, or a function of the
   new units' ids by key that returns one) in the steps `plan` gives: one `set_split` per step
   whose split differs from the one before (progress "step 2/3: traffic ..."), then the step's
   bake, during which the rollback signal is watched.
3. Once all traffic is on the goal, the units of `Change.retire` are retired, in order (their
   errors propagate as raised: the traffic is on the goal by then). `run` returns the new ids.

The steps apply only when something is rolled out (units deployed now, or `Change.resuming`) and
the endpoint served traffic before: a change of weights alone, or a first deployment, is a single
`set_split` without a bake (its split is still checked once). On an endpoint that served nothing
the driver reads the split again after deploying, since a cloud may give the first unit all the
traffic; a goal the endpoint serves already sets nothing.

The rollback signal is checked after each step's `set_split`, then every `report_every` seconds
until its bake ends: `set_split` raising ProviderError (the step was refused), a read-back
(`read_split`) other than the step's split (a unit of it gone, or the split changed by someone
else), the settings' `timeout_minutes` passing (counted from the first step), `ctx.cancel` being
set (a bake ends at once; no further step starts), or `target.health(split, rolling)` returning a
reason or raising; `rolling` lists the units deployed now and those of `Change.resuming`. On any
of them the previous split (`Change.start`) is set again unless the endpoint still serves it, the
units this change deployed are retired (newest first: on an endpoint that served nothing before,
the last one retired holds the traffic), and a ProviderError with code "RolledBack" says at which
step and why ("rolled back at step 2 of 3: health check: ..."), that traffic is back on the
previous split and that the endpoint serves as before, naming any unit that could not be retired.
Units of `Change.resuming` are kept: an earlier apply deployed them. If restoring the split fails,
nothing is retired (the new units may still take traffic) and the code is "RollbackFailed".

Splits map unit ids to whole percentages summing to 100 and list only units that get traffic: a
target's `read_split` leaves zero entries out, and a split given to `set_split` never has any
(a target whose cloud wants every unit named adds the zeros itself). `percentages` turns relative
weights into such a split; every intermediate split is a `blend` of the start and the goal.

Resuming: a rollout an interrupted apply left half way (a new unit beside the old one of its
variant, the traffic between them) is resumed, not restarted, by passing the live split as
`start` and the new side's units as `resuming`: the traffic moves on from the live split in the
rollout's steps (each a blend of the live split and the goal), with their bakes, and a rollback
returns it to the live split. Telling which live units are the new side is the provider's part.

Time: bakes last rollout minutes of `minute` seconds (60; a sandbox may compress them), measured
and waited on a `Clock`. The default one is `time.monotonic` and `threading.Event.wait` on
`ctx.cancel`, so a bake ends as soon as the apply is cancelled; tests pass a clock whose waits
return at once.

Every hook may raise ProviderError. Another exception from `deploy`, `retire`, `set_split` or
`read_split` is a bug: it propagates as it is, without any rollback."""

from __future__ import annotations

import math
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from mlops_gitops.errors import ProviderError
from mlops_gitops.provider import ApplyContext

TOTAL = 100
Split = Mapping[str, int]

Unit = TypeVar("Unit")
Unit_contra = TypeVar("Unit_contra", contravariant=True)


# ---------------------------------------------------------------------------------- arithmetic
def percentages(weights: Mapping[str, float]) -> dict[str, int]:
    """Whole percentages summing to exactly 100, proportional to `weights` (same keys, same
    order), by the largest-remainder method: each share is rounded down, and the points left over
    go to the shares with the largest fractional parts (ties: the earlier key). ValueError if the
    weights do not add up to something positive."""
    total = sum(weights.values())
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError(f"weights must be non-negative with a positive sum, got {dict(weights)}")
    # Rounded to 9 places first, so that 80/100 computed as 79.99999999 still floors to 80.
    exact = {k: round(w * TOTAL / total, 9) for k, w in weights.items()}
    shares = {k: math.floor(v) for k, v in exact.items()}
    left = TOTAL - sum(shares.values())
    order = list(weights)
    by_remainder = sorted(order, key=lambda k: (-(exact[k] - shares[k]), order.index(k)))
    for k in by_remainder[:left]:
        shares[k] += 1
    return shares


def blend(start: Split, end: Split, fraction: float) -> dict[str, int]:
    """The split `fraction` of the way from `start` to `end` (both summing to 100), without the
    units that get nothing."""
    keys = list(start) + [k for k in end if k not in start]
    weights = {k: (1 - fraction) * start.get(k, 0) + fraction * end.get(k, 0) for k in keys}
    return {k: v for k, v in percentages(weights).items() if v > 0}


# ---------------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class Step:
    """Move `fraction` of the way to the goal, then watch the rollback signal for `wait_minutes`."""

    fraction: float
    wait_minutes: float


@dataclass(frozen=True)
class Shift:
    """A planned step: set `split`, then bake for `wait_minutes`."""

    split: dict[str, int]
    wait_minutes: float


Settings = Mapping[str, Any] | BaseModel | None


def _settings(rollout: Settings) -> dict[str, Any]:
    """The rollout settings as a dict: an endpoint's `rollout` attribute, or the stack's model."""
    if isinstance(rollout, BaseModel):
        return rollout.model_dump(exclude_none=True)
    return dict(rollout or {})


def steps(rollout: Settings) -> list[Step]:
    """The steps of a rollout (the stack's `rollout` settings, as a model or a dict of its
    fields; None means all at once, without a bake).

    Every step but a canary's last is followed by a bake (a canary's by `bake_minutes`, a linear
    step's by `interval_minutes`, else `bake_minutes`), and the last step additionally by
    `termination_wait_minutes`, after which the old units are retired."""
    r = _settings(rollout)
    bake = float(r.get("bake_minutes", 0))
    strategy = r.get("strategy", "all_at_once")
    if strategy == "canary":
        out = [Step(r["canary_percent"] / TOTAL, bake), Step(1.0, 0.0)]
    elif strategy == "linear":
        step = r["step_percent"]
        interval = float(r.get("interval_minutes") or bake)
        out = [Step(p / TOTAL, interval) for p in range(step, TOTAL, step)] + [Step(1.0, interval)]
    else:
        out = [Step(1.0, bake)]
    last = out[-1]
    out[-1] = Step(1.0, last.wait_minutes + float(r.get("termination_wait_minutes", 0)))
    return out


def plan(rollout: Settings, start: Split, goal: Split) -> list[Shift]:
    """The splits a rollout goes through from `start` to `goal`, each with its bake; none when the
    endpoint serves the goal already. A step whose split rounds to the one before it is kept
    (its bake still passes), so the plan always has the rollout's number of steps."""
    if dict(start) == dict(goal):
        return []
    return [Shift(blend(start, goal, s.fraction), s.wait_minutes) for s in steps(rollout)]


# ---------------------------------------------------------------------------------- the target
class TrafficTarget(Protocol[Unit_contra]):
    """An endpoint as the driver sees it. `Unit_contra` is what the provider deploys a unit from
    (e.g. a variant's attributes). Subclass it to inherit `health` and `label`; the rest must be
    implemented. Every call may raise ProviderError."""

    name: str  # the endpoint in messages, e.g. "endpoint fraud-api"
    units: str  # its units in messages, plural, e.g. "deployed models"

    @abstractmethod
    def deploy(self, key: str, unit: Unit_contra) -> str:
        """Deploy `unit` beside the endpoint's units, taking no traffic (or, on an endpoint
        serving nothing, whatever the cloud insists on); return its id once it can serve."""

    @abstractmethod
    def retire(self, unit_id: str) -> None:
        """Remove a unit. It takes no traffic, except on the rollback of a first deployment, where
        the last unit retired holds all the endpoint serves. A unit already gone is no error."""

    @abstractmethod
    def set_split(self, split: Split) -> None:
        """Make `split` the endpoint's whole traffic split; return once it is in effect, raise
        ProviderError if the cloud refused it."""

    @abstractmethod
    def read_split(self) -> Split:
        """The endpoint's traffic split as it serves it now, without zero entries."""

    def health(self, split: Split, rolling: Sequence[str]) -> str | None:
        """A reason to roll back while `split` is served and `rolling` (the units being rolled out)
        take their share, or None. Called after each step and during its bake."""
        return None

    def label(self, unit_id: str) -> str:
        """How messages name a unit."""
        return unit_id


@dataclass
class Change(Generic[Unit]):
    """One change of an endpoint's units and split (see the module docstring)."""

    start: Split  # the split served when the change began, as read with its units
    # The split wanted: given, or computed from the new units' ids by their `deploy` keys.
    goal: Split | Callable[[Mapping[str, str]], Split]
    deploy: Mapping[str, Unit] = field(default_factory=dict)  # key -> unit to deploy without traffic
    retire: Sequence[str] = ()  # units the goal no longer uses, retired once it is reached
    resuming: Sequence[str] = ()  # live units a half-done rollout of this change gave some traffic


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def wait(self, cancel: threading.Event, seconds: float) -> bool:
        """Wait `seconds`, or less if `cancel` is set meanwhile; whether it is set."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def wait(self, cancel: threading.Event, seconds: float) -> bool:
        return cancel.wait(seconds)


class _RollBack(Exception):
    """The rollback signal fired; the message is why."""


# ---------------------------------------------------------------------------------- the driver
class TrafficDriver(Generic[Unit]):
    """Runs a `Change` on a `TrafficTarget` following the rollout settings (see the module
    docstring). `minute` is the seconds in a rollout minute, `report_every` the seconds between
    checks of the rollback signal (each with a progress message) during a bake."""

    def __init__(
        self,
        target: TrafficTarget[Unit],
        ctx: ApplyContext,
        rollout: Settings,
        *,
        clock: Clock | None = None,
        minute: float = 60.0,
        report_every: float = 15.0,
    ) -> None:
        self.target = target
        self.ctx = ctx
        self.rollout = _settings(rollout)
        self.clock = clock or SystemClock()
        self.minute = minute
        self.report_every = report_every

    def run(self, change: Change[Unit]) -> dict[str, str]:
        """Deploy, shift, retire; the new units' ids by their keys."""
        start = dict(change.start)
        if change.resuming:
            shown = ", ".join(self.target.label(u) for u in change.resuming)
            self.ctx.progress(f"resuming the rollout of {shown} from the live split {self._show(start)}")
        new: dict[str, str] = {}
        try:
            for key, unit in change.deploy.items():
                if self.ctx.cancel.is_set():
                    raise ProviderError(f"the apply was cancelled before deploying {key}", code="Cancelled")
                new[key] = self.target.deploy(key, unit)
            if not change.start and new:
                start = dict(self.target.read_split())
        except ProviderError as exc:
            removed = self._removed(self._retire_all(list(new.values())), f"The {self.target.units}")
            raise ProviderError(
                f"{self.target.name}: {exc}. {removed}; the endpoint serves as before.",
                code=exc.code,
            ) from exc
        goal = change.goal(new) if callable(change.goal) else change.goal
        goal = {u: p for u, p in goal.items() if p > 0}
        rolling = [*new.values(), *change.resuming]
        # Steps protect the traffic that units already proven were serving: with nothing rolled
        # out, or nothing served before, there is nothing to bake.
        gradual = bool(rolling) and bool(change.start)
        shifts = plan(self.rollout if gradual else None, start, goal)
        if shifts:
            self._shift(start, shifts, list(new.values()), rolling)
        for unit_id in change.retire:
            self.target.retire(unit_id)
        return new

    # ---- shift ---------------------------------------------------------------------------------
    def _shift(self, start: Split, shifts: list[Shift], new: list[str], rolling: list[str]) -> None:
        timeout = self.rollout.get("timeout_minutes")
        deadline = self.clock.now() + timeout * self.minute if timeout else None
        current = dict(start)
        for number, shift in enumerate(shifts, 1):
            try:
                if self.ctx.cancel.is_set():
                    raise _RollBack("the apply was cancelled")
                if shift.split != current:
                    self.target.set_split(shift.split)
                    current = shift.split
                self.ctx.progress(f"step {number}/{len(shifts)}: traffic {self._show(shift.split)}")
                self._bake(shift, rolling, deadline)
            except (ProviderError, _RollBack) as exc:
                self._roll_back(start, new, f"step {number} of {len(shifts)}: {exc}")

    def _bake(self, shift: Shift, rolling: list[str], deadline: float | None) -> None:
        """Check the rollback signal now, then every `report_every` seconds until the bake ends."""
        end = self.clock.now() + shift.wait_minutes * self.minute
        while True:
            self._check(shift.split, rolling)
            now = self.clock.now()
            if deadline is not None and now >= deadline:
                raise _RollBack("the rollout took longer than its timeout_minutes")
            left = end - now
            if left <= 0:
                return
            pause = min(left, self.report_every)
            if deadline is not None:
                pause = min(pause, deadline - now)  # so that the timeout fires when it is due
            if self.clock.wait(self.ctx.cancel, pause):
                raise _RollBack("the apply was cancelled")
            remaining = max(0.0, end - self.clock.now())
            self.ctx.progress(f"watching traffic {self._show(shift.split)}: {remaining:.0f}s left")

    def _check(self, split: Split, rolling: list[str]) -> None:
        live = dict(self.target.read_split())
        if live != dict(split):
            gone = [self.target.label(u) for u in split if u not in live]
            lost = f", without {', '.join(gone)}" if gone else ""
            raise _RollBack(f"the traffic split changed outside this rollout, to {self._show(live)}{lost}")
        try:
            problem = self.target.health(dict(split), list(rolling))
        except Exception as exc:  # a broken check must not leave the rollout half way
            raise _RollBack(f"health check failed: {type(exc).__name__}: {exc}") from exc
        if problem:
            raise _RollBack(f"health check: {problem}")

    def _roll_back(self, start: Split, new: list[str], reason: str) -> None:
        try:
            if dict(self.target.read_split()) != dict(start):
                self.target.set_split(start)
        except ProviderError as exc:
            raise ProviderError(
                f"{self.target.name}: the rollout failed at {reason}, and restoring the previous "
                f"traffic split ({self._show(start)}) failed too: {exc}. Run plan to see what the "
                "endpoint serves now.",
                code="RollbackFailed",
            ) from exc
        failures = self._retire_all(new)
        removed = f" {self._removed(failures, f'The {self.target.units}')}." if new else ""
        raise ProviderError(
            f"{self.target.name}: the rollout was rolled back at {reason}. Traffic is back on the "
            f"previous split ({self._show(start)}): the endpoint serves as before.{removed}",
            code="RolledBack",
        )

    # ---- helpers -------------------------------------------------------------------------------
    def _retire_all(self, unit_ids: list[str]) -> list[str]:
        """Retire `unit_ids`, best effort; the messages of those that failed. Newest first: on an
        endpoint that served nothing before, the first one holds the traffic and may only go once
        it is the last."""
        failures = []
        for unit_id in reversed(unit_ids):
            try:
                self.target.retire(unit_id)
            except ProviderError as exc:
                failures.append(str(exc))
        return failures

    @staticmethod
    def _removed(failures: list[str], units: str) -> str:
        """What became of `units`, those this change deployed, retired with `failures`."""
        done = f"{units} made for this change were removed"
        return f"{done}, but for {len(failures)}: {'; '.join(failures)}" if failures else done

    def _show(self, split: Split) -> str:
        return ", ".join(f"{self.target.label(u)}={p}%" for u, p in split.items()) or "none"
