"""Asking before a command changes the cloud."""

from __future__ import annotations

import sys

import click

from mlops_gitops.errors import MlopsError
from mlops_gitops.render.apply import confirmation_question


def confirm(mode: str) -> None:
    """Go on only if the person at the terminal types `yes`; refuse outright without a terminal
    (a CI job would otherwise wait on a prompt nobody sees)."""
    if not sys.stdin.isatty():
        raise MlopsError("no terminal to confirm on: re-run with --auto-approve (or apply a saved plan)")
    click.echo(confirmation_question(mode))
    answer = click.prompt("  Enter a value", default="", show_default=False)
    if answer.strip() != "yes":
        raise MlopsError("apply cancelled")
