"""Where state lives, and the lock that keeps two commands from applying at once.

`StateBackend` is the interface every backend implements: the local file (default) now; S3, GCS
and Azure Blob next. The behaviour users rely on is written here once, on top of a few storage
primitives each backend provides:

- `write` refuses a document from another lineage or an older serial, then stores the next serial.
- `lock` never waits: a second command fails at once, naming who holds the lock, for what, since
  when, and the ID that `mlops force-unlock` takes.
- `unlock` and `force_unlock` only remove the lock whose ID they are given."""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
import os
import socket
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import UTC, datetime

from pydantic import TypeAdapter, ValidationError

from mlops_gitops import faults
from mlops_gitops.errors import LockedError, LockInfo, StateError
from mlops_gitops.state.model import StateDoc, utc_now

_LOCK_INFO = TypeAdapter(LockInfo)


class StateBackend(ABC):
    @property
    @abstractmethod
    def location(self) -> str:
        """Where the state lives, for messages: a path, `s3://bucket/key`, ..."""

    @abstractmethod
    def read(self) -> StateDoc | None:
        """The stored document, or None when this stack has no state yet. Raises StateError when
        the stored document cannot be read as state."""

    @abstractmethod
    def lock_info(self) -> LockInfo | None:
        """The current lock, or None when the state is not locked."""

    @abstractmethod
    def _store(self, doc: StateDoc) -> None:
        """Replace the stored document with `doc`, keeping the replaced one as the previous
        version. Readers must see either the old document or the new one, never a mix."""

    @abstractmethod
    def _create_lock(self, info: LockInfo) -> LockInfo | None:
        """Create the lock object holding `info` if, and only if, none exists, as one atomic
        step. Return None when created, or the current holder's info when a lock exists."""

    @abstractmethod
    def _delete_lock(self, info: LockInfo) -> None:
        """Remove the lock object `info` was read from."""

    def write(self, doc: StateDoc) -> None:
        """Store `doc` as the next version and bump `doc.serial` to match what was stored.

        Refuses (StateError) a document of another lineage (the stack points at someone else's
        state) or with a serial older than the stored one (state was written since `doc` was
        read: applying from it would forget those changes)."""
        successor = self.render(doc)
        self.store_rendered(successor)
        # Bump the caller's serial only once the store succeeded, so a failed write can be retried.
        doc.serial = successor.serial

    def render(self, doc: StateDoc) -> StateDoc:
        """The next version of `doc`, its text rendered now: a snapshot `store_rendered` can
        store while the caller goes on changing `doc` (apply renders under its state lock and
        writes outside it)."""
        successor = doc.model_copy(update={"serial": doc.serial + 1})
        successor.freeze_text()
        return successor

    def store_rendered(self, successor: StateDoc) -> None:
        """Store a version made by `render` (see `write` for what is refused).

        The stored document is read and checked first, except when this backend wrote the
        stored version itself and can tell cheaply that it is still the one stored
        (`_version_token`): its lineage and serial are then known without reading it again."""
        serial = successor.serial - 1
        known = getattr(self, "_written", None)
        if known is not None and known[:2] == (successor.lineage, serial) and known[2] is not None:
            stored = None if self._version_token() == known[2] else self.read()
        else:
            stored = self.read()
        if stored is not None:
            if stored.lineage != successor.lineage:
                raise StateError(
                    f"{self.location} holds the state of stack {stored.stack!r} (lineage "
                    f"{stored.lineage}), not this state of stack {successor.stack!r} (lineage "
                    f"{successor.lineage}); refusing to overwrite another stack's state: check the "
                    "stack's backend settings"
                )
            if serial < stored.serial:
                raise StateError(
                    f"state changed since it was read: {self.location} is at serial {stored.serial}, "
                    f"this command read serial {serial}; run the command again to start from the "
                    "current state"
                )
        self._written = None
        faults.point("state-before")  # kill points of the crash-safety suite; no-ops unless enabled
        self._store(successor)
        faults.point("state-after")
        self._written = (successor.lineage, successor.serial, self._version_token())

    def _version_token(self) -> object | None:
        """A cheap fingerprint of the stored version (a file's inode, size and mtime), or None
        when the backend has none: then every write reads the stored document first."""
        return None

    def lock(self, operation: str) -> LockInfo:
        """Take the lock for `operation` ("plan", "apply", ...), or raise LockedError at once."""
        info = _new_lock_info(operation)
        holder = self._create_lock(info)
        if holder is not None:
            raise LockedError(holder, locked_message(holder))
        return info

    def unlock(self, lock_id: str) -> None:
        """Release the lock this command took. Raises StateError when that lock is no longer
        held, because then someone force-unlocked it and others may have written meanwhile."""
        current = self.lock_info()
        if current is None:
            raise StateError(
                f"lock {lock_id} was no longer held when this command finished: someone "
                "force-unlocked it; check the state with `mlops plan`"
            )
        if current.id != lock_id:
            raise StateError(
                f"lock {lock_id} was no longer held when this command finished: someone "
                f"force-unlocked it and state is now locked by {_holder(current)}; lock ID {current.id}"
            )
        self._delete_lock(current)

    def force_unlock(self, lock_id: str) -> None:
        """Remove a lock left by a command that died. The ID must be the current lock's, so a
        lock taken since the user looked is never removed by mistake."""
        current = self.lock_info()
        if current is None:
            raise StateError("state is not locked; nothing to unlock")
        if current.id != lock_id:
            raise StateError(
                f"lock ID {lock_id} does not match the current lock: state is locked by "
                f"{_holder(current)}; lock ID {current.id}"
            )
        self._delete_lock(current)

    @contextlib.contextmanager
    def locked(self, operation: str) -> Iterator[LockInfo]:
        """Hold the lock for the duration of a `with` block."""
        info = self.lock(operation)
        try:
            yield info
        except BaseException:
            # The block's own error is the one to report; failing to release on top of it
            # (the lock was force-unlocked meanwhile) must not replace it.
            with contextlib.suppress(StateError):
                self.unlock(info.id)
            raise
        self.unlock(info.id)


def lock_to_json(info: LockInfo) -> str:
    """The lock document every backend stores: the same JSON whatever the storage."""
    return json.dumps(dataclasses.asdict(info), indent=2, sort_keys=True) + "\n"


def lock_from_json(text: str | bytes) -> LockInfo:
    try:
        return _LOCK_INFO.validate_json(text)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise StateError(f"not a lock document ({where + ': ' if where else ''}{first['msg']})") from None


def locked_message(info: LockInfo, now: datetime | None = None) -> str:
    """Why a second command is refused, and how to get out if the holder is gone.

    The lock's age is given once it is a minute old ("since 2026-12-03T14:01:00Z, 12 minutes
    ago"): a process can only be checked on this host, so for a lock taken elsewhere its age is
    what lets a user judge whether the holder is still at work. A younger lock is not yet a
    question of staleness, and the timestamp says enough."""
    age = _age(info.created, now or datetime.now(UTC))
    since = f"{info.created}, {age} ago" if age else info.created
    message = f"state is locked by {_holder(info)} since {since}; lock ID {info.id}; "
    if info.pid and info.host == socket.gethostname() and not _pid_alive(info.pid):
        return message + (
            f"the lock looks stale: process {info.pid} is no longer running on {info.host}; "
            f"run: mlops force-unlock {info.id}"
        )
    return message + f"if that process is gone, run: mlops force-unlock {info.id}"


def _age(created: str, now: datetime) -> str | None:
    """`created`'s distance from `now` in words, to the largest whole unit; None under a minute
    and for a time this clock cannot place (unparsable, or ahead: the holder's clock runs fast)."""
    try:
        taken = datetime.fromisoformat(created)
    except ValueError:
        return None
    if taken.tzinfo is None:  # every lock timestamp is UTC; an old writer may have left off the Z
        taken = taken.replace(tzinfo=UTC)
    seconds = (now - taken).total_seconds()
    if seconds < 60:
        return None
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        # Switch unit only at two of the larger one: "90 minutes" and "36 hours" say more than
        # "1 hour" and "1 day".
        if seconds >= 2 * size or unit == "minute":
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return None  # unreachable: the minute branch always returns


def _holder(info: LockInfo) -> str:
    pid = f" (pid {info.pid})" if info.pid else ""
    return f"{info.who}{pid} for {info.operation}"


def _new_lock_info(operation: str) -> LockInfo:
    host = socket.gethostname()
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name: e.g. a container running as an unnamed uid
        user = "unknown"
    return LockInfo(
        id=str(uuid.uuid4()),
        who=f"{user}@{host}",
        operation=operation,
        created=utc_now(),
        pid=os.getpid(),
        host=host,
    )


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        # On Windows signal 0 is CTRL_C_EVENT, so os.kill(pid, 0) would not be a harmless probe.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True
