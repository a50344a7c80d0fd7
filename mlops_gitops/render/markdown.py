"""The pull-request comment of a plan (`plan --format markdown`, `show --format markdown`), rendered
from the plan's JSON document with the jinja2 templates of templates/review/.

It reads top down as a reviewer does: the hidden marker (`review/marker.py`), a verdict, the
summary table with the monthly cost delta, the risks in ML terms, a Mermaid diagram of what
changes, drift, then one collapsed diff per resource. It never exceeds GitHub's limit on a
comment: it summarises first (risks, diagram and drift are capped, the rest counted) and trims
the per-resource diffs last, saying how many it left out and linking the full plan when given a
link. Sensitive values are masked in the document already; nothing here unmasks them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from mlops_gitops.cost import text as cost_text
from mlops_gitops.render import retirement
from mlops_gitops.render.environment import render
from mlops_gitops.render.values import KNOWN_AFTER_APPLY, VERBS, fmt
from mlops_gitops.review import marker, mermaid

LIMIT = 65_536  # GitHub's limit on a comment's body, in characters
MARGIN = 512  # kept free below it: the counts and notes that the fitting below changes
MAX_ROWS = 200  # changed fields shown per resource
# (risks, diagram nodes, drift entries) shown, from the fullest comment to the barest.
LEVELS = ((60, 80, 50), (25, 40, 20), (10, 20, 10), (5, 0, 5), (0, 0, 0))

# Risk codes (see `Risk`) in the order a reviewer should read them, with their titles.
RISKS = {
    "serving_destroyed": ("🔴", "Serving endpoint destroyed"),
    "serving_retired": ("🔴", "Serving endpoint retired"),
    "model_destroyed": ("🟠", "Model destroyed"),
    "serving_replaced": ("🔴", "Serving endpoint replaced"),
    "capacity_to_zero": ("🔴", "Capacity to zero"),
    "traffic_shift": ("🟠", "Traffic shift"),
    "model_changed": ("🟠", "Model swapped"),
    "unapproved_model": ("🟠", "Model not approved"),
    "monitor_removed": ("🟠", "Monitor removed"),
    "alert_removed": ("🟠", "Alert removed"),
    "monitor_disabled": ("🟠", "Monitor turned off"),
    "schedule_removed": ("🟠", "Retraining schedule removed"),
    "schedule_disabled": ("🟠", "Retraining schedule turned off"),
    "rollout_without_rollback": ("🟡", "No rollback signal"),
    "protection_removed": ("🟡", "Protection lifted"),
    "protected": ("🟡", "Protected resource changed"),
    "moved_interrupted": ("🟡", "Moved during an interrupted change"),
    "provider": ("🟡", "Provider"),
}
SYMBOLS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "retire": "R"}
DRIFT_VERBS = {"update": "has changed", "delete": "has been deleted"}

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|])")


def html(text: Any) -> str:
    """`text` safe in HTML (a <summary>)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def md(text: Any) -> str:
    """`text` safe in a Markdown paragraph or table cell: shown as written, never as markup."""
    if text is None:
        return ""
    return _MD_SPECIAL.sub(r"\\\1", html(text)).replace("\n", " ")


def render_markdown(
    document: Mapping[str, Any], *, artifact_url: str | None = None, limit: int = LIMIT
) -> str:
    """The comment for `document`, at most `limit` characters."""
    blocks = [_resource(rc) for rc in _acting(document)]
    blocks += [_deposed(d) for d in document.get("deposed", []) or []]
    for caps in LEVELS:
        base = _page(document, caps, [], len(blocks), artifact_url)
        if len(base) + MARGIN <= limit:
            break
    budget = limit - len(base) - MARGIN
    chosen: list[str] = []
    for block in blocks:  # in apply order; one too long for what is left is skipped, not cut
        if len(block) + 1 <= budget:
            chosen.append(block)
            budget -= len(block) + 1
    text = _page(document, caps, chosen, len(blocks) - len(chosen), artifact_url)
    while len(text) > limit and chosen:  # the margin was not enough: drop diffs from the end
        chosen.pop()
        text = _page(document, caps, chosen, len(blocks) - len(chosen), artifact_url)
    if len(text) > limit:  # only a document of absurd warnings gets here
        note = "\n\n…cut to fit in a comment: see the plan artifact.\n"
        text = text[: limit - len(note)] + note
    return text


# --------------------------------------------------------------------------------- the page
def _acting(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [rc for rc in document.get("resource_changes", []) if rc.get("action") != "noop"]


def counts(document: Mapping[str, Any]) -> dict[str, int]:
    """Add, change, replace and destroy counted apart (the plan's summary counts a replacement
    in both add and destroy), and drift."""
    actions = [rc.get("action") for rc in _acting(document)]
    return {
        "add": actions.count("create"),
        "change": actions.count("update"),
        "replace": actions.count("replace"),
        "destroy": actions.count("delete") + len(document.get("deposed", []) or []),
        "retire": actions.count("retire"),
        "drift": len(document.get("drift", []) or []),
    }


def _page(
    document: Mapping[str, Any],
    caps: tuple[int, int, int],
    details: Sequence[str],
    details_left_out: int,
    artifact_url: str | None,
) -> str:
    max_risks, max_nodes, max_drift = caps
    environment = document.get("environment")
    stack = document.get("stack", {}).get("name", "?")
    n = counts(document)
    risks = sorted(
        document.get("risks", []) or [],
        key=lambda r: list(RISKS).index(r.get("code")) if r.get("code") in RISKS else len(RISKS),
    )
    diagram, diagram_left_out = None, 0
    if max_nodes and (_acting(document) or document.get("deposed")):
        nodes, edges, diagram_left_out = mermaid.plan_nodes(document, limit=max_nodes)
        diagram = mermaid.flowchart(nodes, edges)
    drift = document.get("drift", []) or []
    return render(
        "review/plan.md.j2",
        marker=marker.for_plan(document, environment).line(),
        title=f"mlops plan: {stack}" + (f" ({environment})" if environment else ""),
        verdict=_verdict(document, n, len(risks)),
        row={
            "stack": stack,
            "environment": environment or "-",
            **n,
            "cost": _cost_cell(document.get("cost")),
        },
        cost_line=_cost_line(document.get("cost")),
        retirements=[
            {"text": retirement.sentence(r), "why": retirement.why(r)}
            for r in document.get("retirements") or []
        ],
        risks=[_risk(r) for r in risks[:max_risks]],
        risks_left_out=max(0, len(risks) - max_risks),
        diagram=diagram,
        diagram_left_out=diagram_left_out,
        legend=mermaid.LEGEND[:1].upper() + mermaid.LEGEND[1:],
        drift=[_drift(d) for d in drift[:max_drift]],
        drift_left_out=max(0, len(drift) - max_drift),
        drift_note=(
            "This is a refresh-only plan: applying it records these changes in state and changes "
            "nothing in the cloud."
            if document.get("mode") == "refresh-only"
            else "Unless the stack is changed to match, this plan undoes these changes."
        ),
        warnings=document.get("warnings", []) or [],
        details=details,
        details_left_out=details_left_out,
        outputs=_outputs(document),
        fence=_fence(_outputs(document)),
        artifact_url=artifact_url,
        digest=marker.plan_digest(document),
        tool=" ".join(str(document.get("tool", {}).get(k, "")) for k in ("name", "version")),
        md=md,
        html=html,
    )


def _verdict(document: Mapping[str, Any], n: Mapping[str, int], risks: int) -> str:
    shown = ("add", "change", "replace", "destroy", *(("retire",) if n.get("retire") else ()))
    changes = ", ".join(f"{n[k]} to {k}" for k in shown)
    drifted = f"; {n['drift']} changed outside mlops" if n["drift"] else ""
    if document.get("mode") == "refresh-only":
        if not n["drift"]:
            return "✅ No drift: state matches the cloud."
        return (
            f"🔎 Refresh only: {n['drift']} resource{'s' if n['drift'] != 1 else ''} changed outside mlops."
        )
    if not document.get("has_changes"):
        return f"✅ No changes: the cloud matches the stack{drifted}."
    if document.get("mode") == "destroy":
        return f"🔥 Destroys the stack: {changes}{drifted}."
    if risks:
        return f"⚠️ {risks} risk{'s' if risks != 1 else ''} to review: {changes}{drifted}."
    return f"✅ No named risk: {changes}{drifted}."


def _risk(r: Mapping[str, Any]) -> dict[str, str]:
    icon, title = RISKS.get(r.get("code") or "provider", RISKS["provider"])
    return {
        "icon": icon,
        "title": title,
        "address": str(r.get("address", "")).replace("`", "'"),
        "text": str(r.get("message", "")).replace(" -> ", " → "),
    }


# ------------------------------------------------------------------------------------- cost
def money(value: Any, currency: str, *, sign: bool = False) -> str:
    """The plan text's money (`cost.text.money`), to the cent: a comment shows small deltas too."""
    if not isinstance(value, int | float):
        return "?"
    return cost_text.money(value, currency, sign=sign, cents=True)


def _range(span: Any, currency: str, *, sign: bool = False) -> str:
    if not isinstance(span, Mapping):
        return "?"
    low, high = span.get("min"), span.get("max")
    if low == high:
        return money(low, currency, sign=sign)
    return f"{money(low, currency, sign=sign)} to {money(high, currency, sign=sign)}"


def _unpriced(cost: Mapping[str, Any]) -> list[str]:
    names = [str(u) for u in cost.get("unpriced", []) or []]
    for r in cost.get("resources", []) or []:
        if r.get("unpriced") and r.get("address") not in names:
            names.append(str(r.get("address")))
    return names


def _cost_cell(cost: Any) -> str:
    if not isinstance(cost, Mapping):
        return "n/a"
    currency = str(cost.get("currency") or "USD")
    cell = f"{_range(cost.get('delta'), currency, sign=True)}/mo (estimate)"
    unpriced = _unpriced(cost)
    if unpriced:
        cell += f", {len(unpriced)} unpriced"
    return md(cell)


def _cost_line(cost: Any) -> str:
    if not isinstance(cost, Mapping):
        return ""
    currency = str(cost.get("currency") or "USD")
    text = (
        f"Monthly cost (estimate): {_range(cost.get('monthly_before'), currency)} → "
        f"{_range(cost.get('monthly_after'), currency)} "
        f"({_range(cost.get('delta'), currency, sign=True)})."
    )
    unpriced = _unpriced(cost)
    if unpriced:
        shown = ", ".join(unpriced[:10]) + (f" and {len(unpriced) - 10} more" if len(unpriced) > 10 else "")
        text += f" Unpriced, not counted: {shown}."
    if cost.get("basis"):
        text += f" Basis: {cost['basis']}"
    return f"<sub>{md(text)}</sub>"


# -------------------------------------------------------------------------------- resources
def _value(value: Any, unknown: bool = False) -> str:
    return KNOWN_AFTER_APPLY if unknown else fmt(value)


def diff_lines(rc: Mapping[str, Any]) -> list[str]:
    """The field changes of one resource change as lines of a `diff` block: `-` what goes, `+`
    what comes."""
    action = rc.get("action")
    lines: list[str] = []
    for ch in rc.get("changes", []):
        path = ch["path"]
        note = "   # forces replacement" if ch.get("forces_replacement") and action == "replace" else ""
        after = _value(ch.get("after"), ch.get("after_unknown", False))
        if action == "create" or ch.get("change") == "add":
            lines.append(f"+ {path} = {after}{note}")
        elif action == "delete" or (ch.get("change") == "remove" and not ch.get("after_unknown")):
            lines.append(f"- {path} = {fmt(ch.get('before'))}{note}")
        else:
            lines.append(f"- {path} = {fmt(ch.get('before'))}")
            lines.append(f"+ {path} = {after}{note}")
    if len(lines) > MAX_ROWS:
        lines = [*lines[:MAX_ROWS], f"# … {len(lines) - MAX_ROWS} more lines: see the plan artifact"]
    return lines


def _fence(lines: Sequence[str]) -> str:
    longest = max((len(m) for line in lines for m in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


def _serving_rows(rc: Mapping[str, Any]) -> list[dict[str, str]]:
    serving = rc.get("serving") or {}
    before = {v.get("name"): v for v in (serving.get("before") or {}).get("variants", []) or []}
    after = {v.get("name"): v for v in (serving.get("after") or {}).get("variants", []) or []}
    if not before and not after:
        return []

    def pct(v: Mapping[str, Any] | None, key: str) -> str:
        return "—" if v is None else f"{float(v.get(key) or 0):g}%"

    def cap(v: Mapping[str, Any] | None) -> str:
        if v is None:
            return "—"
        if v.get("serverless_memory_mb"):
            return f"serverless {v['serverless_memory_mb']} MB"
        count = v.get("instance_count")
        text = f"{'?' if count is None else count} x {v.get('instance_type')}"
        if v.get("min_instances") is not None or v.get("max_instances") is not None:
            text += f" ({v.get('min_instances')}-{v.get('max_instances')})"
        return text

    def pair(old: str, new: str) -> str:
        return new if old == new else f"{old} → {new}"

    rows = []
    for name in list(before) + [n for n in after if n not in before]:
        b, a = before.get(name), after.get(name)
        model_b = "—" if b is None else str(b.get("model") or KNOWN_AFTER_APPLY)
        model_a = "—" if a is None else str(a.get("model") or KNOWN_AFTER_APPLY)
        rows.append(
            {
                "name": str(name) + (" (new)" if b is None and before else " (removed)" if a is None else ""),
                "traffic": pair(pct(b, "traffic_percent"), pct(a, "traffic_percent"))
                if before
                else pct(a, "traffic_percent"),
                "mirror": pair(pct(b, "mirror_percent"), pct(a, "mirror_percent"))
                if before
                else pct(a, "mirror_percent"),
                "model": pair(model_b, model_a) if before else model_a,
                "capacity": pair(cap(b), cap(a)) if before else cap(a),
            }
        )
    return rows


def _resource(rc: Mapping[str, Any]) -> str:
    lines = diff_lines(rc)
    return render(
        "review/resource.md.j2",
        rc=rc,
        symbol=SYMBOLS.get(rc.get("action", ""), "~"),
        verb=VERBS.get(rc.get("action", ""), "changes"),
        serving=_serving_rows(rc) if rc.get("after") is not None else [],
        lines=lines,
        fence=_fence(lines),
        md=md,
        html=html,
    )


def _deposed(d: Mapping[str, Any]) -> str:
    rc = {
        "address": d["address"],
        "action": "delete",
        "reason": f"deposed object {d.get('id')}, left by an earlier apply that replaced it",
        "changes": [],
        "notes": [],
    }
    lines = [f"- id = {fmt(d.get('id'))}"]
    return render(
        "review/resource.md.j2",
        rc=rc,
        symbol="-",
        verb=VERBS["delete"],
        serving=[],
        lines=lines,
        fence=_fence(lines),
        md=md,
        html=html,
    )


def _drift(rc: Mapping[str, Any]) -> dict[str, str]:
    changes = rc.get("changes", [])
    shown = [
        f"`{c['path'].replace('`', chr(39))}` {md(fmt(c.get('before')))} → {md(fmt(c.get('after')))}"
        for c in changes[:3]
    ]
    fields = ", ".join(shown) + (f" and {len(changes) - 3} more" if len(changes) > 3 else "")
    verb = DRIFT_VERBS.get(rc.get("action", ""), "has changed")
    if rc.get("reason_code") == "interrupted_drift":
        verb += " (left by an interrupted apply, which apply finishes)"
    return {
        "address": str(rc.get("address", "")),
        "verb": verb,
        "fields": fields if rc.get("action") != "delete" else "",
    }


def _outputs(document: Mapping[str, Any]) -> list[str]:
    lines = []
    for oc in document.get("output_changes", []) or []:
        action = oc.get("action")
        if action == "noop":
            continue
        after = _value(oc.get("after"), oc.get("after_unknown", False))
        if oc.get("sensitive"):
            after = "(sensitive)"
        before = "(sensitive)" if oc.get("sensitive") else fmt(oc.get("before"))
        if action == "create":
            lines.append(f"+ {oc['name']} = {after}")
        elif action == "delete":
            lines.append(f"- {oc['name']} = {before}")
        else:
            lines += [f"- {oc['name']} = {before}", f"+ {oc['name']} = {after}"]
    return lines[:MAX_ROWS]
