from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from mlops_gitops.errors import StackError
from mlops_gitops.stack.loader import load_stack

Write = Callable[..., str]
Problems = Callable[..., list[str]]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current directory, so messages name files the way a user sees them: `stack.yaml:4:3`."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def write(workdir: Path) -> Write:
    """Write `text` (dedented, leading newline dropped: its first line is line 1) to `name`."""

    def write(text: str, name: str = "stack.yaml") -> str:
        path = workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text).lstrip("\n"))
        return name

    return write


@pytest.fixture
def problems(write: Write) -> Problems:
    """Load `text` as stack.yaml, expecting it to fail; the problems as the CLI prints them."""

    def problems(text: str, **kwargs: Any) -> list[str]:
        write(text)
        kwargs.setdefault("environ", {})
        with pytest.raises(StackError) as info:
            load_stack("stack.yaml", **kwargs)
        return [str(d) for d in info.value.diagnostics]

    return problems
