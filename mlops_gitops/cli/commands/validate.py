"""`mlops validate`: check the stack and its provider settings, offline."""

from __future__ import annotations

import json

import click

from mlops_gitops.cli.options import var_file_option, var_option, with_vars
from mlops_gitops.errors import MlopsError
from mlops_gitops.render.validate import validation_success, validation_warnings


@click.command()
@var_option
@var_file_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
@click.pass_context
def validate(ctx: click.Context, vars_: tuple[str, ...], var_files: tuple[str, ...], as_json: bool) -> None:
    """Check the stack file and its provider settings. Makes no cloud call."""
    from mlops_gitops.workspace import open_workspace

    opts = with_vars(ctx, vars_, var_files)
    try:
        # Binding the provider builds no client: every check here is offline.
        ws = open_workspace(opts.load_stack())
    except MlopsError as exc:
        if as_json:
            click.echo(json.dumps({"valid": False, "errors": exc.lines(), "warnings": []}, indent=2))
            ctx.exit(1)
        raise
    warnings = [str(w) for w in ws.warnings]
    doc = {"valid": True, "errors": [], "warnings": warnings, "resources": len(ws.stack.resources)}
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    for line in validation_warnings(doc):
        click.echo(line, err=True)
    click.echo(validation_success(doc, stack_path=str(ws.stack.path)))
