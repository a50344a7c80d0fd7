"""`mlops status` as text (a terminal) and as one self-contained HTML page (a CI artifact, a
wiki), both from the status document (`mlops_gitops.status`). The page has no script, no font
and nothing fetched: inline CSS, and inline SVG for the traffic bars and the dependency graph,
laid out here in layers (a resource one column right of its deepest dependency)."""

from __future__ import annotations

from typing import Any

from mlops_gitops.render.environment import render

# Colours of the page (health -> fill), shared by the graph's nodes and the badges.
HEALTH_COLORS = {
    "ok": "#2e7d32",
    "progressing": "#1565c0",
    "paused": "#6d6d6d",
    "degraded": "#ef6c00",
    "not_applied": "#8e8e8e",
    "missing": "#c62828",
    "failed": "#c62828",
    "error": "#ad1457",
}
VARIANT_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
_TEXT_HEALTH = {"ok": "+", "progressing": "~", "degraded": "~", "paused": "bold", "not_applied": "bold"}

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 210, 50, 70, 18, 12


def render_status_text(doc: dict[str, Any], *, color: bool = False) -> str:
    return render("status.txt.j2", color=color, status=doc, health_key=_health_key)


def render_status_html(doc: dict[str, Any]) -> str:
    return render(
        "status.html.j2",
        status=doc,
        layout=graph_layout(doc),
        health_colors=HEALTH_COLORS,
        variant_colors=VARIANT_COLORS,
        bars=traffic_bars,
    )


def _health_key(health: str) -> str:
    """The colour key (`render.colors`) a health word is painted with on a terminal."""
    return _TEXT_HEALTH.get(health, "-")


def graph_layout(doc: dict[str, Any]) -> dict[str, Any]:
    """Boxes and edges of the dependency graph, in SVG user units: one column per layer."""
    entries = {e["address"]: e for e in doc["resources"]}
    layers = doc["graph"]["layers"]
    tallest = max((len(layer) for layer in layers), default=0)
    height = PAD * 2 + tallest * NODE_H + max(tallest - 1, 0) * GAP_Y
    width = PAD * 2 + len(layers) * NODE_W + max(len(layers) - 1, 0) * GAP_X
    nodes: dict[str, dict[str, Any]] = {}
    for column, layer in enumerate(layers):
        used = len(layer) * NODE_H + max(len(layer) - 1, 0) * GAP_Y
        top = PAD + (height - 2 * PAD - used) / 2
        for row, address in enumerate(layer):
            entry = entries[address]
            nodes[address] = {
                "address": address,
                "kind": entry["kind"],
                "name": entry["name"],
                "health": entry["health"],
                "drifted": bool(entry["drift"]),
                "url": entry["console_url"],
                "x": PAD + column * (NODE_W + GAP_X),
                "y": round(top + row * (NODE_H + GAP_Y), 1),
                "w": NODE_W,
                "h": NODE_H,
                "color": HEALTH_COLORS.get(entry["health"], "#8e8e8e"),
            }
    edges = []
    for source, target in doc["graph"]["edges"]:
        a, b = nodes[source], nodes[target]
        x1, y1 = a["x"] + a["w"], a["y"] + a["h"] / 2
        x2, y2 = b["x"], b["y"] + b["h"] / 2
        middle = (x1 + x2) / 2
        edges.append(
            {
                "source": source,
                "target": target,
                "d": f"M{x1},{y1} C{middle},{y1} {middle},{y2} {x2 - 6},{y2}",
            }
        )
    return {"width": max(width, 1), "height": max(height, 1), "nodes": list(nodes.values()), "edges": edges}


def traffic_bars(variants: list[dict[str, Any]], width: int = 600) -> list[dict[str, Any]]:
    """One segment per variant of a traffic bar `width` wide, by its share of live traffic."""
    out, x = [], 0.0
    for i, v in enumerate(variants):
        share = float(v.get("traffic_percent") or 0.0)
        w = width * share / 100
        out.append(
            {
                "name": v["name"],
                "percent": share,
                "x": round(x, 2),
                "w": round(w, 2),
                "color": VARIANT_COLORS[i % len(VARIANT_COLORS)],
            }
        )
        x += w
    return out
