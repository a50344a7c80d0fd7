"""What a Vertex stack means, checked at `mlops validate` and kept through apply: machine types and
accelerators Vertex serves on, labels within Vertex's limits, the neutral meaning of a monitor's
`alert.metric` and `baseline:`, and the Model Registry kept when a model only leaves the stack.
Offline checks through the loader (as `mlops validate` runs them); the rest through the real
aiplatform_v1 clients (REST) against the emulator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from google.api_core.retry import Retry
from google.cloud import aiplatform_v1 as v1
from mlops_vertex.config import VertexConfig
from mlops_vertex.provider import VertexProvider
from mlops_vertex_sandbox.server import VertexEmulator

from mlops_gitops.errors import StackError
from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.stack.loader import load_stack
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import ModelSpec
from mlops_gitops.testing.harness import StackHarness, actions
from mlops_gitops.workspace import open_workspace

PROJECT, LOCATION = "acme-ml", "europe-west4"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
STACK = f"""\
apiVersion: mlops-gitops/v1
name: churn
provider:
  vertex: {{project: {PROJECT}, location: {LOCATION}}}
tags: {{team: growth-ml}}
models:
  churn-xgb:
    artifact: gs://acme-ml/churn/xgb/v1/
    image: {{framework: xgboost, version: "1.7"}}
  churn-challenger:
    artifact: gs://acme-ml/churn/sklearn/v1/
    image: {{framework: sklearn, version: "1.3"}}
endpoints:
  churn-api:
    variants:
      - {{name: champion, model: churn-xgb, instance_type: n1-standard-4, instance_count: 1, weight: 80}}
      - {{name: challenger, model: churn-challenger, instance_type: n1-standard-2, instance_count: 1,
         weight: 20}}
    data_capture: {{destination: "bq://acme-ml.serving.churn_api", sample_percent: 20}}
monitors:
  churn-drift:
    endpoint: churn-api
    type: data_quality
    baseline: {{dataset: gs://acme-ml/churn/train/v1.csv, format: csv}}
    alert: {{threshold: 0.3, notify: [ml-oncall@acme.example]}}
"""
CHALLENGER_MODEL = """\
  churn-challenger:
    artifact: gs://acme-ml/churn/sklearn/v1/
    image: {framework: sklearn, version: "1.3"}
"""
CHALLENGER_VARIANT = """\
      - {name: challenger, model: churn-challenger, instance_type: n1-standard-2, instance_count: 1,
         weight: 20}
"""


def problems(tmp_path: Path, stack: str) -> list[str]:
    """The lines `mlops validate` prints for `stack` (empty: it validates)."""
    (tmp_path / "stack.yaml").write_text(stack)
    try:
        open_workspace(load_stack(tmp_path / "stack.yaml", environ={}))
    except StackError as exc:
        return exc.lines()
    return []


@pytest.fixture
def sandbox(vx_emulator: VertexEmulator) -> SandboxEndpoints:
    return SandboxEndpoints({"vertex": vx_emulator.url}, {"vertex": {"rollout_minute_seconds": 0.02}})


@pytest.fixture
def cloud(vertex_client: Callable[[type], Any], polling: Retry) -> SimpleNamespace:
    return SimpleNamespace(
        models=vertex_client(v1.ModelServiceClient),
        endpoints=vertex_client(v1.EndpointServiceClient),
        jobs=vertex_client(v1.JobServiceClient),
        polling=polling,
    )


def harness_for(tmp_path: Path, sandbox: SandboxEndpoints, stack: str = STACK) -> StackHarness:
    (tmp_path / "stack.yaml").write_text(stack)
    return StackHarness(tmp_path / "stack.yaml", sandbox)


def applied(h: StackHarness, mode: Any = "normal") -> Any:
    plan, result = h.apply(mode=mode)
    assert result.ok, result.errors
    return plan


def attrs_of(h: StackHarness, address: str) -> dict[str, Any]:
    state = h.state()
    assert state is not None and state.get(address) is not None
    return dict(state.get(address).attributes)  # type: ignore[union-attr]


# ----------------------------------------------------------------------- machines, accelerators
@pytest.mark.parametrize(
    ("variant", "settings", "expected"),
    [
        (
            "instance_type: ml.m5.large",
            "",
            "endpoints.churn-api.variants[0].instance_type: ml.m5.large is not a Vertex AI machine type "
            "(did you mean n1-standard-2?)",
        ),
        (
            "instance_type: ml.g5.xlarge",
            "",
            "variants[0].instance_type: ml.g5.xlarge is not a Vertex AI machine type "
            "(did you mean g2-standard-4?)",
        ),
        (
            "instance_type: n1-standrad-4",
            "",
            "variants[0].instance_type: n1-standrad-4 is not a Vertex AI machine type "
            "(did you mean n1-standard-4?)",
        ),
        (
            "instance_type: n1-standard-4",
            "{accelerators: {champion: {type: NVIDIA_L4}}}",
            "endpoints.churn-api.vertex.accelerators.champion: n1-standard-4 takes NVIDIA_TESLA_P100",
        ),
        (
            "instance_type: n1-standard-4",
            "{accelerators: {champion: {type: NVIDIA_TESLA_T5}}}",
            "vertex.accelerators.champion: NVIDIA_TESLA_T5 is not a Vertex AI accelerator type (did you mean "
            "NVIDIA_TESLA_T4?)",
        ),
        (
            "instance_type: e2-standard-4",
            "{accelerators: {champion: {type: NVIDIA_TESLA_T4}}}",
            "vertex.accelerators.champion: e2-standard-4 takes no accelerators",
        ),
        (
            "instance_type: g2-standard-8",
            "",
            "variants[0].instance_type: g2-standard-8 comes with 1 NVIDIA_L4: give that accelerator in "
            "vertex.accelerators.champion",
        ),
        (
            "instance_type: a2-highgpu-2g",
            "{accelerators: {champion: {type: NVIDIA_TESLA_A100, count: 1}}}",
            "a2-highgpu-2g takes 2 NVIDIA_TESLA_A100 per replica, not 1",
        ),
    ],
)
def test_validate_refuses_machines_and_accelerators_vertex_does_not_serve_on(
    tmp_path: Path, variant: str, settings: str, expected: str
) -> None:
    stack = STACK.replace(
        "name: champion, model: churn-xgb, instance_type: n1-standard-4",
        f"name: champion, model: churn-xgb, {variant}",
    )
    if settings:
        stack = stack.replace("monitors:\n", f"    vertex: {settings}\nmonitors:\n")
    (line,) = problems(tmp_path, stack)
    assert expected in line, line


@pytest.mark.parametrize(
    ("variant", "settings"),
    [
        ("instance_type: g2-standard-8", "{accelerators: {champion: {type: NVIDIA_L4}}}"),
        ("instance_type: n1-highmem-8", "{accelerators: {champion: {type: NVIDIA_TESLA_T4, count: 2}}}"),
        ("instance_type: c2-standard-8", ""),
    ],
)
def test_validate_accepts_what_vertex_serves_on(tmp_path: Path, variant: str, settings: str) -> None:
    stack = STACK.replace(
        "name: champion, model: churn-xgb, instance_type: n1-standard-4",
        f"name: champion, model: churn-xgb, {variant}",
    )
    if settings:
        stack = stack.replace("monitors:\n", f"    vertex: {settings}\nmonitors:\n")
    assert problems(tmp_path, stack) == []


# ---------------------------------------------------------------------------------------- labels
def test_validate_refuses_labels_over_vertex_limits(tmp_path: Path) -> None:
    long_value = "v" * 64
    long_key = "k" * 64
    image = '    image: {framework: xgboost, version: "1.7"}\n'
    stack = STACK.replace(image, f"{image}    tags: {{owner: {long_value}, {long_key}: x}}\n")
    lines = problems(tmp_path, stack)
    assert len(lines) == 2, lines
    assert (
        "models.churn-xgb.tags.owner: the value of tag 'owner' is 64 characters; a Vertex AI label value "
        "has at most 63" in lines[0]
    )
    assert f"models.churn-xgb.tags.{long_key}: tag key '{long_key}' is 64 characters" in lines[1]
    assert problems(tmp_path, stack.replace(long_value, "v" * 63).replace(long_key, "k" * 63)) == []


def test_validate_refuses_more_labels_than_a_resource_carries(tmp_path: Path) -> None:
    # The stack's `team` tag plus 61 of the model's own: 62 tags, with the 2 ownership labels 64.
    tags = ", ".join(f"t{i}: x" for i in range(61))
    ok = STACK.replace(
        '    image: {framework: xgboost, version: "1.7"}\n',
        f'    image: {{framework: xgboost, version: "1.7"}}\n    tags: {{{tags}}}\n',
    )
    assert problems(tmp_path, ok) == []
    (line,) = problems(tmp_path, ok.replace("t0: x,", "t0: x, one-more: x,"))
    assert "models.churn-xgb.tags: 63 tags, plus the provider's 2 ownership labels, make 65 labels" in line


def test_validate_refuses_a_display_name_over_128_characters(sandbox: SandboxEndpoints) -> None:
    provider = VertexProvider(
        VertexConfig(project=PROJECT, location=LOCATION), stack="churn", sandbox=sandbox
    )
    spec = ModelSpec(artifact="gs://acme-ml/m/", image="us-docker.pkg.dev/x/y:1")

    def display_name_problems(name: str) -> list[str]:
        found = [d.message for d in provider.validate(Resource("model", name, spec), None)]
        return [m for m in found if "display names" in m]

    # (Names that long make over-long ownership labels too, refused on their own.)
    assert display_name_problems("m" * 128) == []
    (message,) = display_name_problems("m" * 129)
    assert "is 129 characters; Vertex AI display names have at most 128" in message


# ------------------------------------------------------------------------------------ monitors
@pytest.mark.parametrize(
    ("alert", "expected"),
    [
        (
            "{metric: accuracy, threshold: 0.3}",
            "monitors.churn-drift.alert.metric: Vertex AI model monitoring alerts on each feature's "
            "distance from its baseline, not on accuracy: leave metric out (the threshold applies to "
            "every feature) or name one feature, feature_baseline_drift_<feature>",
        ),
        (
            "{threshold: 0.3, when: below}",
            "monitors.churn-drift.alert.when: Vertex AI alerts when a feature's distance goes above",
        ),
    ],
)
def test_validate_refuses_alerts_vertex_cannot_raise(tmp_path: Path, alert: str, expected: str) -> None:
    stack = STACK.replace("alert: {threshold: 0.3, notify: [ml-oncall@acme.example]}", f"alert: {alert}")
    (line,) = problems(tmp_path, stack)
    assert expected in line, line


@pytest.mark.parametrize(
    ("baseline", "expected"),
    [
        (
            "gs://acme-ml/churn/baseline/",
            "monitors.churn-drift.baseline: gs://acme-ml/churn/baseline/: Vertex AI cannot monitor against "
            "precomputed baseline statistics",
        ),
        (
            "{dataset: s3://acme-ml/train.csv}",
            "monitors.churn-drift.baseline.dataset: Vertex AI reads training data from Cloud Storage or "
            "BigQuery",
        ),
        (
            "{dataset: gs://acme-ml/train.csv, header: false}",
            "monitors.churn-drift.baseline.header: Vertex AI takes the column names of a csv training "
            "dataset from its header line",
        ),
    ],
)
def test_validate_refuses_baselines_vertex_cannot_use(tmp_path: Path, baseline: str, expected: str) -> None:
    stack = STACK.replace(
        "baseline: {dataset: gs://acme-ml/churn/train/v1.csv, format: csv}", f"baseline: {baseline}"
    )
    (line,) = problems(tmp_path, stack)
    assert expected in line, line


def test_validate_refuses_the_training_data_given_twice(tmp_path: Path) -> None:
    stack = STACK + "    vertex: {training_dataset: gs://acme-ml/churn/train/v2.csv}\n"
    (line,) = problems(tmp_path, stack)
    assert "monitors.churn-drift.vertex.training_dataset: the training data is given twice" in line


def test_a_metric_naming_one_feature_watches_that_feature_only(
    tmp_path: Path, sandbox: SandboxEndpoints, cloud: SimpleNamespace
) -> None:
    stack = STACK.replace(
        "alert: {threshold: 0.3, notify: [ml-oncall@acme.example]}",
        "alert: {metric: feature_baseline_drift_tenure_days, threshold: 0.2, when: above}",
    ).replace(
        "baseline: {dataset: gs://acme-ml/churn/train/v1.csv, format: csv}",
        "baseline: {dataset: gs://acme-ml/churn/train.jsonl, format: json}",
    )
    h = harness_for(tmp_path, sandbox, stack)
    applied(h)
    assert actions(h.plan()) == {}
    (job,) = cloud.jobs.list_model_deployment_monitoring_jobs(parent=PARENT)
    objective = job.model_deployment_monitoring_objective_configs[0].objective_config
    drift = objective.prediction_drift_detection_config
    assert dict(drift.drift_thresholds) == {"tenure_days": v1.ThresholdConfig(value=0.2)}
    assert "default_drift_threshold" not in drift, "no default: the other features are not watched"
    skew = objective.training_prediction_skew_detection_config
    assert dict(skew.skew_thresholds) == {"tenure_days": v1.ThresholdConfig(value=0.2)}
    assert objective.training_dataset.data_format == "jsonl"
    assert list(objective.training_dataset.gcs_source.uris) == ["gs://acme-ml/churn/train.jsonl"]

    # What an import would write back plans no change.
    ws = h.workspace()
    attrs = attrs_of(h, "monitor.churn-drift")
    spec = ws.provider.to_spec("monitor", attrs)
    assert (
        spec["alert"]["metric"] == "feature_baseline_drift_tenure_days" and spec["alert"]["threshold"] == 0.2
    )
    assert spec["baseline"] == {"dataset": "gs://acme-ml/churn/train.jsonl", "format": "json"}


def test_without_a_metric_the_threshold_applies_to_every_feature(
    tmp_path: Path, sandbox: SandboxEndpoints, cloud: SimpleNamespace
) -> None:
    applied(harness_for(tmp_path, sandbox))
    (job,) = cloud.jobs.list_model_deployment_monitoring_jobs(parent=PARENT)
    objective = job.model_deployment_monitoring_objective_configs[0].objective_config
    assert objective.prediction_drift_detection_config.default_drift_threshold.value == pytest.approx(0.3)
    assert objective.training_prediction_skew_detection_config.default_skew_threshold.value == pytest.approx(
        0.3
    )
    assert objective.training_dataset.data_format == "csv"


# ------------------------------------------------------------------------------- model registry
def test_a_model_removed_from_the_stack_stays_in_the_registry(
    tmp_path: Path, sandbox: SandboxEndpoints, cloud: SimpleNamespace
) -> None:
    h = harness_for(tmp_path, sandbox)
    applied(h)
    challenger = attrs_of(h, "model.churn-challenger")
    assert challenger["version_count"] == 1

    h.edit(
        lambda s: (
            s.replace(CHALLENGER_MODEL, "")
            .replace(CHALLENGER_VARIANT, "")
            .replace("weight: 80", "weight: 100")
        )
    )
    plan = h.plan()
    assert actions(plan)["model.churn-challenger"] == "delete"
    risks = {r.code: r.message for r in plan.risks if r.address == "model.churn-challenger"}
    assert risks["provider"] == (
        f"keeps Vertex model {challenger['id']} and its 1 version in the Model Registry (state forgets it; "
        "`mlops destroy` or the console deletes it)"
    )
    assert "mark it retired instead (models.churn-challenger.retired:" in risks["model_destroyed"]
    applied(h)
    state = h.state()
    assert state is not None and state.get("model.churn-challenger") is None
    kept = cloud.models.get_model(name=f"{PARENT}/models/{challenger['id']}")
    assert kept.version_id == "1" and kept.labels["mlops-gitops-address"] == "model_churn-challenger"
    assert actions(h.plan()) == {}

    # Back in the stack, the kept model is adopted again, history and all.
    h.edit(lambda s: s.replace("models:\n", "models:\n" + CHALLENGER_MODEL))
    assert actions(h.plan()) == {"model.churn-challenger": "create"}
    applied(h)
    assert attrs_of(h, "model.churn-challenger")["id"] == challenger["id"]
    assert [
        m.version_id for m in cloud.models.list_model_versions(name=f"{PARENT}/models/{challenger['id']}")
    ] == ["1"]

    # `mlops destroy` deletes every model, and says how much history goes with each.
    plan = h.plan(mode="destroy")
    xgb = attrs_of(h, "model.churn-xgb")
    messages = {r.address: r.message for r in plan.risks if r.address.startswith("model.")}
    assert messages == {
        "model.churn-xgb": f"deletes Vertex model {xgb['id']} with its 1 version",
        "model.churn-challenger": f"deletes Vertex model {challenger['id']} with its 1 version",
    }
    applied(h, mode="destroy")
    assert list(cloud.models.list_models(parent=PARENT)) == []


def test_model_risks_count_the_versions(sandbox: SandboxEndpoints) -> None:
    provider = VertexProvider(
        VertexConfig(project=PROJECT, location=LOCATION), stack="churn", sandbox=sandbox
    )
    before = {"id": "churn-xgb-1a2b3c4d", "version_id": "7", "version_count": 7}
    assert provider.risks("model", "delete", before, None, destroying=True) == [
        "deletes Vertex model churn-xgb-1a2b3c4d with its 7 versions"
    ]
    assert provider.risks("model", "replace", before, {"id": "churn-xgb-5e6f7a8b"}, destroying=False) == [
        "deletes Vertex model churn-xgb-1a2b3c4d with its 7 versions once the new model serves"
    ]
    assert provider.risks("model", "update", before, before, destroying=False) == []
    assert provider.risks("model", "create", None, before, destroying=False) == []
    assert provider.kinds["endpoint"].serving and not provider.kinds["model"].serving
