"""The batch_job kind in the core: its schema, references and checks (located errors, no cloud
call), its place in the plan (after its model, with its next runs), and `Provider.run`, on the
memory provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_gitops.engine.operations import StandaloneContext, plan_locked
from mlops_gitops.errors import ProviderError, StackError
from mlops_gitops.state.local import LocalBackend
from mlops_gitops.testing import MemoryCloud, MemoryProvider, memory_stack

STACK = """
models:
  churn: {artifact: "s3://ml/churn/model.tar.gz", image: img}
schedules:
  churn-retrain:
    cron: "0 3 1 * *"
    pipeline: {template_uri: "s3://ml/pipelines/train.json"}
batch_jobs:
  churn-daily:
    model: churn
    input: {uri: "s3://ml/customers/", format: csv}
    output: {uri: "s3://ml/churn/predictions/"}
    instance_type: ml.m5.xlarge
    cron: "0 2 * * *"
    timezone: Europe/Paris
    also_on: [churn-retrain]
"""


def load(tmp_path: Path, text: str = STACK) -> Any:
    return memory_stack(yaml.safe_load(text), tmp_path)


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(StackError) as caught:
        load(tmp_path, text)
    return str(caught.value)


def test_a_batch_job_depends_on_its_model_and_the_schedules_it_follows(tmp_path: Path) -> None:
    stack = load(tmp_path)
    job = stack.resources["batch_job.churn-daily"]
    assert set(job.depends_on) == {"model.churn", "schedule.churn-retrain"}
    assert job.spec.instance_count == 1  # type: ignore[attr-defined]
    assert stack.order.index("model.churn") < stack.order.index("batch_job.churn-daily")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("model: churn", "model: churm"), "batch_jobs.churn-daily.model: no model named 'churm'"),
        (("also_on: [churn-retrain]", "also_on: [churn-retrian]"), "no schedule named 'churn-retrian'"),
        (('cron: "0 2 * * *"', 'cron: "0 25 * * *"'), "batch_jobs.churn-daily.cron:"),
        (("timezone: Europe/Paris", "timezone: Europe/Pariss"), "batch_jobs.churn-daily.timezone:"),
        (('uri: "s3://ml/customers/"', "uri: customers"), "batch_jobs.churn-daily.input.uri: must be a URI"),
        (
            ("instance_type: ml.m5.xlarge", "instance_type: ml.m5.xlarge\n    model_package: churn@3"),
            "give exactly one of model",
        ),
        (
            ("instance_type: ml.m5.xlarge", "instance_type: ml.m5.xlarge\n    instance_count: 2\n"
             "    replicas: {min: 1, max: 4}"),
            "give instance_count or replicas, not both",
        ),
    ],
)  # fmt: skip
def test_bad_input_is_one_located_line(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    message = problems(tmp_path, STACK.replace(*change))
    assert expected in message and "stack.yaml:" in message, message


def _plan(provider: MemoryProvider, tmp_path: Path, *, apply: bool) -> dict[str, Any]:
    planned = plan_locked(provider.workspace(load(tmp_path)), LocalBackend(tmp_path / "state"))
    try:
        if apply:
            planned.apply()
        return planned.plan.document()
    finally:
        planned.release()


def test_the_plan_shows_the_next_runs_and_a_run_writes_the_output(tmp_path: Path) -> None:
    cloud = MemoryCloud()
    provider = MemoryProvider(cloud=cloud)
    doc = _plan(provider, tmp_path, apply=True)
    job = next(c for c in doc["resource_changes"] if c["address"] == "batch_job.churn-daily")
    assert job["action"] == "create" and job["notes"][0].startswith("next runs")
    assert "Europe/Paris" in job["notes"][0]
    again = _plan(provider, tmp_path, apply=False)
    assert {c["action"] for c in again["resource_changes"]} == {"noop"}

    attributes = cloud.get("batch_job", "churn-daily")
    assert attributes is not None
    messages: list[str] = []
    ctx = StandaloneContext("test", "batch_job.churn-daily", lambda m, _t: messages.append(m))
    result = provider.run("batch_job", attributes, ctx)
    assert result["status"] == "Completed" and result["output"] == "s3://ml/churn/predictions/"
    assert [r["id"] for r in cloud.runs] == [result["id"]] and messages

    cloud.fail("run", kind="batch_job", message="ClientError: the model returned 500 for 3 records")  # type: ignore[arg-type]
    with pytest.raises(ProviderError, match="the model returned 500"):
        provider.run("batch_job", attributes, ctx)
    assert len(cloud.runs) == 1


def test_a_provider_without_the_kind_refuses_it_at_validate_time(tmp_path: Path) -> None:
    class NoBatch(MemoryProvider):
        handlers = tuple(h for h in MemoryProvider.handlers if h.rtype.kind != "batch_job")

    assert "batch_job" not in NoBatch.kinds
    with pytest.raises(StackError, match="batch_job resources are not supported by provider memory"):
        NoBatch().workspace(load(tmp_path))
