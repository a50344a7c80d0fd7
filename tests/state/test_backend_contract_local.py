"""The local directory backend against the shared state backend contract."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pytest

from mlops_gitops.state.local import BACKUP_FILE, LocalBackend
from mlops_gitops.state.model import StateDoc
from mlops_gitops.testing.backend_contract import BackendContract


class TestLocalBackendContract(BackendContract):
    unconditional_replace = (
        "the local backend replaces state.json by rename, which cannot be made conditional; "
        "a command holds the state lock while it writes"
    )

    @pytest.fixture
    def directory(self, tmp_path: Path) -> Path:
        return tmp_path / "stacks" / "fraud" / "state"

    @pytest.fixture
    def make_backend(self, directory: Path) -> Callable[[], LocalBackend]:
        return functools.partial(LocalBackend, directory)

    @pytest.fixture
    def backend(self, make_backend: Callable[[], LocalBackend]) -> LocalBackend:
        return make_backend()

    @pytest.fixture
    def read_previous(self, directory: Path) -> Callable[[], StateDoc | None]:
        def read() -> StateDoc | None:
            path = directory / BACKUP_FILE
            return StateDoc.from_json(path.read_bytes()) if path.exists() else None

        return read

    @pytest.fixture
    def stored_names(self, tmp_path: Path) -> Callable[[], set[str]]:
        # The whole tmp_path: a read must not even create the state directory's parents.
        return lambda: {str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")}
