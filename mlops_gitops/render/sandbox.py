"""What `mlops sandbox up|status|down` print. `up` renders {"directory", "urls": {name: url}};
`status` the daemon's status record ({"started_at", "emulators": {name: {"url", "pid",
"healthy"}}}) with the sandbox's "directory" added."""

from __future__ import annotations

from typing import Any

from mlops_gitops.render.environment import render


def render_sandbox_started(sandbox: dict[str, Any]) -> str:
    return render("sandbox_up.txt.j2", sandbox=sandbox)


def render_sandbox_status(sandbox: dict[str, Any]) -> str:
    return render("sandbox_status.txt.j2", sandbox=sandbox)


def emulator_warning(reason: str) -> str:
    """An emulator that could not start while the others did (outside a stack)."""
    return f"Warning: {reason}; the other emulators are running"


def sandbox_not_running() -> str:
    return "Sandbox not running (it starts on the first --sandbox command)."


def sandbox_stopped(stopped: bool) -> str:
    return "Sandbox stopped; its state was discarded." if stopped else "Sandbox was not running."
