"""`mlops sandbox up|status|down`: the local emulators behind --sandbox."""

from __future__ import annotations

import click

from mlops_gitops.cli.context import options, sandbox_dir, sandbox_scope
from mlops_gitops.render.sandbox import (
    emulator_warning,
    render_sandbox_started,
    render_sandbox_status,
    sandbox_not_running,
    sandbox_stopped,
)


@click.group()
def sandbox() -> None:
    """The local emulators that --sandbox uses (started on demand)."""


@sandbox.command("up")
@click.option(
    "--operation-delay",
    type=float,
    default=None,
    help="Seconds a long cloud operation (endpoint create/update, LRO) takes.",
)
@click.option("--latency-ms", type=float, default=None, help="Latency added to every emulated call.")
@click.pass_context
def sandbox_up(ctx: click.Context, operation_delay: float | None, latency_ms: float | None) -> None:
    """Start the emulators: the stack's provider's, or every installed one outside a stack
    (or report the running ones, applying any new settings)."""
    from mlops_gitops.errors import MlopsError
    from mlops_gitops.sandbox import emulators
    from mlops_gitops.sandbox.daemon import up

    directory, provider = sandbox_scope(options(ctx.find_root()))
    names = [provider] if provider else sorted(emulators.available())
    failures: dict[str, str] = {}
    settings: dict[str, dict[str, float]] = {}
    if operation_delay is not None or latency_ms is not None:
        for name in names:
            try:
                cls = emulators.emulator_class(name)
            except MlopsError as exc:  # its daemon could not load it either
                failures[name] = str(exc)
                continue
            # Each emulator names these settings its own way; one without them gets nothing.
            wanted = cls.cli_settings(operation_delay=operation_delay, latency_ms=latency_ms)
            if wanted:
                settings[name] = wanted
    startup = up(directory, [name for name in names if name not in failures], settings)
    failures.update({name: failure.reason for name, failure in startup.failures.items()})
    if provider is not None and provider in failures:
        raise MlopsError(failures[provider])
    if not startup.endpoints.urls:
        raise MlopsError("\n".join(failures.values()) or "no sandbox emulator is installed")
    # Outside a stack, an emulator that cannot start is no reason to refuse the others.
    for reason in failures.values():
        click.echo(emulator_warning(reason), err=True)
    started = {"directory": str(directory), "urls": dict(startup.endpoints.urls)}
    click.echo(render_sandbox_started(started), nl=False)


@sandbox.command("status")
@click.pass_context
def sandbox_status(ctx: click.Context) -> None:
    """Is the sandbox running, and where."""
    from mlops_gitops.sandbox.daemon import status

    directory = sandbox_dir(options(ctx.find_root()))
    info = status(directory)
    if not info:
        click.echo(sandbox_not_running())
        ctx.exit(3)
    click.echo(render_sandbox_status({**info, "directory": str(directory)}), nl=False)


@sandbox.command("down")
@click.pass_context
def sandbox_down(ctx: click.Context) -> None:
    """Stop every emulator. What they held is gone, so sandbox state is discarded too."""
    from mlops_gitops.sandbox.daemon import stop

    directory = sandbox_dir(options(ctx.find_root()))
    stopped = stop(directory)
    for name in ("state.json", "state.json.backup"):
        (directory / name).unlink(missing_ok=True)
    click.echo(sandbox_stopped(stopped))
