"""Apply progress lines, Terraform style: `endpoint.fraud-api: Still creating... [10s elapsed]`."""

from __future__ import annotations

import threading
import time

import click

from mlops_gitops.engine.applier import ApplyEvent

_ING = {
    "create": "Creating",
    "update": "Modifying",
    "replace": "Replacing",
    "delete": "Destroying",
    "destroy-deposed": "Destroying the replaced object",
}
_DONE = {
    "create": "Creation complete",
    "update": "Modifications complete",
    "replace": "Replacement complete",
    "delete": "Destruction complete",
    "destroy-deposed": "Replaced object destroyed",
}


class ProgressPrinter:
    """Thread-safe; repeats a "still ..." line at most every `interval` seconds per resource
    (more often on a terminal, where a person is watching)."""

    def __init__(self, *, color: bool, interactive: bool, err: bool = False) -> None:
        self.color = color
        self.interval = 2.0 if interactive else 10.0
        self.err = err
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, ev: ApplyEvent) -> None:
        label = click.style(ev.address, bold=True) if self.color else ev.address
        with self._lock:
            if ev.phase == "start":
                self._last[ev.address] = time.monotonic()
                self._echo(f"{label}: {_ING.get(ev.action, ev.action)}...")
            elif ev.phase == "progress":
                now = time.monotonic()
                if now - self._last.get(ev.address, 0) >= self.interval:
                    self._last[ev.address] = now
                    verb = _ING.get(ev.action, ev.action).lower()
                    self._echo(f"{label}: Still {verb}... [{ev.elapsed:.0f}s elapsed] {ev.message}".rstrip())
            elif ev.phase == "done":
                self._echo(f"{label}: {_DONE.get(ev.action, 'Complete')} after {ev.elapsed:.0f}s")
            elif ev.phase == "error":
                self._echo(f"{label}: failed")

    def _echo(self, line: str) -> None:
        click.echo(line, err=self.err)
