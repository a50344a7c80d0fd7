"""Options several commands share, and the global options (`-f`, `--chdir`, `--sandbox`,
`--no-color`) that every command also accepts after its name. Imports no command module."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from mlops_gitops.cli.context import Options, options, parse_pairs, parse_vars
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
allow_downtime_option = click.option(
    "--allow-downtime",
    is_flag=True,
    help="Accept a plan that replaces a serving endpoint by deleting it first.",
)


def planning_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--var, --var-file, --target and --parallelism, in that order: what plan, apply and
    destroy share."""
    # Innermost first, as stacked decorators apply, so that help lists them in the order above.
    for option in (parallelism_option, target_option, var_file_option, var_option):
        command = option(command)
    return command


def with_vars(ctx: click.Context, vars_: tuple[str, ...], var_files: tuple[str, ...]) -> Options:
    """The command's Options, with the variable values of --var and --var-file."""
    opts = options(ctx)
    opts.cli_vars = parse_vars(vars_)
    opts.var_files = list(var_files)
    return opts


def change_directory(directory: str) -> None:
    # As Terraform's -chdir: every relative path (stack, --var-file, plan files) is then
    # relative to DIR.
    try:
        os.chdir(directory)
    except OSError as exc:
        raise MlopsError(f"--chdir {directory}: {(exc.strerror or str(exc)).lower()}") from exc


# The global options again, on every command: users type `mlops plan --sandbox` as often as
# `mlops --sandbox plan`. They run after the group's own (which has made the Options), so each
# only amends them. Hidden from each command's help, which would otherwise repeat them all.
def _after_file(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        options(ctx).file = value


def _after_chdir(_ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        change_directory(value)


def _after_sandbox(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        options(ctx).sandbox = True


def _after_no_color(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        options(ctx).color = False


def _after_env(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        options(ctx).environment = value


def _after_backend_config(ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> None:
    if value:
        options(ctx).backend_config.update(parse_pairs(value, "--backend-config", "KEY=VALUE"))


def _global_params() -> list[click.Parameter]:
    shared: dict[str, Any] = {"expose_value": False, "hidden": True}
    return [
        click.Option(["-f", "--file", "global_file"], callback=_after_file, **shared),
        # Eager: it changes the directory before other parameters (a plan FILE that must
        # exist, say) are checked.
        click.Option(["--chdir", "global_chdir"], callback=_after_chdir, is_eager=True, **shared),
        click.Option(["--sandbox", "global_sandbox"], is_flag=True, callback=_after_sandbox, **shared),
        click.Option(["--no-color", "global_no_color"], is_flag=True, callback=_after_no_color, **shared),
        click.Option(["--env", "global_env"], callback=_after_env, **shared),
        click.Option(
            ["--backend-config", "global_backend_config"],
            multiple=True,
            callback=_after_backend_config,
            **shared,
        ),
    ]


def accept_global_options(command: click.Command) -> None:
    """Give `command`, and every command below it, the global options."""
    command.params.extend(_global_params())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            accept_global_options(sub)
