"""`mlops destroy`: destroy everything the stack manages, dependents first."""

from __future__ import annotations

import click

from mlops_gitops.cli.applying import apply_plan
from mlops_gitops.cli.options import planning_options, with_vars


@click.command()
@planning_options
@click.option("--auto-approve", is_flag=True, help="Destroy without asking for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan and result as JSON.")
@click.pass_context
def destroy(
    ctx: click.Context,
    vars_: tuple[str, ...],
    var_files: tuple[str, ...],
    targets: tuple[str, ...],
    parallelism: int,
    auto_approve: bool,
    as_json: bool,
) -> None:
    """Destroy everything this stack manages."""
    opts = with_vars(ctx, vars_, var_files)
    ctx.exit(
        apply_plan(
            opts,
            mode="destroy",
            targets=list(targets),
            parallelism=parallelism,
            auto_approve=auto_approve,
            as_json=as_json,
        )
    )
