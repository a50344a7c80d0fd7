"""`mlops providers`: the installed providers and the kinds each can apply."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--json", "as_json", is_flag=True)
def providers(as_json: bool) -> None:
    """List installed providers and the kinds each can apply."""
    from mlops_gitops import plugins
    from mlops_gitops.errors import MlopsError
    from mlops_gitops.render.providers import render_providers

    rows = []
    for name, ep in sorted(plugins.available().items()):
        try:
            cls = plugins.provider_class(name)
            rows.append({"name": name, "module": ep.value, "kinds": sorted(cls.kinds), "error": None})
        except MlopsError as exc:
            rows.append({"name": name, "module": ep.value, "kinds": [], "error": str(exc)})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(render_providers(rows), nl=False)
