"""The command table of cli/commands: it lists exactly the commands there are, with their own
summaries, lets `mlops --help` import none of them, and the modules keep a one-way import order
(main -> commands -> leaf modules)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import click
import pytest

from mlops_gitops.cli.commands import COMMANDS, load_command
from mlops_gitops.cli.main import cli

CLI = Path(__file__).resolve().parents[2] / "mlops_gitops" / "cli"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_summary_is_shortened_as_the_commands_own_help(name: str) -> None:
    command = load_command(name)
    assert command is not None and command.name == name
    listed = click.Command(name, help=COMMANDS[name].summary)
    for limit in range(10, 160):
        assert listed.get_short_help_str(limit) == command.get_short_help_str(limit), limit


def test_an_unknown_name_is_no_command() -> None:
    assert load_command("nope") is None
    assert cli.get_command(click.Context(cli), "nope") is None


def test_every_command_module_is_in_the_table() -> None:
    modules = {p.stem for p in (CLI / "commands").glob("*.py") if p.stem != "__init__"}
    assert modules == {info.module.rsplit(".", 1)[1] for info in COMMANDS.values()}


def _commands_loaded(args: list[str], cwd: Path) -> set[str]:
    """The command modules `mlops ARGS` imports, run as the console script runs it."""
    script = (
        f"import sys\nsys.argv = ['mlops', *{args!r}]\nfrom mlops_gitops.cli.main import main\n"
        "try:\n    main()\nfinally:\n"
        "    print(*(m for m in sys.modules if m.startswith('mlops_gitops.cli.commands.')), file=sys.stderr)"
    )
    res = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60)
    return set(res.stderr.splitlines()[-1].split())


def test_help_imports_no_command_and_a_command_only_its_own(tmp_path: Path) -> None:
    assert _commands_loaded(["--help"], tmp_path) == set()
    assert _commands_loaded(["validate"], tmp_path) == {"mlops_gitops.cli.commands.validate"}
    assert _commands_loaded(["state", "--help"], tmp_path) == {"mlops_gitops.cli.commands.state"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _reaches_up(path: Path) -> set[str]:
    """What `path` imports of the command modules or of main.py."""
    return {
        m for m in _imports(path) if m.startswith("mlops_gitops.cli.commands") or m == "mlops_gitops.cli.main"
    }


def test_commands_import_only_leaf_modules() -> None:
    commands = [p for p in (CLI / "commands").glob("*.py") if p.stem != "__init__"]
    leaves = [p for p in CLI.glob("*.py") if p.stem != "main"]
    for path in sorted(commands + leaves):
        assert not _reaches_up(path), f"{path.name} imports {sorted(_reaches_up(path))}"
