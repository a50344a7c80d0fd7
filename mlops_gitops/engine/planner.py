"""Refresh, then diff desired against actual: the plan. I/O happens only through provider.read."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlops_gitops import paths
from mlops_gitops.engine import diff
from mlops_gitops.engine.plan import (
    DeposedChange,
    Mode,
    Move,
    OutputChange,
    Plan,
    Reason,
    ReplaceOrder,
    ResourceChange,
    Risk,
    reason_text,
)
from mlops_gitops.errors import MlopsError, StackError
from mlops_gitops.kinds import KINDS
from mlops_gitops.provider import UNKNOWN
from mlops_gitops.review import risks as review_risks
from mlops_gitops.stack import retire
from mlops_gitops.state.model import StateDoc, utc_now
from mlops_gitops.workspace import RETIRED_AT, Workspace

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


def apply_moves(state: StateDoc, moved: Iterable[tuple[str, str]]) -> list[Move]:
    """Move resources in `state` (in memory) as the stack's `moved:` blocks say. A move whose
    old address is not in state was done by an earlier apply (or never had anything to move);
    one whose new address is already taken is an error, as it would merge two objects."""
    done: list[Move] = []
    for old, new in moved:
        rs = state.get(old)
        if rs is None:
            continue
        if state.get(new) is not None:
            raise StackError(
                f"moved: {old} -> {new}: state holds both addresses; remove one of them from state "
                f"(mlops state rm ...) or drop this moved block"
            )
        state.remove(old)
        name = new.partition(".")[2]
        state.put(type(rs).model_validate({**rs.model_dump(), "address": new, "name": name}))
        # Dependencies recorded by others name the old address: follow the move.
        for other in state.resources.values():
            other.dependencies = [new if d == old else d for d in other.dependencies]
        done.append(Move(old, new))
    return done


def make_plan(
    ws: Workspace,
    state: StateDoc,
    *,
    mode: Mode = "normal",
    targets: list[str] | None = None,
    refreshed: Refreshed | None = None,
    parallelism: int = 10,
    allow_downtime: bool = False,
    moves: list[Move] | None = None,
    resolutions: Mapping[str, Mapping[str, Any]] | None = None,
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
        environment=stack.environment,
        targets=targets,
        moves=list(moves or []),
    )
    plan.warnings = [str(w) for w in ws.warnings]
    plan.drift = _serving(ws, _drift(ws, state, refreshed))
    if mode == "refresh-only":
        return plan

    planned: dict[str, dict[str, Any]] = {}  # address -> planned attributes, for references
    for addr in state.addresses():
        if refreshed.get(addr) is not None:
            planned[addr] = refreshed[addr]  # type: ignore[assignment]

    if mode == "normal":
        for addr in stack.order:
            res = stack.resources[addr]
            rs = state.get(addr)
            prior = refreshed.get(addr)
            rtype = provider.kinds[res.kind]
            retired = retire.retirement_of(res)
            if retired is not None and (rs is None or prior is None):
                continue  # retired before it was ever made (or gone since): nothing to do
            resolved = _resolution(ws, res, planned, prior, (resolutions or {}).get(addr))
            if retired is not None:
                resolved = {**resolved, RETIRED_AT: _retired_at(rs, prior, resolved)}
            desired = ws.desired(res, planned, prior, resolved)
            tainted = rs is not None and rs.status == "tainted" and prior is not None
            failed = rtype.failed(prior)
            decision = diff.decide(
                rtype,
                prior,
                desired,
                ignore_changes=res.spec.lifecycle.ignore_changes,  # type: ignore[attr-defined]
                sensitive=sensitive_paths(res, rs),
                tainted=failed is not None or (tainted and not _healthy_as_asked(rtype, prior, desired)),
            )
            in_scope = scope is None or addr in scope
            if not in_scope:
                continue
            planned[addr] = decision.after
            action, reason, detail = decision.action, Reason.NONE, {}
            interrupted = rs.pending if rs is not None and prior is not None else None
            if rs is not None and prior is None and rs.pending is not None:
                # A delete-first replacement killed between its delete and its create.
                reason = Reason.INTERRUPTED
                detail = {"action": rs.pending.get("action"), "since": rs.pending.get("since")}
            elif rs is not None and prior is None:
                reason = Reason.NEVER_CREATED if rs.status == "tainted" else Reason.DELETED_OUTSIDE
            elif failed is not None:
                reason, detail = Reason.FAILED_IN_CLOUD, {"status": failed}
            elif action == "replace" and tainted:
                reason = Reason.TAINTED
            elif interrupted is not None:
                reason = Reason.INTERRUPTED
                detail = {"action": interrupted.get("action"), "since": interrupted.get("since")}
                if action == "noop":
                    action = "update"
            elif rs is not None and rs.rolled_back and action != "noop":
                reason = Reason.ROLLED_BACK
                detail = {"by": rs.rolled_back.get("by"), "at": rs.rolled_back.get("at")}
            elif tainted and action == "noop":
                # Its creation finished after all (the apply was killed while waiting): keep
                # it, record it healthy, and clean up what the attempt may have left.
                reason = Reason.TAINTED_BUT_HEALTHY
                action = "update"
            retirement = None
            if retired is not None and action == "replace":
                forced = ", ".join(c.path for c in decision.changes if c.forces_replacement)
                raise StackError(
                    f"{addr}: it is retired, and this plan would also replace it (changed: {forced}): "
                    "retire it as it was applied, and make the new version a model of its own"
                )
            if retired is not None and rs is not None and rs.retired is None:
                action, reason = "retire", Reason.RETIRING
                detail = {"reason": retired.reason, "by": retired.by}
                retirement = {
                    "reason": retired.reason,
                    "by": retired.by,
                    "at": resolved[RETIRED_AT],
                    "archive": retired.archive,
                }
            elif reason == Reason.NONE and action != "noop" and addr in stack.retirements.because:
                reason, detail = Reason.RETIRED_WITH, {"retired": stack.retirements.because[addr]}
            if action == "replace" and res.spec.lifecycle.prevent_destroy:  # type: ignore[attr-defined]
                forced = ", ".join(c.path for c in decision.changes if c.forces_replacement)
                why = f"changed: {forced}" if forced else reason_text(reason, detail)
                raise StackError(
                    f"{addr}: lifecycle.prevent_destroy is set, but this plan would replace it ({why})"
                )
            change = ResourceChange(
                address=addr,
                kind=res.kind,
                name=res.name,
                provider=stack.provider,
                action=action,
                before=prior,
                after=decision.after,
                changes=decision.changes,
                reason_code=reason,
                reason_detail=detail,
                depends_on=list(res.depends_on),
                sensitive_paths=sensitive_paths(res, rs),
                notes=provider.notes(res.kind, decision.after) if action != "noop" else [],
                replace_order=_replace_order(rtype) if action == "replace" else None,
                resolved=resolved,
                tags=res.tags,
                retirement=retirement,
            )
            # A tainted (half-made) or failed object serves nothing: replacing it costs no traffic.
            downtime = action == "replace" and rtype.serving and not rtype.create_before_destroy
            if downtime and failed is None and not tainted and not allow_downtime:
                forced = ", ".join(c.path for c in decision.changes if c.forces_replacement) or reason
                raise StackError(
                    f"{addr}: this plan would replace a serving endpoint by deleting it first "
                    f"(changed: {forced}), so it would serve nothing until the new one is up; "
                    "re-run with --allow-downtime to accept that, or give the new endpoint "
                    "another name and move traffic to it"
                )
            plan.changes.append(change)

    plan.changes.extend(_deletes(ws, state, refreshed, mode, scope))
    plan.changes = _retired_last(plan.changes)
    _serving(ws, plan.changes)
    plan.retirements = _retirements(ws, plan.changes)
    plan.deposed = _deposed(ws, state, scope)
    plan.risks = _risks(ws, state, plan, destroying=mode == "destroy")
    plan.outputs = _outputs(ws, state, planned, mode)
    plan.cost = _cost(ws, plan.changes)
    return plan


def _cost(ws: Workspace, changes: list[ResourceChange]) -> dict[str, Any] | None:
    from mlops_gitops.cost.plan import plan_cost

    return plan_cost(ws, changes)


def sensitive_paths(res: Any, rs: Any) -> list[str]:
    """The paths to hide for a resource: what the stack marks sensitive now, and what was
    sensitive when state last recorded it (a value that was a secret stays one in its diff)."""
    out = set(res.sensitive_paths) if res is not None else set()
    if rs is not None:
        out.update(rs.sensitive_paths)
    return sorted(out)


def _replace_order(rtype: Any) -> ReplaceOrder:
    return "create_before_destroy" if rtype.create_before_destroy else "delete_before_create"


def _resolution(
    ws: Workspace,
    res: Any,
    planned: Mapping[str, Mapping[str, Any]],
    prior: Mapping[str, Any] | None,
    recorded: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """What the provider's lookups find for `res`: as a saved plan recorded them, when it
    recorded them complete (its reviewer saw those), else looked up now."""
    if recorded is not None and not any(v is UNKNOWN for _p, v in paths.leaves(recorded)):
        return dict(recorded)
    return ws.resolution(res, planned, prior)


def _healthy_as_asked(rtype: Any, prior: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> bool:
    """A tainted resource whose object the refresh found complete, not failed, and exactly as
    the stack asks: its creation finished after all (e.g. the apply was killed while waiting),
    so replacing it would only cause downtime."""
    if prior is None or rtype.failed(prior) is not None:
        return False
    return not diff.decide(rtype, prior, desired).changes


def _drift(ws: Workspace, state: StateDoc, refreshed: Refreshed) -> list[ResourceChange]:
    out = []
    for addr in state.addresses():
        rs = state.get(addr)
        assert rs is not None
        if addr not in refreshed or rs.kind not in ws.provider.kinds:
            continue
        if rs.status == "tainted":
            continue  # a half-made object: the plan below says what becomes of it
        actual = refreshed[addr]
        rtype = ws.provider.kinds[rs.kind]
        sensitive = sensitive_paths(ws.stack.resources.get(addr), rs)
        outside, detail = Reason.CHANGED_OUTSIDE, {}
        if rs.pending is not None:
            outside, detail = Reason.INTERRUPTED_OUTSIDE, {"since": rs.pending.get("since")}
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
                    reason_code=Reason.DELETED_OUTSIDE if rs.pending is None else outside,
                    reason_detail={} if rs.pending is None else detail,
                    sensitive_paths=sensitive,
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
                    reason_code=outside,
                    reason_detail=detail,
                    sensitive_paths=sensitive,
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
        retiring = ws.stack.retirements.retired.get(addr)
        retired_with = ws.stack.retirements.because.get(addr) if mode != "destroy" else None
        res = ws.stack.resources.get(addr) or (retiring.resource if retiring else None)
        if res is not None and res.spec.lifecycle.prevent_destroy:  # type: ignore[attr-defined]
            raise StackError(f"{addr}: lifecycle.prevent_destroy is set, but this plan would destroy it")
        if res is None and rs.protected and retired_with is not None:
            raise StackError(
                f"{addr}: it was applied with lifecycle.prevent_destroy, and retiring {retired_with} "
                "removes it; apply it with prevent_destroy: false first"
            )
        if res is None and rs.protected:
            raise StackError(
                f"{addr}: it was applied with lifecycle.prevent_destroy, and this plan would destroy "
                "it because it left the stack; if it was renamed, add a moved block "
                f"(moved: [{{from: {addr}, to: <new address>}}]); to really destroy it, apply it "
                "with prevent_destroy: false first"
            )
        actual = refreshed.get(addr, rs.attributes)
        if actual is None and (rs.status == "tainted" or rs.pending is not None):
            # Its object is gone, or was never made, but a failed or interrupted apply may have
            # left what it checkpointed on the way (a config, a sub-object): the provider's
            # delete of the recorded attributes removes those.
            actual, reason = rs.attributes, Reason.LEFTOVERS
        elif actual is None:
            # Already gone in the cloud: nothing to call, but state must forget it.
            reason = Reason.ALREADY_DELETED
        elif mode == "destroy":
            reason = Reason.NONE
        elif retired_with is not None:
            reason = Reason.RETIRED_WITH
        else:
            reason = Reason.REMOVED_FROM_STACK
        sensitive = sensitive_paths(res, rs)
        action: Any = "delete"
        detail: dict[str, Any] = {"retired": retired_with} if reason == Reason.RETIRED_WITH else {}
        retirement = None
        if retiring is not None and mode != "destroy" and reason != Reason.ALREADY_DELETED:
            action, reason = "retire", Reason.RETIRING
            detail = {"reason": retiring.reason, "by": retiring.by}
            at = rs.retired.get("at") if rs.retired else None
            retirement = {
                "reason": retiring.reason,
                "by": retiring.by,
                "at": at or utc_now(),
                "archive": False,
            }
        out.append(
            ResourceChange(
                addr,
                rs.kind,
                rs.name,
                rs.provider,
                action,
                actual,
                None,
                diff.compare(actual, None, sensitive=sensitive),
                reason_code=reason,
                reason_detail=detail,
                depends_on=list(rs.dependencies),
                sensitive_paths=sensitive,
                retirement=retirement,
            )
        )
    return out


def _retired_last(changes: list[ResourceChange]) -> list[ResourceChange]:
    """The changes in apply order with each retired model after what its retirement changes
    (its variants taken off, its monitors deleted), as apply carries it out."""
    retiring = {c.address for c in changes if c.action == "retire" and c.after is not None}
    if not retiring:
        return changes
    out = [c for c in changes if c.address not in retiring]
    for c in (c for c in changes if c.address in retiring):
        after = [i for i, o in enumerate(out) if o.reason_detail.get("retired") == c.address]
        out.insert(max(after) + 1 if after else len(out), c)
    return out


def _retired_at(rs: Any, prior: Mapping[str, Any] | None, resolved: Mapping[str, Any]) -> str:
    """When a retirement was first applied: as a saved plan or state recorded it, as the cloud's
    tag says (an apply killed before it recorded the retirement), else now."""
    if resolved.get(RETIRED_AT):
        return str(resolved[RETIRED_AT])
    if rs is not None and rs.retired and rs.retired.get("at"):
        return str(rs.retired["at"])
    tags = (prior or {}).get("tags")
    if isinstance(tags, Mapping) and isinstance(tags.get(retire.TAG_AT), str):
        return str(tags[retire.TAG_AT])
    return utc_now()


def _retirements(ws: Workspace, changes: list[ResourceChange]) -> list[dict[str, Any]]:
    """The plan's retirements in ML terms, from the changes that carry them out."""
    by_address = {c.address: c for c in changes}
    out = []
    for c in changes:
        if c.action != "retire" or c.retirement is None:
            continue
        r = ws.stack.retirements.retired.get(c.address)
        stops = []
        for endpoint, variant in r.stops_serving if r else []:
            ec = by_address.get(endpoint)
            before = ((ec.serving or {}).get("before") or {}) if ec else {}
            share = next((v for v in before.get("variants") or [] if v.get("name") == variant), None)
            stops.append(
                {
                    "endpoint": endpoint,
                    "variant": variant,
                    "traffic_percent": share.get("traffic_percent") if share else None,
                    "mirror_percent": share.get("mirror_percent") if share else None,
                }
            )
        if c.kind == "endpoint" and c.serving and c.serving.get("before"):
            for v in c.serving["before"].get("variants") or []:
                stops.append(
                    {
                        "endpoint": c.address,
                        "variant": v.get("name"),
                        "traffic_percent": v.get("traffic_percent"),
                        "mirror_percent": v.get("mirror_percent"),
                    }
                )
        # Archived: the provider changes more than the tags (an approval, an alias, a stage);
        # a model with nothing to archive (not registered) is only tagged.
        archived = bool(c.retirement.get("archive")) and any(
            not c2.path.startswith(("tags", "labels")) for c2 in c.changes
        )
        c.retirement["archived"] = archived  # for the history's record of it
        goes = [a for a in (r.removed if r else []) if a in by_address and by_address[a].action == "delete"]
        changed = [a for a in (r.changed if r else []) if a in by_address and by_address[a].action != "noop"]
        out.append(
            {
                "address": c.address,
                "kind": c.kind,
                "name": c.name,
                **c.retirement,
                "stops_serving": stops,
                "removes": goes,
                "changes": changed,
                # A model's artifact and registration stay; only an endpoint's object goes.
                "artifacts_kept": c.kind != "endpoint",
                "archived": archived,
            }
        )
    return out


def _deposed(ws: Workspace, state: StateDoc, scope: set[str] | None) -> list[DeposedChange]:
    """Objects replaced earlier that still exist: pending work even when nothing else changes
    (the same live object recorded twice is only forgotten, see the applier)."""
    out = []
    for addr, rs in state.resources.items():
        if not rs.deposed or (scope is not None and addr not in scope) or rs.kind not in ws.provider.kinds:
            continue
        id_field = ws.provider.kinds[rs.kind].id_field
        live = rs.attributes.get(id_field)
        sensitive = sensitive_paths(ws.stack.resources.get(addr), rs)
        for old in rs.deposed:
            object_id = str(old.get(id_field, "?"))
            if live is not None and old.get(id_field) == live:
                continue
            out.append(DeposedChange(addr, rs.kind, object_id, dict(old), sensitive))
    return out


def _serving(ws: Workspace, changes: list[ResourceChange]) -> list[ResourceChange]:
    """Record what each endpoint of the plan serves before and after, in the stack's terms (an
    unchanged one too: the cost of the stack as a whole counts it)."""
    for c in changes:
        rtype = ws.provider.kinds.get(c.kind)
        if rtype is None or not rtype.serving:
            continue
        c.serving = {
            "before": ws.provider.serving(c.kind, c.before),
            "after": ws.provider.serving(c.kind, c.after),
        }
    return changes


def _risks(ws: Workspace, state: StateDoc, plan: Plan, *, destroying: bool) -> list[Risk]:
    """The changes a reviewer must not miss, kind-neutral ones first, then the provider's."""
    out: list[Risk] = []
    for c in plan.changes:
        if c.action == "noop" or c.kind not in ws.provider.kinds:
            continue
        rtype = ws.provider.kinds[c.kind]
        suggest = (
            f"; to keep its record, mark it retired instead ({KINDS[c.kind].section}.{c.name}.retired: "
            "{reason: ..., by: ...})"
            if c.reason_code == Reason.REMOVED_FROM_STACK and "retired" in _features(c.kind)
            else ""
        )
        if rtype.serving and c.before is not None and c.reason_code != Reason.LEFTOVERS:
            if c.action == "delete":
                out.append(
                    Risk(
                        c.address,
                        f"destroys serving {c.kind} {c.name}: its traffic stops{suggest}",
                        code="serving_destroyed",
                    )
                )
            elif c.action == "retire":
                out.append(
                    Risk(
                        c.address,
                        f"retires serving {c.kind} {c.name}: it is deleted and its traffic stops",
                        code="serving_retired",
                    )
                )
            elif (
                c.action == "replace"
                and c.replace_order == "delete_before_create"
                and c.reason_code != Reason.TAINTED
            ):
                why = c.reason or "a field forces replacement"
                out.append(
                    Risk(
                        c.address,
                        f"replaces {c.kind} {c.name} by deleting it first ({why})",
                        code="serving_replaced",
                        detail={"replace_order": c.replace_order},
                    )
                )
        if c.kind == "model" and c.action == "delete" and suggest and c.before is not None:
            out.append(
                Risk(
                    c.address,
                    f"destroys model {c.name}: the stack stops managing it, and nothing here can "
                    f"deploy it or roll back to it any more{suggest}",
                    code="model_destroyed",
                )
            )
        out.extend(review_risks.for_change(ws, state, c, destroying=destroying))
        for message in ws.provider.risks(c.kind, c.action, c.before, c.after, destroying=destroying):
            out.append(Risk(c.address, message))
    for m in plan.moves:
        rs = state.get(m.to)
        if rs is not None and rs.pending is not None:
            message = f"moved from {m.from_} while a change of it was interrupted"
            out.append(Risk(m.to, message, code="moved_interrupted"))
    return out


def _features(kind: str) -> set[str]:
    from mlops_gitops.features import FEATURES

    return {f.path for f in FEATURES.get(kind, ())}


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


def output_is_sensitive(value: Any, hidden: Mapping[str, Iterable[str]]) -> bool:
    """Whether an output's value shows (part of) an attribute that is sensitive; `hidden` maps
    addresses to their sensitive paths."""
    from mlops_gitops import paths

    if isinstance(value, dict):
        return any(output_is_sensitive(v, hidden) for v in value.values())
    if isinstance(value, list):
        return any(output_is_sensitive(v, hidden) for v in value)
    if not isinstance(value, str):
        return False
    for m in _OUTPUT_REF.finditer(value):
        secret = tuple(hidden.get(f"{m.group(1)}.{m.group(2)}", ()))
        attr = m.group(3)
        if secret and (paths.matches_any(secret, attr) or any(paths.matches(attr, p) for p in secret)):
            return True
    return False


def _outputs(
    ws: Workspace, state: StateDoc, planned: Mapping[str, Mapping[str, Any]], mode: Mode
) -> list[OutputChange]:
    out = []
    secret = {
        a: sensitive_paths(ws.stack.resources.get(a), state.get(a))
        for a in {*ws.stack.resources, *state.addresses()}
    }
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
        hidden = spec.sensitive or output_is_sensitive(spec.value, secret)
        if old is None:
            action = "create"
        elif after is UNKNOWN or after != before:
            action = "update"
        else:
            action = "noop"
        out.append(OutputChange(name, action, before, after, hidden))  # type: ignore[arg-type]
    return out
