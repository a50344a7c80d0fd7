"""One daemon per emulator: a stack's command starts its own provider's emulator only, an emulator
that fails (to load, to start, later) takes no other down, and settings `sandbox up` cannot give
every emulator change nothing. Through the installed `mlops` command and the real SDKs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import emulator_plugin
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1 as v1

from mlops_gitops.sandbox import control, records
from mlops_gitops.sandbox.daemon import ensure_running, status, stop

ROOT = Path(__file__).resolve().parents[2]
MLOPS = str(Path(sys.executable).parent / "mlops")
BUILT_IN = ("azureml", "sagemaker", "vertex")
PARENT = "projects/acme-ml/locations/europe-west4"


def mlops(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLOPS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """A directory with no stack: `sandbox up` there starts every installed emulator."""
    directory = tmp_path / "work"
    directory.mkdir()
    yield directory
    stop(directory / ".mlops" / "sandbox")


def _sandbox(directory: Path) -> Path:
    return (directory / ".mlops" / "sandbox").resolve()


def _alive(sandbox_dir: Path) -> dict[str, int]:
    """The emulator daemons alive in `sandbox_dir`, by their locks (not by what sandbox.json says)."""
    pids = {name: records.daemon_pid(sandbox_dir, name) for name in records.daemon_names(sandbox_dir)}
    return {name: pid for name, pid in pids.items() if pid is not None}


def _pids(sandbox_dir: Path) -> dict[str, int]:
    info = status(sandbox_dir)
    assert info is not None, "no sandbox.json"
    return {name: entry["pid"] for name, entry in info["emulators"].items()}


def _eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _sagemaker(url: str) -> Any:
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    return session.client("sagemaker", region_name="us-east-1", endpoint_url=url)


def _model(url: str, name: str = "fraud-xgb-v7") -> None:
    _sagemaker(url).create_model(
        ModelName=name,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
        PrimaryContainer={"Image": "xgb:1.7-1"},
    )


def _models(url: str) -> list[str]:
    return [model["ModelName"] for model in _sagemaker(url).list_models()["Models"]]


def _vertex_endpoints(url: str) -> list[str]:
    client = v1.EndpointServiceClient(
        transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": url}
    )
    try:
        return [endpoint.display_name for endpoint in client.list_endpoints(parent=PARENT)]
    finally:
        client.transport.close()


def _things(url: str) -> list[Any]:
    with urllib.request.urlopen(f"{url}/things", timeout=5) as response:
        return list(json.loads(response.read())["things"])


# ---- a stack asks for its own provider's emulator ------------------------------------------------


@pytest.fixture
def no_moto(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment in which importing moto leaves a mark (and fails)."""
    directory, marker = tmp_path / "no-moto", tmp_path / "moto-was-imported"
    (directory / "moto").mkdir(parents=True)
    (directory / "moto" / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nraise ImportError('moto must not be imported here')\n"
    )
    return emulator_plugin.with_path(directory), marker


def test_a_vertex_stack_starts_no_sagemaker_emulator(
    tmp_path: Path, no_moto: tuple[dict[str, str], Path]
) -> None:
    env, marker = no_moto
    stack = tmp_path / "vertex-churn"
    shutil.copytree(ROOT / "stacks" / "vertex-churn", stack, ignore=shutil.ignore_patterns(".mlops"))
    sandbox_dir = _sandbox(stack)
    try:
        plan = mlops(stack, "--sandbox", "plan", "--no-color", "--detailed-exitcode", env=env)
        assert plan.returncode == 2, plan.stderr
        assert "# model.churn-xgb will be created" in plan.stdout

        record = json.loads((sandbox_dir / "sandbox.json").read_text())
        assert list(record["urls"]) == ["vertex"] and list(record["emulators"]) == ["vertex"]
        assert _alive(sandbox_dir) == {"vertex": record["emulators"]["vertex"]["pid"]}
        assert not records.log_path(sandbox_dir, "sagemaker").exists()
        log = records.log_path(sandbox_dir, "vertex").read_text()
        assert "Vertex AI emulator listening on" in log
        assert "moto" not in log and "SageMaker" not in log
        assert not marker.exists(), "the command or the Vertex AI daemon imported moto"
        assert _vertex_endpoints(record["urls"]["vertex"]) == []  # the plan created nothing

        # The state the next command sees is the same emulator's.
        again = mlops(stack, "--sandbox", "plan", "--no-color", env=env)
        assert again.returncode == 0, again.stderr
        assert _pids(sandbox_dir) == {"vertex": record["emulators"]["vertex"]["pid"]}
    finally:
        mlops(stack, "sandbox", "down")
    assert _alive(sandbox_dir) == {}


def test_sandbox_up_in_a_stack_starts_its_provider_only(tmp_path: Path) -> None:
    # fraud-detection needs a variable `sandbox up` cannot be given: its provider is still known.
    stack = tmp_path / "fraud-detection"
    shutil.copytree(ROOT / "stacks" / "fraud-detection", stack, ignore=shutil.ignore_patterns(".mlops"))
    sandbox_dir = _sandbox(stack)
    try:
        up = mlops(stack, "sandbox", "up", "--operation-delay", "0.25")
        assert up.returncode == 0, up.stderr
        assert up.stdout.splitlines()[0].split()[0] == "sagemaker" and "vertex" not in up.stdout
        assert list(_alive(sandbox_dir)) == ["sagemaker"]
        url = json.loads((sandbox_dir / "sandbox.json").read_text())["urls"]["sagemaker"]
        assert control.get_settings(url)["endpoint_delay_seconds"] == 0.25

        shown = mlops(stack, "sandbox", "status")
        assert shown.returncode == 0 and f"sagemaker    {url}" in shown.stdout
    finally:
        mlops(stack, "sandbox", "down")


def test_a_missing_emulator_starts_beside_a_running_one(workdir: Path) -> None:
    sandbox_dir = _sandbox(workdir)
    vertex = ensure_running(sandbox_dir, providers=["vertex"]).urls["vertex"]
    client = v1.EndpointServiceClient(
        transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": vertex}
    )
    client.create_endpoint(parent=PARENT, endpoint=v1.Endpoint(display_name="churn-api")).result(timeout=10)
    client.transport.close()
    before = _pids(sandbox_dir)

    both = ensure_running(sandbox_dir, providers=["azureml", "sagemaker", "vertex"])

    assert both.urls["vertex"] == vertex and _pids(sandbox_dir)["vertex"] == before["vertex"]
    assert _vertex_endpoints(vertex) == ["churn-api"]  # its state was kept
    _model(both.urls["sagemaker"])
    assert ensure_running(sandbox_dir).urls == both.urls  # all installed: nothing more to start
    assert set(_alive(sandbox_dir)) == set(BUILT_IN)


# ---- an emulator's failure is its own ----------------------------------------------------------------


@pytest.mark.parametrize("failure", ["import", "start"])
def test_a_broken_third_party_emulator_does_not_stop_the_others(
    workdir: Path, tmp_path: Path, failure: str
) -> None:
    env = emulator_plugin.install(tmp_path / "plugin", failure=failure)

    up = mlops(workdir, "sandbox", "up", env=env)

    assert up.returncode == 0, up.stderr
    warnings = up.stderr.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith(f"Warning: the {emulator_plugin.NAME} emulator ")
    expected = "failed to load: RuntimeError" if failure == "import" else "could not start: OSError"
    assert expected in warnings[0]
    listed = dict(line.split() for line in up.stdout.splitlines()[:-1])
    assert sorted(listed) == sorted(BUILT_IN)
    _model(listed["sagemaker"])
    assert _models(listed["sagemaker"]) == ["fraud-xgb-v7"]
    assert _vertex_endpoints(listed["vertex"]) == []
    sandbox_dir = _sandbox(workdir)
    assert sorted(_alive(sandbox_dir)) == sorted(BUILT_IN)

    # With settings asked for, the same: the others get theirs.
    again = mlops(workdir, "sandbox", "up", "--operation-delay", "0.3", env=env)
    assert again.returncode == 0, again.stderr
    assert control.get_settings(listed["sagemaker"])["endpoint_delay_seconds"] == 0.3
    assert control.get_settings(listed["vertex"])["operation_delay_seconds"] == 0.3
    assert _models(listed["sagemaker"]) == ["fraud-xgb-v7"]

    down = mlops(workdir, "sandbox", "down", env=env)
    assert down.returncode == 0 and "Sandbox stopped" in down.stdout
    assert _alive(sandbox_dir) == {} and status(sandbox_dir) is None


def test_an_emulator_that_crashes_takes_only_itself_down(workdir: Path, tmp_path: Path) -> None:
    env = emulator_plugin.install(tmp_path / "plugin", failure="crash")
    up = mlops(workdir, "sandbox", "up", env=env)
    assert up.returncode == 0, up.stderr
    sandbox_dir = _sandbox(workdir)
    before = _pids(sandbox_dir)
    assert sorted(before) == sorted([*BUILT_IN, emulator_plugin.NAME])
    urls = status(sandbox_dir)["urls"]  # type: ignore[index]
    _model(urls["sagemaker"])

    assert _eventually(lambda: emulator_plugin.NAME not in _alive(sandbox_dir))

    shown = mlops(workdir, "sandbox", "status", env=env)
    assert f"{emulator_plugin.NAME}   " in shown.stdout and "(NOT answering)" in shown.stdout
    assert shown.stdout.count("(NOT answering)") == 1
    assert _models(urls["sagemaker"]) == ["fraud-xgb-v7"]
    assert _vertex_endpoints(urls["vertex"]) == []

    # The next `up` replaces the crashed one only.
    again = mlops(workdir, "sandbox", "up", env=env)
    assert again.returncode == 0, again.stderr
    after = _pids(sandbox_dir)
    assert {name: after[name] for name in BUILT_IN} == {name: before[name] for name in BUILT_IN}
    assert after[emulator_plugin.NAME] != before[emulator_plugin.NAME]
    assert _models(urls["sagemaker"]) == ["fraud-xgb-v7"]


# ---- settings: all or nothing -------------------------------------------------------------------------


def test_settings_an_emulator_refuses_start_nothing(workdir: Path, tmp_path: Path) -> None:
    env = emulator_plugin.install(tmp_path / "plugin", max_delay=0.1)

    up = mlops(workdir, "sandbox", "up", "--operation-delay", "0.2", env=env)

    assert up.returncode == 1
    assert up.stdout == ""
    (line,) = up.stderr.splitlines()
    assert line.startswith(
        f"Error: the {emulator_plugin.NAME} emulator refused its settings: delay: "
        "Input should be less than or equal to 0.1"
    )
    sandbox_dir = _sandbox(workdir)
    assert _alive(sandbox_dir) == {}
    assert status(sandbox_dir) is None and not (sandbox_dir / "sandbox.json").exists()


def test_settings_a_running_emulator_refuses_change_nothing(workdir: Path, tmp_path: Path) -> None:
    env = emulator_plugin.install(tmp_path / "plugin", max_delay=0.1)
    sandbox_dir = _sandbox(workdir)
    settings = {"sagemaker": {"endpoint_delay_seconds": 0.05}}
    url = ensure_running(sandbox_dir, settings, providers=["sagemaker"]).urls["sagemaker"]
    _model(url)
    assert mlops(workdir, "sandbox", "up", "--operation-delay", "0.05", env=env).returncode == 0
    third_party = status(sandbox_dir)["urls"][emulator_plugin.NAME]  # type: ignore[index]
    before = _pids(sandbox_dir)

    up = mlops(workdir, "sandbox", "up", "--operation-delay", "0.2", "--latency-ms", "1", env=env)

    assert up.returncode == 1 and len(up.stderr.splitlines()) == 1
    assert up.stderr.startswith(f"Error: the {emulator_plugin.NAME} emulator refused its settings: delay: ")
    assert _pids(sandbox_dir) == before  # the running ones still run, and nothing else started
    settings = control.get_settings(url)
    assert (settings["endpoint_delay_seconds"], settings["latency_ms"]) == (0.05, 0)  # put back
    assert control.get_settings(third_party)["delay"] == 0.05
    vertex = control.get_settings(status(sandbox_dir)["urls"]["vertex"])  # type: ignore[index]
    assert (vertex["operation_delay_seconds"], vertex["latency_ms"]) == (0.05, 0)
    assert _models(url) == ["fraud-xgb-v7"]


def test_sandbox_up_gives_settings_only_to_emulators_that_have_them(workdir: Path, tmp_path: Path) -> None:
    env = emulator_plugin.install(tmp_path / "plugin", operation_delay_setting=None)
    sandbox_dir = _sandbox(workdir)

    for delay in (0.2, 0.3):  # the first `up` starts the daemons, the second changes them
        up = mlops(workdir, "sandbox", "up", "--operation-delay", str(delay), "--latency-ms", "2", env=env)
        assert up.returncode == 0, up.stderr
        assert up.stderr == ""
        urls = status(sandbox_dir)["urls"]  # type: ignore[index]
        assert sorted(urls) == sorted([*BUILT_IN, emulator_plugin.NAME])
        sagemaker, vertex = control.get_settings(urls["sagemaker"]), control.get_settings(urls["vertex"])
        assert (sagemaker["endpoint_delay_seconds"], sagemaker["latency_ms"]) == (delay, 2)
        assert (vertex["operation_delay_seconds"], vertex["latency_ms"]) == (delay, 2)
        assert control.get_settings(urls[emulator_plugin.NAME]) == {"delay": 0.0}


def test_a_stack_emulator_refusing_its_settings_is_one_error(tmp_path: Path) -> None:
    stack = tmp_path / "vertex-churn"
    shutil.copytree(ROOT / "stacks" / "vertex-churn", stack, ignore=shutil.ignore_patterns(".mlops"))

    up = mlops(stack, "sandbox", "up", "--operation-delay", "-1")

    assert up.returncode == 1
    assert up.stderr.startswith(
        "Error: the vertex emulator refused its settings: operation_delay_seconds: "
        "Input should be greater than or equal to 0"
    )
    assert len(up.stderr.splitlines()) == 1
    assert _alive(_sandbox(stack)) == {} and status(_sandbox(stack)) is None


def test_providers_import_no_emulator() -> None:
    # A provider talks to its emulator over HTTP only: loading it (as `mlops validate` does)
    # loads no emulator, no sandbox machinery and no moto.
    code = (
        "import sys, mlops_sagemaker.provider, mlops_vertex.provider; "
        "print(sorted(m for m in sys.modules if m.startswith("
        "('mlops_sagemaker_sandbox', 'mlops_vertex_sandbox', 'mlops_gitops.sandbox', 'moto'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
