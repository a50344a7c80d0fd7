"""`mlops show [PLAN_FILE]`: state, or a plan saved with `plan --out`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mlops_gitops.cli.options import var_file_option, var_option, with_vars
from mlops_gitops.cli.state_access import read_state


# State commands load the stack only to find its backend, but a backend or stack name may use
# variables, so they take the same variable flags as plan.
@click.command()
@click.argument("plan_file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="The JSON document (as --format json).")
@click.option(
    "--format",
    "format_",
    type=click.Choice(["text", "json", "markdown"]),
    help="text (the default), json, or markdown: a saved plan as its pull-request comment.",
)
@click.option(
    "--artifact-url",
    metavar="URL",
    envvar="MLOPS_PLAN_URL",
    help="Where the full plan is kept (a CI artifact): the Markdown comment links it (also MLOPS_PLAN_URL).",
)
@var_option
@var_file_option
@click.pass_context
def show(
    ctx: click.Context,
    plan_file: str | None,
    as_json: bool,
    format_: str | None,
    artifact_url: str | None,
    vars_: tuple[str, ...],
    var_files: tuple[str, ...],
) -> None:
    """Show state, or a plan saved with `plan --out`."""
    if as_json and format_ not in (None, "json"):
        raise click.UsageError(f"--json and --format {format_} ask for two formats: give one")
    format_ = "json" if as_json else format_ or "text"
    as_json = format_ == "json"
    if format_ == "markdown" and not plan_file:
        raise click.UsageError("--format markdown renders a plan: give the PLAN_FILE saved with `plan --out`")
    opts = with_vars(ctx, vars_, var_files)
    if plan_file:
        from mlops_gitops.cli.saved_plan import load_saved_plan
        from mlops_gitops.render.text import render_plan

        doc = load_saved_plan(Path(plan_file)).document()
        if format_ == "markdown":
            from mlops_gitops.render.markdown import render_markdown

            click.echo(render_markdown(doc, artifact_url=artifact_url), nl=False)
            return
        click.echo(json.dumps(doc, indent=2) if as_json else render_plan(doc, color=opts.color), nl=as_json)
        return
    from mlops_gitops.cli.state_documents import state_document
    from mlops_gitops.render.state import render_state

    stack, _, state = read_state(opts)
    doc = state_document(stack, state)
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(render_state(doc), nl=False)
