"""`mlops apply [PLAN_FILE]`: make the cloud match the stack, or apply a saved plan exactly."""

from __future__ import annotations

from pathlib import Path

import click

from mlops_gitops.cli.applying import apply_plan, apply_saved_plan
from mlops_gitops.cli.options import allow_downtime_option, planning_options, with_vars
from mlops_gitops.errors import MlopsError


@click.command()
@click.argument("plan_file", required=False, type=click.Path(exists=True, dir_okay=False))
@planning_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--refresh-only", is_flag=True, help="Only record changes made outside mlops in state.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan and result as JSON.")
@allow_downtime_option
@click.pass_context
def apply(
    ctx: click.Context,
    plan_file: str | None,
    vars_: tuple[str, ...],
    var_files: tuple[str, ...],
    targets: tuple[str, ...],
    parallelism: int,
    auto_approve: bool,
    refresh_only: bool,
    as_json: bool,
    allow_downtime: bool,
) -> None:
    """Make the cloud match the stack (or apply a plan saved with `plan --out`)."""
    opts = with_vars(ctx, vars_, var_files)
    opts.allow_downtime = allow_downtime
    if plan_file:
        given = [
            flag
            for flag, value in (
                ("--var", vars_),
                ("--var-file", var_files),
                ("--target", targets),
                ("--refresh-only", refresh_only),
            )
            if value
        ]
        if given:
            raise MlopsError(
                f"{plan_file} is a saved plan: it carries its own variables, targets and mode, "
                f"so {', '.join(given)} cannot be given with it"
            )
        ctx.exit(apply_saved_plan(Path(plan_file), opts, parallelism, as_json))
    ctx.exit(
        apply_plan(
            opts,
            mode="refresh-only" if refresh_only else "normal",
            targets=list(targets),
            parallelism=parallelism,
            auto_approve=auto_approve,
            as_json=as_json,
        )
    )
