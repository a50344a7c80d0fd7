"""`mlops output [NAME]`: the outputs state records."""

from __future__ import annotations

import json

import click

from mlops_gitops.cli.options import var_file_option, var_option, with_vars
from mlops_gitops.cli.state_access import read_state
from mlops_gitops.errors import MlopsError


@click.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.option("--raw", is_flag=True, help="Print a string value without quotes (for scripts).")
@var_option
@var_file_option
@click.pass_context
def output(
    ctx: click.Context,
    name: str | None,
    as_json: bool,
    raw: bool,
    vars_: tuple[str, ...],
    var_files: tuple[str, ...],
) -> None:
    """Show the stack's outputs (a sensitive one only when asked for by name)."""
    from mlops_gitops.cli.state_documents import outputs_document
    from mlops_gitops.render.outputs import render_output_value, render_outputs

    _stack, _backend, state = read_state(with_vars(ctx, vars_, var_files))
    if name:
        if name not in state.outputs:
            from mlops_gitops.stack.suggest import did_you_mean

            raise MlopsError(f"no output named {name!r}{did_you_mean(name, state.outputs)}")
        value = state.outputs[name].get("value")
        # --raw is for scripts that want the bare string, with --json or without.
        if as_json and not (raw and isinstance(value, str)):
            click.echo(json.dumps(value, indent=2))
        else:
            click.echo(render_output_value(value, raw=raw))
        return
    doc = outputs_document(state.outputs)
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(render_outputs(doc), nl=False)
