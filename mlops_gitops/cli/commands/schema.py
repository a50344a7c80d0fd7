"""`mlops schema`: the stack file's JSON Schema, for editors."""

from __future__ import annotations

import json

import click


@click.command()
def schema() -> None:
    """Print the stack file's JSON Schema (for editor completion)."""
    from mlops_gitops import plugins
    from mlops_gitops.errors import MlopsError
    from mlops_gitops.stack.jsonschema import stack_schema

    providers = {}
    for name in plugins.available():
        try:
            providers[name] = plugins.provider_class(name)
        except MlopsError as exc:  # a broken plugin leaves its blocks out, and says so
            click.echo(f"warning: {exc}", err=True)
    click.echo(json.dumps(stack_schema(providers), indent=2))
