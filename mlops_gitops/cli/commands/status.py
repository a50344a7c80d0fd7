"""`mlops status`: every resource of the stack as it runs now, read live from the cloud (in
parallel), with its traffic, instance counts, runs, drift from state and console links; as text,
`--json` (the status document, `mlops_gitops.status`) or a self-contained HTML page (`--html`).
Read-only: it takes no state lock and changes nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from mlops_gitops.cli.options import parallelism_option, var_file_option, var_option, with_vars


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status document as JSON.")
@click.option(
    "--html",
    "html_file",
    metavar="FILE",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the status as one self-contained HTML page to FILE.",
)
@click.option("--watch", is_flag=True, help="Read and show it again every --interval seconds, until Ctrl-C.")
@click.option(
    "--interval",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.5),
    help="Seconds between two reads under --watch.",
)
@click.option(
    "--console-url",
    "console_url",
    metavar="URL",
    help="Origin of the cloud console to link to (default: MLOPS_CONSOLE_URL_<PROVIDER>, else the "
    "public console), e.g. https://console.amazonaws-us-gov.com.",
)
@var_option
@var_file_option
@parallelism_option
@click.pass_context
def status(
    ctx: click.Context,
    as_json: bool,
    html_file: str | None,
    watch: bool,
    interval: float,
    console_url: str | None,
    vars_: tuple[str, ...],
    var_files: tuple[str, ...],
    parallelism: int,
) -> None:
    """Show every resource of the stack as it runs now, read live from the cloud.

    State, traffic per variant, current and desired instance counts, the last and next monitor
    and retraining runs, drift from what was last applied, and a link to each object in the
    cloud's console. `--html FILE` writes the same as one page (traffic bars, dependency graph,
    links) for a CI artifact or a wiki."""
    from mlops_gitops.cli.context import open_all

    opts = with_vars(ctx, vars_, var_files)
    _stack, ws, backend = open_all(opts)

    def once() -> None:
        from mlops_gitops.status import status_document

        doc = status_document(
            ws, backend.read(), parallelism=parallelism, console=console_url, sandbox=opts.sandbox
        )
        _show(doc, as_json=as_json, html_file=html_file, color=opts.color, watch=watch)

    once()
    while watch:
        try:
            time.sleep(interval)
            once()
        except KeyboardInterrupt:
            return


def _show(doc: dict[str, Any], *, as_json: bool, html_file: str | None, color: bool, watch: bool) -> None:
    if html_file:
        from mlops_gitops.render.status import render_status_html

        Path(html_file).write_text(render_status_html(doc), encoding="utf-8")
    if as_json:
        # One document a line under --watch, so that a script can read them as they come.
        click.echo(json.dumps(doc, separators=(",", ":")) if watch else json.dumps(doc, indent=2))
        return
    if html_file and not watch:
        click.echo(
            f"Wrote {html_file}: {doc['summary']['resources']} resources, live at {doc['generated_at']}."
        )
        return
    from mlops_gitops.render.status import render_status_text

    if watch and color:
        click.clear()
    click.echo(render_status_text(doc, color=color), nl=False)
