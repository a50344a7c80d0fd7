"""plan, apply, destroy."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from mlops_gitops.cli.context import Options
from mlops_gitops.errors import MlopsError, StateError


def _render(doc: dict[str, Any], opts: Options) -> str:
    from mlops_gitops.render.text import render_plan

    return render_plan(doc, color=opts.color)


def _make_plan(
    opts: Options, *, mode: str, targets: list[str], parallelism: int, lock_op: str, stack: Any = None
):
    """Load, lock, refresh and plan; the caller releases the lock."""
    from mlops_gitops.cli.context import open_all
    from mlops_gitops.engine.operations import plan_locked

    stack, ws, backend = open_all(opts, stack)
    planned = plan_locked(
        ws,
        backend,
        mode=mode,
        targets=targets,
        parallelism=parallelism,  # type: ignore[arg-type]
        operation=lock_op,
        allow_downtime=opts.allow_downtime,
    )
    return stack, planned


allow_downtime_option = click.option(
    "--allow-downtime",
    is_flag=True,
    help="Accept a plan that replaces a serving endpoint by deleting it first.",
)


def _exit_code(plan_has_changes: bool, detailed: bool) -> int:
    return 2 if detailed and plan_has_changes else 0


def register(cli: click.Group) -> None:
    from mlops_gitops.cli.main import (
        parallelism_option,
        target_option,
        var_file_option,
        var_option,
        with_vars,
    )

    @cli.command()
    @var_option
    @var_file_option
    @target_option
    @parallelism_option
    @click.option(
        "--out", "out", type=click.Path(dir_okay=False), help="Save the plan for `mlops apply FILE`."
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the plan's JSON document.")
    @click.option("--detailed-exitcode", is_flag=True, help="Exit 0: no changes, 1: error, 2: changes.")
    @click.option("--refresh-only", is_flag=True, help="Only record changes made outside mlops.")
    @click.option("--destroy", is_flag=True, help="Plan to destroy everything in state.")
    @allow_downtime_option
    @click.pass_context
    def plan(
        ctx: click.Context,
        vars_: tuple[str, ...],
        var_files: tuple[str, ...],
        targets: tuple[str, ...],
        parallelism: int,
        out: str | None,
        as_json: bool,
        detailed_exitcode: bool,
        refresh_only: bool,
        destroy: bool,
        allow_downtime: bool,
    ) -> None:
        """Show what apply would change."""
        opts = with_vars(ctx, vars_, var_files)
        opts.allow_downtime = allow_downtime
        mode = "refresh-only" if refresh_only else "destroy" if destroy else "normal"
        stack, planned = _make_plan(
            opts, mode=mode, targets=list(targets), parallelism=parallelism, lock_op="plan"
        )
        planned.release()
        the_plan = planned.plan
        doc = the_plan.document()
        if as_json:
            click.echo(json.dumps(doc, indent=2))
        else:
            click.echo(_render(doc, opts), nl=False)
        if out:
            from mlops_gitops.cli.saved_plan import save_plan

            save_plan(Path(out), doc, stack, sandbox=opts.sandbox)
            if not as_json:
                click.echo(
                    f"\nSaved the plan to {out}. To perform exactly these actions, run: mlops apply {out}"
                )
        ctx.exit(_exit_code(the_plan.has_changes, detailed_exitcode))

    @cli.command()
    @click.argument("plan_file", required=False, type=click.Path(exists=True, dir_okay=False))
    @var_option
    @var_file_option
    @target_option
    @parallelism_option
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
            ctx.exit(_apply_saved(Path(plan_file), opts, parallelism, as_json))
        mode = "refresh-only" if refresh_only else "normal"
        ctx.exit(
            _run(
                opts,
                mode=mode,
                targets=list(targets),
                parallelism=parallelism,
                auto_approve=auto_approve,
                as_json=as_json,
            )
        )

    @cli.command()
    @click.argument("address")
    @click.option(
        "--steps",
        default=1,
        show_default=True,
        type=click.IntRange(1, 5),
        help="How many recorded configurations to go back.",
    )
    @var_option
    @var_file_option
    @click.option("--auto-approve", is_flag=True, help="Roll back without asking for confirmation.")
    @click.pass_context
    def rollback(
        ctx: click.Context,
        address: str,
        steps: int,
        vars_: tuple[str, ...],
        var_files: tuple[str, ...],
        auto_approve: bool,
    ) -> None:
        """Put ADDRESS (an endpoint) back on its previous recorded configuration, now, without
        waiting for a git revert. The next plan shows the stack's newer configuration again."""
        opts = with_vars(ctx, vars_, var_files)
        ctx.exit(_rollback(opts, address, steps, auto_approve))

    @cli.command()
    @var_option
    @var_file_option
    @target_option
    @parallelism_option
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
            _run(
                opts,
                mode="destroy",
                targets=list(targets),
                parallelism=parallelism,
                auto_approve=auto_approve,
                as_json=as_json,
            )
        )


def _rollback(opts: Options, address: str, steps: int, auto_approve: bool) -> int:
    from mlops_gitops.cli.context import open_all
    from mlops_gitops.engine.diff import compare
    from mlops_gitops.engine.operations import StandaloneContext
    from mlops_gitops.state.model import utc_now

    stack, ws, backend = open_all(opts)
    address = address if "." in address else f"endpoint.{address}"
    with backend.locked("rollback") as lock:
        state = backend.read()
        rs = state.get(address) if state else None
        if state is None or rs is None:
            raise StateError(f"{address} is not in state: nothing to roll back")
        if len(rs.history) < steps:
            raise StateError(
                f"{address}: {len(rs.history)} earlier configuration(s) recorded, cannot go back {steps}"
            )
        current = ws.provider.read(rs.kind, rs.attributes)
        if current is None:
            raise StateError(f"{address} no longer exists in the cloud; run plan to recreate it")
        target = rs.history[steps - 1]
        rtype = ws.provider.kinds[rs.kind]
        changes = compare(current, target, skip=rtype.computed + rtype.not_drift)
        if not changes:
            click.echo(f"{address} already runs that configuration.")
            return 0
        click.echo(f"{address} goes back to the configuration recorded {steps} apply(s) ago:")
        width = max(len(c.path) for c in changes)
        for c in changes:
            click.echo(f"  ~ {c.path.ljust(width)} = {json.dumps(c.before)} -> {json.dumps(c.after)}")
        if not auto_approve:
            _confirm("rollback")
        ctx = StandaloneContext(
            stack.name,
            address,
            lambda msg, elapsed: click.echo(
                f"{address}: Still rolling back... [{elapsed:.0f}s elapsed] {msg}"
            ),
        )
        # Written ahead, as apply does: a rollback killed part way is finished (and what it made
        # cleaned up) by the next apply.
        rs.pending = {"action": "update", "since": utc_now(), "recorded": dict(current)}
        backend.write(state)
        try:
            with _terminate_as_interrupt():
                attrs = ws.provider.rollback(rs.kind, current, target, ctx)
        except MlopsError:
            # The provider saw its own failure through; keep what it recorded it had made.
            rs.pending = None
            if ctx.checkpointed:
                rs.attributes = {**rs.attributes, **ctx.checkpointed}
            backend.write(state)
            raise
        rs.pending = None
        rs.record(attrs)
        rs.rolled_back = {"at": utc_now(), "by": lock.who, "from": {c.path: c.before for c in changes}}
        state.put(rs)
        backend.write(state)
    click.echo(
        f"\n{address} rolled back. The stack still asks for the newer configuration: the next plan "
        "shows it. Revert the change in git to make the rollback permanent, or apply to roll forward."
    )
    return 0


def _run(
    opts: Options,
    *,
    mode: str,
    targets: list[str],
    parallelism: int,
    auto_approve: bool,
    as_json: bool,
    expected: dict[str, Any] | None = None,
    stack: Any = None,
) -> int:
    _stack, planned = _make_plan(
        opts, mode=mode, targets=targets, parallelism=parallelism, lock_op="apply", stack=stack
    )
    the_plan = planned.plan
    try:
        doc = the_plan.document()
        if expected is not None:
            from mlops_gitops.cli.saved_plan import check_unchanged

            check_unchanged(expected, doc)
        if not as_json and expected is None:  # a saved plan was shown when it was made
            click.echo(_render(doc, opts), nl=False)
        if not the_plan.has_changes:
            if as_json:
                click.echo(json.dumps({"plan": doc, "applied": [], "errors": []}, indent=2))
            return 0
        if not auto_approve and expected is None:
            _confirm(mode)
        from mlops_gitops.cli.progress import ProgressPrinter

        printer = ProgressPrinter(color=opts.color, interactive=sys.stdout.isatty(), err=as_json)
        with _terminate_as_interrupt():
            result = planned.apply(parallelism=parallelism, on_event=printer)
    finally:
        planned.release()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "plan": doc,
                    "applied": [list(d) for d in result.done],
                    "errors": [{"address": a, "message": m} for a, m in result.errors],
                },
                indent=2,
            )
        )
    if result.errors:
        lines = [f"{addr}: {msg}" for addr, msg in result.errors]
        done = len(result.done)
        lines.append(
            f"{done} operation{'s' if done != 1 else ''} completed before the failure; "
            "state records what exists."
        )
        raise MlopsError(lines[0], [_diag(line) for line in lines])
    if not as_json:
        from mlops_gitops.render.text import render_apply_summary

        if mode == "refresh-only":
            click.echo("\nRefresh complete: state now matches the cloud.")
        else:
            click.echo(
                "\n" + render_apply_summary(the_plan.counts(), destroy=mode == "destroy", color=opts.color),
                nl=False,
            )
            if mode != "destroy":
                _print_outputs(planned.state.outputs)
    return 0


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a cancelled CI job, `kill`) during apply is handled as Ctrl-C: waiting stops,
    what was made is recorded and the lock released, instead of dying with state behind."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (an embedding caller): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _diag(line: str):
    from mlops_gitops.errors import Diagnostic

    return Diagnostic(line)


def _print_outputs(outputs: dict[str, Any]) -> None:
    if outputs:
        click.echo("\nOutputs:\n")
        width = max(len(n) for n in outputs)
        for name, out in outputs.items():
            value = "(sensitive)" if out.get("sensitive") else json.dumps(out.get("value"))
            click.echo(f"{name.ljust(width)} = {value}")


def _confirm(mode: str) -> None:
    if not sys.stdin.isatty():
        raise MlopsError("no terminal to confirm on: re-run with --auto-approve (or apply a saved plan)")
    what = "destroy every resource of this stack" if mode == "destroy" else "perform these actions"
    click.echo(f"Do you want to {what}? Only 'yes' will be accepted.")
    answer = click.prompt("  Enter a value", default="", show_default=False)
    if answer.strip() != "yes":
        raise MlopsError("apply cancelled")


# ------------------------------------------------------------------------------ saved plans
def _apply_saved(path: Path, opts: Options, parallelism: int, as_json: bool) -> int:
    """Apply a plan saved with `plan --out`, on the stack and cloud this command is for."""
    from mlops_gitops.cli.saved_plan import load_saved_plan, stack_for_apply

    saved = load_saved_plan(path)
    stack = stack_for_apply(path, saved, opts)  # refuses another stack or cloud, offline
    doc = saved.plan
    # What the saved plan shows was reviewed, a replacement with downtime included: the re-plan
    # must come out the same (checked in _run) or nothing is applied.
    opts.allow_downtime = True
    return _run(
        opts,
        mode=doc.mode,
        targets=list(doc.targets),
        parallelism=parallelism,
        auto_approve=True,
        as_json=as_json,
        expected=saved.document(),
        stack=stack,
    )
