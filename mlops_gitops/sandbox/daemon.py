"""The sandbox daemons, seen from the commands: start the emulators a command needs, check on
them, stop them. A daemon is one background process per (sandbox directory, emulator), running
`process.py`, so that what `mlops --sandbox apply` creates is still there for the next `plan`.

Why one process per emulator rather than one for all: an emulator is a third party's code as
much as ours (found through the `mlops_gitops.emulators` entry points), and it may fail to
import, refuse its settings, fail to start or crash. In its own process it takes only itself
down; the others keep serving and keep their state. Starting a missing one is starting one more
process, which leaves the running ones alone; a stack asks only for its own provider's
emulator, so a Vertex AI stack never waits for moto. The files they share are described in
`records.py`; a daemon is healthy when it holds its lock and its emulator answers
`GET /_emulator/health`.

Importing this module imports no provider, cloud SDK or emulator: only a daemon process loads
its emulator."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_gitops.errors import MlopsError
from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.sandbox import control, emulators, records
from mlops_gitops.sandbox.emulators import EmulatorFailure
from mlops_gitops.sandbox.records import STATE_FILE, log_path

__all__ = ["EmulatorFailure", "Startup", "ensure_running", "start", "status", "stop", "up"]

_log = logging.getLogger(__name__)

_PROBE_TIMEOUT = 2.0  # seconds an emulator has to answer a health probe

# Daemons this process started. Keeping their Popen objects lets `stop` reap them (otherwise
# they stay zombies until this process exits) and spares the ResourceWarning Popen gives when
# dropped while its child still runs: the daemon is meant to outlive the command.
_spawned: dict[int, subprocess.Popen[bytes]] = {}


# ---- health ------------------------------------------------------------------------------------------


def _answers(url: str) -> bool:
    """The emulator's `GET /_emulator/health` says ok (over TLS, certificates unchecked: see
    `control.loopback_tls`)."""
    try:
        return control.health(url, timeout=_PROBE_TIMEOUT).get("status") == "ok"
    except (OSError, ValueError):  # refused, timed out, not healthy, not JSON, malformed URL
        return False


def _healthy(sandbox_dir: Path, name: str, entry: Mapping[str, Any]) -> bool:
    return entry["pid"] == records.daemon_pid(sandbox_dir, name) and _answers(entry["url"])


# ---- control from commands ----------------------------------------------------------------------------


@dataclass
class Startup:
    """What `start` found or started, for the emulators asked for."""

    endpoints: SandboxEndpoints  # those running now
    started: list[str] = field(default_factory=list)  # those this call started
    failures: dict[str, EmulatorFailure] = field(default_factory=dict)  # those that are not running


def status(sandbox_dir: Path) -> dict[str, Any] | None:
    """sandbox.json (see `records.py`) with `"healthy"` added to each emulator (its daemon is
    alive and it answers) and to the whole (every emulator is), or None when no daemon runs."""
    found = records.entries(sandbox_dir)
    if not found:
        return None
    shown = {name: {**entry, "healthy": _healthy(sandbox_dir, name, entry)} for name, entry in found.items()}
    return {
        "emulators": shown,
        "urls": {name: entry["url"] for name, entry in found.items()},
        "settings": {name: entry.get("settings", {}) for name, entry in found.items()},
        "started_at": min(str(entry.get("started_at", "")) for entry in found.values()),
        "healthy": all(entry["healthy"] for entry in shown.values()),
    }


def _wanted(providers: Iterable[str] | None) -> list[str]:
    return sorted(emulators.available()) if providers is None else list(dict.fromkeys(providers))


def _endpoints(found: Mapping[str, Mapping[str, Any]]) -> SandboxEndpoints:
    return SandboxEndpoints(
        urls={name: entry["url"] for name, entry in found.items()},
        settings={name: dict(entry.get("settings", {})) for name, entry in found.items()},
    )


def start(
    sandbox_dir: Path,
    providers: Iterable[str] | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    timeout: float = 30,
) -> Startup:
    """Make sure the emulators of `providers` (None: every installed emulator) run for
    `sandbox_dir`, starting a daemon for each one that does not, and replacing one that is alive
    but does not answer. The others, and their state, are left alone. `settings` ({name: {...}})
    go to the daemons this call starts; a running daemon keeps its own (see `up`). An emulator
    that cannot start is reported in `failures` and stops no other."""
    sandbox_dir = sandbox_dir.resolve()
    names = _wanted(providers)
    found = records.entries(sandbox_dir) if sandbox_dir.is_dir() else {}
    if all(name in found and _healthy(sandbox_dir, name, found[name]) for name in names):
        return Startup(_endpoints({name: found[name] for name in names}))
    (sandbox_dir / records.EMULATORS_DIR).mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with records.start_lock(sandbox_dir, timeout):
        return _start_locked(sandbox_dir, names, dict(settings or {}), deadline)


def _start_locked(
    sandbox_dir: Path, names: list[str], settings: dict[str, Mapping[str, Any]], deadline: float
) -> Startup:
    found = records.entries(sandbox_dir)  # again: another command may have started some meanwhile
    ready: dict[str, Mapping[str, Any]] = {}
    failures: dict[str, EmulatorFailure] = {}
    children: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for name in names:
            if name in found and _healthy(sandbox_dir, name, found[name]):
                ready[name] = found[name]
            elif name not in emulators.available():
                failures[name] = EmulatorFailure(name, str(emulators.unknown(name)))
            else:
                # A daemon alive but not answering (hung, or its emulator died) is replaced.
                _stop_locked(sandbox_dir, name, timeout=max(1.0, deadline - time.monotonic()))
                children[name] = _spawn(sandbox_dir, name, settings.get(name, {}))
    except BaseException:  # e.g. Ctrl-C: what was started here must not be left behind
        for name, (process, report_fd) in children.items():
            os.close(report_fd)
            _terminate(sandbox_dir, name, process.pid, timeout=5)
        raise
    # Started together, awaited in turn: each daemon imports its emulator in parallel.
    for name, (process, report_fd) in children.items():
        try:
            ready[name] = _await(sandbox_dir, name, process, report_fd, deadline)
        except EmulatorFailure as failure:
            failures[name] = failure
    return Startup(_endpoints(ready), [name for name in children if name in ready], failures)


def _spawn(
    sandbox_dir: Path, name: str, settings: Mapping[str, Any]
) -> tuple[subprocess.Popen[bytes], int]:
    """Start NAME's daemon; returns it and the end of the pipe it reports on."""
    read_fd, write_fd = os.pipe()
    command = [sys.executable, "-m", "mlops_gitops.sandbox.process", "--dir", str(sandbox_dir)]
    command += ["--emulator", name, "--settings", json.dumps(dict(settings)), "--report-fd", str(write_fd)]
    try:
        with os.fdopen(records.open_log(log_path(sandbox_dir, name)), "ab") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                start_new_session=True,  # no signal aimed at the command's terminal reaches it
                cwd=sandbox_dir,  # not the command's directory, which may go away first
            )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)  # the daemon has its own copy: EOF here means it is gone
    _spawned[process.pid] = process
    return process, read_fd


def _await(
    sandbox_dir: Path, name: str, process: subprocess.Popen[bytes], report_fd: int, deadline: float
) -> Mapping[str, Any]:
    """The sandbox.json entry of a daemon `_spawn` started, once it reports ready; otherwise an
    EmulatorFailure, with the daemon gone."""
    log = log_path(sandbox_dir, name)
    try:
        line = _read_line(report_fd, deadline)
    finally:
        os.close(report_fd)
    try:
        report = json.loads(line) if line else None
    except ValueError:
        report = None
    if not isinstance(report, dict) or "url" not in report:
        _terminate(sandbox_dir, name, process.pid, timeout=5)
        if isinstance(report, dict) and report.get("error"):
            reason = f"{report['error']} (log: {log})"
            raise EmulatorFailure(name, reason, refused=bool(report.get("refused")))
        if line is None:
            raise EmulatorFailure(name, f"the {name} emulator did not start in time; see {log}")
        raise EmulatorFailure(
            name,
            f"the {name} emulator's daemon exited with status {process.poll()} before it was ready; "
            f"last lines of {log}:\n{records.tail(log)}",
        )
    entry = records.entries(sandbox_dir).get(name)
    if entry is None or entry["pid"] != process.pid:
        _terminate(sandbox_dir, name, process.pid, timeout=5)
        raise EmulatorFailure(name, f"the {name} emulator started but is not in {sandbox_dir / STATE_FILE}")
    return entry


def _read_line(fd: int, deadline: float) -> str | None:
    """One line from `fd` ("" at EOF), or None if none came before `deadline`."""
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace").strip()


def ensure_running(
    sandbox_dir: Path,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    timeout: float = 30,
    providers: Iterable[str] | None = None,
) -> SandboxEndpoints:
    """The endpoints of the emulators of `providers` (None: every installed one) running for
    `sandbox_dir`, starting those that are not (see `start`). MlopsError if one cannot start; the
    others asked for keep running."""
    startup = start(sandbox_dir, providers, settings, timeout)
    if startup.failures:
        raise MlopsError("\n".join(failure.reason for failure in startup.failures.values()))
    return startup.endpoints


def up(
    sandbox_dir: Path,
    providers: Iterable[str] | None,
    settings: Mapping[str, Mapping[str, Any]],
    timeout: float = 30,
) -> Startup:
    """`mlops sandbox up`: `start` what is missing with `settings`, and give running emulators
    theirs through the control API. All or nothing for settings: if an emulator refuses its
    settings, the daemons this call started are stopped, the running emulators changed get their
    previous values back, and EmulatorFailure (refused) is raised. An emulator that cannot start
    for another reason is only reported in `failures`."""
    sandbox_dir = sandbox_dir.resolve()
    (sandbox_dir / records.EMULATORS_DIR).mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with records.start_lock(sandbox_dir, timeout):
        startup = _start_locked(sandbox_dir, _wanted(providers), dict(settings), deadline)
        refused = [failure for failure in startup.failures.values() if failure.refused]
        previous: dict[str, dict[str, Any]] = {}
        for name, url in startup.endpoints.urls.items():
            if refused or name in startup.started or not settings.get(name):
                continue
            try:
                before = control.get_settings(url)
                control.update_settings(url, settings[name])
            except control.Refused as exc:
                reason = f"the {name} emulator refused its settings: {exc.detail}"
                refused.append(EmulatorFailure(name, reason, refused=True))
            except (OSError, ValueError) as exc:
                reason = f"the {name} emulator at {url} did not take its settings: {exc}"
                startup.failures[name] = EmulatorFailure(name, " ".join(reason.split()))
            else:
                previous[name] = {key: before[key] for key in settings[name] if key in before}
        if refused:
            for name in startup.started:
                _stop_locked(sandbox_dir, name, timeout=10)
            for name, values in previous.items():
                with contextlib.suppress(OSError, ValueError):  # best effort: it took them before
                    control.update_settings(startup.endpoints.urls[name], values)
            raise refused[0]
    return startup


def stop(sandbox_dir: Path, timeout: float = 10) -> bool:
    """Stop every emulator daemon of `sandbox_dir` (SIGTERM, then SIGKILL after `timeout`) and
    remove sandbox.json. False if none was running."""
    sandbox_dir = sandbox_dir.resolve()
    if not sandbox_dir.is_dir():
        return False
    # Under the start lock, so a command starting a daemon meanwhile is not undone.
    with records.start_lock(sandbox_dir, timeout):
        names = sorted({*records.daemon_names(sandbox_dir), *records.entries(sandbox_dir)})
        stopped = [_stop_locked(sandbox_dir, name, timeout) for name in names]
        (sandbox_dir / STATE_FILE).unlink(missing_ok=True)
    return any(stopped)


def _stop_locked(sandbox_dir: Path, name: str, timeout: float) -> bool:
    pid = records.daemon_pid(sandbox_dir, name, patience=1.0)
    if pid is not None:
        _terminate(sandbox_dir, name, pid, timeout)
    records.withdraw(sandbox_dir, name)
    return pid is not None


def _terminate(sandbox_dir: Path, name: str, pid: int, timeout: float) -> None:
    for signum, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
        if _wait_exit(sandbox_dir, name, pid, wait):
            return
        _log.warning("sandbox daemon %d (%s) did not exit after signal %d", pid, name, signum)


def _wait_exit(sandbox_dir: Path, name: str, pid: int, timeout: float) -> bool:
    """Wait until the daemon is gone: our own child is reaped; another process's daemon is gone
    once its lock is free (a pid can linger as a zombie of a parent that does not reap it)."""
    deadline = time.monotonic() + timeout
    process = _spawned.get(pid)
    while True:
        if process is not None:
            if process.poll() is not None:
                del _spawned[pid]
                return True
        elif records.daemon_pid(sandbox_dir, name) != pid:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(records.POLL)
