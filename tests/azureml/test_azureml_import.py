"""`mlops import --generate-config` of Azure ML objects made outside the stack, through the
installed `mlops` command on the sandbox: a console user's model version, environment, endpoint
with one deployment taking all the traffic (collecting its data), and a monitor schedule on that
deployment, made with the real MLClient (as conftest builds it) against the sandbox's emulator.
The generated YAML, added to a stack that has only its provider block and then adopted with
`mlops import`, plans with no changes."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

MLOPS = str(Path(sys.executable).parent / "mlops")
WORKSPACE = "legacy-ws"
STACK = """\
apiVersion: mlops-gitops/v1
name: adopted
provider:
  azureml: {subscription_id: 00000000-0000-0000-0000-000000000000, resource_group: rg, workspace: legacy-ws}
"""
IMAGE = "mcr.microsoft.com/azureml/curated/sklearn-1.5:latest"
ARTIFACT = "azureml://datastores/workspaceblobstore/paths/scorer/v3/"
BASELINE = "azureml://datastores/workspaceblobstore/paths/scorer/train/"
# Where Azure ML collects a deployment's data when the console user names no data asset.
COLLECTED = "azureml://datastores/workspaceblobstore/paths/modelDataCollector"


def mlops(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLOPS, *args], cwd=cwd, capture_output=True, text=True, timeout=180)


def _make_ml_client() -> Any:
    """conftest's `make_ml_client`, loaded by path (not as `conftest`, which pytest owns)."""
    spec = importlib.util.spec_from_file_location(
        "_azureml_conftest", Path(__file__).with_name("conftest.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module.make_ml_client


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "stack.yaml").write_text(STACK)
    up = mlops(tmp_path, "sandbox", "up", "--operation-delay", "0.05")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield tmp_path
    finally:
        mlops(tmp_path, "sandbox", "down")


def console_ml(stack_dir: Path) -> Any:
    """The real MLClient on the sandbox's emulator (its URL and CA from sandbox.json)."""
    info = json.loads((stack_dir / ".mlops" / "sandbox" / "sandbox.json").read_text())
    return _make_ml_client()(
        info["urls"]["azureml"], info["settings"]["azureml"]["tls_ca_file"], workspace=WORKSPACE
    )


def make_in_the_console(ml: Any) -> None:
    """What a user makes in Azure ML studio: a model version, the environment it runs in, an
    endpoint with one deployment of it (data collection on) taking all traffic, and a daily
    data drift monitor of that deployment alerting by e-mail."""
    from azure.ai.ml import Input
    from azure.ai.ml.entities import (
        AlertNotification,
        CategoricalDriftMetrics,
        DataCollector,
        DataDriftMetricThreshold,
        DataDriftSignal,
        DeploymentCollection,
        Environment,
        ManagedOnlineDeployment,
        ManagedOnlineEndpoint,
        Model,
        MonitorDefinition,
        MonitoringTarget,
        MonitorSchedule,
        NumericalDriftMetrics,
        RecurrencePattern,
        RecurrenceTrigger,
        ReferenceData,
        ServerlessSparkCompute,
    )

    ml.models.create_or_update(Model(name="scorer", version="3", path=ARTIFACT, type="custom_model"))
    ml.environments.create_or_update(Environment(name="scorer-serving", version="1", image=IMAGE))
    ml.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name="scorer-api", auth_mode="key")
    ).result()
    collector = DataCollector(
        {
            "model_inputs": DeploymentCollection(enabled="true"),
            "model_outputs": DeploymentCollection(enabled="true"),
        },
        sampling_rate=0.5,
    )
    ml.online_deployments.begin_create_or_update(
        ManagedOnlineDeployment(
            name="blue",
            endpoint_name="scorer-api",
            model="azureml:scorer:3",
            environment="azureml:scorer-serving:1",
            instance_type="Standard_DS3_v2",
            instance_count=1,
            data_collector=collector,
        ),
        skip_script_validation=True,
    ).result()
    endpoint = ml.online_endpoints.get("scorer-api")
    endpoint.traffic = {"blue": 100}
    ml.online_endpoints.begin_create_or_update(endpoint).result()
    reference = ReferenceData(input_data=Input(path=BASELINE, type="uri_folder"), data_context="training")
    drift = DataDriftSignal(
        reference_data=reference,
        metric_thresholds=DataDriftMetricThreshold(
            numerical=NumericalDriftMetrics(jensen_shannon_distance=0.1),
            categorical=CategoricalDriftMetrics(pearsons_chi_squared_test=0.1),
        ),
        alert_enabled=True,
    )
    ml.schedules.begin_create_or_update(
        MonitorSchedule(
            name="scorer-drift",
            trigger=RecurrenceTrigger(
                frequency="day", interval=1, schedule=RecurrencePattern(hours=0, minutes=0)
            ),
            create_monitor=MonitorDefinition(
                compute=ServerlessSparkCompute(runtime_version="3.4", instance_type="standard_e4s_v3"),
                monitoring_target=MonitoringTarget(endpoint_deployment_id="azureml:scorer-api:blue"),
                monitoring_signals={"data_drift": drift},
                alert_notification=AlertNotification(emails=["ml-oncall@example.com"]),
            ),
        )
    ).result()


def generate(stack_dir: Path, address: str, cloud_id: str, file: str) -> dict[str, Any]:
    res = mlops(stack_dir, "--sandbox", "import", address, cloud_id, "--generate-config", file)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"mlops import {address} {cloud_id}" in res.stdout
    return dict(yaml.safe_load((stack_dir / file).read_text()))


def test_a_console_made_model_endpoint_and_monitor_import_and_plan_no_changes(stack_dir: Path) -> None:
    make_in_the_console(console_ml(stack_dir))

    model = generate(stack_dir, "model.scorer", "scorer:3", "model.yaml")
    endpoint = generate(stack_dir, "endpoint.scorer-api", "scorer-api", "endpoint.yaml")
    monitor = generate(stack_dir, "monitor.scorer-drift", "scorer-drift", "monitor.yaml")
    assert not (stack_dir / ".mlops" / "sandbox" / "state.json").exists(), "generating changes no state"

    # The model: Azure links no environment to a model version; the image is that of the
    # environment its deployment runs in. `azureml.name` is always written: a referrer's import
    # names the model after its id (see below).
    assert model == {
        "models": {"scorer": {"artifact": ARTIFACT, "image": IMAGE, "azureml": {"name": "scorer"}}}
    }
    expected_endpoint = {
        "variants": [
            {
                "name": "blue",
                "model": "scorer",
                "weight": 100,
                "instance_type": "Standard_DS3_v2",
                "instance_count": 1,
            }
        ],
        "data_capture": {"destination": COLLECTED, "sample_percent": 50, "capture": ["input", "output"]},
    }
    # The monitor's file declares the endpoint it watches too, named as in Azure (its own
    # references, the models, are not followed: the endpoint names its model by its Azure name).
    assert monitor == {
        "endpoints": {"scorer-api": expected_endpoint},
        "monitors": {
            "scorer-drift": {
                "endpoint": "scorer-api",
                "type": "data_quality",
                "every": "daily",
                "baseline": BASELINE,
                "alert": {"threshold": 0.1, "notify": ["ml-oncall@example.com"]},
                "azureml": {"signals": ["data_drift"], "variant": "blue"},
            }
        },
    }
    # The endpoint's file declares the model it serves under the name the core gives a reference,
    # after its id `scorer:3`: the same model as model.yaml's, which the user keeps instead (one
    # stack entry per Azure model), so the endpoint entry is the monitor file's.
    assert endpoint["models"] == {"scorer-3": model["models"]["scorer"]}
    served = endpoint["endpoints"]["scorer-api"]
    assert {**served, "variants": [{**served["variants"][0], "model": "scorer"}]} == expected_endpoint

    # The user adds the entries to the stack (README: "add it to the stack, then run the import
    # again"), then adopts them; the model goes first, so the endpoint's import finds it managed.
    stack = yaml.safe_load((stack_dir / "stack.yaml").read_text())
    for generated in (model, monitor):
        for section, entries in generated.items():
            stack.setdefault(section, {}).update(entries)
    (stack_dir / "stack.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    res = mlops(stack_dir, "--sandbox", "validate")
    assert res.returncode == 0, res.stdout + res.stderr
    for address, cloud_id in (
        ("model.scorer", "scorer:3"),
        ("endpoint.scorer-api", "scorer-api"),
        ("monitor.scorer-drift", "scorer-drift"),
    ):
        res = mlops(stack_dir, "--sandbox", "import", address, cloud_id)
        assert res.returncode == 0, res.stdout + res.stderr
        assert f"{address}: imported {cloud_id}." in res.stdout

    res = mlops(stack_dir, "--sandbox", "plan", "--detailed-exitcode")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "No changes" in res.stdout
    # Adopted as they are: the console's own version, environment and deployment names are kept.
    state = json.loads((stack_dir / ".mlops" / "sandbox" / "state.json").read_text())
    attrs = {r["address"]: r["attributes"] for r in state["resources"]}
    assert (attrs["model.scorer"]["version"], attrs["model.scorer"]["environment"]["name"]) == (
        "3",
        "scorer-serving",
    )
    assert [v["deployment"] for v in attrs["endpoint.scorer-api"]["variants"]] == ["blue"]
    assert attrs["monitor.scorer-drift"]["deployment"] == "blue"

    # A version no deployment of the workspace serves: its image cannot be read back (Azure links
    # none to a model). The generated config says so in place of the image, and the stack does
    # not validate until the user writes the image its deployments are to run.
    from azure.ai.ml.entities import Model

    console_ml(stack_dir).models.create_or_update(
        Model(name="scorer", version="4", path=ARTIFACT.replace("v3", "v4"), type="custom_model")
    )
    unserved = generate(stack_dir, "model.scorer-next", "scorer:4", "next.yaml")
    entry = unserved["models"]["scorer-next"]
    assert entry["image"].startswith("<image URI: no environment of this workspace serves this model")
    text = (stack_dir / "stack.yaml").read_text()
    stack["models"]["scorer-next"] = entry
    (stack_dir / "stack.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    res = mlops(stack_dir, "validate")
    assert res.returncode == 1 and "models.scorer-next.image: write the serving image's URI" in res.stderr, (
        res
    )
    entry["image"] = IMAGE  # what the user fills in
    (stack_dir / "stack.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    assert mlops(stack_dir, "validate").returncode == 0
    (stack_dir / "stack.yaml").write_text(text)
