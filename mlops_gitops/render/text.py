"""Terraform-style plan text, rendered from the plan's JSON document with jinja2."""

from __future__ import annotations

from typing import Any

from mlops_gitops.render.environment import render


def render_plan(doc: dict[str, Any], *, color: bool = False) -> str:
    from mlops_gitops.cost.text import summary_line

    return render("plan.txt.j2", color=color, plan=doc, cost_line=summary_line(doc.get("cost")))


def saved_plan_note(path: str) -> str:
    """What `plan --out FILE` adds under the plan."""
    return f"\nSaved the plan to {path}. To perform exactly these actions, run: mlops apply {path}"
