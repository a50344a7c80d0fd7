"""The `mlops` command line. Commands are thin: parse flags, call the engine, pick a renderer,
choose the exit code. Heavy modules (providers' SDKs, jinja2) load only in the commands that
need them, so `mlops --help` and `mlops validate` stay fast."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import click

from mlops_gitops import __version__
from mlops_gitops.cli.context import Options, make_options, options, parse_vars
from mlops_gitops.errors import MlopsError

var_option = click.option(
    "--var", "vars_", multiple=True, metavar="NAME=VALUE", help="Set a stack variable (repeatable)."
)
# A plain string: the stack loader reads the file and says in one line what is wrong with it
# (click.Path would print a usage block for a directory).
var_file_option = click.option(
    "--var-file",
    "var_files",
    multiple=True,
    metavar="FILE",
    help="YAML/JSON file of variable values (repeatable).",
)
target_option = click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="ADDRESS",
    help="Limit to this resource (and its dependencies); repeatable.",
)
parallelism_option = click.option(
    "--parallelism",
    default=10,
    show_default=True,
    type=click.IntRange(1, 256),
    help="How many cloud operations run at once.",
)


def with_vars(ctx: click.Context, vars_: tuple[str, ...], var_files: tuple[str, ...]) -> Options:
    opts = options(ctx)
    opts.cli_vars = parse_vars(vars_)
    opts.var_files = list(var_files)
    return opts


def _chdir(directory: str) -> None:
    # As Terraform's -chdir: every relative path (stack, --var-file, plan files) is then
    # relative to DIR.
    try:
        os.chdir(directory)
    except OSError as exc:
        raise MlopsError(f"--chdir {directory}: {(exc.strerror or str(exc)).lower()}") from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-f", "--file", "file_", metavar="FILE", help="Stack file (default: ./stack.yaml).")
@click.option("--chdir", metavar="DIR", help="Act on the stack in DIR.")
@click.option("--sandbox", is_flag=True, help="Use the local emulators (also MLOPS_SANDBOX=1).")
@click.option("--no-color", is_flag=True, help="Plain output (also NO_COLOR).")
@click.version_option(__version__, prog_name="mlops")
@click.pass_context
def cli(ctx: click.Context, file_: str | None, chdir: str | None, sandbox: bool, no_color: bool) -> None:
    """Plan and apply ML deployments (models, endpoints, monitors, retraining schedules) on
    SageMaker and Vertex AI from a declarative stack file.

    These options may also follow the command, as in `mlops plan --sandbox`."""
    if chdir:
        _chdir(chdir)
    ctx.obj = make_options(file_, None, sandbox, no_color)


# The global options again, on every command: users type `mlops plan --sandbox` as often as
# `mlops --sandbox plan`. They run after the group's own (which has made the Options), so each
# only amends them. Hidden from each command's help, which would otherwise repeat them all.
def _after_file(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        options(ctx).file = value


def _after_chdir(_ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        _chdir(value)


def _after_sandbox(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        options(ctx).sandbox = True


def _after_no_color(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        options(ctx).color = False


def _global_params() -> list[click.Parameter]:
    shared: dict[str, Any] = {"expose_value": False, "hidden": True}
    return [
        click.Option(["-f", "--file", "global_file"], callback=_after_file, **shared),
        # Eager: it changes the directory before other parameters (a plan FILE that must
        # exist, say) are checked.
        click.Option(["--chdir", "global_chdir"], callback=_after_chdir, is_eager=True, **shared),
        click.Option(["--sandbox", "global_sandbox"], is_flag=True, callback=_after_sandbox, **shared),
        click.Option(["--no-color", "global_no_color"], is_flag=True, callback=_after_no_color, **shared),
    ]


def _accept_global_options(command: click.Command) -> None:
    """Give `command`, and every command below it, the global options."""
    command.params.extend(_global_params())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _accept_global_options(sub)


@cli.command()
@var_option
@var_file_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
@click.pass_context
def validate(ctx: click.Context, vars_: tuple[str, ...], var_files: tuple[str, ...], as_json: bool) -> None:
    """Check the stack file and its provider settings. Makes no cloud call."""
    import json

    from mlops_gitops.workspace import open_workspace

    opts = with_vars(ctx, vars_, var_files)
    try:
        # Binding the provider builds no client: every check here is offline.
        ws = open_workspace(opts.load_stack())
    except MlopsError as exc:
        if as_json:
            click.echo(json.dumps({"valid": False, "errors": exc.lines(), "warnings": []}, indent=2))
            ctx.exit(1)
        raise
    warnings = [str(w) for w in ws.warnings]
    if as_json:
        doc = {"valid": True, "errors": [], "warnings": warnings, "resources": len(ws.stack.resources)}
        click.echo(json.dumps(doc, indent=2))
        return
    for w in warnings:
        click.echo(f"Warning: {w}", err=True)
    click.echo(f"Success! {ws.stack.path} is valid ({len(ws.stack.resources)} resources).")


def _register() -> None:
    # Imported here so each module stays small; importing them is cheap (no SDK, no jinja2).
    from mlops_gitops.cli import commands_run, commands_state, commands_tools

    for mod in (commands_run, commands_state, commands_tools):
        mod.register(cli)
    for command in cli.commands.values():
        _accept_global_options(command)


_register()


def main() -> None:
    """Entry point: turns MlopsError into `Error: ...` lines and exit code 1."""
    debug = os.environ.get("MLOPS_DEBUG", "") not in ("", "0")
    try:
        # With standalone_mode off, click returns `ctx.exit(N)` codes instead of exiting.
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort as exc:
        # click turns Ctrl-C (and SIGTERM, which apply handles as Ctrl-C) into Abort.
        if isinstance(exc.__cause__, KeyboardInterrupt):
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.exceptions.NoArgsIsHelpError as exc:  # `mlops` or `mlops state` alone: the help
        exc.show()
        sys.exit(1)
    except click.UsageError as exc:
        # One line, as every other error: click's usage block would bury the message.
        command = exc.ctx.command_path if exc.ctx is not None else "mlops"
        click.echo(f"Error: {_one_line(exc.format_message())} (see {command} --help)", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        click.echo(f"Error: {_one_line(exc.format_message())}", err=True)
        sys.exit(1 if exc.exit_code == 2 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except MlopsError as exc:
        if debug:
            traceback.print_exc()
        for line in exc.lines():
            click.echo(f"Error: {line}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        click.echo(
            f"Error: internal error: {type(exc).__name__}: {exc} (set MLOPS_DEBUG=1 for a traceback)",
            err=True,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(message: str) -> str:
    return " ".join(message.split())
