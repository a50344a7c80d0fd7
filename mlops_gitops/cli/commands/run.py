"""`mlops run ADDRESS`: start a batch job (or a retraining schedule's pipeline) now and follow it."""

from __future__ import annotations

from typing import Any

import click

from mlops_gitops.cli.context import Options
from mlops_gitops.cli.interrupts import terminate_as_interrupt
from mlops_gitops.cli.options import var_file_option, var_option, with_vars
from mlops_gitops.errors import MlopsError, StateError

# The kinds that can be run, and the kind an address without one means.
RUNNABLE = ("batch_job", "schedule")


@click.command()
@click.argument("address")
@var_option
@var_file_option
@click.option("--no-wait", is_flag=True, help="Start the run and return at once, without following it.")
@click.pass_context
def run(
    ctx: click.Context, address: str, vars_: tuple[str, ...], var_files: tuple[str, ...], no_wait: bool
) -> None:
    """Start ADDRESS (a batch job, or a retraining schedule's pipeline) now and follow it to the end.

    The run is the one the applied resource describes, as its cron or trigger would start it. Its
    progress is printed as it goes; the exit code is 0 when it succeeds and 1 when it fails, with
    the cloud's reason. Ctrl-C stops following it: the run goes on in the cloud. State is only
    read (no lock is held for the run's duration)."""
    opts = with_vars(ctx, vars_, var_files)
    ctx.exit(_run(opts, address, wait=not no_wait))


def _run(opts: Options, address: str, *, wait: bool) -> int:
    from mlops_gitops.cli.context import open_all
    from mlops_gitops.engine.operations import StandaloneContext
    from mlops_gitops.render import run as lines

    address = address if "." in address else f"batch_job.{address}"
    kind = address.split(".", 1)[0]
    if kind not in RUNNABLE:
        raise MlopsError(f"{address}: only batch jobs and schedules run on demand, not {kind} resources")
    stack, ws, backend = open_all(opts)
    state = backend.read()
    rs = state.get(address) if state else None
    if rs is None:
        raise StateError(
            f"{address} is not applied yet: run mlops apply first"
            if address in stack.resources
            else f"{address} is neither in the stack nor in state"
        )
    ctx = StandaloneContext(
        stack.name,
        address,
        lambda message, seconds: click.echo(lines.run_progress(address, seconds, message)),
    )
    click.echo(lines.run_starting(address))
    try:
        with terminate_as_interrupt():
            result: dict[str, Any] = ws.provider.run(rs.kind, rs.attributes, ctx, wait=wait)
    except KeyboardInterrupt:
        ctx.cancel.set()
        click.echo(lines.run_detached(address), err=True)
        return 130
    if not wait:
        click.echo(lines.run_started(address, result))
        return 0
    for line in lines.run_done(address, result):
        click.echo(line)
    return 0
