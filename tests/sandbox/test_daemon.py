"""The sandbox daemons, started for real (a detached process per emulator) in a temporary
directory and always stopped afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from mlops_gitops.errors import MlopsError
from mlops_gitops.sandbox.control import get_settings, update_settings
from mlops_gitops.sandbox.daemon import ensure_running, status, stop

SETTINGS = {"sagemaker": {"endpoint_delay_seconds": 0.05}}
SAGEMAKER = ["sagemaker"]


@pytest.fixture
def sandbox_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "sandbox"
    yield directory
    stop(directory)


def _sagemaker(url: str) -> Any:
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    return session.client("sagemaker", region_name="us-east-1", endpoint_url=url)


def _status(sandbox_dir: Path) -> dict[str, Any]:
    info = status(sandbox_dir)
    assert info is not None, "no sandbox.json"
    return info


def _pid(sandbox_dir: Path, name: str = "sagemaker") -> int:
    return int(_status(sandbox_dir)["emulators"][name]["pid"])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_emulator/health", timeout=2):
            return True
    except OSError:  # refused, or reset while the server shuts down
        return False


def _eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_ensure_running_starts_one_daemon_that_outlives_the_call(sandbox_dir: Path) -> None:
    endpoints = ensure_running(sandbox_dir, SETTINGS, providers=SAGEMAKER)
    url = endpoints.urls["sagemaker"]
    assert url.startswith("http://127.0.0.1:")
    # Recorded: every setting in force (the given ones among them), as the emulator says.
    assert endpoints.settings == {"sagemaker": get_settings(url)}
    assert endpoints.settings["sagemaker"]["endpoint_delay_seconds"] == 0.05

    info = _status(sandbox_dir)
    assert info["healthy"] is True
    assert info["urls"] == endpoints.urls and info["settings"] == endpoints.settings
    pid = _pid(sandbox_dir)
    assert pid != os.getpid()
    os.kill(pid, 0)  # alive

    _sagemaker(url).create_model(
        ModelName="fraud-xgb-v7",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
        PrimaryContainer={"Image": "xgb:1.7-1"},
    )
    again = ensure_running(sandbox_dir, {"sagemaker": {"endpoint_delay_seconds": 9}}, providers=SAGEMAKER)
    assert again.urls == endpoints.urls
    assert again.settings == endpoints.settings  # the running daemon keeps its own settings
    assert _pid(sandbox_dir) == pid
    models = _sagemaker(again.urls["sagemaker"]).list_models()["Models"]
    assert [m["ModelName"] for m in models] == ["fraud-xgb-v7"]


def test_settings_reach_the_emulator_and_change_at_runtime(sandbox_dir: Path) -> None:
    settings = {"sagemaker": {"endpoint_delay_seconds": 0.3, "latency_ms": 1}}
    url = ensure_running(sandbox_dir, settings, providers=SAGEMAKER).urls["sagemaker"]
    with urllib.request.urlopen(f"{url}/_emulator/settings") as response:
        settings = json.loads(response.read())
    assert (settings["endpoint_delay_seconds"], settings["latency_ms"]) == (0.3, 1)
    assert update_settings(url, {"latency_ms": 0})["latency_ms"] == 0


def test_stop_stops_the_daemon_and_cleans_up(sandbox_dir: Path) -> None:
    url = ensure_running(sandbox_dir, SETTINGS, providers=SAGEMAKER).urls["sagemaker"]
    pid = _pid(sandbox_dir)

    assert stop(sandbox_dir) is True

    assert status(sandbox_dir) is None
    assert not (sandbox_dir / "sandbox.json").exists()
    assert not _answers(url)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # exited and reaped
    assert "sandbox daemon stopped" in (sandbox_dir / "emulators" / "sagemaker.log").read_text()
    assert stop(sandbox_dir) is False


def test_a_stale_record_is_replaced(sandbox_dir: Path) -> None:
    sandbox_dir.mkdir(parents=True)
    stale = {"pid": _dead_pid(), "started_at": "2024-01-01T00:00:00+00:00", "url": "http://127.0.0.1:9"}
    (sandbox_dir / "sandbox.json").write_text(json.dumps({"emulators": {"sagemaker": stale}}))
    assert _status(sandbox_dir)["healthy"] is False

    endpoints = ensure_running(sandbox_dir, SETTINGS, providers=SAGEMAKER)

    info = _status(sandbox_dir)
    assert info["healthy"] is True
    assert _pid(sandbox_dir) != stale["pid"]
    assert endpoints.urls["sagemaker"] != stale["url"]
    _sagemaker(endpoints.urls["sagemaker"]).list_models()


def test_a_daemon_that_does_not_answer_is_replaced(sandbox_dir: Path) -> None:
    ensure_running(sandbox_dir, SETTINGS, providers=SAGEMAKER)
    record = json.loads((sandbox_dir / "sandbox.json").read_text())
    old = record["emulators"]["sagemaker"]
    old["url"] = "http://127.0.0.1:9"  # as if its emulator had died
    (sandbox_dir / "sandbox.json").write_text(json.dumps(record))

    endpoints = ensure_running(sandbox_dir, SETTINGS, providers=SAGEMAKER)

    assert _pid(sandbox_dir) != old["pid"]
    with pytest.raises(ProcessLookupError):
        os.kill(old["pid"], 0)  # the old one was stopped, not leaked
    _sagemaker(endpoints.urls["sagemaker"]).list_models()


def test_concurrent_commands_share_one_daemon(sandbox_dir: Path) -> None:
    script = (
        "import json, sys; from pathlib import Path; "
        "from mlops_gitops.sandbox.daemon import ensure_running, status; "
        f"ensure_running(Path(sys.argv[1]), {SETTINGS!r}, providers={SAGEMAKER!r}); "
        "print(json.dumps(status(Path(sys.argv[1]))))"
    )
    commands = [
        subprocess.Popen([sys.executable, "-c", script, str(sandbox_dir)], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [json.loads(command.communicate(timeout=60)[0]) for command in commands]
    assert all(command.returncode == 0 for command in commands)
    assert len({(out["emulators"]["sagemaker"]["pid"], out["urls"]["sagemaker"]) for out in outputs}) == 1
    log = sandbox_dir / "emulators" / "sagemaker.log"
    assert sum("sandbox daemon starting" in line for line in log.open()) == 1


def test_the_daemon_exits_when_its_record_disappears(sandbox_dir: Path) -> None:
    url = ensure_running(sandbox_dir, SETTINGS, providers=SAGEMAKER).urls["sagemaker"]
    (sandbox_dir / "sandbox.json").unlink()  # e.g. someone deleted .mlops/
    assert _eventually(lambda: not _answers(url))


def test_a_daemon_that_cannot_start_is_reported_with_its_log(sandbox_dir: Path) -> None:
    with pytest.raises(MlopsError) as failed:
        ensure_running(sandbox_dir, {"sagemaker": {"endpoint_delay_seconds": "soon"}}, providers=SAGEMAKER)
    message = str(failed.value)
    assert message.startswith("the sagemaker emulator refused its settings: endpoint_delay_seconds: ")
    assert "\n" not in message and str(sandbox_dir / "emulators" / "sagemaker.log") in message
    assert status(sandbox_dir) is None


def test_importing_the_daemon_module_loads_no_provider_or_sdk() -> None:
    code = (
        "import sys, mlops_gitops.sandbox.daemon, mlops_gitops.sandbox.process; "
        "print(sorted({'moto', 'boto3', 'mlops_sagemaker', 'mlops_sagemaker_sandbox', 'mlops_vertex_sandbox'}"
        " & sys.modules.keys()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
