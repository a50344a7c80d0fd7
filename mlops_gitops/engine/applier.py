"""Apply a plan: walk the dependency graph, independent branches in parallel, checkpointing state
after every resource. The first failure stops new work; work in flight finishes (it is not told
to stop: an endpoint half way to InService is worth waiting for) and is recorded as it ends;
state records exactly what exists. An interrupt (Ctrl-C) is the one thing that stops waiting.
Before a resource changes, state records that the change began (`pending`), so a killed apply
is recognised and finished by the next one. Nothing here prints: progress goes to an event
callback."""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from mlops_gitops import paths
from mlops_gitops.engine import diff
from mlops_gitops.engine.plan import Plan, Reason, ResourceChange
from mlops_gitops.engine.planner import evaluate_output, output_is_sensitive
from mlops_gitops.errors import MlopsError, ProviderError, StateError
from mlops_gitops.provider import UNKNOWN
from mlops_gitops.stack import retire
from mlops_gitops.state import history
from mlops_gitops.state.backend import StateBackend
from mlops_gitops.state.model import ResourceState, StateDoc, utc_now
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
    was_retired: bool = False  # state recorded it retired when its step began


class _SlotEvent:
    """The cancel event a provider sees. Providers wait on it between polls (an endpoint on its
    way to InService, a retry's backoff): the wait gives up the step's parallelism slot, so a
    step that only waits lets another one work. `--parallelism` bounds the cloud work in flight,
    not the number of objects being waited for."""

    def __init__(self, event: threading.Event, slots: threading.Semaphore) -> None:
        self._event = event
        self._slots = slots

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._event.is_set():
            return True
        if timeout is not None and timeout <= 0:
            return False  # a poll, not a wait: the slot stays
        self._slots.release()
        try:
            return self._event.wait(timeout)
        finally:
            self._slots.acquire()


class _Context:
    """The ApplyContext a provider sees for one resource."""

    def __init__(self, applier: Applier, node: _Node) -> None:
        self.stack = applier.ws.stack.name
        self.address = node.change.address
        self.cancel = _SlotEvent(applier.cancel, applier._slots)
        self.destroying = applier.plan.mode == "destroy"
        self._applier = applier
        self._node = node
        self._started = time.monotonic()
        self.checkpointed: dict[str, Any] | None = None

    def checkpoint(self, attributes: Mapping[str, Any]) -> None:
        self.checkpointed = dict(attributes)
        self._applier._record_partial(self._node, self.checkpointed)

    def progress(self, message: str) -> None:
        self._applier._emit(self._node, "progress", message, time.monotonic() - self._started)


class _StateLock:
    """The lock around the in-memory state, which also decides when state is written.

    `Applier._save()` inside a locked section only marks the state as to be written; the write
    happens when the thread leaves its outermost locked section, so it never waits on I/O while
    holding the lock. Writes are grouped: the thread that finds no write in progress writes the
    state as it is then, which carries every change marked before it, and the threads whose
    marks it carried stop waiting. A thread still returns only once what it marked is stored, as
    if it had written it itself; with N resources in flight, one write serves up to N of them
    instead of N writes of the whole document."""

    def __init__(self, applier: Applier) -> None:
        self.raw = threading.RLock()
        self._applier = applier
        self._local = threading.local()

    @property
    def depth(self) -> int:
        return getattr(self._local, "depth", 0)

    def __enter__(self) -> _StateLock:
        self.raw.acquire()
        self._local.depth = self.depth + 1
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._local.depth -= 1
        self.raw.release()
        if self._local.depth == 0:
            gen = getattr(self._local, "marked", 0)
            if gen:
                self._local.marked = 0
                if exc is None:
                    self._applier._flush(gen)
                else:
                    # The section's own error is the one to report; the state is still stored.
                    with contextlib.suppress(Exception):
                        self._applier._flush(gen)

    def mark(self, gen: int) -> None:
        self._local.marked = max(gen, getattr(self._local, "marked", 0))


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
        self.cancel = threading.Event()  # set on interrupt only
        self._failed = threading.Event()  # a resource failed: start nothing new
        # Steps working on the cloud at once (see _SlotEvent); more threads than that, so that
        # steps that only wait do not keep the others from starting.
        self._slots = threading.Semaphore(self.parallelism)
        self._threads = min(max(self.parallelism * 10, 32), 256)
        self._lock = _StateLock(self)
        self._io = threading.Condition()
        self._marked = 0  # state changes marked to be written (see _StateLock), by count
        self._stored = 0  # the last of those a write has stored
        self._writing = False
        self._refreshed = refreshed or {}
        self._actor = history.actor()
        self._source = history.source()

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
        running: dict[Future[bool], _Node] = {}
        finished: set[str] = set()
        interrupted: BaseException | None = None
        with ThreadPoolExecutor(max_workers=self._threads) as pool:
            while pending or running:
                if not self._failed.is_set() and not self.cancel.is_set():
                    ready = [n for n in pending.values() if n.deps <= finished]
                    for node in ready[: self._threads - len(running)]:
                        del pending[node.key]
                        running[pool.submit(self._run_node, node)] = node
                if not running:
                    break
                try:
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                except KeyboardInterrupt as exc:
                    # Tell the work in flight to stop waiting; it records what it made, and the
                    # loop goes on collecting it before the interrupt is passed on.
                    interrupted = exc
                    self.cancel.set()
                    continue
                for fut in done:
                    node = running.pop(fut)
                    exc = fut.exception()
                    if exc is None and fut.result() is False:
                        continue  # not started: a failure or an interrupt came first
                    if exc is None:
                        finished.add(node.key)
                        result.done.append(
                            (node.change.address, node.step if node.step != "apply" else node.change.action)
                        )
                    else:
                        self._failed.set()
                        msg = str(exc) if isinstance(exc, MlopsError) else f"{type(exc).__name__}: {exc}"
                        result.errors.append((node.change.address, msg))
                        self._emit(node, "error", msg)
        if not result.errors and interrupted is None:
            self._update_outputs()
        self._save()
        if interrupted is not None:
            raise interrupted
        return result

    # ---------------------------------------------------------------- graph
    def _graph(self) -> dict[str, _Node]:
        nodes: dict[str, _Node] = {}
        by_addr = {c.address: c for c in self.plan.changes}
        for c in self.plan.changes:
            if c.action in ("create", "update", "replace") or (c.action == "retire" and c.after is not None):
                nodes[f"apply:{c.address}"] = _Node(f"apply:{c.address}", c, "apply")
            elif c.action in ("delete", "retire"):
                nodes[f"delete:{c.address}"] = _Node(f"delete:{c.address}", c, "delete")
            if c.action == "replace" and self._cbd(c):
                nodes[f"deposed:{c.address}"] = _Node(f"deposed:{c.address}", c, "destroy-deposed")
        for addr, rs in self.state.resources.items():
            # Deposed objects left by an earlier failed replacement are deleted too.
            # (A resource being deleted deletes its deposed objects in its own step.)
            deleting = f"delete:{addr}" in nodes
            if (
                rs.deposed
                and not deleting
                and f"deposed:{addr}" not in nodes
                and (addr in by_addr or not self.plan.targets)
            ):
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
            if node.change.action == "retire":
                # What is retired is archived (or deleted) last: once nothing serves it and
                # nothing watches it any more.
                node.deps |= {
                    n.key
                    for n in nodes.values()
                    if n.change.reason_code == Reason.RETIRED_WITH
                    and n.change.reason_detail.get("retired") == addr
                    and n.key != node.key
                }
        self._serve_before_destroy(nodes)
        return nodes

    def _serve_before_destroy(self, nodes: dict[str, _Node]) -> None:
        """A serving resource (an endpoint) that leaves the stack is deleted only once the ones
        being created or changed beside it are done: with a rename, the new endpoint is InService
        before the old one goes, whatever else the graph would allow. Skipped for an apply that
        itself waits on that delete (directly or through others), which would be a cycle."""
        kinds = self.ws.provider.kinds
        serving = {k for k, t in kinds.items() if t.serving}
        if not serving:
            return
        applies = [n for n in nodes.values() if n.step == "apply" and n.change.kind in serving]
        deletes = [n for n in nodes.values() if n.step == "delete" and n.change.kind in serving]
        for d in deletes:
            for a in applies:
                if not self._reaches(nodes, a.key, d.key):
                    d.deps.add(a.key)

    @staticmethod
    def _reaches(nodes: dict[str, _Node], start: str, goal: str) -> bool:
        """Whether `start` waits on `goal`, directly or through other nodes."""
        seen: set[str] = set()
        todo = [start]
        while todo:
            key = todo.pop()
            if key == goal:
                return True
            if key in seen or key not in nodes:
                continue
            seen.add(key)
            todo.extend(nodes[key].deps)
        return False

    def _cbd(self, change: ResourceChange) -> bool:
        """Whether a replacement creates the new object first: as the plan decided."""
        if change.replace_order is not None:
            return change.replace_order == "create_before_destroy"
        return self.ws.provider.kinds[change.kind].create_before_destroy

    # ---------------------------------------------------------------- steps
    def _run_node(self, node: _Node) -> bool:
        """Run the node's step once a parallelism slot is free; False if it was not started
        (something failed, or apply was interrupted, while it waited for the slot)."""
        with self._slots:
            if self._failed.is_set() or self.cancel.is_set():
                return False
            try:
                self._step(node)
            except BaseException:
                self._failed.set()  # before the slot is free: no step waiting for it may start
                raise
        return True

    def _step(self, node: _Node) -> None:
        ctx = _Context(self, node)
        action = node.change.action if node.step == "apply" else node.step
        with self._lock:
            recorded = self.state.get(node.change.address)
            node.was_retired = recorded is not None and recorded.retired is not None
        self._emit(node, "start", action)
        self._begin(node, action)
        try:
            if node.step == "delete":
                self._delete(node, ctx)
            elif node.step == "destroy-deposed":
                self._destroy_deposed(node, ctx)
            else:
                self._apply(node, ctx)
        except BaseException as exc:
            self._reconcile_after_failure(node, ctx)
            self._record_event(node, exc)
            raise
        self._emit(node, "done", action, time.monotonic() - ctx._started)

    def _begin(self, node: _Node, action: str) -> None:
        """Write ahead that a change of a recorded resource begins. If the process is killed
        before it ends, the next plan finds this record and finishes the change; the attributes
        recorded before the first interrupted attempt are kept (they name what it replaced)."""
        if node.step == "destroy-deposed":
            return
        with self._lock:
            rs = self.state.get(node.change.address)
            if rs is None:
                return
            earlier = rs.pending or {}
            rs.pending = {
                "action": action,
                "since": earlier.get("since") or utc_now(),
                "recorded": earlier.get("recorded") or copy.deepcopy(rs.attributes),
            }
            self._save()

    def _refs(self) -> Mapping[str, Mapping[str, Any]]:
        """The recorded attributes of other resources, for `desired`: each copied when read (a
        resource reads its few dependencies, not the whole state)."""
        return _Refs(self)

    def _apply(self, node: _Node, ctx: _Context) -> None:
        c = node.change
        res = self.ws.stack.resources[c.address]
        provider = self.ws.provider
        rtype = provider.kinds[c.kind]
        with self._lock:
            rs = self.state.get(c.address)
            prior = copy.deepcopy(rs.attributes) if rs is not None and c.before is not None else None
            interrupted = copy.deepcopy(rs.pending) if rs is not None and rs.pending else None
            if interrupted is None and rs is not None and rs.status == "tainted" and prior is not None:
                # A creation that finished after its apply died: clean up as a finished one would.
                interrupted = {"action": "create", "recorded": copy.deepcopy(prior)}
        refs = self._refs()
        resolved: Mapping[str, Any] = c.resolved
        if any(v is UNKNOWN for _p, v in paths.leaves(resolved)):
            # A lookup that depended on what this apply creates (a version a model of the stack
            # registers): made again now that it exists.
            resolved = {**self.ws.resolution(res, refs, prior), **_core_resolutions(c.resolved)}
        desired = self.ws.desired(res, refs, prior, resolved)
        decision = diff.decide(
            rtype,
            prior,
            desired,
            ignore_changes=res.spec.lifecycle.ignore_changes,  # type: ignore[attr-defined]
            tainted=c.action == "replace",
        )
        _check_as_planned(c, decision.after)
        after = _planned_after(c, decision.after)
        if c.action in ("update", "retire") and prior is not None:
            # No field change: only an interrupted change to finish, the object is as asked.
            attrs = provider.update(c.kind, prior, after, ctx) if decision.changes else prior
            recorded = (interrupted or {}).get("recorded")
            if isinstance(recorded, dict):
                provider.finish_interrupted(c.kind, recorded, attrs, ctx)
        elif c.action == "replace" and prior is not None and not self._cbd(c):
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
            if c.action == "replace" and self._cbd(c) and prior is not None:
                deposed.append(prior)
            self._put(c, attrs, status="ok", deposed=deposed, done=node)
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
            self._add_event(node)
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
        done: _Node | None = None,
    ) -> None:
        """Record `attrs` as what the resource is now; `done`: the step that finished, whose
        event goes into the history in the same write."""
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
        if status == "ok" and res is not None:
            # A retirement applied is kept (with when it was first applied); taken back, cleared.
            existing.retired = (
                {k: c.retirement[k] for k in ("reason", "by", "at")}
                if c.retirement is not None
                else existing.retired
                if retire.retirement_of(res) is not None
                else None
            )
        existing.rolled_back = None  # the stack's configuration is what runs now
        existing.dependencies = list(res.depends_on) if res else existing.dependencies
        if res is not None:
            existing.sensitive_paths = sorted(set(res.sensitive_paths) | set(existing.sensitive_paths))
            existing.protected = bool(res.spec.lifecycle.prevent_destroy)  # type: ignore[attr-defined]
        if status == "ok":
            existing.pending = None
        if deposed is not None:
            existing.deposed = deposed
        self.state.put(existing)
        if done is not None:
            self._add_event(done)
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
            if rs is not None and rs.pending is not None and not self.cancel.is_set():
                # The provider saw its own failure through and undid what it could: the change
                # is over, not interrupted. (An interrupt keeps the record for the next run.)
                rs.pending = None
                self._save()
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

    def _record_event(self, node: _Node, error: BaseException) -> None:
        """A failed step in the state's history (a finished one is recorded by the write that
        records its outcome: see `_add_event`)."""
        if isinstance(error, KeyboardInterrupt):
            return  # an interrupt is no outcome: the next apply finishes the change
        with self._lock:
            self._add_event(node, error)
            self._save()

    def _add_event(self, node: _Node, error: BaseException | None = None) -> None:
        """The step in the state's history (see state/history.py). Call with the lock held."""
        if node.step == "destroy-deposed" and error is None:
            return  # cleaning up a replacement: its own event says what changed
        c = node.change
        event, reason, detail = _event_of(c, node.step, self.ws, node.was_retired)
        if error is not None:
            message = str(error) if isinstance(error, MlopsError) else type(error).__name__
            event, detail = "failed", {**detail, "action": c.action, "error": message[:500]}
        self.state.add_event(
            history.Event(
                at=utc_now(),
                address=c.address,
                event=event,
                by=self._actor,
                reason=reason,
                detail=detail,
                source=self._source,
            )
        )

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
                secret = {a: rs.sensitive_paths for a, rs in self.state.resources.items()}
                for name, spec in self.ws.stack.outputs.items():
                    value = evaluate_output(spec.value, attrs)
                    hidden = spec.sensitive or output_is_sensitive(spec.value, secret)
                    outs[name] = {"value": None if value is UNKNOWN else value, "sensitive": hidden}
            self.state.outputs = outs

    def _save(self) -> None:
        """Store the state as it is now: at once outside a locked section, else when the
        thread leaves it (see _StateLock)."""
        with self._lock:
            self._marked += 1
            self._lock.mark(self._marked)

    def _flush(self, gen: int) -> None:
        """Return once the state changes marked up to `gen` are stored, writing them if no
        other thread is (a write stores every change marked before it starts)."""
        with self._io:
            while self._stored < gen:
                if not self._writing:
                    self._writing = True
                    break
                self._io.wait()
            else:
                return
        try:
            with self._lock.raw:
                target = self._marked
                snapshot = self.backend.render(self.state)
            # The I/O happens outside the lock: other resources' steps go on meanwhile.
            self.backend.store_rendered(snapshot)
            with self._lock.raw:
                self.state.serial = snapshot.serial
            self._stored = max(self._stored, target)
        finally:
            with self._io:
                self._writing = False
                self._io.notify_all()

    def _emit(self, node: _Node, phase: str, message: str = "", elapsed: float = 0.0) -> None:
        if self.on_event:
            action = node.change.action if node.step == "apply" else node.step
            self.on_event(ApplyEvent(node.change.address, action, phase, message, elapsed))


def _planned_after(change: ResourceChange, fresh: dict[str, Any]) -> dict[str, Any]:
    """What apply sends: the plan's `after`, its unknowns filled from `fresh` (the provider's
    attributes now that the references they wait for exist). `_check_as_planned` has already
    made sure the values the plan knew come out the same."""
    if change.after is None:
        return fresh
    after = copy.deepcopy(change.after)
    for path, value in list(paths.leaves(change.after)):
        if value is UNKNOWN:
            paths.set_(after, path, copy.deepcopy(paths.get(fresh, path, UNKNOWN)))
    return after


def _check_as_planned(change: ResourceChange, after: Mapping[str, Any]) -> None:
    """Apply does what the plan said, or nothing: every value the plan knew must come out the
    same now (a registry's `latest-approved` may have moved on since the plan was made). Values
    the plan left to be known after apply are free to be filled in."""
    planned = change.after
    if planned is None:
        return
    now = dict(paths.leaves(after))
    differ = []
    for path, value in paths.leaves(planned):
        if value is UNKNOWN or path not in now or now[path] is UNKNOWN:
            continue
        if now[path] != value:
            differ.append(path)
    if differ:
        hidden = set(change.sensitive_paths)

        def show(v: Any, path: str) -> str:
            return "(sensitive)" if paths.matches_any(hidden, path) else repr(v)

        detail = "; ".join(
            f"{p}: planned {show(paths.get(planned, p), p)}, now {show(now[p], p)}" for p in differ[:3]
        )
        raise StateError(
            f"the plan no longer holds ({detail}): what it was made from changed; run plan again"
        )


def _event_of(
    c: ResourceChange, step: str, ws: Workspace, was_retired: bool
) -> tuple[Any, str | None, dict[str, Any]]:
    """The history event a finished change makes: its name, why, and what it names."""
    serving = c.serving or {}
    detail: dict[str, Any] = {}
    reason = None
    if c.reason_code == Reason.RETIRED_WITH:
        reason = f"{c.reason_detail.get('retired')} retired"
    if c.action == "retire" and c.retirement is not None:
        detail = {
            "decided_by": c.retirement.get("by"),
            "archived": bool(c.retirement.get("archived")),
        }
        if serving.get("before"):
            detail["serving"] = history.serving_detail(serving.get("before"))
        return "retired", str(c.retirement.get("reason")), detail
    if step == "delete" or c.action == "delete":
        return "destroyed", reason, detail
    rtype = ws.provider.kinds.get(c.kind)
    if rtype is not None and rtype.serving:
        detail["serving"] = history.serving_detail(serving.get("after"))
        if c.action == "create" or c.before is None:
            return "deployed", reason, detail
        return history.endpoint_event(serving.get("before"), serving.get("after")), reason, detail
    res = ws.stack.resources.get(c.address)
    if was_retired and res is not None and retire.retirement_of(res) is None:
        return "unretired", reason, detail
    names = {"create": "created", "update": "updated", "replace": "replaced"}
    return names.get(c.action, "updated"), reason, detail  # type: ignore[return-value]


class _Refs(Mapping[str, Mapping[str, Any]]):
    """State's attributes by address, each deep-copied (under the state lock) when looked up."""

    def __init__(self, applier: Applier) -> None:
        self._applier = applier

    def __getitem__(self, address: str) -> Mapping[str, Any]:
        with self._applier._lock.raw:
            rs = self._applier.state.get(address)
            if rs is None:
                raise KeyError(address)
            return copy.deepcopy(rs.attributes)

    def __iter__(self) -> Iterator[str]:
        with self._applier._lock.raw:
            return iter(list(self._applier.state.resources))

    def __len__(self) -> int:
        return len(self._applier.state.resources)


def _core_resolutions(resolved: Mapping[str, Any]) -> dict[str, Any]:
    """The core's own entries of a plan's resolutions (kept when the provider's are redone)."""
    from mlops_gitops.workspace import RETIRED_AT

    return {RETIRED_AT: resolved[RETIRED_AT]} if RETIRED_AT in resolved else {}
