"""`mlops force-unlock LOCK_ID`: release a state lock left by a command that died."""

from __future__ import annotations

import dataclasses

import click

from mlops_gitops.cli.options import var_file_option, var_option, with_vars
from mlops_gitops.cli.state_access import backend_of
from mlops_gitops.errors import MlopsError, StateError
from mlops_gitops.render.state import lock_holder, state_unlocked


@click.command("force-unlock")
@click.argument("lock_id")
@click.option("--force", is_flag=True, help="Do not ask for confirmation.")
@var_option
@var_file_option
@click.pass_context
def force_unlock(
    ctx: click.Context, lock_id: str, force: bool, vars_: tuple[str, ...], var_files: tuple[str, ...]
) -> None:
    """Release a state lock left by a command that died."""
    _stack, backend = backend_of(with_vars(ctx, vars_, var_files))
    info = backend.lock_info()
    if info is None:
        raise StateError("state is not locked")
    if not force:
        click.echo(lock_holder(dataclasses.asdict(info)))
        if not click.confirm("Release it? Only do this if that command is no longer running"):
            raise MlopsError("force-unlock cancelled")
    backend.force_unlock(lock_id)
    click.echo(state_unlocked())
