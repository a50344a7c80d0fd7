"""`mlops plan`: show what apply would change, or save it for `mlops apply FILE`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlops_gitops.cli.options import allow_downtime_option, planning_options, with_vars
from mlops_gitops.cli.planning import make_plan

if TYPE_CHECKING:
    from mlops_gitops.engine.plan import Mode


@click.command()
@planning_options
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Save the plan for `mlops apply FILE`.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan's JSON document (as --format json).")
@click.option(
    "--format",
    "format_",
    type=click.Choice(["text", "json", "markdown"]),
    help="text (the default), json (the plan's JSON document) or markdown (the pull-request comment).",
)
@click.option(
    "--artifact-url",
    metavar="URL",
    envvar="MLOPS_PLAN_URL",
    help="Where the full plan is kept (a CI artifact): the Markdown comment links it (also MLOPS_PLAN_URL).",
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0: no changes, 1: error, 2: changes.")
@click.option("--refresh-only", is_flag=True, help="Only record changes made outside mlops.")
@click.option("--destroy", is_flag=True, help="Plan to destroy everything in state.")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False),
    help="Check the plan against this policy file's rules (`mlops policy`): exit 1 on a violation.",
)
@allow_downtime_option
@click.option(
    "--all", "all_stacks", is_flag=True, help="Plan every stack under DIR (default: .), in every environment."
)
@click.argument("directory", required=False, metavar="[DIR]")
@click.pass_context
def plan(
    ctx: click.Context,
    vars_: tuple[str, ...],
    var_files: tuple[str, ...],
    targets: tuple[str, ...],
    parallelism: int,
    out: str | None,
    as_json: bool,
    format_: str | None,
    artifact_url: str | None,
    detailed_exitcode: bool,
    refresh_only: bool,
    destroy: bool,
    policy_file: str | None,
    allow_downtime: bool,
    all_stacks: bool,
    directory: str | None,
) -> None:
    """Show what apply would change."""
    from mlops_gitops.render.text import render_plan, saved_plan_note

    if all_stacks or directory:
        _plan_all(
            ctx,
            directory,
            parallelism,
            detailed_exitcode,
            conflicting=bool(
                vars_ or var_files or targets or out or as_json or refresh_only or destroy or not all_stacks
            )
            or format_ not in (None, "text")
            or policy_file is not None,
        )
        return
    if as_json and format_ not in (None, "json"):
        raise click.UsageError(f"--json and --format {format_} ask for two formats: give one")
    format_ = "json" if as_json else format_ or "text"
    as_json = format_ == "json"
    opts = with_vars(ctx, vars_, var_files)
    opts.allow_downtime = allow_downtime
    rules = None
    if policy_file:  # read before planning: a bad policy file fails before any cloud call
        from mlops_gitops.review.policy import load_policy

        rules = load_policy(Path(policy_file))
    mode: Mode = "refresh-only" if refresh_only else "destroy" if destroy else "normal"
    stack, planned = make_plan(
        opts, mode=mode, targets=list(targets), parallelism=parallelism, lock_op="plan"
    )
    planned.release()
    the_plan = planned.plan
    doc = the_plan.document()
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    elif format_ == "markdown":
        from mlops_gitops.render.markdown import render_markdown

        click.echo(render_markdown(doc, artifact_url=artifact_url), nl=False)
    else:
        click.echo(render_plan(doc, color=opts.color), nl=False)
    if out:
        from mlops_gitops.cli.saved_plan import save_plan

        save_plan(Path(out), doc, stack, sandbox=opts.sandbox)
        if format_ == "text":
            click.echo(saved_plan_note(out))
    if rules is not None and policy_file:
        from mlops_gitops.review.policy import evaluate, report

        violations = evaluate(rules, doc)
        for line in report(violations, policy_file):
            click.echo(line, err=format_ != "text")  # stdout stays the JSON document or the comment
        if violations:
            ctx.exit(1)
    ctx.exit(2 if detailed_exitcode and the_plan.has_changes else 0)


def _plan_all(
    ctx: click.Context, directory: str | None, parallelism: int, detailed: bool, *, conflicting: bool
) -> None:
    from mlops_gitops.cli.context import options
    from mlops_gitops.cli.plan_all import exit_code, plan_all
    from mlops_gitops.errors import MlopsError
    from mlops_gitops.render.plan_all import render_plan_all

    if conflicting:
        raise MlopsError(
            "plan DIR needs --all, and --all plans each stack as it is: it takes no --var, --var-file, "
            "--target, --out, --json, --format, --refresh-only, --destroy or --policy"
        )
    if options(ctx).backend_config:
        raise MlopsError(
            "--backend-config sets one stack's backend, and --all plans many: give each stack its "
            "backend in its file (or plan them one by one)"
        )
    root = Path(directory or ".").resolve()
    outcomes = plan_all(root, sandbox=options(ctx).sandbox, parallelism=parallelism)
    click.echo(render_plan_all(root, outcomes), nl=False)
    ctx.exit(exit_code(outcomes, detailed=detailed))
