"""Apply a plan: walk the dependency graph, independent branches in parallel, checkpointing state
after every resource. The first failure stops new work; work in flight finishes; state records
exactly what exists. Nothing here prints: progress goes to an event callback."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from mlops_gitops.engine import diff
from mlops_gitops.engine.plan import Plan, ResourceChange
from mlops_gitops.engine.planner import evaluate_output
from mlops_gitops.errors import MlopsError, ProviderError
from mlops_gitops.provider import UNKNOWN
from mlops_gitops.state.backend import StateBackend
from mlops_gitops.state.model import ResourceState, StateDoc
from mlops_gitops.workspace import Workspace


@dataclass
class ApplyEvent:
    address: str
    action: str  # create | update | replace | delete | destroy-deposed
    phase: str  # start | progress | done | error
    message: str = ""
    elapsed: float = 0.0


@dataclass
class ApplyResult:
    done: list[tuple[str, str]] = field(default_factory=list)  # (address, action)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (address, message)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _Node:
    key: str
    change: ResourceChange
    step: str  # apply | delete | destroy-deposed
    deps: set[str] = field(default_factory=set)


class _Context:
    """The ApplyContext a provider sees for one resource."""

    def __init__(self, applier: Applier, node: _Node) -> None:
        self.stack = applier.ws.stack.name
        self.address = node.change.address
        self.cancel = applier.cancel
        self._applier = applier
        self._node = node
        self._started = time.monotonic()
        self.checkpointed: dict[str, Any] | None = None

    def checkpoint(self, attributes: Mapping[str, Any]) -> None:
        self.checkpointed = dict(attributes)
        self._applier._record_partial(self._node, self.checkpointed)

    def progress(self, message: str) -> None:
        self._applier._emit(self._node, "progress", message, time.monotonic() - self._started)


class Applier:
    def __init__(
        self,
        ws: Workspace,
        backend: StateBackend,
        state: StateDoc,
        plan: Plan,
        *,
        parallelism: int = 10,
        on_event: Callable[[ApplyEvent], None] | None = None,
        refreshed: Mapping[str, dict[str, Any] | None] | None = None,
    ) -> None:
        self.ws = ws
        self.backend = backend
        self.state = state
        self.plan = plan
        self.parallelism = max(1, parallelism)
        self.on_event = on_event
        self.cancel = threading.Event()
        self._lock = threading.RLock()
        self._refreshed = refreshed or {}

    # ---------------------------------------------------------------- public
    def run(self) -> ApplyResult:
        result = ApplyResult()
        if self.plan.mode == "refresh-only":
            self._accept_refresh()
            self._save()
            return result
        self._accept_refresh(only_existing=True)
        nodes = self._graph()
        pending = dict(nodes)
        running: dict[Future[None], _Node] = {}
        finished: set[str] = set()
        with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
            while pending or running:
                if not self.cancel.is_set():
                    ready = [n for n in pending.values() if n.deps <= finished]
                    for node in ready[: self.parallelism - len(running)]:
                        del pending[node.key]
                        running[pool.submit(self._run_node, node)] = node
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    node = running.pop(fut)
                    exc = fut.exception()
                    if exc is None:
                        finished.add(node.key)
                        result.done.append(
                            (node.change.address, node.step if node.step != "apply" else node.change.action)
                        )
                    else:
                        self.cancel.set()
                        msg = str(exc) if isinstance(exc, MlopsError) else f"{type(exc).__name__}: {exc}"
                        result.errors.append((node.change.address, msg))
                        self._emit(node, "error", msg)
        if not result.errors:
            self._update_outputs()
        self._save()
        return result

    # ---------------------------------------------------------------- graph
    def _graph(self) -> dict[str, _Node]:
        nodes: dict[str, _Node] = {}
        by_addr = {c.address: c for c in self.plan.changes}
        for c in self.plan.changes:
            if c.action in ("create", "update", "replace"):
                nodes[f"apply:{c.address}"] = _Node(f"apply:{c.address}", c, "apply")
            elif c.action == "delete":
                nodes[f"delete:{c.address}"] = _Node(f"delete:{c.address}", c, "delete")
            if c.action == "replace" and self._cbd(c):
                nodes[f"deposed:{c.address}"] = _Node(f"deposed:{c.address}", c, "destroy-deposed")
        for addr, rs in self.state.resources.items():
            # Deposed objects left by an earlier failed replacement are deleted too.
            if rs.deposed and f"deposed:{addr}" not in nodes and (addr in by_addr or not self.plan.targets):
                change = by_addr.get(addr) or ResourceChange(
                    addr, rs.kind, rs.name, rs.provider, "noop", rs.attributes, rs.attributes
                )
                nodes[f"deposed:{addr}"] = _Node(f"deposed:{addr}", change, "destroy-deposed")

        # What depends on what, in the stack (desired) and in state (recorded).
        dependents: dict[str, set[str]] = {}
        for a, res in self.ws.stack.resources.items():
            for d in res.depends_on:
                dependents.setdefault(d, set()).add(a)
        for a, rs in self.state.resources.items():
            for d in rs.dependencies:
                dependents.setdefault(d, set()).add(a)

        for node in nodes.values():
            addr = node.change.address
            if node.step == "apply":
                node.deps = {f"apply:{d}" for d in node.change.depends_on if f"apply:{d}" in nodes}
                if not self._cbd(node.change):
                    # Destroy-then-create: what used the old object must be off it first.
                    node.deps |= {k for d in dependents.get(addr, ()) for k in (f"delete:{d}",) if k in nodes}
            else:
                # delete / destroy-deposed: after every dependent moved off or went away.
                node.deps = {
                    k
                    for d in dependents.get(addr, ())
                    for k in (f"apply:{d}", f"delete:{d}", f"deposed:{d}")
                    if k in nodes and k != node.key
                }
                if node.step == "destroy-deposed" and f"apply:{addr}" in nodes:
                    node.deps.add(f"apply:{addr}")
        return nodes

    def _cbd(self, change: ResourceChange) -> bool:
        return self.ws.provider.kinds[change.kind].create_before_destroy

    # ---------------------------------------------------------------- steps
    def _run_node(self, node: _Node) -> None:
        ctx = _Context(self, node)
        action = node.change.action if node.step == "apply" else node.step
        self._emit(node, "start", action)
        try:
            if node.step == "delete":
                self._delete(node, ctx)
            elif node.step == "destroy-deposed":
                self._destroy_deposed(node, ctx)
            else:
                self._apply(node, ctx)
        except BaseException:
            self._reconcile_after_failure(node, ctx)
            raise
        self._emit(node, "done", action, time.monotonic() - ctx._started)

    def _refs(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {a: copy.deepcopy(rs.attributes) for a, rs in self.state.resources.items()}

    def _apply(self, node: _Node, ctx: _Context) -> None:
        c = node.change
        res = self.ws.stack.resources[c.address]
        provider = self.ws.provider
        rtype = provider.kinds[c.kind]
        with self._lock:
            rs = self.state.get(c.address)
            prior = (
                copy.deepcopy(rs.attributes)
                if rs is not None and c.reason != "deleted outside mlops"
                else None
            )
        desired = provider.desired(res, self.ws.settings.get(c.address), self._refs(), prior)
        decision = diff.decide(
            rtype,
            prior,
            desired,
            ignore_changes=res.spec.lifecycle.ignore_changes,  # type: ignore[attr-defined]
            tainted=c.action == "replace",
        )
        after = decision.after
        if c.action == "update" and prior is not None:
            attrs = provider.update(c.kind, prior, after, ctx)
        elif c.action == "replace" and prior is not None and not rtype.create_before_destroy:
            provider.delete(c.kind, prior, ctx)
            with self._lock:
                self.state.remove(c.address)
                self._save()
            attrs = provider.create(c.kind, after, ctx)
        else:
            attrs = provider.create(c.kind, after, ctx)
        with self._lock:
            old = self.state.get(c.address)
            # The live object must never be deleted as deposed: a checkpoint of it may sit there
            # (see _record_partial), or the provider re-adopted a deposed object with the same
            # identity (a change reverted before the replaced object was cleaned up).
            live = attrs.get(rtype.id_field)
            deposed = [
                d
                for d in (old.deposed if old is not None else [])
                if d != ctx.checkpointed and (live is None or d.get(rtype.id_field) != live)
            ]
            if c.action == "replace" and rtype.create_before_destroy and prior is not None:
                deposed.append(prior)
            self._put(c, attrs, status="ok", deposed=deposed)
        self._verify(c, rtype, after, attrs)

    def _verify(
        self, c: ResourceChange, rtype: Any, wanted: Mapping[str, Any], got: Mapping[str, Any]
    ) -> None:
        """A cloud that silently ignored part of a change is an error, not a success."""
        mismatches = [
            ch
            for ch in diff.compare(got, wanted, skip=rtype.computed + rtype.not_drift)
            if ch.after is not UNKNOWN
        ]
        if mismatches:
            detail = "; ".join(
                f"{m.path}: wanted {m.after!r}, cloud has {m.before!r}" for m in mismatches[:5]
            )
            raise ProviderError(f"the cloud accepted the {c.action} but reads back differently: {detail}")

    def _delete(self, node: _Node, ctx: _Context) -> None:
        c = node.change
        with self._lock:
            rs = self.state.get(c.address)
        if rs is not None and c.before is not None:
            self.ws.provider.delete(c.kind, rs.attributes, ctx)
        for old in list(rs.deposed) if rs is not None else []:
            self.ws.provider.delete(c.kind, old, ctx)
        with self._lock:
            self.state.remove(c.address)
            self._save()

    def _destroy_deposed(self, node: _Node, ctx: _Context) -> None:
        addr = node.change.address
        with self._lock:
            rs = self.state.get(addr)
            olds = list(rs.deposed) if rs is not None else []
        id_field = self.ws.provider.kinds[node.change.kind].id_field
        live = rs.attributes.get(id_field) if rs is not None else None
        for old in olds:
            # The same cloud object as the live one is only forgotten, never deleted.
            if live is None or old.get(id_field) != live:
                self.ws.provider.delete(node.change.kind, old, ctx)
            with self._lock:
                rs = self.state.get(addr)
                if rs is not None and old in rs.deposed:
                    rs.deposed.remove(old)
                self._save()

    # ---------------------------------------------------------------- state
    def _put(
        self,
        c: ResourceChange,
        attrs: Mapping[str, Any],
        *,
        status: str,
        deposed: list[dict[str, Any]] | None = None,
    ) -> None:
        res = self.ws.stack.resources.get(c.address)
        existing = self.state.get(c.address)
        if existing is None:
            existing = ResourceState(
                address=c.address,
                kind=c.kind,
                name=c.name,
                provider=c.provider,
                attributes={},
                dependencies=[],
            )
        existing.record(dict(attrs))
        existing.status = status  # type: ignore[assignment]
        existing.rolled_back = None  # the stack's configuration is what runs now
        existing.dependencies = list(res.depends_on) if res else existing.dependencies
        if deposed is not None:
            existing.deposed = deposed
        self.state.put(existing)
        self._save()

    def _record_partial(self, node: _Node, attrs: dict[str, Any]) -> None:
        """A provider checkpoint: a half-created resource is recorded tainted, so the next plan
        replaces it (and its delete cleans up whatever was made)."""
        with self._lock:
            existing = self.state.get(node.change.address)
            if node.step == "apply" and (existing is None or node.change.action == "replace"):
                if existing is not None and node.change.action == "replace" and self._cbd(node.change):
                    # The old object is still live: keep it, record the new one as deposed-to-be.
                    existing.deposed = (
                        [*existing.deposed, attrs] if attrs not in existing.deposed else existing.deposed
                    )
                    self.state.put(existing)
                    self._save()
                    return
                self._put(node.change, attrs, status="tainted")
            elif existing is not None:
                existing.attributes = {**existing.attributes, **attrs}
                self.state.put(existing)
                self._save()

    def _reconcile_after_failure(self, node: _Node, ctx: _Context) -> None:
        """After a failed step, record what really exists: read the resource back."""
        c = node.change
        with self._lock:
            rs = self.state.get(c.address)
        if rs is None or node.step != "apply" or c.action == "create":
            return
        try:
            actual = self.ws.provider.read(c.kind, rs.attributes)
        except MlopsError:
            return  # keep what we have: better the last known truth than a guess
        with self._lock:
            if actual is None:
                self.state.remove(c.address)
            else:
                rs.attributes = actual
                self.state.put(rs)
            self._save()

    def _accept_refresh(self, *, only_existing: bool = False) -> None:
        with self._lock:
            for addr, attrs in self._refreshed.items():
                rs = self.state.get(addr)
                if rs is None:
                    continue
                if attrs is None:
                    if not only_existing:
                        self.state.remove(addr)
                else:
                    rs.attributes = attrs
                    self.state.put(rs)

    def _update_outputs(self) -> None:
        with self._lock:
            attrs = {a: rs.attributes for a, rs in self.state.resources.items()}
            outs: dict[str, Any] = {}
            if self.plan.mode != "destroy":
                for name, spec in self.ws.stack.outputs.items():
                    value = evaluate_output(spec.value, attrs)
                    outs[name] = {"value": None if value is UNKNOWN else value, "sensitive": spec.sensitive}
            self.state.outputs = outs

    def _save(self) -> None:
        with self._lock:
            self.backend.write(self.state)

    def _emit(self, node: _Node, phase: str, message: str = "", elapsed: float = 0.0) -> None:
        if self.on_event:
            action = node.change.action if node.step == "apply" else node.step
            self.on_event(ApplyEvent(node.change.address, action, phase, message, elapsed))
