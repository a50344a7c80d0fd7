"""providers, schema, sandbox up|down|status."""

from __future__ import annotations

import json

import click

from mlops_gitops.cli.context import options, sandbox_dir


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--json", "as_json", is_flag=True)
    def providers(as_json: bool) -> None:
        """List installed providers and the kinds each can apply."""
        from mlops_gitops import plugins
        from mlops_gitops.errors import MlopsError

        rows = []
        for name, ep in sorted(plugins.available().items()):
            try:
                cls = plugins.provider_class(name)
                rows.append({"name": name, "module": ep.value, "kinds": sorted(cls.kinds), "error": None})
            except MlopsError as exc:
                rows.append({"name": name, "module": ep.value, "kinds": [], "error": str(exc)})
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        for r in rows:
            detail = r["error"] or ", ".join(r["kinds"])
            click.echo(f"{r['name']:<12} {detail}   ({r['module']})")

    @cli.command()
    def schema() -> None:
        """Print the stack file's JSON Schema (for editor completion)."""
        from mlops_gitops.stack.schema import StackSpec

        doc = StackSpec.model_json_schema(by_alias=True)
        doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        doc["title"] = "mlops-gitops stack file (apiVersion mlops-gitops/v1)"
        click.echo(json.dumps(doc, indent=2))

    @cli.group()
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
        """Start the emulators (or report the running ones, applying any new settings)."""
        from mlops_gitops import plugins
        from mlops_gitops.errors import MlopsError
        from mlops_gitops.sandbox.control import update_settings
        from mlops_gitops.sandbox.daemon import ensure_running

        settings: dict[str, dict[str, float]] = {}
        for name in plugins.available():
            try:
                cls = plugins.provider_class(name)
            except MlopsError:
                continue  # the daemon skips it too
            wanted = cls.sandbox_settings(operation_delay=operation_delay, latency_ms=latency_ms)
            if wanted:
                settings[name] = wanted
        directory = sandbox_dir(options(ctx.find_root()))
        endpoints = ensure_running(directory, settings or None)
        # A daemon that was already running keeps its settings unless told otherwise.
        for name, url in endpoints.urls.items():
            if settings.get(name):
                update_settings(url, settings[name])
        for name, url in sorted(endpoints.urls.items()):
            click.echo(f"{name:<12} {url}")
        click.echo(f"Sandbox running (state and logs in {directory}).")

    @sandbox.command("status")
    @click.pass_context
    def sandbox_status(ctx: click.Context) -> None:
        """Is the sandbox running, and where."""
        from mlops_gitops.sandbox.daemon import status

        info = status(sandbox_dir(options(ctx.find_root())))
        if not info:
            click.echo("Sandbox not running (it starts on the first --sandbox command).")
            ctx.exit(3)
        click.echo(
            f"Sandbox running: pid {info['pid']} since {info['started_at']}"
            f"{'' if info.get('healthy') else ' (NOT answering)'}"
        )
        for name, url in sorted(info.get("urls", {}).items()):
            click.echo(f"  {name:<12} {url}")

    @sandbox.command("down")
    @click.pass_context
    def sandbox_down(ctx: click.Context) -> None:
        """Stop the emulators. What they held is gone, so sandbox state is discarded too."""
        from mlops_gitops.sandbox.daemon import stop

        directory = sandbox_dir(options(ctx.find_root()))
        stopped = stop(directory)
        for name in ("state.json", "state.json.backup"):
            (directory / name).unlink(missing_ok=True)
        click.echo("Sandbox stopped; its state was discarded." if stopped else "Sandbox was not running.")
