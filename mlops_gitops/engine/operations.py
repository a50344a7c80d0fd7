"""The plan-then-apply sequence shared by the CLI and the test kit: lock, read state, refresh,
plan; then apply and release. Kept here so both drive exactly the same code."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_gitops.engine.applier import Applier, ApplyEvent, ApplyResult
from mlops_gitops.engine.plan import Mode, Plan
from mlops_gitops.engine.planner import apply_moves, make_plan, refresh
from mlops_gitops.errors import LockInfo, StateError
from mlops_gitops.state.backend import StateBackend
from mlops_gitops.state.model import StateDoc
from mlops_gitops.workspace import Workspace


@dataclass
class Planned:
    ws: Workspace
    backend: StateBackend
    lock: LockInfo
    state: StateDoc
    refreshed: dict[str, dict[str, Any] | None]
    plan: Plan

    def apply(
        self, *, parallelism: int = 10, on_event: Callable[[ApplyEvent], None] | None = None
    ) -> ApplyResult:
        return Applier(
            self.ws,
            self.backend,
            self.state,
            self.plan,
            parallelism=parallelism,
            on_event=on_event,
            refreshed=self.refreshed,
        ).run()

    def release(self) -> None:
        self.backend.unlock(self.lock.id)


def plan_locked(
    ws: Workspace,
    backend: StateBackend,
    *,
    mode: Mode = "normal",
    targets: list[str] | None = None,
    parallelism: int = 10,
    operation: str = "plan",
    allow_downtime: bool = False,
    resolutions: Mapping[str, Mapping[str, Any]] | None = None,
) -> Planned:
    """Take the state lock and plan. The caller must `release()` (also after apply).

    The stack's `moved:` blocks are applied to the state read here (in memory): the plan and
    the refresh see resources at their new addresses, and an apply writes the moves."""
    lock = backend.lock(operation)
    try:
        state = backend.read() or StateDoc.new(ws.stack.name)
        if state.stack != ws.stack.name:
            raise StateError(
                f"{backend.location} holds the state of stack {state.stack!r}, not {ws.stack.name!r}"
            )
        moves = apply_moves(state, ws.stack.moved)
        refreshed = refresh(ws, state, state.addresses(), parallelism=parallelism)
        plan = make_plan(
            ws,
            state,
            mode=mode,
            targets=targets,
            refreshed=refreshed,
            parallelism=parallelism,
            allow_downtime=allow_downtime,
            moves=moves,
            resolutions=resolutions,
        )
    except BaseException:
        backend.unlock(lock.id)
        raise
    return Planned(ws, backend, lock, state, refreshed, plan)


@dataclass
class StandaloneContext:
    """The ApplyContext for a single provider operation outside a plan (e.g. `mlops rollback`):
    progress goes to a callback; checkpoints are kept for the caller to record."""

    stack: str
    address: str
    on_progress: Callable[[str, float], None] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    destroying: bool = False
    checkpointed: dict[str, Any] | None = None
    started: float = field(default_factory=time.monotonic)

    def checkpoint(self, attributes: Mapping[str, Any]) -> None:
        self.checkpointed = dict(attributes)

    def progress(self, message: str) -> None:
        if self.on_progress:
            self.on_progress(message, time.monotonic() - self.started)
