"""Dependency diagrams as Mermaid flowcharts (GitHub renders them in comments) and Graphviz DOT.

An arrow points from a resource to what depends on it, the order apply creates them in: a model
to the endpoint serving it, an endpoint to its monitor. Node ids are generated (`n0`, `n1`...), so
no resource name can collide with Mermaid's keywords; labels are quoted with `"` and `#` written
as Mermaid's entity codes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The class of each action, and its colours (GitHub's diff palette, readable in both themes).
CLASSES = {
    "create": ("add", "fill:#dafbe1,stroke:#1a7f37,color:#0d3a1a"),
    "update": ("change", "fill:#fff8c5,stroke:#9a6700,color:#3d2c00"),
    "replace": ("replace", "fill:#ffd8b5,stroke:#bc4c00,color:#3d1a00,stroke-dasharray:4 2"),
    "delete": ("destroy", "fill:#ffebe9,stroke:#cf222e,color:#4c0a0f"),
    "retire": ("retire", "fill:#fbefff,stroke:#8250df,color:#21136d,stroke-dasharray:2 2"),
    "noop": ("same", "fill:#f6f8fa,stroke:#8c959f,color:#57606a"),
}
SYMBOLS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "retire": "R", "noop": ""}
LEGEND = (
    "green: add, yellow: change in place, orange: replace, red: destroy, purple: retire, "
    "grey: unchanged (context)"
)


@dataclass(frozen=True)
class Node:
    address: str
    action: str = "noop"
    note: str = ""  # a second line under the address, e.g. "traffic 90% → 80%"


def label(text: str) -> str:
    """`text` safe inside a quoted Mermaid label."""
    out = []
    for ch in text:
        if ch == "#":
            out.append("#35;")
        elif ch == '"':
            out.append("#quot;")
        elif ch == "<":
            out.append("#lt;")
        elif ch == ">":
            out.append("#gt;")
        elif ch in "\r\n":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def flowchart(nodes: Sequence[Node], edges: Iterable[tuple[str, str]], *, direction: str = "LR") -> str:
    """A Mermaid flowchart of `nodes` (in order) and the `edges` (dependency, dependent) between
    them; edges naming a node not given are left out."""
    ids = {n.address: f"n{i}" for i, n in enumerate(nodes)}
    lines = [f"flowchart {direction}"]
    for n in nodes:
        text = label(f"{SYMBOLS.get(n.action, '')} {n.address}".strip())
        if n.note:
            text += f"<br/>{label(n.note)}"
        lines.append(f'  {ids[n.address]}["{text}"]')
    seen = set()
    for a, b in edges:
        if a in ids and b in ids and (a, b) not in seen and a != b:
            seen.add((a, b))
            lines.append(f"  {ids[a]} --> {ids[b]}")
    used = {n.action for n in nodes}
    for action, (name, style) in CLASSES.items():
        if action in used:
            lines.append(f"  classDef {name} {style}")
    for action, (name, _style) in CLASSES.items():
        members = [ids[n.address] for n in nodes if n.action == action]
        if members:
            lines.append(f"  class {','.join(members)} {name}")
    return "\n".join(lines) + "\n"


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(name: str, nodes: Sequence[Node], edges: Iterable[tuple[str, str]]) -> str:
    """The same graph in Graphviz DOT."""
    fills = {
        "create": "#dafbe1",
        "update": "#fff8c5",
        "replace": "#ffd8b5",
        "delete": "#ffebe9",
        "retire": "#fbefff",
    }
    lines = [f"digraph {_dot_id(name)} {{", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    known = {n.address for n in nodes}
    for n in nodes:
        attrs = [f"label={_dot_id(n.address + (chr(10) + n.note if n.note else ''))}"]
        if n.action in fills:
            attrs += ["style=filled", f"fillcolor={_dot_id(fills[n.action])}"]
        lines.append(f"  {_dot_id(n.address)} [{', '.join(attrs)}];")
    for a, b in edges:
        if a in known and b in known:
            lines.append(f"  {_dot_id(a)} -> {_dot_id(b)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ from a plan
def plan_nodes(document: Mapping[str, Any], *, limit: int) -> tuple[list[Node], list[tuple[str, str]], int]:
    """The resources a plan changes and the unchanged ones they depend on or that depend on
    them (as context), at most `limit` changing ones; with the edges between them and how many
    changing resources were left out."""
    changes = [rc for rc in document.get("resource_changes", []) if rc.get("action") != "noop"]
    changing = {rc["address"]: rc for rc in changes}
    for d in document.get("deposed", []) or []:
        changing.setdefault(d["address"], {"address": d["address"], "action": "delete", "depends_on": []})
    kept = list(changing)[:limit]
    left_out = len(changing) - len(kept)
    everything = {rc["address"]: rc for rc in document.get("resource_changes", [])}
    everything.update({a: rc for a, rc in changing.items() if a not in everything})
    edges: list[tuple[str, str]] = []
    for rc in everything.values():
        for dep in rc.get("depends_on", []) or []:
            edges.append((dep, rc["address"]))
    chosen = set(kept)
    context = []
    for a, b in edges:
        for near, far in ((a, b), (b, a)):
            if far in chosen and near not in chosen and near not in context and near in everything:
                context.append(near)
    context = context[: max(0, limit - len(kept)) + 10]
    nodes = [Node(a, changing[a].get("action", "noop"), _note(changing[a])) for a in kept]
    nodes += [Node(a, "noop") for a in context]
    return nodes, edges, left_out


def _note(rc: Mapping[str, Any]) -> str:
    """A short second line for an endpoint whose traffic split changes."""
    serving = rc.get("serving") or {}
    before = {v.get("name"): v for v in (serving.get("before") or {}).get("variants", []) or []}
    after = {v.get("name"): v for v in (serving.get("after") or {}).get("variants", []) or []}
    if not before or not after:
        return ""

    def split(view: Mapping[str, Any]) -> str:
        return "/".join(f"{float(v.get('traffic_percent') or 0):g}" for v in view.values())

    old, new = split(before), split(after)
    return f"traffic {old} → {new}" if old != new or list(before) != list(after) else ""
