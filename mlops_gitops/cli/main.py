"""The `mlops` command line: the group, its global options and the entry point.

Each command is a module of cli/commands, listed in that package's table and imported only when
it runs or its help is asked for. Commands are thin: parse flags, call the engine, build a document,
hand it to a renderer (mlops_gitops/render), choose the exit code. Heavy modules (providers'
SDKs, jinja2) load only in the commands that need them, so `mlops --help` and `mlops validate`
stay fast."""

from __future__ import annotations

import os
import sys
import traceback

import click

from mlops_gitops import __version__, faults
from mlops_gitops.cli.commands import COMMANDS, load_command
from mlops_gitops.cli.context import make_options
from mlops_gitops.cli.options import accept_global_options, change_directory
from mlops_gitops.errors import MlopsError


class _CommandTable(click.Group):
    """A group whose commands come from the table in cli/commands, each imported on first use
    and given the global options then."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # From the table's summaries, so that `mlops --help` imports no command. Each is
        # shortened as click shortens a command's own help.
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [
            (name, click.Command(name, help=COMMANDS[name].summary).get_short_help_str(limit))
            for name in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is None:
            command = load_command(cmd_name)
            if command is not None:
                accept_global_options(command)
                self.add_command(command, cmd_name)
        return command


@click.group(
    cls=_CommandTable, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option("-f", "--file", "file_", metavar="FILE", help="Stack file (default: ./stack.yaml).")
@click.option("--chdir", metavar="DIR", help="Act on the stack in DIR.")
@click.option("--sandbox", is_flag=True, help="Use the local emulators (also MLOPS_SANDBOX=1).")
@click.option("--no-color", is_flag=True, help="Plain output (also NO_COLOR).")
@click.option(
    "--env", "env", metavar="NAME", help="The environment of the stack to act on (also MLOPS_ENV)."
)
@click.option(
    "--backend-config",
    "backend_config",
    metavar="KEY=VALUE",
    multiple=True,
    envvar="MLOPS_BACKEND_CONFIG",
    help="Set a setting of the stack's state backend, e.g. bucket=acme-state (repeatable; also "
    "MLOPS_BACKEND_CONFIG, space-separated).",
)
@click.version_option(__version__, prog_name="mlops")
@click.pass_context
def cli(
    ctx: click.Context,
    file_: str | None,
    chdir: str | None,
    sandbox: bool,
    no_color: bool,
    env: str | None,
    backend_config: tuple[str, ...],
) -> None:
    """Plan and apply ML deployments (models, endpoints, monitors, retraining schedules) on
    SageMaker, Vertex AI and Azure Machine Learning from a declarative stack file.

    These options may also follow the command, as in `mlops plan --sandbox`."""
    if chdir:
        change_directory(chdir)
    ctx.obj = make_options(file_, None, sandbox, no_color, env, backend_config)


def main() -> None:
    """Entry point: turns MlopsError into `Error: ...` lines and exit code 1."""
    debug = os.environ.get("MLOPS_DEBUG", "") not in ("", "0")
    if faults.enabled():  # the crash-safety suite's kill points (tests/crash); urllib3 loads only then
        faults.install_http_points()
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


if __name__ == "__main__":  # `python -m mlops_gitops.cli.main`, as `plan --all` runs each plan
    main()
