"""The `mlops` command line. Commands are thin: parse flags, call the engine, pick a renderer,
choose the exit code. Heavy modules (providers' SDKs, jinja2) load only in the commands that
need them, so `mlops --help` and `mlops validate` stay fast."""

from __future__ import annotations

import os
import sys
import traceback

import click

from mlops_gitops import __version__
from mlops_gitops.cli.context import Options, make_options, options, parse_vars
from mlops_gitops.errors import MlopsError

var_option = click.option(
    "--var", "vars_", multiple=True, metavar="NAME=VALUE", help="Set a stack variable (repeatable)."
)
var_file_option = click.option(
    "--var-file",
    "var_files",
    multiple=True,
    type=click.Path(dir_okay=False),
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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-f", "--file", "file_", metavar="FILE", help="Stack file (default: ./stack.yaml).")
@click.option("--chdir", metavar="DIR", help="Act on the stack in DIR.")
@click.option("--sandbox", is_flag=True, help="Use the local emulators (also MLOPS_SANDBOX=1).")
@click.option("--no-color", is_flag=True, help="Plain output (also NO_COLOR).")
@click.version_option(__version__, prog_name="mlops")
@click.pass_context
def cli(ctx: click.Context, file_: str | None, chdir: str | None, sandbox: bool, no_color: bool) -> None:
    """Plan and apply ML deployments (models, endpoints, monitors, retraining schedules) on
    SageMaker and Vertex AI from a declarative stack file."""
    if chdir:
        # As Terraform's -chdir: every relative path (stack, --var-file, plan files) is then
        # relative to DIR.
        try:
            os.chdir(chdir)
        except OSError as exc:
            raise MlopsError(f"--chdir {chdir}: {exc.strerror}") from exc
    ctx.obj = make_options(file_, None, sandbox, no_color)


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


_register()


def main() -> None:
    """Entry point: turns MlopsError into `Error: ...` lines and exit code 1."""
    debug = os.environ.get("MLOPS_DEBUG", "") not in ("", "0")
    try:
        # With standalone_mode off, click returns `ctx.exit(N)` codes instead of exiting.
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
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
