"""`mlops import ADDRESS CLOUD_ID`: adopt an existing cloud object as a resource of the stack."""

from __future__ import annotations

from pathlib import Path

import click

from mlops_gitops.cli.options import with_vars
from mlops_gitops.errors import MlopsError
from mlops_gitops.render.imports import generated_config_note, render_import_summary


@click.command("import")
@click.argument("address")
@click.argument("cloud_id")
@click.option(
    "--generate-config",
    "generate",
    type=click.Path(dir_okay=False),
    help="Write stack YAML for ADDRESS (and what it refers to) to this new file.",
)
@click.option("--var", "vars_", multiple=True, metavar="NAME=VALUE")
@click.option("--var-file", "var_files", multiple=True)
@click.pass_context
def import_(
    ctx: click.Context,
    address: str,
    cloud_id: str,
    generate: str | None,
    vars_: tuple[str, ...],
    var_files: tuple[str, ...],
) -> None:
    """Adopt the existing cloud object CLOUD_ID as ADDRESS (e.g. endpoint.fraud-api fraud-api).

    The stack must declare ADDRESS; objects it refers to that the stack also declares (an
    endpoint's models) are adopted with it. With --generate-config, the YAML to declare them
    is written first: add it to the stack, then run the import again."""
    from mlops_gitops.cli.context import open_all
    from mlops_gitops.cli.importing import adopt, generate_config

    opts = with_vars(ctx, vars_, var_files)
    stack, ws, backend = open_all(opts)
    kind, _, name = address.partition(".")
    if kind not in ws.provider.kinds or not name:
        raise MlopsError(f"{address}: expected <kind>.<name> with kind one of {', '.join(ws.provider.kinds)}")
    if generate:
        click.echo(generated_config_note(generate_config(Path(generate), ws, kind, name, cloud_id)))
        return
    if address not in stack.resources:
        from mlops_gitops.stack.suggest import did_you_mean

        raise MlopsError(
            f"{address}: the stack declares no such resource{did_you_mean(address, stack.resources)}; "
            "add it to the stack first (--generate-config FILE writes the YAML for it)"
        )
    with backend.locked("import"):
        imported = adopt(stack, ws, backend, address, cloud_id)
    click.echo(render_import_summary(imported), nl=False)
