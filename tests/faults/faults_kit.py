"""What the fault suites share: a stack written to a temporary directory with its sandbox up, the
emulator's chaos switched on and off through its control API, and the checks every provider's
suite makes of a command that ran into faults (converged, or failed in one clear line)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandbox_kit import MLOPS

from mlops_gitops.sandbox.control import get_settings, update_settings

RATE = 0.3
# Every command under faults must end within this: the retry policy's deadlines bound it.
COMMAND_TIMEOUT = 150.0


@contextmanager
def stack_on_sandbox(tmp_path: Path, stack: str, files: Mapping[str, str] | None = None) -> Iterator[Path]:
    """`stack` (and `files`, relative path -> text) in a directory of their own, its sandbox up
    with quick operations for the test, down after."""
    (tmp_path / "stack.yaml").write_text(stack)
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    up = run(tmp_path, "sandbox", "up", "--operation-delay", "0.05", sandbox=False)
    assert up.returncode == 0, up.stderr
    try:
        yield tmp_path
    finally:
        run(tmp_path, "sandbox", "down", sandbox=False)


def run(stack_dir: Path, *args: str, sandbox: bool = True) -> subprocess.CompletedProcess[str]:
    """The installed `mlops` with `args` (on the sandbox, plain output)."""
    flags = ["--sandbox", "--no-color"] if sandbox else []
    return subprocess.run(
        [MLOPS, *flags, *args], cwd=stack_dir, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
    )


def url(stack_dir: Path, emulator: str) -> str:
    return str(json.loads((stack_dir / ".mlops" / "sandbox" / "sandbox.json").read_text())["urls"][emulator])


def chaos_on(stack_dir: Path, emulator: str, seed: int, rate: float = RATE, **extra: Any) -> None:
    """Random faults of every kind on `rate` of the emulator's cloud calls, drawn from `seed`."""
    update_settings(url(stack_dir, emulator), {"chaos": {"rate": rate, "seed": seed, **extra}})


def chaos_off(stack_dir: Path, emulator: str) -> dict[str, int]:
    """No more faults; returns how many the chaos injected, by kind."""
    settings = get_settings(url(stack_dir, emulator))
    injected = dict((settings.get("chaos") or {}).get("injected") or {})
    update_settings(url(stack_dir, emulator), {"chaos": None, "fail": []})
    return injected


def apply_under_chaos(stack_dir: Path, emulator: str, seed: int, *args: str) -> dict[str, int]:
    """`mlops apply` (or another command, `args`) under chaos: it must succeed. Returns the faults
    injected, checking there were some of each kind (else the run proved nothing)."""
    chaos_on(stack_dir, emulator, seed)
    res = run(stack_dir, *(args or ("apply", "--auto-approve")))
    injected = chaos_off(stack_dir, emulator)
    assert res.returncode == 0, f"faults injected: {injected}\n{res.stdout}\n{res.stderr}"
    assert "Traceback" not in res.stderr, res.stderr
    assert sum(injected.values()) >= 3, injected
    return injected


def assert_converged(stack_dir: Path) -> None:
    """With the faults gone, the cloud is what the stack says: the plan has nothing to do."""
    res = run(stack_dir, "plan", "--detailed-exitcode")
    assert res.returncode == 0, res.stdout + res.stderr


def state(stack_dir: Path) -> dict[str, dict[str, Any]]:
    """The sandbox state's resources by address (it must parse)."""
    document = json.loads((stack_dir / ".mlops" / "sandbox" / "state.json").read_text())
    return {resource["address"]: resource for resource in document["resources"]}


def failing_apply(stack_dir: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    res = run(stack_dir, "apply", "--auto-approve", *args)
    return res, time.monotonic() - started


def assert_clean_failure(res: subprocess.CompletedProcess[str], address: str, *words: str) -> str:
    """Exit 1, no traceback, and one line of error naming `address` and each of `words` (the
    cloud's error). Returns that line."""
    output = res.stdout + res.stderr
    assert res.returncode == 1, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if address in line and all(w in line for w in words)]
    assert lines, f"no line names {address} and {words}:\n{output}"
    return lines[0]
