"""The Azure ML example stack (stacks/azureml-fraud) through the installed `mlops` command on the
sandbox, as a new user tries it: apply, plan no change, a green release rolled out in steps while
the endpoint is watched over ARM, a console-side traffic change planned as drift, destroy to an
empty workspace. And the same logical stack written for SageMaker and Vertex AI."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from sandbox_kit import MLOPS, ROOT, example_on_sandbox, mlops

from mlops_gitops.stack.loader import load_stack

EXAMPLE = "azureml-fraud"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"  # the stack's variable defaults
RESOURCE_GROUP = "rg-fraud-ml"
WORKSPACE = "fraud-ws"
GREEN_V1 = "paths/fraud/v8/"
GREEN_V2 = "paths/fraud/v8.1/"


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    # Operations take 0.3 s, and a rollout minute is a second on the sandbox: the stack's linear
    # steps, one minute apart, are seen one by one.
    with example_on_sandbox(tmp_path, EXAMPLE, operation_delay=0.3) as dest:
        yield dest


class Arm:
    """The sandbox's Azure ML emulator over ARM, as any HTTP client sees it (its CA, any token)."""

    def __init__(self, stack_dir: Path) -> None:
        info = json.loads((stack_dir / ".mlops" / "sandbox" / "sandbox.json").read_text())
        self.url = info["urls"]["azureml"]
        # Passed with each call: a Session's `verify` loses to REQUESTS_CA_BUNDLE from the environment.
        self.ca_file = info["settings"]["azureml"]["tls_ca_file"]
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Bearer sandbox"
        self.workspace = (
            f"{self.url}/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{WORKSPACE}"
        )

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.session.request(
            method,
            f"{self.workspace}/{path}",
            params={"api-version": "2024-04-01"},
            json=body,
            verify=self.ca_file,
            timeout=10,
        )

    def get(self, path: str) -> Any:
        res = self.call("GET", path)
        res.raise_for_status()
        return res.json()

    def names(self, collection: str) -> list[str]:
        return sorted(item["name"] for item in self.get(collection)["value"])

    def versions(self, collection: str) -> list[str]:
        """Every version of every asset of `collection` (models, environments, data)."""
        return sorted(
            f"{name}:{v['name']}"
            for name in self.names(collection)
            for v in self.get(f"{collection}/{name}/versions")["value"]
        )

    def endpoint(self, name: str = "fraud-api") -> dict[str, Any] | None:
        res = self.call("GET", f"onlineEndpoints/{name}")
        if res.status_code == 404:
            return None
        res.raise_for_status()
        return dict(res.json())

    def traffic(self, name: str = "fraud-api") -> dict[str, int]:
        found = self.endpoint(name)
        assert found is not None
        return {k: int(v) for k, v in (found["properties"].get("traffic") or {}).items() if int(v) > 0}

    def deployments(self, endpoint: str = "fraud-api") -> set[str]:
        res = self.call("GET", f"onlineEndpoints/{endpoint}/deployments")
        if res.status_code == 404:
            return set()
        res.raise_for_status()
        return {d["name"] for d in res.json()["value"]}

    def settled(self, name: str = "fraud-api", timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.endpoint(name)
            assert found is not None
            if found["properties"]["provisioningState"] in ("Succeeded", "Failed", "Canceled"):
                return found
            assert time.monotonic() < deadline, (
                f"endpoint {name} still {found['properties']['provisioningState']}"
            )
            time.sleep(0.05)


@dataclass
class Watch:
    splits: list[dict[str, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def distinct(self) -> list[dict[str, int]]:
        out: list[dict[str, int]] = []
        for split in self.splits:
            if not out or out[-1] != split:
                out.append(split)
        return out


def watch(arm: Arm, stop: threading.Event, seen: Watch) -> None:
    """Poll the endpoint until `stop`: every split sums to 100 (or is empty) and names only
    deployments listed just before or just after it was read."""
    while not stop.is_set():
        try:
            before = arm.deployments()
            found = arm.endpoint()
            after = arm.deployments()
        except requests.RequestException as exc:
            seen.problems.append(f"{type(exc).__name__}: {exc}")
            stop.wait(0.02)
            continue
        if found is not None:
            split = {k: int(v) for k, v in (found["properties"].get("traffic") or {}).items() if int(v) > 0}
            seen.splits.append(split)
            if split and sum(split.values()) != 100:
                seen.problems.append(f"traffic sums to {sum(split.values())}: {split}")
            missing = set(split) - (before | after)
            if missing:
                seen.problems.append(f"traffic names missing deployments {sorted(missing)}: {split}")
        stop.wait(0.02)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def by_variant(deployments: set[str] | dict[str, int]) -> dict[str, str]:
    """Deployment names are `<variant>-<digest>`: variant -> deployment."""
    out = {name.rsplit("-", 1)[0]: name for name in deployments}
    assert len(out) == len(deployments), deployments
    return out


def test_azureml_fraud_lifecycle_on_the_sandbox(stack_dir: Path) -> None:
    arm = Arm(stack_dir)

    # 1. A new user's first apply, then a plan that finds nothing to do.
    res = mlops(stack_dir, "--sandbox", "apply", "--auto-approve")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stderr == "", "no SDK noise on stderr"
    assert "Apply complete! Resources: 5 added, 0 changed, 0 destroyed." in res.stdout
    res = mlops(stack_dir, "--sandbox", "plan", "--detailed-exitcode")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "No changes" in res.stdout
    first = by_variant(arm.deployments())
    assert arm.traffic() == {first["blue"]: 90, first["green"]: 10}
    assert arm.names("schedules") == ["fraud-drift", "fraud-retrain"]
    assert arm.names("models") == ["fraud-v7", "fraud-v8"]

    # 2. A new green model: a new green deployment beside the old one, the traffic moved to it in
    # linear steps, every split whole and naming deployments that exist, the old one deleted.
    edit(stack_dir / "stack.yaml", GREEN_V1, GREEN_V2)
    res = mlops(stack_dir, "--sandbox", "plan", "--detailed-exitcode")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "# model.fraud-v8 will be updated in-place" in res.stdout
    assert "# endpoint.fraud-api will be updated in-place" in res.stdout
    seen, stop = Watch(), threading.Event()
    poller = threading.Thread(target=watch, args=(arm, stop, seen), daemon=True)
    poller.start()
    started = time.monotonic()
    try:
        apply = subprocess.run(
            [MLOPS, "--sandbox", "apply", "--auto-approve"],
            cwd=stack_dir,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        stop.set()
        poller.join(5)
    took = time.monotonic() - started
    assert apply.returncode == 0, apply.stdout + apply.stderr
    assert apply.stderr == ""
    assert "Apply complete! Resources: 0 added, 2 changed, 0 destroyed." in apply.stdout
    assert seen.problems == []
    second = by_variant(arm.deployments())
    assert second["blue"] == first["blue"] and second["green"] != first["green"]
    assert first["green"] not in arm.deployments(), "the old green deployment is deleted"
    assert arm.traffic() == {first["blue"]: 90, second["green"]: 10}
    steps = seen.distinct()
    # Linear steps of 25% of green's share, a (sandbox) minute apart; blue keeps its 90 throughout.
    old_green, new_green = first["green"], second["green"]
    expected = [(10, 0), (8, 2), (5, 5), (3, 7), (0, 10)]
    assert steps == [
        {first["blue"]: 90, **{k: v for k, v in ((old_green, o), (new_green, n)) if v}} for o, n in expected
    ], f"seen in {took:.1f}s: {steps}"
    res = mlops(stack_dir, "--sandbox", "plan", "--detailed-exitcode")
    assert res.returncode == 0, res.stdout + res.stderr

    # 3. Traffic changed in the console (a PUT of the endpoint with a new split) is drift.
    endpoint = arm.settled()
    endpoint["properties"]["traffic"] = {second["blue"]: 50, second["green"]: 50}
    put = arm.call("PUT", "onlineEndpoints/fraud-api", endpoint)
    assert put.status_code in (200, 201), put.text
    arm.settled()
    assert arm.traffic() == {second["blue"]: 50, second["green"]: 50}
    res = mlops(stack_dir, "--sandbox", "plan", "--detailed-exitcode")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Objects have changed outside of mlops" in res.stdout
    assert "# endpoint.fraud-api has changed" in res.stdout
    assert "variants[0].traffic_percent = 90 -> 50" in res.stdout
    assert "variants[1].traffic_percent = 10 -> 50" in res.stdout
    res = mlops(stack_dir, "--sandbox", "plan", "--detailed-exitcode", "--json")
    assert res.returncode == 2
    plan = json.loads(res.stdout)
    changed = {c["address"]: c for c in plan["resource_changes"] if c["action"] != "noop"}
    assert list(changed) == ["endpoint.fraud-api"], changed
    assert {(c["path"], c["before"], c["after"]) for c in changed["endpoint.fraud-api"]["changes"]} == {
        ("variants[0].traffic_percent", 50, 90),
        ("variants[1].traffic_percent", 50, 10),
    }
    res = mlops(stack_dir, "--sandbox", "apply", "--auto-approve")
    assert res.returncode == 0 and res.stderr == "", res.stdout + res.stderr
    assert arm.traffic() == {second["blue"]: 90, second["green"]: 10}, "apply undoes the drift"

    # 4. Destroy leaves the workspace empty.
    res = mlops(stack_dir, "--sandbox", "destroy", "--auto-approve")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stderr == ""
    assert "Destroy complete! Resources: 5 destroyed." in res.stdout
    assert arm.names("onlineEndpoints") == []
    assert arm.versions("models") == []
    assert arm.names("schedules") == []
    assert arm.versions("environments") == []
    assert arm.versions("data") == [], "the data collector's data assets go too"


# ---- one logical stack, three clouds ---------------------------------------------------------------
# What a stack says in a cloud's own terms, outside its provider block and `<cloud>:` settings
# blocks: URIs of artifacts, captured data and baselines, VM sizes, framework image versions (each
# cloud has its own list), the pipeline file (a cloud's own format), and SageMaker's data-quality
# alert metric (per feature only). Everything else is the same.
SAGEMAKER: dict[str, Any] = {
    "provider": {"sagemaker": {"region": "us-east-1", "role_arn": "arn:aws:iam::123456789012:role/mlops"}},
    "models.fraud-v7.artifact": "s3://ml-artifacts-fraud/fraud/v7/model.tar.gz",
    "models.fraud-v8.artifact": "s3://ml-artifacts-fraud/fraud/v8/model.tar.gz",
    "models.fraud-v7.image.version": "1.4-2-py312",
    "models.fraud-v8.image.version": "1.4-2-py312",
    "endpoints.fraud-api.variants.0.instance_type": "ml.m5.xlarge",
    "endpoints.fraud-api.variants.1.instance_type": "ml.m5.xlarge",
    "endpoints.fraud-api.data_capture.destination": "s3://ml-artifacts-fraud/capture/fraud-api/",
    "monitors.fraud-drift.baseline": "s3://ml-artifacts-fraud/baselines/fraud/2026-11/",
    "monitors.fraud-drift.alert.metric": "feature_baseline_drift_amount",
    "schedules.fraud-retrain.pipeline.definition": "pipelines/fraud-train.json",
}
VERTEX: dict[str, Any] = {
    "provider": {
        "vertex": {"project": "acme-ml", "location": "europe-west4", "staging_bucket": "gs://acme-ml-staging"}
    },
    "models.fraud-v7.artifact": "gs://acme-ml-artifacts/fraud/v7/",
    "models.fraud-v8.artifact": "gs://acme-ml-artifacts/fraud/v8/",
    "models.fraud-v7.image.version": "1.3",
    "models.fraud-v8.image.version": "1.3",
    "endpoints.fraud-api.variants.0.instance_type": "n1-standard-4",
    "endpoints.fraud-api.variants.1.instance_type": "n1-standard-4",
    "endpoints.fraud-api.data_capture.destination": "bq://acme-ml.serving_logs.fraud_api",
    "monitors.fraud-drift.baseline": {"dataset": "gs://acme-ml-artifacts/fraud/training/2026-11/train.csv"},
    "schedules.fraud-retrain.pipeline.definition": "pipelines/fraud-train.json",
}
XGBOOST_TRAINING_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
# The retraining pipeline in each cloud's format, with the schedule's two parameters.
PIPELINES: dict[str, dict[str, Any]] = {
    "sagemaker": {
        "Version": "2020-12-01",
        "Parameters": [
            {"Name": "training_window_days", "Type": "Integer", "DefaultValue": 90},
            {"Name": "min_auc", "Type": "Float", "DefaultValue": 0.9},
        ],
        "Steps": [
            {
                "Name": "Train",
                "Type": "Training",
                "Arguments": {
                    "AlgorithmSpecification": {
                        "TrainingImage": XGBOOST_TRAINING_IMAGE,
                        "TrainingInputMode": "File",
                    },
                    "OutputDataConfig": {"S3OutputPath": "s3://ml-artifacts-fraud/models/"},
                    "ResourceConfig": {
                        "InstanceType": "ml.m5.xlarge",
                        "InstanceCount": 1,
                        "VolumeSizeInGB": 30,
                    },
                    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
                },
            }
        ],
    },
    "vertex": {
        "pipelineInfo": {"name": "fraud-train"},
        "sdkVersion": "kfp-2.7.0",
        "schemaVersion": "2.1.0",
        "root": {
            "inputDefinitions": {
                "parameters": {
                    "training_window_days": {"parameterType": "NUMBER_INTEGER", "defaultValue": 90},
                    "min_auc": {"parameterType": "NUMBER_DOUBLE", "defaultValue": 0.9},
                }
            },
            "dag": {
                "tasks": {
                    "train": {
                        "taskInfo": {"name": "train"},
                        "componentRef": {"name": "comp-train"},
                        "inputs": {
                            "parameters": {
                                "training_window_days": {"componentInputParameter": "training_window_days"},
                                "min_auc": {"componentInputParameter": "min_auc"},
                            }
                        },
                    }
                }
            },
        },
        "components": {
            "comp-train": {
                "executorLabel": "exec-train",
                "inputDefinitions": {
                    "parameters": {
                        "training_window_days": {"parameterType": "NUMBER_INTEGER"},
                        "min_auc": {"parameterType": "NUMBER_DOUBLE"},
                    }
                },
            }
        },
        "deploymentSpec": {
            "executors": {
                "exec-train": {"container": {"image": "europe-docker.pkg.dev/acme-ml/fraud/train:1.0.0"}}
            }
        },
    },
}


def _set(document: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node: Any = document
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[last] = value


def _for_cloud(tmp_path: Path, cloud: str, values: dict[str, Any]) -> Path:
    """stacks/azureml-fraud rewritten for `cloud`: its provider block, no `azureml:` blocks and no
    Azure variables, the cloud's own values in `values`."""
    source = ROOT / "stacks" / EXAMPLE
    doc = yaml.safe_load((source / "stack.yaml").read_text())
    doc["provider"] = values["provider"]
    for name in ("subscription_id", "resource_group", "workspace"):
        doc["variables"].pop(name)
    for kind in ("models", "endpoints", "monitors", "schedules"):
        for body in doc[kind].values():
            body.pop("azureml", None)
    for dotted, value in values.items():
        if dotted != "provider":
            _set(doc, dotted, value)
    dest = tmp_path / cloud
    (dest / "pipelines").mkdir(parents=True)
    (dest / "pipelines" / "fraud-train.json").write_text(json.dumps(PIPELINES[cloud]))
    (dest / "stack.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest / "stack.yaml"


def _portable(path: Path, cloud_values: dict[str, Any]) -> dict[str, Any]:
    """The loaded stack's resource specs (the loader keeps the `<cloud>:` settings blocks out of
    them) without the cloud-specific values listed in `cloud_values`, and its tags and outputs."""
    stack = load_stack(path)
    out: dict[str, Any] = {"tags": stack.tags, "outputs": {k: v.value for k, v in stack.outputs.items()}}
    for resource in stack.resources.values():
        spec = resource.spec_json()
        prefix = f"{resource.kind}s.{resource.name}."
        for dotted in cloud_values:
            if dotted.startswith(prefix):
                *parents, last = dotted.removeprefix(prefix).split(".")
                node: Any = spec
                for key in parents:
                    node = node[int(key)] if isinstance(node, list) else node.get(key, {})
                if isinstance(node, dict):
                    node.pop(last, None)
        out[f"{resource.kind}.{resource.name}"] = spec
    return out


@pytest.mark.parametrize(("cloud", "values"), [("sagemaker", SAGEMAKER), ("vertex", VERTEX)])
def test_the_same_stack_for_another_cloud_differs_only_in_cloud_terms(
    tmp_path: Path, cloud: str, values: dict[str, Any]
) -> None:
    path = _for_cloud(tmp_path, cloud, values)
    res = mlops(path.parent, "validate")
    assert res.returncode == 0, res.stdout + res.stderr
    azure = _portable(ROOT / "stacks" / EXAMPLE / "stack.yaml", {**SAGEMAKER, **VERTEX})
    other = _portable(path, {**SAGEMAKER, **VERTEX})
    assert (
        set(azure)
        == set(other)
        == {
            "tags",
            "outputs",
            "model.fraud-v7",
            "model.fraud-v8",
            "endpoint.fraud-api",
            "monitor.fraud-drift",
            "schedule.fraud-retrain",
        }
    )
    assert azure == other
