"""Which stack file a command works on (`-f FILE`, `-chdir DIR`, or the current directory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_gitops.errors import StackError
from mlops_gitops.stack.loader import resolve_stack_path


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    return path


def test_current_directory(workdir: Path) -> None:
    touch(workdir / "stack.yaml")
    assert resolve_stack_path(None, None) == Path("stack.yaml")


def test_yml_spelling(workdir: Path) -> None:
    touch(workdir / "stack.yml")
    assert resolve_stack_path(None, None) == Path("stack.yml")


def test_chdir(workdir: Path) -> None:
    touch(workdir / "stack.yaml")
    touch(workdir / "infra" / "stack.yaml")
    assert resolve_stack_path(None, "infra") == Path("infra/stack.yaml")


def test_file_wins_and_is_taken_inside_chdir(workdir: Path) -> None:
    touch(workdir / "stack.yaml")
    touch(workdir / "prod.yaml")
    touch(workdir / "infra" / "prod.yaml")
    assert resolve_stack_path("prod.yaml", None) == Path("prod.yaml")
    assert resolve_stack_path("prod.yaml", "infra") == Path("infra/prod.yaml")
    assert resolve_stack_path(str(workdir / "prod.yaml"), "infra") == workdir / "prod.yaml"


@pytest.mark.parametrize(
    ("files", "file", "chdir", "message"),
    [
        (
            [],
            None,
            None,
            "no stack.yaml (or stack.yml) in the current directory: create one, or pass -f FILE",
        ),
        ([], None, "infra", "directory 'infra' does not exist"),
        (["infra/x"], None, "infra", "no stack.yaml (or stack.yml) in infra: create one, or pass -f FILE"),
        (["stack.yaml"], "prod.yaml", None, "stack file 'prod.yaml' not found"),
        (
            ["stack.yaml", "stack.yml"],
            None,
            None,
            "both stack.yaml and stack.yml exist in the current directory: remove one, or pass -f FILE",
        ),
    ],
)
def test_problems(workdir: Path, files: list[str], file: str | None, chdir: str | None, message: str) -> None:
    for name in files:
        touch(workdir / name)
    with pytest.raises(StackError) as info:
        resolve_stack_path(file, chdir)
    assert str(info.value) == message
