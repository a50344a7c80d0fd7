"""The table of `mlops` commands, in the manner of pip's: each command's name, the module that
defines it, the attribute holding it there, and its summary (the first sentence of its help).

`mlops --help` lists the commands from this table and imports none of their modules; a module
is imported only when its command runs or its own help is asked for."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import click


class CommandInfo(NamedTuple):
    module: str
    attribute: str
    summary: str


def _info(module: str, attribute: str, summary: str) -> CommandInfo:
    return CommandInfo(f"{__name__}.{module}", attribute, summary)


COMMANDS: dict[str, CommandInfo] = {
    "apply": _info(
        "apply", "apply", "Make the cloud match the stack (or apply a plan saved with `plan --out`)."
    ),
    "comment": _info(
        "comment",
        "comment",
        "Create or update this plan's comment on the pull request (one per stack and environment).",
    ),
    "destroy": _info("destroy", "destroy", "Destroy everything this stack manages."),
    "force-unlock": _info(
        "force_unlock", "force_unlock", "Release a state lock left by a command that died."
    ),
    "graph": _info("graph", "graph", "Print the stack's dependency graph as Mermaid or Graphviz DOT."),
    "history": _info(
        "history",
        "history",
        "Show what was deployed, promoted, rolled back and retired: when, by whom and why (newest first).",
    ),
    "import": _info(
        "import_",
        "import_",
        "Adopt the existing cloud object CLOUD_ID as ADDRESS (e.g. endpoint.fraud-api fraud-api).",
    ),
    "init": _info("init", "init", "Generate the files that run this repository's stacks in CI."),
    "output": _info(
        "output", "output", "Show the stack's outputs (a sensitive one only when asked for by name)."
    ),
    "plan": _info("plan", "plan", "Show what apply would change."),
    "policy": _info(
        "policy", "policy", "Check a plan against the guard rules of a policy file (exit 1 on a violation)."
    ),
    "providers": _info("providers", "providers", "List installed providers and the kinds each can apply."),
    "promote": _info(
        "promote",
        "promote",
        "Copy VARIABLE's value from one environment of the stack to another, in the stack file.",
    ),
    "rollback": _info(
        "rollback",
        "rollback",
        "Put ADDRESS (an endpoint) back on its previous recorded configuration, now, without "
        "waiting for a git revert.",
    ),
    "run": _info(
        "run",
        "run",
        "Start ADDRESS (a batch job, or a retraining schedule's pipeline) now and follow it to the end.",
    ),
    "sandbox": _info("sandbox", "sandbox", "The local emulators that --sandbox uses (started on demand)."),
    "schema": _info("schema", "schema", "Print the stack file's JSON Schema (for editor completion)."),
    "show": _info("show", "show", "Show state, or a plan saved with `plan --out`."),
    "state": _info("state", "state", "Inspect and edit state (advanced)."),
    "status": _info(
        "status", "status", "Show every resource of the stack as it runs now, read live from the cloud."
    ),
    "validate": _info("validate", "validate", "Check the stack file and its provider settings."),
}


def load_command(name: str) -> click.Command | None:
    """The command called `name`, its module imported now; None when there is none."""
    info = COMMANDS.get(name)
    if info is None:
        return None
    return getattr(importlib.import_module(info.module), info.attribute)
