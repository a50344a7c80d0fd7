"""Apply progress lines, Terraform style (`endpoint.fraud-api: Still creating... [10s elapsed]`),
from an apply event's document: {"address", "action", "phase", "elapsed", "message"}."""

from __future__ import annotations

from typing import Any

from mlops_gitops.render.colors import paint

_ING = {
    "create": "Creating",
    "update": "Modifying",
    "replace": "Replacing",
    "delete": "Destroying",
    "retire": "Retiring",
    "destroy-deposed": "Destroying the replaced object",
}
_DONE = {
    "create": "Creation complete",
    "update": "Modifications complete",
    "replace": "Replacement complete",
    "delete": "Destruction complete",
    "retire": "Retirement complete",
    "destroy-deposed": "Replaced object destroyed",
}


def progress_line(event: dict[str, Any], *, color: bool) -> str | None:
    """The line for `event`, or None for a phase that prints nothing."""
    label = paint(event["address"], "bold", color=color)
    action, phase = event["action"], event["phase"]
    if phase == "start":
        return f"{label}: {_ING.get(action, action)}..."
    if phase == "progress":
        verb = _ING.get(action, action).lower()
        return f"{label}: Still {verb}... [{event['elapsed']:.0f}s elapsed] {event['message']}".rstrip()
    if phase == "done":
        return f"{label}: {_DONE.get(action, 'Complete')} after {event['elapsed']:.0f}s"
    if phase == "error":
        return f"{label}: failed"
    return None
