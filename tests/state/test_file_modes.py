"""Files that may hold secrets are created readable by their owner only (0600), whatever the
umask: state and its backup, the lock, and the sandbox daemons' logs."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops.errors import StateError
from mlops_gitops.sandbox import daemon, records
from mlops_gitops.state.local import LocalBackend
from mlops_gitops.state.model import StateDoc


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def careless_umask() -> Iterator[None]:
    old = os.umask(0)  # a careful umask must not be what keeps these files private
    yield
    os.umask(old)


def test_state_and_its_backup_are_owner_only(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "state")
    doc = StateDoc.new("fraud")
    backend.write(doc)
    backend.write(doc)
    assert mode(backend.path) == 0o600
    assert mode(backend.backup_path) == 0o600


def test_the_lock_file_is_owner_only(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "state")
    backend.lock("apply")
    assert mode(backend.lock_path) == 0o600


def test_state_nested_absurdly_deep_is_a_state_error(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "state")
    backend.directory.mkdir()
    backend.path.write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(StateError, match=r"state\.json is not valid state: it nests too deeply$"):
        backend.read()


class _Stop(Exception):
    pass


def test_the_daemon_log_is_created_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modes: list[int] = []

    def popen(*_args: Any, stdout: Any, **_kwargs: Any) -> None:
        modes.append(stat.S_IMODE(os.fstat(stdout.fileno()).st_mode))
        raise _Stop

    monkeypatch.setattr(daemon.subprocess, "Popen", popen)
    with pytest.raises(_Stop):
        daemon._spawn(tmp_path, "sagemaker", {})
    assert modes == [0o600]
    assert mode(records.log_path(tmp_path, "sagemaker")) == 0o600


def test_a_log_left_readable_by_others_is_narrowed(tmp_path: Path) -> None:
    log = records.log_path(tmp_path, "sagemaker")
    log.parent.mkdir()
    log.write_text("old lines\n")
    log.chmod(0o644)
    os.close(records.open_log(log))
    assert mode(log) == 0o600
    assert log.read_text() == "old lines\n"
