"""Drive plan/apply on a stack file from Python, exactly as the CLI does, minus the printing."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mlops_gitops import plugins
from mlops_gitops.engine.applier import ApplyEvent, ApplyResult
from mlops_gitops.engine.operations import plan_locked
from mlops_gitops.engine.plan import Mode, Plan
from mlops_gitops.provider import Provider, SandboxEndpoints
from mlops_gitops.state.backend import StateBackend
from mlops_gitops.state.model import StateDoc
from mlops_gitops.workspace import Workspace, open_workspace, state_backend


class StackHarness:
    """A stack file bound to emulators. Every call re-reads the file, so a test edits it between
    steps like a user would.

    `provider_class` is for a provider that is not installed as an entry point (the memory
    provider, or one being written): the stack's provider is that class, and the stack is still
    checked as `mlops` checks it. Such a provider may need no emulator: `SandboxEndpoints()`."""

    def __init__(
        self,
        stack_file: Path,
        sandbox: SandboxEndpoints,
        *,
        variables: Mapping[str, str] | None = None,
        parallelism: int = 4,
        provider_class: type[Provider] | None = None,
    ) -> None:
        self.stack_file = Path(stack_file)
        self.provider_class = provider_class
        self.sandbox = sandbox
        self.variables = dict(variables or {})
        self.parallelism = parallelism
        self.events: list[ApplyEvent] = []

    def workspace(self) -> Workspace:
        from mlops_gitops.stack.loader import load_stack

        stack = load_stack(self.stack_file, cli_vars=self.variables, environ={})
        if self.provider_class is None:
            return open_workspace(stack, sandbox=self.sandbox)
        with _installed(self.provider_class):
            return open_workspace(stack, sandbox=self.sandbox)

    def backend(self) -> StateBackend:
        from mlops_gitops.stack.loader import load_stack

        return state_backend(load_stack(self.stack_file, cli_vars=self.variables, environ={}), sandbox=True)

    def state(self) -> StateDoc | None:
        return self.backend().read()

    def plan(self, *, mode: Mode = "normal", targets: list[str] | None = None) -> Plan:
        ws = self.workspace()
        planned = plan_locked(
            ws,
            state_backend(ws.stack, sandbox=True),
            mode=mode,
            targets=targets,
            parallelism=self.parallelism,
        )
        planned.release()
        return planned.plan

    def apply(self, *, mode: Mode = "normal", targets: list[str] | None = None) -> tuple[Plan, ApplyResult]:
        ws = self.workspace()
        planned = plan_locked(
            ws,
            state_backend(ws.stack, sandbox=True),
            mode=mode,
            targets=targets,
            parallelism=self.parallelism,
            operation="apply",
        )
        try:
            result = planned.apply(parallelism=self.parallelism, on_event=self.events.append)
        finally:
            planned.release()
        return planned.plan, result

    def edit(self, change: Callable[[str], str]) -> None:
        text = self.stack_file.read_text()
        new = change(text)
        if new == text:
            raise AssertionError("the edit changed nothing in the stack file")
        self.stack_file.write_text(new)


_PLUGINS = threading.Lock()


@contextmanager
def _installed(cls: type[Provider]) -> Iterator[None]:
    """Have provider lookups find `cls` under its name while opening a workspace. The lookup
    is swapped rather than copied from: `open_workspace` then checks the stack exactly as it
    checks one for an installed provider."""
    with _PLUGINS:
        found = plugins.provider_class

        def provider_class(name: str) -> type[Provider]:
            return cls if name == cls.name else found(name)

        plugins.provider_class = provider_class
        try:
            yield
        finally:
            plugins.provider_class = found


def actions(plan: Plan) -> dict[str, str]:
    """address -> action, without no-ops: the shape most assertions want."""
    return {c.address: c.action for c in plan.changes if c.action != "noop"}
