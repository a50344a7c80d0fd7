"""The combined summary of `mlops plan --all`: one line per stack and environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def render_plan_all(root: Path, outcomes: list[Any]) -> str:
    labels = [o.target.label(root) for o in outcomes]
    width = max(len(label) for label in labels)
    lines = [f"Plans of {len(outcomes)} stack(s) and environment(s) under {root}:", ""]
    for label, o in zip(labels, outcomes, strict=True):
        if o.error:
            detail = f"failed: {o.error}"
        elif not o.has_changes:
            detail = "no changes"
        else:
            s = o.summary or {}
            detail = (
                f"{s.get('add', 0)} to add, {s.get('change', 0)} to change, {s.get('destroy', 0)} to destroy"
            )
            if s.get("drift"):
                detail += f", {s['drift']} drifted"
        lines.append(f"  {label.ljust(width)}  {detail}")
    failed = [label for label, o in zip(labels, outcomes, strict=True) if o.error]
    changed = sum(1 for o in outcomes if o.has_changes)
    lines += [
        "",
        f"{changed} with changes, {len(failed)} failed" + (f": {', '.join(failed)}" if failed else "."),
    ]
    return "\n".join(lines) + "\n"
