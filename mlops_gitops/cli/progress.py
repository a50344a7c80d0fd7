"""Apply progress as it happens, a line an event (rendered by render/progress.py), with the
"still ..." lines of a long operation kept few."""

from __future__ import annotations

import dataclasses
import threading
import time

import click

from mlops_gitops.engine.applier import ApplyEvent
from mlops_gitops.render.progress import progress_line


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
        with self._lock:
            if ev.phase == "start":
                self._last[ev.address] = time.monotonic()
            elif ev.phase == "progress":
                now = time.monotonic()
                if now - self._last.get(ev.address, 0) < self.interval:
                    return
                self._last[ev.address] = now
            line = progress_line(dataclasses.asdict(ev), color=self.color)
            if line is not None:
                click.echo(line, err=self.err)
