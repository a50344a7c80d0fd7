"""What `mlops rollback` prints, from its document: {"address": ..., "steps": N, "changes":
[{"path": ..., "before": ..., "after": ...}]}, the changes going from what runs now to what
state recorded N applies ago."""

from __future__ import annotations

from typing import Any

from mlops_gitops.render.environment import render


def render_rollback_preview(rollback: dict[str, Any]) -> str:
    return render("rollback.txt.j2", rollback=rollback)


def rollback_unneeded(rollback: dict[str, Any]) -> str:
    return f"{rollback['address']} already runs that configuration."


def rollback_progress(address: str, elapsed: float, message: str) -> str:
    return f"{address}: Still rolling back... [{elapsed:.0f}s elapsed] {message}"


def rollback_done(rollback: dict[str, Any]) -> str:
    return (
        f"\n{rollback['address']} rolled back. The stack still asks for the newer configuration: the next "
        "plan shows it. Revert the change in git to make the rollback permanent, or apply to roll forward."
    )
