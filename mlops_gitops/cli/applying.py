"""Plan, ask, apply and report, as apply and destroy do it; and applying a saved plan."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mlops_gitops.cli.confirm import confirm
from mlops_gitops.cli.context import Options
from mlops_gitops.cli.interrupts import terminate_as_interrupt
from mlops_gitops.cli.planning import make_plan
from mlops_gitops.errors import Diagnostic, MlopsError

if TYPE_CHECKING:
    from mlops_gitops.engine.applier import ApplyResult
    from mlops_gitops.engine.plan import Mode
    from mlops_gitops.stack.model import Stack


def apply_plan(
    opts: Options,
    *,
    mode: Mode,
    targets: list[str],
    parallelism: int,
    auto_approve: bool,
    as_json: bool,
    expected: dict[str, Any] | None = None,
    stack: Stack | None = None,
) -> int:
    """Plan under the lock, show the plan and ask (unless `expected`, a saved plan's document
    that the new plan must match), apply, and print the apply result document or its summary."""
    from mlops_gitops.cli.state_documents import outputs_document
    from mlops_gitops.render.apply import apply_failure_lines, render_apply_summary
    from mlops_gitops.render.text import render_plan

    # A saved plan's lookups (which registry version `latest-approved` named) are what its
    # reviewer saw: the re-plan uses them instead of looking again.
    resolutions = (
        {
            c["address"]: c["resolved"]
            for c in expected.get("resource_changes", [])
            if c.get("resolved") and not c.get("resolved_unknown")
        }
        if expected is not None
        else None
    )
    _stack, planned = make_plan(
        opts,
        mode=mode,
        targets=targets,
        parallelism=parallelism,
        lock_op="apply",
        stack=stack,
        resolutions=resolutions,
    )
    the_plan = planned.plan
    try:
        doc = the_plan.document()
        if expected is not None:
            from mlops_gitops.cli.saved_plan import check_unchanged

            check_unchanged(expected, doc)
        if not as_json and expected is None:  # a saved plan was shown when it was made
            click.echo(render_plan(doc, color=opts.color), nl=False)
        if not the_plan.has_changes:
            if as_json:
                click.echo(json.dumps(result_document(doc), indent=2))
            return 0
        if not auto_approve and expected is None:
            confirm(mode)
        from mlops_gitops.cli.progress import ProgressPrinter

        printer = ProgressPrinter(color=opts.color, interactive=sys.stdout.isatty(), err=as_json)
        with terminate_as_interrupt():
            result = planned.apply(parallelism=parallelism, on_event=printer)
    finally:
        planned.release()
    report = result_document(doc, result)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    if result.errors:
        lines = apply_failure_lines(report)
        raise MlopsError(lines[0], [Diagnostic(line) for line in lines])
    if not as_json:
        outputs = outputs_document(planned.state.outputs)
        click.echo(render_apply_summary(report, outputs, color=opts.color), nl=False)
    return 0


def result_document(plan: dict[str, Any], result: ApplyResult | None = None) -> dict[str, Any]:
    """The apply result document: the plan applied, what was done and what failed."""
    return {
        "plan": plan,
        "applied": [list(d) for d in result.done] if result else [],
        "errors": [{"address": a, "message": m} for a, m in result.errors] if result else [],
    }


def apply_saved_plan(path: Path, opts: Options, parallelism: int, as_json: bool) -> int:
    """Apply a plan saved with `plan --out`, on the stack and cloud this command is for."""
    from mlops_gitops.cli.saved_plan import load_saved_plan, stack_for_apply

    saved = load_saved_plan(path)
    stack = stack_for_apply(path, saved, opts)  # refuses another stack or cloud, offline
    doc = saved.plan
    # What the saved plan shows was reviewed, a replacement with downtime included: the re-plan
    # must come out the same (checked in apply_plan) or nothing is applied.
    opts.allow_downtime = True
    return apply_plan(
        opts,
        mode=doc.mode,
        targets=list(doc.targets),
        parallelism=parallelism,
        auto_approve=True,
        as_json=as_json,
        expected=saved.document(),
        stack=stack,
    )
