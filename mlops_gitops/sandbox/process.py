"""The sandbox daemon process: runs one emulator for one sandbox directory until told to stop.

    python -m mlops_gitops.sandbox.process --dir DIR --emulator NAME [--settings JSON] [--report-fd FD]

Started by `daemon.start` (which says why there is one process per emulator). It reports to the
command that spawned it, on the pipe `--report-fd`, one JSON line: `{"url": ...}` once its
emulator answers, or `{"error": "<one line>", "refused": bool}` if it could not get there
(`refused`: the emulator refused its settings). It then serves until SIGTERM or SIGINT, or until
sandbox.json stops naming it (e.g. the directory was deleted). Its log is
`emulators/NAME.log` (see `records.py`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_gitops.errors import MlopsError
from mlops_gitops.sandbox import control, emulators, records
from mlops_gitops.sandbox.emulator import Emulator
from mlops_gitops.sandbox.emulators import EmulatorFailure
from mlops_gitops.sandbox.records import STATE_FILE, log_path

# Named explicitly: run as `python -m`, this module is `__main__`.
_log = logging.getLogger("mlops_gitops.sandbox.process")

_WATCH_INTERVAL = 1.0  # how often the daemon checks that sandbox.json still names it


class _Report:
    """The one line a daemon owes the command that spawned it (see the module docstring)."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def send(self, document: Mapping[str, Any]) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):  # the command gave up waiting and went away
            os.write(fd, (json.dumps(dict(document)) + "\n").encode())
        os.close(fd)


def _start_emulator(name: str, settings: Mapping[str, Any]) -> tuple[Emulator, str]:
    try:
        cls = emulators.emulator_class(name)
    except MlopsError as exc:
        raise EmulatorFailure(name, str(exc)) from exc
    try:
        emulator = cls(settings)
    except ValueError as exc:  # pydantic's ValidationError too
        reason = f"the {name} emulator refused its settings: {control.refusal(exc)}"
        raise EmulatorFailure(name, reason, refused=True) from exc
    except Exception as exc:
        raise EmulatorFailure(name, f"the {name} emulator failed: {type(exc).__name__}: {exc}") from exc
    try:
        return emulator, emulator.start()
    except Exception as exc:
        reason = f"the {name} emulator could not start: {type(exc).__name__}: {exc}"
        raise EmulatorFailure(name, " ".join(reason.split())) from exc


def run(
    sandbox_dir: Path,
    name: str,
    settings: Mapping[str, Any] | None = None,
    report: Callable[[Mapping[str, Any]], None] = lambda document: None,
) -> None:
    """The daemon's body: start the emulator NAME, record it in sandbox.json, report, serve until
    told to stop, then stop the emulator and withdraw its record. Must run in the main thread
    (signal handlers)."""
    sandbox_dir = sandbox_dir.resolve()
    log = log_path(sandbox_dir, name)
    os.close(records.open_log(log))  # so that logging appends to an owner-only file
    logging.basicConfig(
        filename=log,
        level=logging.INFO,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: stopping.set())
    pid = os.getpid()
    lock = records.hold_daemon_lock(sandbox_dir, name)
    emulator: Emulator | None = None
    try:
        _log.info("sandbox daemon starting: the %s emulator in %s", name, sandbox_dir)
        emulator, url = _start_emulator(name, dict(settings or {}))
        entry = {
            "pid": pid,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "url": url,
            # Every setting in force, not only those given: some are the emulator's own once it
            # serves (the certificate a TLS emulator made), and clients read them from here.
            "settings": dict(emulator.settings),
            "log": str(log.relative_to(sandbox_dir)),
        }
        records.publish(sandbox_dir, name, entry)
        report({"url": url})
        _log.info("sandbox ready: the %s emulator listens on %s", name, url)
        while not stopping.wait(_WATCH_INTERVAL):
            current = records.entries(sandbox_dir).get(name)
            if current is None or current["pid"] != pid:
                _log.warning("%s no longer names this daemon: exiting", sandbox_dir / STATE_FILE)
                break
        _log.info("sandbox daemon stopping")
    except EmulatorFailure as exc:
        _log.exception("sandbox daemon failed: %s", exc.reason)
        report({"error": exc.reason, "refused": exc.refused})
        raise
    except Exception as exc:
        _log.exception("sandbox daemon failed")
        report({"error": " ".join(f"the {name} emulator's daemon failed: {exc}".split()), "refused": False})
        raise
    finally:
        if emulator is not None:
            try:
                emulator.stop()
            except Exception:
                _log.exception("the %s emulator did not stop cleanly", name)
        with contextlib.suppress(OSError):  # the directory may be gone: nothing left to withdraw
            records.withdraw(sandbox_dir, name, pid)
        lock.close()
        _log.info("sandbox daemon stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlops_gitops.sandbox.process", description="Run one sandbox emulator."
    )
    parser.add_argument("--dir", required=True, type=Path, help="the sandbox directory")
    parser.add_argument("--emulator", required=True, help="the emulator's entry-point name")
    parser.add_argument("--settings", default="{}", help="JSON object: the emulator's settings")
    parser.add_argument("--report-fd", type=int, default=None, help="where to report readiness")
    args = parser.parse_args(argv)
    report = _Report(args.report_fd)
    try:
        settings = json.loads(args.settings)
        if not isinstance(settings, dict):
            raise ValueError("--settings must be a JSON object")
        (args.dir / records.EMULATORS_DIR).mkdir(parents=True, exist_ok=True)
        run(args.dir, args.emulator, settings, report.send)
    except Exception as exc:  # run() has logged the traceback; stderr goes to the same log
        report.send({"error": " ".join(str(exc).split()), "refused": False})
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
