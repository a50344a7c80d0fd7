"""`mlops plan --all [DIR]`: plan every stack under DIR, in each of its environments, at once,
and print one summary.

Each plan runs as its own `mlops plan --json` process: stacks may use different providers, each
holds its own state lock, and one plan's failure (a bad stack, a cloud error) is reported beside
the others instead of stopping them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlops_gitops.errors import MlopsError


@dataclass
class Target:
    stack_file: Path
    environment: str | None

    def label(self, root: Path) -> str:
        where = str(self.stack_file.parent.relative_to(root)) if self.stack_file.parent != root else "."
        return f"{where} ({self.environment})" if self.environment else where


@dataclass
class Outcome:
    target: Target
    summary: dict[str, int] | None = None  # the plan's counts, when it was made
    has_changes: bool = False
    error: str | None = None


def find_targets(root: Path) -> list[Target]:
    """Every stack file below `root` (hidden and tool folders skipped), once per environment."""
    if not root.is_dir():
        raise MlopsError(f"plan --all {root}: not a directory")
    from mlops_gitops.stack.loader import find_stack_files

    found: list[Target] = []
    for path in find_stack_files(root):
        try:
            envs = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("environments") or {}
        except (OSError, yaml.YAMLError, AttributeError, UnicodeDecodeError):
            envs = {}  # its own plan reports what is wrong with it
        names = [str(e) for e in envs] if isinstance(envs, dict) else []
        found += [Target(path, env) for env in names] if names else [Target(path, None)]
    if not found:
        raise MlopsError(f"plan --all {root}: no stack file (stack.yaml) below it")
    return found


def _plan(target: Target, *, sandbox: bool, parallelism: int) -> Outcome:
    command = [sys.executable, "-m", "mlops_gitops.cli.main", "-f", str(target.stack_file)]
    if sandbox:
        command.append("--sandbox")
    if target.environment:
        command += ["--env", target.environment]
    command += ["plan", "--json", "--parallelism", str(parallelism)]
    env = {k: v for k, v in os.environ.items() if k not in ("MLOPS_ENV", "MLOPS_BACKEND_CONFIG")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=target.stack_file.parent)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return Outcome(
            target, error=(lines[-1] if lines else f"exit code {done.returncode}").removeprefix("Error: ")
        )
    try:
        doc: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        return Outcome(target, error="the plan printed no JSON document")
    return Outcome(target, summary=doc.get("summary"), has_changes=bool(doc.get("has_changes")))


def plan_all(root: Path, *, sandbox: bool, parallelism: int, concurrency: int = 4) -> list[Outcome]:
    targets = find_targets(root)
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(targets)))) as pool:
        return list(pool.map(lambda t: _plan(t, sandbox=sandbox, parallelism=parallelism), targets))


def exit_code(outcomes: list[Outcome], *, detailed: bool) -> int:
    if any(o.error for o in outcomes):
        return 1
    return 2 if detailed and any(o.has_changes for o in outcomes) else 0
