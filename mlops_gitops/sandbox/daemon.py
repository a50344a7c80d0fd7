"""The sandbox daemon: one background process per sandbox directory running every provider's
emulator, so that what `mlops --sandbox apply` creates is still there for the next `plan`.

    python -m mlops_gitops.sandbox.daemon --dir DIR [--settings JSON]

Files in DIR:

    sandbox.json   written (atomically) once the emulators listen: {"pid", "started_at",
                   "urls": {provider: url}, "settings": {provider: {...}}}; removed on exit
    sandbox.log    the daemon's log (and anything it prints), readable by its owner only:
                   emulators log requests, which carry what the stack sends (secrets too)
    .daemon.lock   held (flock) by the living daemon for its whole life, holding its pid: a
                   daemon is alive exactly when this lock is held, which unlike a pid cannot be
                   fooled by pid reuse or a zombie
    .start.lock    held while a command checks for a daemon and starts one, so two concurrent
                   commands never start two

Locks use `fcntl.flock`, so the sandbox runs on Linux and macOS only.

Importing this module imports no provider, cloud SDK or emulator: only `run` (in the daemon
process) loads them."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from mlops_gitops import plugins
from mlops_gitops.errors import MlopsError
from mlops_gitops.provider import Emulator, SandboxEndpoints

try:
    import fcntl
except ImportError:  # Windows: the sandbox is not available there
    fcntl = None  # type: ignore[assignment]

__all__ = ["ensure_running", "run", "status", "stop"]

STATE_FILE = "sandbox.json"
LOG_FILE = "sandbox.log"
DAEMON_LOCK = ".daemon.lock"
START_LOCK = ".start.lock"

# Named explicitly: run as `python -m`, this module is `__main__`.
_log = logging.getLogger("mlops_gitops.sandbox.daemon")

_POLL = 0.05  # seconds between checks while waiting for a daemon to start or stop
_PROBE_TIMEOUT = 2.0  # seconds an emulator has to answer a health probe
_WATCH_INTERVAL = 1.0  # how often the daemon checks that its sandbox.json is still its own
_LOCK_RETRY = 5.0  # how long a starting daemon retries its lock (a health probe may hold it briefly)

# Daemons this process started. Keeping their Popen objects lets `stop` reap them (otherwise
# they stay zombies until this process exits) and spares the ResourceWarning Popen gives when
# dropped while its child still runs: the daemon is meant to outlive the command.
_spawned: dict[int, subprocess.Popen[bytes]] = {}


# ---- locks ---------------------------------------------------------------------------------------


def _require_fcntl() -> None:
    if fcntl is None:
        raise MlopsError("the sandbox needs Linux or macOS (it relies on fcntl file locks)")


def _try_lock(handle: BinaryIO) -> bool:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def _start_lock(sandbox_dir: Path, timeout: float) -> Iterator[None]:
    _require_fcntl()
    with open(sandbox_dir / START_LOCK, "a+b") as handle:
        deadline = time.monotonic() + timeout
        while not _try_lock(handle):
            if time.monotonic() > deadline:
                raise MlopsError(
                    f"timed out after {timeout:g} s waiting for another mlops command to start the "
                    f"sandbox in {sandbox_dir}"
                )
            time.sleep(_POLL)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _daemon_pid(sandbox_dir: Path, patience: float = 0.0) -> int | None:
    """The pid of the daemon alive in `sandbox_dir`, or None if there is none. A daemon writes
    its pid a moment after taking its lock: `patience` is how long to wait for it."""
    _require_fcntl()
    path = sandbox_dir / DAEMON_LOCK
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
        time.sleep(_POLL)
    return None


def _hold_daemon_lock(sandbox_dir: Path) -> BinaryIO:
    """Take the daemon lock for this process and write our pid in it; kept until exit."""
    _require_fcntl()
    handle = open(sandbox_dir / DAEMON_LOCK, "a+b")  # noqa: SIM115 - held for the daemon's life
    deadline = time.monotonic() + _LOCK_RETRY
    while not _try_lock(handle):
        if time.monotonic() > deadline:
            handle.close()
            raise MlopsError(f"another sandbox daemon is running in {sandbox_dir}")
        time.sleep(_POLL)
    handle.truncate(0)
    handle.write(str(os.getpid()).encode())
    handle.flush()
    return handle


# ---- state file ------------------------------------------------------------------------------------


def _read_state(sandbox_dir: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((sandbox_dir / STATE_FILE).read_text())
    except (OSError, ValueError, RecursionError):  # absent, half-written or mangled
        return None
    return state if isinstance(state, dict) and isinstance(state.get("pid"), int) else None


def _write_state(sandbox_dir: Path, state: dict[str, Any]) -> None:
    # Readers poll for this file: write it whole or not at all.
    temporary = sandbox_dir / f".{STATE_FILE}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, sandbox_dir / STATE_FILE)


def _remove_state(sandbox_dir: Path, pid: int | None = None) -> None:
    """Remove sandbox.json; with `pid`, only if that process wrote it."""
    if pid is not None:
        state = _read_state(sandbox_dir)
        if state is None or state["pid"] != pid:
            return
    (sandbox_dir / STATE_FILE).unlink(missing_ok=True)


def _answers(url: str) -> bool:
    """Any HTTP answer counts (emulators differ in what they serve at `/`). TLS certificates are
    not checked: this is a liveness probe of a loopback server that may use a self-signed one."""
    context = None
    if url.startswith("https:"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/", timeout=_PROBE_TIMEOUT, context=context):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):  # URLError, refused, timed out, malformed URL
        return False


def _healthy(sandbox_dir: Path, state: dict[str, Any]) -> bool:
    if state["pid"] != _daemon_pid(sandbox_dir):
        return False
    return all(_answers(url) for url in state.get("urls", {}).values())


def _open_log(path: Path) -> int:
    """A descriptor appending to the log, which is created owner-only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    # A log left by an older version may be readable by others: narrow it while it is open.
    if os.fstat(fd).st_mode & 0o077:
        os.fchmod(fd, 0o600)
    return fd


def _tail(path: Path, lines: int = 20) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16_384))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


# ---- the daemon --------------------------------------------------------------------------------------


def _start_emulators(settings: dict[str, Any]) -> tuple[dict[str, Emulator], dict[str, str]]:
    """Start the emulator of every installed provider that has one. A provider that cannot be
    imported is skipped (a broken third-party plugin must not take the sandbox down); an
    emulator that refuses its settings or cannot start stops the daemon, so the command that
    asked for it shows why."""
    emulators: dict[str, Emulator] = {}
    urls: dict[str, str] = {}
    try:
        for _name, entry in sorted(plugins.available().items()):
            try:
                provider = entry.load()
            except Exception:
                _log.exception("provider %s (%s) could not be imported; skipped", entry.name, entry.value)
                continue
            try:
                emulator = provider.emulator(settings.get(entry.name, {}))
            except ImportError:  # the emulator's own dependencies (an extra) are not installed
                _log.exception("provider %s: emulator could not be imported; skipped", entry.name)
                continue
            if emulator is None:
                _log.info("provider %s has no emulator", entry.name)
                continue
            urls[entry.name] = emulator.start()
            emulators[entry.name] = emulator
            _log.info("provider %s: emulator listening on %s", entry.name, urls[entry.name])
    except BaseException:
        _stop_emulators(emulators)
        raise
    return emulators, urls


def _stop_emulators(emulators: dict[str, Emulator]) -> None:
    for name, emulator in emulators.items():
        try:
            emulator.stop()
        except Exception:
            _log.exception("provider %s: emulator did not stop cleanly", name)


def run(sandbox_dir: Path, settings: dict[str, Any]) -> None:
    """The daemon's body: start the emulators, publish sandbox.json, serve until SIGTERM/SIGINT
    (or until sandbox.json stops naming this process, e.g. the directory was deleted), then stop
    the emulators and remove sandbox.json. Must run in the main thread (signal handlers)."""
    sandbox_dir = sandbox_dir.resolve()
    sandbox_dir.mkdir(parents=True, exist_ok=True)
    os.close(_open_log(sandbox_dir / LOG_FILE))  # so that logging appends to an owner-only file
    logging.basicConfig(
        filename=sandbox_dir / LOG_FILE,
        level=logging.INFO,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: stopping.set())
    pid = os.getpid()
    lock = _hold_daemon_lock(sandbox_dir)
    emulators: dict[str, Emulator] = {}
    try:
        _log.info("sandbox daemon starting in %s", sandbox_dir)
        emulators, urls = _start_emulators(settings)
        _write_state(
            sandbox_dir,
            {
                "pid": pid,
                "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "urls": urls,
                "settings": settings,
            },
        )
        _log.info("sandbox ready: %s", urls or "no provider has an emulator")
        while not stopping.wait(_WATCH_INTERVAL):
            state = _read_state(sandbox_dir)
            if state is None or state["pid"] != pid:
                _log.warning("%s no longer names this daemon: exiting", sandbox_dir / STATE_FILE)
                break
        _log.info("sandbox daemon stopping")
    except Exception:
        _log.exception("sandbox daemon failed")
        raise
    finally:
        _stop_emulators(emulators)
        _remove_state(sandbox_dir, pid)
        lock.close()
        _log.info("sandbox daemon stopped")


# ---- control from commands ----------------------------------------------------------------------------


def status(sandbox_dir: Path) -> dict[str, Any] | None:
    """sandbox.json plus `"healthy"` (the daemon is alive and every emulator answers), or None
    when no daemon has published one."""
    state = _read_state(sandbox_dir)
    if state is None:
        return None
    return {**state, "healthy": _healthy(sandbox_dir, state)}


def ensure_running(
    sandbox_dir: Path, settings: dict[str, Any] | None = None, timeout: float = 30
) -> SandboxEndpoints:
    """The endpoints of the healthy daemon in `sandbox_dir`, starting one if there is none.

    `settings` ({provider: {...}}) apply to a daemon this call starts; a running daemon keeps
    its own (emulators offer runtime control for changes, e.g. the SageMaker emulator's
    `update_settings`)."""
    sandbox_dir = sandbox_dir.resolve()
    sandbox_dir.mkdir(parents=True, exist_ok=True)
    state = _read_state(sandbox_dir)
    if state is not None and _healthy(sandbox_dir, state):
        return SandboxEndpoints(urls=dict(state["urls"]), settings=dict(state["settings"]))
    deadline = time.monotonic() + timeout
    with _start_lock(sandbox_dir, timeout):
        # Another command may have started it while we waited for the lock.
        state = _read_state(sandbox_dir)
        if state is not None and _healthy(sandbox_dir, state):
            return SandboxEndpoints(urls=dict(state["urls"]), settings=dict(state["settings"]))
        # A daemon alive but not healthy (hung, or an emulator died) is replaced.
        _stop_locked(sandbox_dir, timeout=max(1.0, deadline - time.monotonic()))
        state = _spawn(sandbox_dir, settings or {}, deadline)
    return SandboxEndpoints(urls=dict(state["urls"]), settings=dict(state["settings"]))


def _spawn(sandbox_dir: Path, settings: dict[str, Any], deadline: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "mlops_gitops.sandbox.daemon", "--dir", str(sandbox_dir)]
    command += ["--settings", json.dumps(settings)]
    log_path = sandbox_dir / LOG_FILE
    with os.fdopen(_open_log(log_path), "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no signal aimed at the command's terminal reaches it
            cwd=sandbox_dir,  # not the command's directory, which may go away first
        )
    _spawned[process.pid] = process
    while True:
        state = _read_state(sandbox_dir)
        if state is not None and state["pid"] == process.pid and _healthy(sandbox_dir, state):
            return state
        if process.poll() is not None:
            _spawned.pop(process.pid, None)
            raise MlopsError(
                f"the sandbox daemon exited with status {process.returncode}; last lines of "
                f"{log_path}:\n{_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            _terminate(sandbox_dir, process.pid, timeout=5)
            raise MlopsError(
                f"the sandbox did not start in time; last lines of {log_path}:\n{_tail(log_path)}"
            )
        time.sleep(_POLL)


def stop(sandbox_dir: Path, timeout: float = 10) -> bool:
    """Stop the daemon of `sandbox_dir` (SIGTERM, then SIGKILL after `timeout`) and remove its
    sandbox.json. False if no daemon was running."""
    sandbox_dir = sandbox_dir.resolve()
    if not sandbox_dir.is_dir():
        return False
    # Under the start lock, so a command starting a new daemon meanwhile is not undone.
    with _start_lock(sandbox_dir, timeout):
        return _stop_locked(sandbox_dir, timeout)


def _stop_locked(sandbox_dir: Path, timeout: float) -> bool:
    pid = _daemon_pid(sandbox_dir, patience=1.0)
    if pid is not None:
        _terminate(sandbox_dir, pid, timeout)
    _remove_state(sandbox_dir)
    return pid is not None


def _terminate(sandbox_dir: Path, pid: int, timeout: float) -> None:
    for signum, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
        if _wait_exit(sandbox_dir, pid, wait):
            return
        _log.warning("sandbox daemon %d did not exit after signal %d", pid, signum)


def _wait_exit(sandbox_dir: Path, pid: int, timeout: float) -> bool:
    """Wait until the daemon is gone: our own child is reaped; another process's daemon is gone
    once its lock is free (a pid can linger as a zombie of a parent that does not reap it)."""
    deadline = time.monotonic() + timeout
    process = _spawned.get(pid)
    while True:
        if process is not None:
            if process.poll() is not None:
                del _spawned[pid]
                return True
        elif _daemon_pid(sandbox_dir) != pid:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlops_gitops.sandbox.daemon", description="Run the sandbox's emulators."
    )
    parser.add_argument("--dir", required=True, type=Path, help="the sandbox directory")
    parser.add_argument("--settings", default="{}", help="JSON object: {provider: {setting: value}}")
    args = parser.parse_args(argv)
    settings = json.loads(args.settings)
    if not isinstance(settings, dict):
        parser.error("--settings must be a JSON object")
    try:
        run(args.dir, settings)
    except Exception as exc:  # run() has logged the traceback; stderr goes to the same log
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
