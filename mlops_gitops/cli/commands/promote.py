"""`mlops promote VARIABLE --from ENV --to ENV`: copy a variable's value from one environment to
another in the stack file, as a one-line change to commit and review (the target's plan then
shows exactly what it changes)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mlops_gitops.cli.context import options
from mlops_gitops.errors import MlopsError


@click.command()
@click.argument("variable")
@click.option(
    "--from", "source", required=True, metavar="ENV", help="The environment whose value is promoted."
)
@click.option("--to", "target", required=True, metavar="ENV", help="The environment that gets it.")
@click.pass_context
def promote(ctx: click.Context, variable: str, source: str, target: str) -> None:
    """Copy VARIABLE's value from one environment of the stack to another, in the stack file."""
    from mlops_gitops.files import atomic_write
    from mlops_gitops.stack import yamlpos
    from mlops_gitops.stack.promote import promote as promoted

    path = options(ctx).stack_path()
    try:
        text = yamlpos.read_source(path).decode("utf-8")
    except (yamlpos.SourceError, UnicodeDecodeError) as exc:
        raise MlopsError(f"{path}: {exc}") from None
    done = promoted(text, variable, source, target, file=str(path))
    if done.text == text:
        click.echo(f"environments.{target}.variables.{variable} already is the value of {source}.")
        return
    atomic_write(Path(path), done.text.encode("utf-8"))
    secret = _sensitive(text, variable)
    before = "(sensitive)" if secret else json.dumps(done.before)
    after = "(sensitive)" if secret else json.dumps(done.value)
    click.echo(
        f"{path}: environments.{target}.variables.{variable}: {before} -> {after} (from {source}). "
        f"Review it with: mlops --env {target} plan"
    )


def _sensitive(text: str, variable: str) -> bool:
    import yaml

    declared = (yaml.safe_load(text) or {}).get("variables", {}).get(variable)
    return isinstance(declared, dict) and bool(declared.get("sensitive"))
