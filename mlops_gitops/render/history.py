"""`mlops history` as text and JSON, from the state's events (state/history.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mlops_gitops.render.environment import render
from mlops_gitops.state.history import Event

FORMAT_VERSION = "1"


def _about(event: Event, address: str) -> bool:
    """Whether `event` concerns `address`: its own, or (for a model) an endpoint's that names it."""
    if event.address == address:
        return True
    kind, _, name = address.partition(".")
    if kind != "model":
        return False
    rows = [*(event.detail.get("serving") or []), *(event.detail.get("from") or [])]  # type: ignore[misc]
    return any(isinstance(r, dict) and r.get("model") == name for r in rows)


def history_document(
    stack: str, environment: str | None, events: Iterable[Event], address: str | None, limit: int | None
) -> dict[str, Any]:
    chosen = [e for e in events if address is None or _about(e, address)]
    if limit is not None:
        chosen = chosen[-limit:]
    return {
        "format_version": FORMAT_VERSION,
        "stack": stack,
        "environment": environment,
        "address": address,
        "events": [e.model_dump(mode="json") for e in chosen],
    }


def serving_text(rows: Any) -> str:
    """`blue fraud-v8 90%, green fraud-v7 10% (mirror 5%)`."""
    parts = []
    for r in rows or []:
        share = r.get("traffic_percent")
        text = f"{r.get('variant')} {r.get('model') or '?'} {0 if share is None else share:g}%"
        if r.get("mirror_percent"):
            text += f" (mirror {r['mirror_percent']:g}%)"
        parts.append(text)
    return ", ".join(parts)


def render_history(doc: dict[str, Any]) -> str:
    return render("history.txt.j2", doc=doc, events=list(reversed(doc["events"])), serving_text=serving_text)
