"""Refresh, then diff desired against actual: the plan. I/O happens only through provider.read."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlops_gitops.engine import diff
from mlops_gitops.engine.plan import Mode, OutputChange, Plan, ResourceChange
from mlops_gitops.errors import MlopsError, StackError
from mlops_gitops.provider import UNKNOWN
from mlops_gitops.state.model import StateDoc
from mlops_gitops.workspace import Workspace

# `${kind.name.attr}`, but not the escaped `$${...}` (which stands for a literal `${...}`).
_OUTPUT_REF = re.compile(r"(?<!\$)\$\{([a-z]+)\.([a-z0-9-]+)\.([A-Za-z0-9_.\[\]-]+)\}")
Refreshed = dict[str, dict[str, Any] | None]


class RefreshError(MlopsError):
    pass


def refresh(
    ws: Workspace,
    state: StateDoc,
    addresses: Iterable[str],
    *,
    parallelism: int = 10,
) -> Refreshed:
    """Read every given resource from the cloud, `parallelism` at a time."""
    todo = [a for a in addresses if state.get(a) is not None]

    def read(address: str) -> tuple[str, dict[str, Any] | None]:
        rs = state.get(address)
        assert rs is not None
        return address, ws.provider.read(rs.kind, rs.attributes)

    out: Refreshed = {}
    errors: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        futures = [pool.submit(read, a) for a in todo]
        for fut in futures:
            try:
                addr, attrs = fut.result()
                out[addr] = attrs
            except MlopsError as exc:
                errors.append(f"{todo[futures.index(fut)]}: {exc}")
    if errors:
        raise RefreshError("refreshing state failed:\n  " + "\n  ".join(errors))
    return out


def target_closure(ws: Workspace, state: StateDoc, targets: list[str], *, destroy: bool) -> set[str]:
    """A target brings its dependencies along (or, when destroying, what depends on it)."""
    known = set(ws.stack.resources) | set(state.addresses())
    for t in targets:
        if t not in known:
            from mlops_gitops.stack.suggest import did_you_mean

            raise StackError(f"--target {t}: no resource with that address{did_you_mean(t, known)}")
    deps: dict[str, set[str]] = {a: set(r.depends_on) for a, r in ws.stack.resources.items()}
    for a in state.addresses():
        rs = state.get(a)
        assert rs is not None
        deps.setdefault(a, set()).update(rs.dependencies)
    if destroy:  # invert: walk to dependents
        inverted: dict[str, set[str]] = {a: set() for a in deps}
        for a, ds in deps.items():
            for d in ds:
                inverted.setdefault(d, set()).add(a)
        deps = inverted
    seen: set[str] = set()
    stack = list(targets)
    while stack:
        a = stack.pop()
        if a not in seen:
            seen.add(a)
            stack.extend(deps.get(a, ()))
    return seen


def make_plan(
    ws: Workspace,
    state: StateDoc,
    *,
    mode: Mode = "normal",
    targets: list[str] | None = None,
    refreshed: Refreshed | None = None,
    parallelism: int = 10,
) -> Plan:
    stack, provider = ws.stack, ws.provider
    targets = list(targets or [])
    scope = target_closure(ws, state, targets, destroy=mode == "destroy") if targets else None
    if refreshed is None:
        refreshed = refresh(ws, state, state.addresses(), parallelism=parallelism)

    plan = Plan(
        stack=stack.name,
        stack_path=stack.path,
        stack_digest=stack.digest,
        provider=stack.provider,
        lineage=state.lineage,
        serial=state.serial,
        mode=mode,
        targets=targets,
    )
    plan.warnings = [str(w) for w in ws.warnings]
    plan.drift = _drift(ws, state, refreshed)
    if mode == "refresh-only":
        return plan

    planned: dict[str, dict[str, Any]] = {}  # address -> planned attributes, for references
    for addr in state.addresses():
        if refreshed.get(addr) is not None:
            planned[addr] = refreshed[addr]  # type: ignore[assignment]

    if mode == "normal":
        for addr in stack.order:
            res = stack.resources[addr]
            prior = refreshed.get(addr)
            rs = state.get(addr)
            desired = provider.desired(res, ws.settings.get(addr), planned, prior)
            rtype = provider.kinds[res.kind]
            decision = diff.decide(
                rtype,
                prior,
                desired,
                ignore_changes=res.spec.lifecycle.ignore_changes,  # type: ignore[attr-defined]
                sensitive=sorted(res.sensitive_paths),
                tainted=rs is not None and rs.status == "tainted" and prior is not None,
            )
            in_scope = scope is None or addr in scope
            if not in_scope:
                continue
            planned[addr] = decision.after
            reason = ""
            if rs is not None and prior is None:
                reason = "deleted outside mlops"
            elif decision.action == "replace" and rs is not None and rs.status == "tainted":
                reason = "tainted: a previous apply failed part way"
            elif rs is not None and rs.rolled_back and decision.action != "noop":
                rb = rs.rolled_back
                reason = f"rolled back by {rb.get('by')} at {rb.get('at')}; the stack still asks for this"
            if decision.action == "replace" and res.spec.lifecycle.prevent_destroy:  # type: ignore[attr-defined]
                raise StackError(
                    f"{addr}: lifecycle.prevent_destroy is set, but this plan would replace it "
                    f"(changed: {', '.join(c.path for c in decision.changes if c.forces_replacement)})"
                )
            plan.changes.append(
                ResourceChange(
                    address=addr,
                    kind=res.kind,
                    name=res.name,
                    provider=stack.provider,
                    action=decision.action,
                    before=prior,
                    after=decision.after,
                    changes=decision.changes,
                    reason=reason,
                    depends_on=list(res.depends_on),
                    sensitive_paths=sorted(res.sensitive_paths),
                    notes=provider.notes(res.kind, decision.after) if decision.action != "noop" else [],
                )
            )

    plan.changes.extend(_deletes(ws, state, refreshed, mode, scope))
    plan.outputs = _outputs(ws, state, planned, mode)
    return plan


def _drift(ws: Workspace, state: StateDoc, refreshed: Refreshed) -> list[ResourceChange]:
    out = []
    for addr in state.addresses():
        rs = state.get(addr)
        assert rs is not None
        if addr not in refreshed or rs.kind not in ws.provider.kinds:
            continue
        actual = refreshed[addr]
        rtype = ws.provider.kinds[rs.kind]
        res = ws.stack.resources.get(addr)
        sensitive = sorted(res.sensitive_paths) if res else []
        if actual is None:
            out.append(
                ResourceChange(
                    addr,
                    rs.kind,
                    rs.name,
                    rs.provider,
                    "delete",
                    rs.attributes,
                    None,
                    diff.compare(rs.attributes, None, sensitive=sensitive),
                    reason="deleted outside mlops",
                )
            )
            continue
        changes = diff.drift(rtype, rs.attributes, actual, sensitive)
        if changes:
            out.append(
                ResourceChange(
                    addr,
                    rs.kind,
                    rs.name,
                    rs.provider,
                    "update",
                    rs.attributes,
                    actual,
                    changes,
                    reason="changed outside mlops",
                )
            )
    return out


def _deletes(
    ws: Workspace, state: StateDoc, refreshed: Refreshed, mode: Mode, scope: set[str] | None
) -> list[ResourceChange]:
    """Deletions in reverse dependency order: dependents go first."""
    doomed = [
        a
        for a in state.addresses()
        if (mode == "destroy" or a not in ws.stack.resources) and (scope is None or a in scope)
    ]
    order = _reverse_dependency_order(state, doomed)
    out = []
    for addr in order:
        rs = state.get(addr)
        assert rs is not None
        res = ws.stack.resources.get(addr)
        if res is not None and res.spec.lifecycle.prevent_destroy:  # type: ignore[attr-defined]
            raise StackError(f"{addr}: lifecycle.prevent_destroy is set, but this plan would destroy it")
        actual = refreshed.get(addr, rs.attributes)
        if actual is None:
            # Already gone in the cloud: nothing to call, but state must forget it.
            reason = "already deleted outside mlops: only state changes"
        elif mode == "destroy":
            reason = ""
        else:
            reason = "removed from the stack"
        out.append(
            ResourceChange(
                addr,
                rs.kind,
                rs.name,
                rs.provider,
                "delete",
                actual,
                None,
                diff.compare(actual, None),
                reason=reason,
                depends_on=list(rs.dependencies),
            )
        )
    return out


def _reverse_dependency_order(state: StateDoc, addresses: list[str]) -> list[str]:
    from graphlib import TopologicalSorter

    chosen = set(addresses)
    graph: dict[str, set[str]] = {a: set() for a in addresses}
    for a in addresses:
        rs = state.get(a)
        assert rs is not None
        for d in rs.dependencies:
            if d in chosen:
                graph[d].add(a)  # d must wait for its dependent a to go first
    return list(TopologicalSorter(graph).static_order())


def evaluate_output(value: Any, attributes: Mapping[str, Mapping[str, Any] | None]) -> Any:
    """Substitute `${kind.name.attr}` references; UNKNOWN if any is not known yet."""
    from mlops_gitops import paths

    if isinstance(value, dict):
        return {k: evaluate_output(v, attributes) for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate_output(v, attributes) for v in value]
    if not isinstance(value, str):
        return value
    whole = _OUTPUT_REF.fullmatch(value)

    def lookup(m: re.Match[str]) -> Any:
        attrs = attributes.get(f"{m.group(1)}.{m.group(2)}")
        return UNKNOWN if attrs is None else paths.get(attrs, m.group(3), UNKNOWN)

    if whole:
        return lookup(whole)
    parts = [lookup(m) for m in _OUTPUT_REF.finditer(value)]
    if any(p is UNKNOWN for p in parts):
        return UNKNOWN
    return _OUTPUT_REF.sub(lambda m: str(lookup(m)), value).replace("$${", "${")


def _outputs(
    ws: Workspace, state: StateDoc, planned: Mapping[str, Mapping[str, Any]], mode: Mode
) -> list[OutputChange]:
    out = []
    names = list(ws.stack.outputs) + [n for n in state.outputs if n not in ws.stack.outputs]
    for name in names:
        old = state.outputs.get(name)
        before = old["value"] if old else None
        spec = ws.stack.outputs.get(name)
        if spec is None or mode == "destroy":
            if old is not None:
                out.append(OutputChange(name, "delete", before, None, bool(old.get("sensitive"))))
            continue
        after = evaluate_output(spec.value, planned)
        if old is None:
            action = "create"
        elif after is UNKNOWN or after != before:
            action = "update"
        else:
            action = "noop"
        out.append(OutputChange(name, action, before, after, spec.sensitive))  # type: ignore[arg-type]
    return out
