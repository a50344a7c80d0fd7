"""`mlops history [ADDRESS]`: what was deployed, promoted, rolled back and retired, when, by whom
and why, from the state's history (state/history.py). Reads state only: no lock, no cloud call."""

from __future__ import annotations

import json

import click

from mlops_gitops.cli.options import var_file_option, var_option, with_vars
from mlops_gitops.cli.state_access import read_state


@click.command()
@click.argument("address", required=False)
@click.option("--limit", type=click.IntRange(min=1), help="Show only the newest N events.")
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON, oldest first.")
@var_option
@var_file_option
@click.pass_context
def history(
    ctx: click.Context,
    address: str | None,
    limit: int | None,
    as_json: bool,
    vars_: tuple[str, ...],
    var_files: tuple[str, ...],
) -> None:
    """Show what was deployed, promoted, rolled back and retired: when, by whom and why (newest
    first). With ADDRESS, only its events; for a model, also the endpoints' events that name it."""
    from mlops_gitops.render.history import history_document, render_history

    stack, _backend, state = read_state(with_vars(ctx.find_root(), vars_, var_files))
    doc = history_document(stack.name, stack.environment, state.events, address, limit)
    if address is not None and not doc["events"]:
        known = {e.address for e in state.events} | set(state.addresses()) | set(stack.resources)
        if address not in known:
            from mlops_gitops.errors import StateError
            from mlops_gitops.stack.suggest import did_you_mean

            raise StateError(f"no history of {address!r}{did_you_mean(address, known)}")
    if as_json:
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
    else:
        click.echo(render_history(doc), nl=False)
