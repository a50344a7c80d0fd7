"""The files of a sandbox directory, shared by its emulator daemons and the commands that start,
inspect and stop them (see `daemon.py` for who does what):

    sandbox.json          every emulator daemon running for the directory, rewritten (atomically,
                          under .sandbox.lock) by each daemon once its emulator answers and when
                          it exits; removed when the last one exits:
                          {"emulators": {name: {"pid", "started_at", "url", "settings", "log"}},
                           "urls": {name: url}, "settings": {name: {...}}, "started_at": earliest}
                          (`urls`, `settings` and `started_at` repeat `emulators`, for readers
                          that want only those)
    emulators/NAME.log    NAME's daemon log (and what it prints), readable by its owner only:
                          emulators log requests, which carry what the stack sends (secrets too)
    emulators/NAME.lock   held (flock) by NAME's living daemon for its whole life, holding its pid:
                          the daemon is alive exactly when this lock is held, which unlike a pid
                          cannot be fooled by pid reuse or a zombie
    .start.lock           held while a command checks the daemons and starts or stops some, so
                          two concurrent commands never start two daemons for one emulator
    .sandbox.lock         held for each read-modify-write of sandbox.json

Locks use `fcntl.flock`, so the sandbox runs on Linux and macOS only."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from mlops_gitops.errors import MlopsError

try:
    import fcntl
except ImportError:  # Windows: the sandbox is not available there
    fcntl = None  # type: ignore[assignment]

STATE_FILE = "sandbox.json"
EMULATORS_DIR = "emulators"
START_LOCK = ".start.lock"
STATE_LOCK = ".sandbox.lock"

POLL = 0.05  # seconds between checks while waiting for a lock or a process
_LOCK_RETRY = 5.0  # how long a starting daemon retries its lock (a probe may hold it briefly)


def log_path(sandbox_dir: Path, name: str) -> Path:
    return sandbox_dir / EMULATORS_DIR / f"{name}.log"


def lock_path(sandbox_dir: Path, name: str) -> Path:
    return sandbox_dir / EMULATORS_DIR / f"{name}.lock"


# ---- locks ---------------------------------------------------------------------------------------


def require_fcntl() -> None:
    if fcntl is None:
        raise MlopsError("the sandbox needs Linux or macOS (it relies on fcntl file locks)")


def _try_lock(handle: BinaryIO) -> bool:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def _locked(path: Path, timeout: float, waiting_for: str) -> Iterator[None]:
    require_fcntl()
    with open(path, "a+b") as handle:
        deadline = time.monotonic() + timeout
        while not _try_lock(handle):
            if time.monotonic() > deadline:
                raise MlopsError(f"timed out after {timeout:g} s waiting for {waiting_for}")
            time.sleep(POLL / 5)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def start_lock(sandbox_dir: Path, timeout: float) -> contextlib.AbstractContextManager[None]:
    waiting_for = f"another mlops command to start or stop the sandbox in {sandbox_dir}"
    return _locked(sandbox_dir / START_LOCK, timeout, waiting_for)


def daemon_pid(sandbox_dir: Path, name: str, patience: float = 0.0) -> int | None:
    """The pid of NAME's daemon alive in `sandbox_dir`, or None if there is none. A daemon writes
    its pid a moment after taking its lock: `patience` is how long to wait for it."""
    require_fcntl()
    path = lock_path(sandbox_dir, name)
    deadline = time.monotonic() + patience
    while path.exists():
        with open(path, "rb") as handle:
            if _try_lock(handle):
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
                return None
            content = handle.read().strip()
        if content.isdigit():
            return int(content)
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL)
    return None


def hold_daemon_lock(sandbox_dir: Path, name: str) -> BinaryIO:
    """Take NAME's daemon lock for this process and write our pid in it; kept until exit."""
    require_fcntl()
    handle = open(lock_path(sandbox_dir, name), "a+b")  # noqa: SIM115 - held for the daemon's life
    deadline = time.monotonic() + _LOCK_RETRY
    while not _try_lock(handle):
        if time.monotonic() > deadline:
            handle.close()
            raise MlopsError(f"another sandbox daemon runs the {name} emulator in {sandbox_dir}")
        time.sleep(POLL)
    handle.truncate(0)
    handle.write(str(os.getpid()).encode())
    handle.flush()
    return handle


def daemon_names(sandbox_dir: Path) -> list[str]:
    """The emulators that have (or had) a daemon in `sandbox_dir`, by their lock files."""
    return sorted(path.stem for path in (sandbox_dir / EMULATORS_DIR).glob("*.lock"))


# ---- sandbox.json ---------------------------------------------------------------------------------


def _valid(entry: Any) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("pid"), int) and isinstance(entry.get("url"), str)


def entries(sandbox_dir: Path) -> dict[str, dict[str, Any]]:
    """sandbox.json's `emulators`: {name: {"pid", "started_at", "url", "settings", "log"}}; an
    absent, half-written or mangled file has none, a mangled entry is left out."""
    try:
        state = json.loads((sandbox_dir / STATE_FILE).read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    found = state.get("emulators") if isinstance(state, dict) else None
    if not isinstance(found, dict):
        return {}
    return {name: entry for name, entry in found.items() if isinstance(name, str) and _valid(entry)}


def _write(sandbox_dir: Path, found: dict[str, dict[str, Any]]) -> None:
    path = sandbox_dir / STATE_FILE
    if not found:
        path.unlink(missing_ok=True)
        return
    state = {
        "emulators": found,
        "urls": {name: entry["url"] for name, entry in found.items()},
        "settings": {name: entry.get("settings", {}) for name, entry in found.items()},
        "started_at": min(str(entry.get("started_at", "")) for entry in found.values()),
    }
    # Readers poll this file without a lock: write it whole or not at all.
    temporary = sandbox_dir / f".{STATE_FILE}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


def publish(sandbox_dir: Path, name: str, entry: dict[str, Any], timeout: float = 10.0) -> None:
    """Record NAME's daemon in sandbox.json, keeping the other emulators' entries."""
    with _locked(sandbox_dir / STATE_LOCK, timeout, f"{sandbox_dir / STATE_FILE} to be free"):
        _write(sandbox_dir, {**entries(sandbox_dir), name: entry})


def withdraw(sandbox_dir: Path, name: str, pid: int | None = None, timeout: float = 10.0) -> None:
    """Remove NAME's entry from sandbox.json; with `pid`, only if that process wrote it."""
    with _locked(sandbox_dir / STATE_LOCK, timeout, f"{sandbox_dir / STATE_FILE} to be free"):
        found = entries(sandbox_dir)
        entry = found.get(name)
        if entry is None or (pid is not None and entry["pid"] != pid):
            return
        del found[name]
        _write(sandbox_dir, found)


# ---- logs -----------------------------------------------------------------------------------------


def open_log(path: Path) -> int:
    """A descriptor appending to the log, which is created owner-only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    # A log left by an older version may be readable by others: narrow it while it is open.
    if os.fstat(fd).st_mode & 0o077:
        os.fchmod(fd, 0o600)
    return fd


def tail(path: Path, lines: int = 20) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16_384))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
