"""What apply and destroy print around the plan: the question before, and from the apply result
document ({"plan": ..., "applied": [...], "errors": [...]}, what `--json` prints) the summary or
the failure after."""

from __future__ import annotations

from typing import Any

from mlops_gitops.render.environment import render


def confirmation_question(mode: str) -> str:
    what = "destroy every resource of this stack" if mode == "destroy" else "perform these actions"
    return f"Do you want to {what}? Only 'yes' will be accepted."


def render_apply_summary(result: dict[str, Any], outputs: dict[str, Any], *, color: bool = False) -> str:
    """The closing lines of a successful apply, refresh or destroy; `outputs` is the outputs
    document of the state it left (shown after an apply only)."""
    return render("apply_summary.txt.j2", color=color, result=result, outputs=outputs)


def apply_failure_lines(result: dict[str, Any]) -> list[str]:
    """One line per failed resource, then how far the apply got (each becomes an `Error:` line)."""
    done = len(result["applied"])
    operations = f"{done} operation{'s' if done != 1 else ''}"
    return [
        *(f"{e['address']}: {e['message']}" for e in result["errors"]),
        f"{operations} completed before the failure; state records what exists.",
    ]
