"""The default backend: state kept in a directory on this machine.

    <directory>/state.json         the current state
    <directory>/state.json.backup  the version before the last write
    <directory>/state.lock.json    present while a command holds the lock

A write never leaves a half-written state.json behind: the new text goes to a temporary file in
the same directory (so the rename cannot cross filesystems), is flushed to disk, and then replaces
state.json in one rename. A crash at any point leaves the old state or the new one."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from mlops_gitops.errors import LockInfo, StateError
from mlops_gitops.files import atomic_write
from mlops_gitops.state.backend import StateBackend, lock_from_json, lock_to_json
from mlops_gitops.state.model import StateDoc

STATE_FILE = "state.json"
BACKUP_FILE = "state.json.backup"
LOCK_FILE = "state.lock.json"

# How long a command that finds the lock file waits for its creator to finish writing it (the
# file is created empty, then written) before calling it damaged. Not a wait for the lock itself.
_LOCK_READ_RETRIES = (0.01, 0.05, 0.2)
# A lock file that disappears before its holder can be read was released meanwhile: create it
# again, but give up rather than spin if that keeps happening.
_LOCK_CREATE_ATTEMPTS = 3


class LocalBackend(StateBackend):
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / STATE_FILE
        self.backup_path = self.directory / BACKUP_FILE
        self.lock_path = self.directory / LOCK_FILE

    @property
    def location(self) -> str:
        return str(self.path)

    def read(self) -> StateDoc | None:
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise StateError(f"cannot read {self.path}: {err.strerror}") from None
        try:
            return StateDoc.from_json(text)
        # RecursionError: JSON nested absurdly deep. ValueError: an integer of more digits than
        # Python reads (4300), which json.loads raises as a plain ValueError.
        except (StateError, RecursionError, ValueError) as err:
            why = (
                err
                if isinstance(err, StateError)
                else "it nests too deeply"
                if isinstance(err, RecursionError)
                else f"not JSON ({err})"
            )
            backup = f" (the previous version is in {BACKUP_FILE})" if self.backup_path.exists() else ""
            raise StateError(f"{self.path} is not valid state: {why}{backup}") from None

    def _store(self, doc: StateDoc) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # The backup is made before state.json changes, and never by moving state.json
            # aside: that would leave a moment with no state.json, and a command reading then
            # would see a stack with no state and plan to create everything again.
            _keep_as_backup(self.path, self.backup_path)
            atomic_write(self.path, doc.to_json().encode())
            _fsync_directory(self.directory)
        except OSError as err:
            raise StateError(f"cannot write {self.path}: {err.strerror or err}") from None

    # Why a lock file rather than an OS lock (flock/fcntl): an OS lock carries no record of who
    # holds it or since when, so a refused command could not say who is applying, and it cannot
    # be removed by ID by someone else (`mlops force-unlock`). A lock document created only if
    # absent gives the same semantics as the remote backends' lock objects (an S3 conditional
    # put, a GCS generation precondition, an Azure blob lease), so users meet one behaviour
    # whatever the backend. O_CREAT | O_EXCL makes "create if absent" a single atomic step.

    def _version_token(self) -> object | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def lock_info(self) -> LockInfo | None:
        try:
            text = self.lock_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise StateError(f"cannot read {self.lock_path}: {err.strerror}") from None
        try:
            return lock_from_json(text)
        except StateError as err:
            raise StateError(
                f"{self.lock_path} is damaged: {err}; if no mlops command is running, delete that file"
            ) from None

    def _create_lock(self, info: LockInfo) -> LockInfo | None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StateError(f"cannot create {self.directory}: {err.strerror}") from None
        for _ in range(_LOCK_CREATE_ATTEMPTS):
            try:
                # Owner-only, as state is: the lock names who runs what, from which host.
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                holder = self._read_holder()
                if holder is not None:
                    return holder
                continue
            except OSError as err:
                raise StateError(f"cannot create {self.lock_path}: {err.strerror}") from None
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(lock_to_json(info).encode())
                    file.flush()
                    os.fsync(file.fileno())
            except OSError as err:
                # A lock file we could not fill would lock everyone out with no ID to unlock by.
                self.lock_path.unlink(missing_ok=True)
                raise StateError(f"cannot write {self.lock_path}: {err.strerror}") from None
            return None
        raise StateError(f"{self.lock_path} kept appearing and disappearing; try again")

    def _read_holder(self) -> LockInfo | None:
        for delay in _LOCK_READ_RETRIES:
            with contextlib.suppress(StateError):
                return self.lock_info()
            time.sleep(delay)
        return self.lock_info()

    def _delete_lock(self, info: LockInfo) -> None:
        # The caller has just checked that the file holds `info`. It could only have changed
        # since if this very lock was removed meanwhile (two people unlocking it at once), and
        # then there is nothing left to protect, so the file is not read a second time.
        self.lock_path.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    # A rename is durable only once the directory entry is on disk too.
    if os.name != "posix":  # Windows cannot open a directory to fsync it
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _keep_as_backup(path: Path, backup: Path) -> None:
    """Make `backup` the current version of `path` (if any) before `path` is replaced: a hard
    link renamed over the backup, so the old text is neither read nor copied, and `backup`
    always names a whole version. Where hard links are refused, a copy."""
    link = backup.with_name(f".{backup.name}.{os.getpid()}.link")
    try:
        link.unlink(missing_ok=True)
        os.link(path, link)
    except FileNotFoundError:
        return  # nothing stored yet
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            atomic_write(backup, path.read_bytes())
        return
    os.replace(link, backup)
