"""The risks of a change in ML terms, as the planner records them (`Risk.code`, see its docstring
for the list): traffic moved between variants, a model swapped behind a variant, capacity gone,
a model that is not approved, a rollout nothing can roll back, a monitor, alert or retraining
schedule removed or turned off, protection lifted.

Unlike the rest of this package, which reads the plan's document, these are computed when the
plan is made: they need the stack (a rollout's rollback alarms, a model's approval) and state
(what was protected). They read endpoints through their `serving` views, monitors and schedules
through the stack spec and the provider's `to_spec`, so they hold for every provider."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlops_gitops.engine.plan import Reason, ResourceChange, Risk
from mlops_gitops.serving import without_unknowns

if TYPE_CHECKING:
    from mlops_gitops.state.model import StateDoc
    from mlops_gitops.workspace import Workspace

APPROVED = ("approved",)  # approval statuses that count as approved, lowercased


def for_change(ws: Workspace, state: StateDoc, c: ResourceChange, *, destroying: bool) -> list[Risk]:
    """The ML-terms risks of one planned change (the destroyed/deleted-first endpoint ones are the
    planner's own)."""
    if c.action == "noop" or c.reason_code == Reason.LEFTOVERS:
        return []
    rtype = ws.provider.kinds.get(c.kind)
    res = ws.stack.resources.get(c.address)
    spec = res.spec if res is not None else None
    out: list[Risk] = []
    if rtype is not None and rtype.serving:
        if (
            c.action == "replace"
            and c.replace_order == "create_before_destroy"
            and c.before is not None
            and c.reason_code not in (Reason.TAINTED, Reason.FAILED_IN_CLOUD)
        ):
            out.append(
                Risk(
                    c.address,
                    f"replaces serving {c.kind} {c.name}: a new one is made and the old one deleted, "
                    "so what calls it by its identity must follow",
                    code="serving_replaced",
                    detail={"replace_order": c.replace_order},
                )
            )
        if c.action != "delete" and not destroying:
            out += _serving(c, spec, ws)
    if destroying:
        return out
    if c.reason_code == Reason.RETIRED_WITH and c.action == "delete":
        return out  # the plan's retirement names it: "monitor ... removed"
    if c.kind == "monitor":
        out += _monitor(ws, c, spec)
    elif c.kind == "schedule":
        out += _schedule(ws, c, spec)
    out += _protection(state, c, spec)
    return out


# ---------------------------------------------------------------------------------- endpoints
def _variants(view: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    if not isinstance(view, Mapping) or not isinstance(view.get("variants"), list):
        return {}
    return {str(v.get("name")): dict(v) for v in view["variants"] if isinstance(v, Mapping)}


def percent(value: Any) -> str:
    """90.0 -> "90%", 33.33 -> "33.33%", None -> "0%"."""
    number = float(value or 0)
    return f"{number:g}%"


def _serving(c: ResourceChange, spec: Any, ws: Workspace) -> list[Risk]:
    view = c.serving or {}
    before, after = _variants(view.get("before")), _variants(view.get("after"))
    if not after:
        return []
    out: list[Risk] = []
    shifted = False
    if before:
        names = list(before) + [n for n in after if n not in before]
        moves = []
        for name in names:
            b, a = before.get(name), after.get(name)
            move = {
                "variant": name,
                "from": None if b is None else b.get("traffic_percent"),
                "to": None if a is None else a.get("traffic_percent"),
                "mirror_from": None if b is None else b.get("mirror_percent"),
                "mirror_to": None if a is None else a.get("mirror_percent"),
            }
            moves.append(move)
        if any(
            (m["from"] is None) != (m["to"] is None)
            or (m["from"] or 0) != (m["to"] or 0)
            or (m["mirror_from"] or 0) != (m["mirror_to"] or 0)
            for m in moves
        ):
            shifted = True
            text = ", ".join(_move_text(m) for m in moves)
            out.append(
                Risk(c.address, f"shifts traffic: {text}", code="traffic_shift", detail={"variants": moves})
            )
        swaps = [
            {
                "variant": name,
                "from": before[name].get("model"),
                "to": after[name].get("model"),
                "traffic_percent": after[name].get("traffic_percent"),
            }
            for name in after
            if name in before and before[name].get("model") != after[name].get("model")
        ]
        if swaps:
            text = "; ".join(
                f"variant {s['variant']} ({_share(after[s['variant']])}) from {s['from']} to "
                f"{s['to'] or '(known after apply)'}"
                for s in swaps
            )
            out.append(
                Risk(
                    c.address, f"serves a new model: {text}", code="model_changed", detail={"variants": swaps}
                )
            )
        if (shifted or swaps) and not _rollback_signal(spec):
            strategy = getattr(getattr(spec, "rollout", None), "strategy", None)
            out.append(
                Risk(
                    c.address,
                    "rolls out with no rollback signal: no rollout.rollback_on alarm can roll it back "
                    "if the new fleet misbehaves",
                    code="rollout_without_rollback",
                    detail={"strategy": strategy},
                )
            )
    out += _capacity(c, before, after)
    out += _unapproved(c, spec, ws, before, after)
    return out


def _share(variant: Mapping[str, Any]) -> str:
    if variant.get("mirror_percent"):
        return f"mirrors {percent(variant['mirror_percent'])}"
    return f"{percent(variant.get('traffic_percent'))} of live traffic"


def _move_text(m: Mapping[str, Any]) -> str:
    def side(traffic: Any, mirror: Any) -> str:
        return f"{percent(traffic)} + {percent(mirror)} mirrored" if mirror else percent(traffic)

    old = "(new)" if m["from"] is None else side(m["from"], m["mirror_from"])
    new = "(removed)" if m["to"] is None else side(m["to"], m["mirror_to"])
    return f"{m['variant']} {old} -> {new}"


def _rollback_signal(spec: Any) -> bool:
    rollout = getattr(spec, "rollout", None)
    return bool(rollout is not None and rollout.rollback_on)


def _capacity(
    c: ResourceChange, before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]
) -> list[Risk]:
    found = []
    for name, v in after.items():
        takes = (v.get("traffic_percent") or 0) > 0 or (v.get("mirror_percent") or 0) > 0
        if not takes:
            continue
        if v.get("instance_count") == 0 or v.get("max_instances") == 0:
            found.append({"variant": name, "reason": "no instances"})
        elif v.get("min_instances") == 0 and (before.get(name) or {}).get("min_instances") != 0:
            found.append({"variant": name, "reason": "may scale to zero instances"})
    live = [v for v in after.values() if (v.get("traffic_percent") or 0) > 0]
    was_live = any((v.get("traffic_percent") or 0) > 0 for v in before.values())
    if not live and (was_live or not before):
        found.append({"variant": None, "reason": "no variant takes live traffic"})
    if not found:
        return []
    text = "; ".join(
        f["reason"] if f["variant"] is None else f"variant {f['variant']}: {f['reason']}" for f in found
    )
    return [
        Risk(c.address, f"capacity goes to zero: {text}", code="capacity_to_zero", detail={"variants": found})
    ]


def _unapproved(
    c: ResourceChange,
    spec: Any,
    ws: Workspace,
    before: Mapping[str, Mapping[str, Any]],
    after: Mapping[str, Mapping[str, Any]],
) -> list[Risk]:
    out: list[Risk] = []
    for v in getattr(spec, "variants", None) or []:
        now, was = after.get(v.name), before.get(v.name)
        if now is not None and was is not None and now.get("model") == was.get("model"):
            continue  # it deploys what it deployed: nothing new to approve
        approval: str | None = None
        if v.model_package is not None and v.allow_unapproved:
            model, approval = v.model_package, "not required (allow_unapproved: true)"
        elif v.model is not None:
            model_res = ws.stack.resources.get(f"model.{v.model}")
            registry = getattr(getattr(model_res, "spec", None), "registry", None)
            if registry is None:
                continue
            status = registry.approval or "pending (the registry's default)"
            if status.lower() in APPROVED:
                continue
            model, approval = v.model, status
        else:
            continue
        out.append(
            Risk(
                c.address,
                f"variant {v.name} deploys model {model}, which is not approved (approval: {approval})",
                code="unapproved_model",
                detail={"variant": v.name, "model": model, "approval": approval},
            )
        )
    return out


# --------------------------------------------------------------------- monitors and schedules
def _before_spec(ws: Workspace, c: ResourceChange) -> dict[str, Any]:
    """What the change's object was, in the stack's vocabulary: the provider's `to_spec`, or, for
    a provider that cannot generate config for this kind, its attributes as they are."""
    if c.before is None:
        return {}
    try:
        spec = ws.provider.to_spec(c.kind, without_unknowns(c.before))
    except Exception:  # NotImplementedError, or attributes it cannot read
        spec = None
    return dict(spec) if isinstance(spec, Mapping) else dict(without_unknowns(c.before))


def _was_enabled(ws: Workspace, c: ResourceChange) -> bool:
    return _before_spec(ws, c).get("enabled") is not False


def _monitor(ws: Workspace, c: ResourceChange, spec: Any) -> list[Risk]:
    if c.action == "delete":
        endpoint = next((d for d in c.depends_on if d.startswith("endpoint.")), None)
        watched = f" {endpoint} is no longer watched for drift or quality" if endpoint else ""
        return [
            Risk(
                c.address,
                f"removes model monitor {c.name}:{watched or ' its endpoint is no longer watched'}",
                code="monitor_removed",
                detail={"endpoint": endpoint},
            )
        ]
    if spec is None or c.before is None:
        return []
    out = []
    if spec.enabled is False and _was_enabled(ws, c):
        out.append(
            Risk(c.address, f"turns off model monitor {c.name} (enabled: false)", code="monitor_disabled")
        )
    earlier = _before_spec(ws, c)
    if spec.alert is None and earlier.get("alert"):
        out.append(
            Risk(
                c.address,
                f"removes the alert of model monitor {c.name}: what it detects pages no one",
                code="alert_removed",
                detail={"alert": earlier.get("alert")},
            )
        )
    return out


def _schedule(ws: Workspace, c: ResourceChange, spec: Any) -> list[Risk]:
    if c.action == "delete":
        return [
            Risk(
                c.address,
                f"removes retraining schedule {c.name}: its pipeline no longer runs",
                code="schedule_removed",
            )
        ]
    if spec is not None and c.before is not None and spec.enabled is False and _was_enabled(ws, c):
        return [
            Risk(
                c.address,
                f"turns off retraining schedule {c.name} (enabled: false): its pipeline no longer runs",
                code="schedule_disabled",
            )
        ]
    return []


# ------------------------------------------------------------------------------------ protection
def _protection(state: StateDoc, c: ResourceChange, spec: Any) -> list[Risk]:
    lifecycle = getattr(spec, "lifecycle", None)
    protected_now = bool(lifecycle is not None and lifecycle.prevent_destroy)
    rs = state.get(c.address)
    if rs is not None and rs.protected and spec is not None and not protected_now:
        return [
            Risk(
                c.address,
                "lifts lifecycle.prevent_destroy: a later plan may destroy it",
                code="protection_removed",
            )
        ]
    if protected_now and c.action == "update" and c.before is not None:
        return [
            Risk(
                c.address,
                f"changes protected {c.kind} {c.name} (lifecycle.prevent_destroy) in place",
                code="protected",
            )
        ]
    return []
