"""How the commands that read or edit state reach it: through the stack's backend, with no
provider and no cloud call (the stack is loaded only to find the backend)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_gitops.cli.context import Options
from mlops_gitops.errors import StateError

if TYPE_CHECKING:
    from mlops_gitops.stack.model import Stack
    from mlops_gitops.state.backend import StateBackend
    from mlops_gitops.state.model import ResourceState, StateDoc


def backend_of(opts: Options) -> tuple[Stack, StateBackend]:
    from mlops_gitops.cli.context import sandbox_state
    from mlops_gitops.workspace import state_backend

    stack = opts.load_stack()
    if opts.sandbox:
        return stack, sandbox_state(stack, [])[1]
    return stack, state_backend(stack, sandbox=False)


def read_state(opts: Options) -> tuple[Stack, StateBackend, StateDoc]:
    stack, backend = backend_of(opts)
    state = backend.read()
    if state is None:
        raise StateError("no state yet: run `mlops apply` first")
    return stack, backend, state


def resource_in_state(state: StateDoc, address: str) -> ResourceState:
    rs = state.get(address)
    if rs is None:
        from mlops_gitops.stack.suggest import did_you_mean

        raise StateError(f"no resource {address!r} in state{did_you_mean(address, state.addresses())}")
    return rs
