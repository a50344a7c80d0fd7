"""Planning under the state lock, as plan, apply and destroy do it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_gitops.cli.context import Options

if TYPE_CHECKING:
    from mlops_gitops.engine.operations import Planned
    from mlops_gitops.engine.plan import Mode
    from mlops_gitops.stack.model import Stack


def make_plan(
    opts: Options,
    *,
    mode: Mode,
    targets: list[str],
    parallelism: int,
    lock_op: str,
    stack: Stack | None = None,
    resolutions: dict[str, dict[str, Any]] | None = None,
) -> tuple[Stack, Planned]:
    """Load, lock, refresh and plan; the caller releases the lock."""
    from mlops_gitops.cli.context import open_all
    from mlops_gitops.engine.operations import plan_locked

    stack, ws, backend = open_all(opts, stack)
    planned = plan_locked(
        ws,
        backend,
        mode=mode,
        targets=targets,
        parallelism=parallelism,
        operation=lock_op,
        allow_downtime=opts.allow_downtime,
        resolutions=resolutions,
    )
    return stack, planned
