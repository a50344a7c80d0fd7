from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mlops_gitops.state.local import LocalBackend

RunChild = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / "state")


@pytest.fixture
def run_child(tmp_path: Path) -> RunChild:
    """Run a Python snippet in a separate interpreter: a second `mlops` process, for lock tests.
    The timeout turns a lock that waits instead of refusing into a failure."""

    def run(code: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )

    return run
