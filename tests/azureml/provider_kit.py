"""Helpers of the Azure ML provider's tests: stacks, the sandbox endpoints the provider is given
for the emulator (the `azureml_emulator` fixture of conftest), and watchers of what the emulator
holds. The emulator fixtures themselves (`azureml_emulator`, `ml_client`, `monitor_client`) come
from `conftest.py`, by name."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.testing.harness import StackHarness

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"  # conftest's default
RESOURCE_GROUP = "rg"
WORKSPACE = "mlops-ws"
PROVIDER = (
    "provider:\n"
    f"  azureml: {{subscription_id: {SUBSCRIPTION}, resource_group: {RESOURCE_GROUP},\n"
    f"            workspace: {WORKSPACE}}}\n"
)

CONDA = """\
name: serve
channels: [conda-forge]
dependencies:
  - python=3.11
  - pip:
      - scikit-learn==1.5.0
"""
PIPELINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
display_name: churn-train
inputs:
  epochs: 10
  learning_rate: 0.1
settings:
  default_compute: azureml:cpu-cluster
jobs:
  train:
    type: command
    component: azureml:churn_train:1
    inputs:
      epochs: ${{parent.inputs.epochs}}
      learning_rate: ${{parent.inputs.learning_rate}}
"""

# Blue/green at 90/10, with data capture (which the monitor reads), a monitor and a schedule.
STACK = f"""\
apiVersion: mlops-gitops/v1
name: churn
{PROVIDER}tags: {{team: growth}}
models:
  churn-blue:
    artifact: azureml://datastores/workspaceblobstore/paths/churn/blue/
    image: {{framework: sklearn, version: "1.5"}}
    environment: {{LOG_LEVEL: info}}
    azureml: {{conda_file: envs/serve.yaml}}
  churn-green:
    artifact: azureml://datastores/workspaceblobstore/paths/churn/green/v1/
    image: mcr.microsoft.com/azureml/curated/sklearn-1.5:latest
endpoints:
  churn-api:
    variants:
      - {{name: blue, model: churn-blue, instance_type: Standard_DS3_v2, instance_count: 1, weight: 90}}
      - {{name: green, model: churn-green, instance_type: Standard_DS3_v2, instance_count: 1, weight: 10}}
    data_capture: {{destination: "azureml://datastores/workspaceblobstore/paths/capture", sample_percent: 50}}
    rollout: {{strategy: linear, step_percent: 25, bake_minutes: 0}}
monitors:
  churn-drift:
    endpoint: churn-api
    type: data_quality
    every: daily
    baseline: azureml://datastores/workspaceblobstore/paths/churn/train/
    alert: {{threshold: 0.2, notify: [ml-oncall@example.com]}}
schedules:
  churn-retrain:
    cron: "0 3 * * 1"
    timezone: Europe/Paris
    pipeline: {{definition: pipelines/train.yaml, parameters: {{epochs: 100}}}}
"""

# A model and a two-variant endpoint: what most tests need.
SMALL = f"""\
apiVersion: mlops-gitops/v1
name: small
{PROVIDER}models:
  scorer:
    artifact: azureml://datastores/workspaceblobstore/paths/scorer/v1/
    image: mcr.microsoft.com/azureml/curated/sklearn-1.5:latest
endpoints:
  scorer-api:
    variants:
      - {{name: blue, model: scorer, instance_type: Standard_DS3_v2, instance_count: 1, weight: 80}}
      - {{name: green, model: scorer, instance_type: Standard_DS3_v2, instance_count: 1, weight: 20}}
"""


def sandbox(handle: Any, **settings: Any) -> SandboxEndpoints:
    """What the sandbox hands the provider for the emulator `handle` (conftest's
    `azureml_emulator`); rollout minutes last 10 ms unless `settings` say otherwise."""
    ours = {"tls_ca_file": handle.ca_file, "rollout_minute_seconds": 0.01, **settings}
    return SandboxEndpoints(urls={"azureml": handle.url}, settings={"azureml": ours})


def write_stack(directory: Path, text: str = STACK) -> Path:
    (directory / "envs").mkdir(exist_ok=True)
    (directory / "envs" / "serve.yaml").write_text(CONDA)
    (directory / "pipelines").mkdir(exist_ok=True)
    (directory / "pipelines" / "train.yaml").write_text(PIPELINE)
    path = directory / "stack.yaml"
    path.write_text(text)
    return path


def harness(directory: Path, handle: Any, text: str = STACK, **settings: Any) -> StackHarness:
    return StackHarness(write_stack(directory, text), sandbox(handle, **settings))


def applied(h: StackHarness) -> None:
    plan, result = h.apply()
    assert result.ok, result.errors
    assert plan.has_changes


def leftovers(ml: Any) -> list[str]:
    """Every object of the workspace the provider makes: endpoints, deployments, active model and
    environment versions, data assets, schedules."""
    out: list[str] = []
    for e in ml.online_endpoints.list():
        out.append(f"endpoint {e.name}")
        out += [f"deployment {e.name}/{d.name}" for d in ml.online_deployments.list(e.name)]
    for m in ml.models.list():
        out += [f"model {m.name}:{v.version}" for v in ml.models.list(name=m.name)]
    for env in ml.environments.list():
        out += [f"environment {env.name}:{v.version}" for v in ml.environments.list(name=env.name)]
    for d in ml.data.list():
        out += [f"data {d.name}:{v.version}" for v in ml.data.list(name=d.name)]
    out += [f"schedule {s.name}" for s in ml.schedules.list()]
    return out


@dataclass
class TrafficWatch:
    """What repeated reads of an endpoint saw while a rollout ran."""

    splits: list[dict[str, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def distinct(self) -> list[dict[str, int]]:
        out: list[dict[str, int]] = []
        for split in self.splits:
            if not out or out[-1] != split:
                out.append(split)
        return out


@contextmanager
def watch_traffic(ml: Any, endpoint: str, every: float = 0.005) -> Iterator[TrafficWatch]:
    """Read the endpoint's traffic over and over in a thread: each split must sum to 100 (or be
    empty) and name only deployments that exist (listed just before or just after it)."""
    seen = TrafficWatch()
    stop = threading.Event()

    def names() -> set[str]:
        return {d.name for d in ml.online_deployments.list(endpoint)}

    def loop() -> None:
        while not stop.is_set():
            try:
                before = names()
                found = ml.online_endpoints._online_operation.get(
                    resource_group_name=RESOURCE_GROUP, workspace_name=WORKSPACE, endpoint_name=endpoint
                )
                after = names()
            except Exception as exc:  # the endpoint may not exist yet
                if "NotFound" not in type(exc).__name__:
                    seen.problems.append(f"{type(exc).__name__}: {exc}")
                stop.wait(every)
                continue
            split = {k: int(v) for k, v in (found.properties.traffic or {}).items() if int(v) > 0}
            seen.splits.append(split)
            if split and sum(split.values()) != 100:
                seen.problems.append(f"traffic sums to {sum(split.values())}: {split}")
            missing = set(split) - (before | after)
            if missing:
                seen.problems.append(f"traffic names missing deployments {sorted(missing)}: {split}")
            stop.wait(every)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(5)


def edit(h: StackHarness, change: Callable[[str], str]) -> None:
    h.edit(change)
