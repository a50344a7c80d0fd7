"""`mlops policy`: check a plan against the guard rules of a policy file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mlops_gitops.errors import MlopsError


@click.command()
@click.option(
    "--policy",
    "policy_file",
    default=".mlops-policy.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The policy file (YAML: `rules:`, see docs/plan-json.md).",
)
@click.argument("plan_file", type=click.Path(dir_okay=False))
def policy(policy_file: str, plan_file: str) -> None:
    """Check a plan against the guard rules of a policy file (exit 1 on a violation).

    PLAN_FILE is a plan saved with `plan --out`, or its JSON document (`show --json PLAN_FILE`,
    `plan --json`). Each violation is one line naming the resource and the rule; the exit code
    is 1 when any rule fails, 0 when the plan passes them all. The same rules run in
    `mlops plan --policy FILE`."""
    from mlops_gitops.review.policy import evaluate, load_policy, report

    rules = load_policy(Path(policy_file))
    document = load_plan_document(Path(plan_file))
    violations = evaluate(rules, document)
    for line in report(violations, policy_file):
        click.echo(line)
    if violations:
        raise click.exceptions.Exit(1)


def load_plan_document(path: Path) -> dict[str, Any]:
    """The plan document of a plan file (`plan --out`) or of its JSON (`show --json`)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise MlopsError(f"{path}: cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    except json.JSONDecodeError as exc:
        raise MlopsError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    if isinstance(raw, dict) and "plan" in raw and "format" in raw:
        from mlops_gitops.cli.saved_plan import load_saved_plan

        return load_saved_plan(path).document()
    if not isinstance(raw, dict) or not isinstance(raw.get("resource_changes"), list):
        raise MlopsError(f"{path}: not a plan document (`mlops show --json PLAN_FILE` writes one)")
    return raw
