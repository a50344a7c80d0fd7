"""The kill-point hook (mlops_gitops/faults.py) on its own: off unless asked, points numbered and
traced in the order reached, labels that tell cloud calls apart, and the SIGKILL at the n-th point
in a real child process. The suite that kills `mlops apply` with it is tests/crash."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_gitops import faults


def test_no_point_is_active_without_its_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(faults.KILL_AT_VAR, raising=False)
    monkeypatch.delenv(faults.COUNT_VAR, raising=False)
    assert not faults.enabled()
    faults.point("state-before")  # nothing to count, nothing to kill: returns


def test_labels_name_the_request_and_the_aws_action() -> None:
    label = faults.request_label(
        "127.0.0.1", 4566, "POST", "/?x=1", b"{}", {"X-Amz-Target": b"SageMaker.CreateModel"}
    )
    assert label == "POST 127.0.0.1:4566/ SageMaker.CreateModel"
    query = faults.request_label("127.0.0.1", 4566, "POST", "/", b"Action=PutMetricAlarm&Version=1", {})
    assert query == "POST 127.0.0.1:4566/ PutMetricAlarm"
    rest = faults.request_label("h", None, "GET", "/v1/projects/p/models/m?alt=json", None, None)
    assert rest == "GET h/v1/projects/p/models/m"


_CHILD = """
import sys
from mlops_gitops import faults
for n in range(1, 6):
    faults.point(f"step {n}")
    print(n, flush=True)
"""


def test_the_process_dies_by_sigkill_at_the_nth_point_and_the_trace_ends_there(tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    env = {faults.KILL_AT_VAR: "3", faults.COUNT_VAR: str(trace), "PATH": ""}
    res = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True)
    assert res.returncode == -signal.SIGKILL
    assert res.stdout.split() == ["1", "2"]  # nothing ran past the third point
    assert trace.read_text().splitlines() == ["1\tstep 1", "2\tstep 2", "3\tstep 3"]


def test_counting_alone_kills_nothing(tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    res = subprocess.run(
        [sys.executable, "-c", _CHILD], env={faults.COUNT_VAR: str(trace)}, capture_output=True, text=True
    )
    assert res.returncode == 0
    assert len(trace.read_text().splitlines()) == 5
