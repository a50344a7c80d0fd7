"""`mlops rollback ADDRESS`: put an endpoint back on a configuration state recorded earlier."""

from __future__ import annotations

from typing import Any

import click

from mlops_gitops.cli.confirm import confirm
from mlops_gitops.cli.context import Options
from mlops_gitops.cli.interrupts import terminate_as_interrupt
from mlops_gitops.cli.options import var_file_option, var_option, with_vars
from mlops_gitops.errors import MlopsError, StateError
from mlops_gitops.render.rollback import (
    render_rollback_preview,
    rollback_done,
    rollback_progress,
    rollback_unneeded,
)


@click.command()
@click.argument("address")
@click.option(
    "--steps",
    default=1,
    show_default=True,
    type=click.IntRange(1, 5),
    help="How many recorded configurations to go back.",
)
@var_option
@var_file_option
@click.option("--auto-approve", is_flag=True, help="Roll back without asking for confirmation.")
@click.pass_context
def rollback(
    ctx: click.Context,
    address: str,
    steps: int,
    vars_: tuple[str, ...],
    var_files: tuple[str, ...],
    auto_approve: bool,
) -> None:
    """Put ADDRESS (an endpoint) back on its previous recorded configuration, now, without
    waiting for a git revert. The next plan shows the stack's newer configuration again."""
    opts = with_vars(ctx, vars_, var_files)
    ctx.exit(_rollback(opts, address, steps, auto_approve))


def rollback_event(
    ws: Any, kind: str, address: str, before: dict[str, Any], after: dict[str, Any], steps: int
) -> Any:
    """The history event of a rollback: what the endpoint served before and serves now."""
    from mlops_gitops.state import history
    from mlops_gitops.state.model import utc_now

    return history.Event(
        at=utc_now(),
        address=address,
        event="rolled_back",
        by=history.actor(),
        reason=f"mlops rollback --steps {steps}",
        detail={
            "from": history.serving_detail(ws.provider.serving(kind, before)),  # type: ignore[dict-item]
            "serving": history.serving_detail(ws.provider.serving(kind, after)),  # type: ignore[dict-item]
        },
        source=history.source(),
    )


def _rollback(opts: Options, address: str, steps: int, auto_approve: bool) -> int:
    from mlops_gitops.cli.context import open_all
    from mlops_gitops.engine.diff import compare
    from mlops_gitops.engine.operations import StandaloneContext
    from mlops_gitops.engine.planner import sensitive_paths
    from mlops_gitops.state.model import utc_now

    stack, ws, backend = open_all(opts)
    address = address if "." in address else f"endpoint.{address}"
    with backend.locked("rollback") as lock:
        state = backend.read()
        rs = state.get(address) if state else None
        if state is None or rs is None:
            raise StateError(f"{address} is not in state: nothing to roll back")
        if len(rs.history) < steps:
            raise StateError(
                f"{address}: {len(rs.history)} earlier configuration(s) recorded, cannot go back {steps}"
            )
        current = ws.provider.read(rs.kind, rs.attributes)
        if current is None:
            raise StateError(f"{address} no longer exists in the cloud; run plan to recreate it")
        target = rs.history[steps - 1]
        rtype = ws.provider.kinds[rs.kind]
        # A secret (a sensitive variable's value in an environment) is never shown.
        hidden = sensitive_paths(ws.stack.resources.get(address), rs)
        changes = compare(current, target, skip=rtype.computed + rtype.not_drift, sensitive=hidden)
        doc: dict[str, Any] = {
            "address": address,
            "steps": steps,
            "changes": [
                {k: v for k, v in c.document().items() if k in ("path", "before", "after")} for c in changes
            ],
        }
        if not changes:
            click.echo(rollback_unneeded(doc))
            return 0
        click.echo(render_rollback_preview(doc), nl=False)
        if not auto_approve:
            confirm("rollback")
        ctx = StandaloneContext(
            stack.name,
            address,
            lambda msg, elapsed: click.echo(rollback_progress(address, elapsed, msg)),
        )
        # Written ahead, as apply does: a rollback killed part way is finished (and what it made
        # cleaned up) by the next apply.
        rs.pending = {"action": "update", "since": utc_now(), "recorded": dict(current)}
        backend.write(state)
        try:
            with terminate_as_interrupt():
                attrs = ws.provider.rollback(rs.kind, current, target, ctx)
        except MlopsError:
            # The provider saw its own failure through; keep what it recorded it had made.
            rs.pending = None
            if ctx.checkpointed:
                rs.attributes = {**rs.attributes, **ctx.checkpointed}
            backend.write(state)
            raise
        rs.pending = None
        rs.record(attrs)
        rs.rolled_back = {"at": utc_now(), "by": lock.who, "from": {c.path: c.before for c in changes}}
        state.put(rs)
        state.add_event(rollback_event(ws, rs.kind, address, current, attrs, steps))
        backend.write(state)
    click.echo(rollback_done(doc))
    return 0
