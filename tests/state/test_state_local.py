"""The local backend's state file: atomic writes, backups, corruption, lineage and serial."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mlops_gitops.errors import StateError
from mlops_gitops.state.local import LocalBackend
from mlops_gitops.state.model import ResourceState, StateDoc


def _doc(stack: str = "fraud-detection", **attributes: object) -> StateDoc:
    doc = StateDoc.new(stack)
    doc.put(ResourceState(address="model.m", kind="model", name="m", provider="p", attributes=attributes))
    return doc


def test_missing_state_reads_as_none_without_creating_anything(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "a" / "b")
    assert backend.read() is None
    assert not (tmp_path / "a").exists()


def test_write_creates_the_directory_and_reads_back(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "a" / "b")
    doc = _doc(arn="x")
    backend.write(doc)
    assert (tmp_path / "a" / "b" / "state.json").is_file()
    assert backend.read() == doc


def test_every_write_increments_the_serial(backend: LocalBackend) -> None:
    doc = _doc(v=1)
    assert doc.serial == 0
    backend.write(doc)
    assert doc.serial == 1
    assert backend.read().serial == 1
    doc.get("model.m").record({"v": 2})
    backend.write(doc)
    assert doc.serial == 2
    assert backend.read().serial == 2


def test_the_previous_version_is_kept_as_backup(backend: LocalBackend) -> None:
    doc = _doc(v=1)
    backend.write(doc)
    assert not backend.backup_path.exists()
    first = backend.path.read_bytes()
    doc.get("model.m").record({"v": 2})
    backend.write(doc)
    assert backend.backup_path.read_bytes() == first
    assert StateDoc.from_json(backend.backup_path.read_bytes()).serial == 1
    assert backend.read().get("model.m").attributes == {"v": 2}


def test_writes_leave_no_temporary_files(backend: LocalBackend) -> None:
    doc = _doc(v=1)
    for v in range(3):
        doc.get("model.m").record({"v": v})
        backend.write(doc)
    assert sorted(os.listdir(backend.directory)) == ["state.json", "state.json.backup"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_state_is_readable_by_its_owner_only(backend: LocalBackend) -> None:
    backend.write(_doc(v=1))
    backend.write(backend.read())
    for path in (backend.path, backend.backup_path):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_state_is_flushed_to_disk_before_it_replaces_the_old_file(
    backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append(f"replace {Path(dst).name}")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    backend.write(_doc(v=1))
    assert events[:2] == ["fsync", "replace state.json"]
    events.clear()
    backend.write(backend.read())
    # The backup is a hard link to the stored version (nothing new to flush), then the new
    # state is written and synced, then the directory.
    assert events == ["replace state.json.backup", "fsync", "replace state.json", "fsync"]
    assert backend.backup_path.stat().st_nlink == 1, "the backup is the old version, not a second name"


def test_a_failed_write_keeps_the_old_state_and_no_temporary_file(
    backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _doc(v=1)
    backend.write(doc)
    before = backend.path.read_bytes()
    real_replace = os.replace

    def replace(src: str, dst: str) -> None:
        if Path(dst).name == "state.json":
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    doc.get("model.m").record({"v": 2})
    with pytest.raises(StateError, match=r"cannot write .*state\.json: No space left on device"):
        backend.write(doc)
    assert backend.path.read_bytes() == before
    assert doc.serial == 1  # not bumped: the same document can be written again
    assert sorted(os.listdir(backend.directory)) == ["state.json", "state.json.backup"]
    monkeypatch.undo()
    backend.write(doc)
    assert backend.read().serial == 2


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b'{"lineage": ', "not JSON"),
        (b"", "the document is empty"),
        (b'{"lineage": "l", "stack": "s", "serial": "many"}', "serial"),
    ],
)
def test_a_corrupt_state_file_is_reported_with_the_backup(
    backend: LocalBackend, content: bytes, detail: str
) -> None:
    doc = _doc(v=1)
    backend.write(doc)
    backend.write(doc)
    backend.path.write_bytes(content)
    with pytest.raises(StateError) as caught:
        backend.read()
    message = str(caught.value)
    assert message.startswith(f"{backend.path} is not valid state: ")
    assert detail in message
    assert message.endswith("(the previous version is in state.json.backup)")


def test_a_corrupt_state_file_without_backup_does_not_promise_one(backend: LocalBackend) -> None:
    backend.directory.mkdir(parents=True)
    backend.path.write_text("not json")
    with pytest.raises(StateError) as caught:
        backend.read()
    assert str(caught.value).startswith(f"{backend.path} is not valid state: not JSON")
    assert "backup" not in str(caught.value)


def test_a_corrupt_state_file_is_not_overwritten(backend: LocalBackend) -> None:
    backend.directory.mkdir(parents=True)
    backend.path.write_text("{ damaged")
    with pytest.raises(StateError, match="is not valid state"):
        backend.write(_doc(v=1))
    assert backend.path.read_text() == "{ damaged"


def test_state_of_another_lineage_is_not_overwritten(backend: LocalBackend) -> None:
    mine = _doc("fraud-detection", v=1)
    backend.write(mine)
    stored = backend.path.read_bytes()
    other = _doc("churn", v=2)
    with pytest.raises(StateError) as caught:
        backend.write(other)
    message = str(caught.value)
    assert mine.lineage in message and other.lineage in message
    assert "'fraud-detection'" in message and "'churn'" in message
    assert "refusing to overwrite another stack's state" in message
    assert backend.path.read_bytes() == stored
    assert other.serial == 0


def test_a_document_older_than_the_stored_one_is_refused(backend: LocalBackend) -> None:
    backend.write(_doc(v=1))
    first, second = backend.read(), backend.read()
    first.get("model.m").record({"v": "first"})
    backend.write(first)
    second.get("model.m").record({"v": "second"})
    with pytest.raises(StateError) as caught:
        backend.write(second)
    message = str(caught.value)
    assert "state changed since it was read" in message
    assert "serial 2" in message and "serial 1" in message
    assert backend.read().get("model.m").attributes == {"v": "first"}


def test_a_document_from_a_fresh_state_can_be_written_repeatedly(backend: LocalBackend) -> None:
    # The serial bump on the caller's document is what lets an apply save after each resource.
    doc = _doc(v=0)
    for v in range(1, 4):
        doc.get("model.m").record({"v": v})
        backend.write(doc)
    assert backend.read() == doc
    assert doc.serial == 3
