"""Retirement in the core, on the memory provider: what a `retired:` block makes of the stack
(stack/retire.py), how the plan shows it (one "retire" action in ML terms, the changes it makes
labelled with it), the order apply carries it out in, and what state and its history record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_gitops.engine.operations import plan_locked
from mlops_gitops.errors import StackError
from mlops_gitops.state.local import LocalBackend
from mlops_gitops.testing import MemoryCloud, MemoryProvider, memory_stack

STACK = """
models:
  fraud-v7: {artifact: "s3://ml/fraud/v7.tar.gz", image: img}
  fraud-v8: {artifact: "s3://ml/fraud/v8.tar.gz", image: img}
endpoints:
  fraud-api:
    data_capture: {destination: "s3://ml/capture/"}
    variants:
      - {name: blue, model: fraud-v8, weight: 9, instance_type: ml.m5.large}
      - {name: green, model: fraud-v7, weight: 1, instance_type: ml.m5.large}
monitors:
  fraud-v7-drift:
    endpoint: fraud-api
    model: fraud-v7
    type: data_quality
    baseline: "s3://ml/baseline/"
    alert: {threshold: 0.2, notify: [ops@example.com]}
  fraud-api-quality:
    endpoint: fraud-api
    type: data_quality
    baseline: "s3://ml/baseline/"
schedules:
  fraud-v7-retrain:
    also_on: [fraud-v7-drift]
    pipeline: {template_uri: "s3://ml/pipelines/train.json"}
  fraud-monthly:
    cron: "0 3 1 * *"
    also_on: [fraud-v7-drift, fraud-api-quality]
    pipeline: {template_uri: "s3://ml/pipelines/train.json"}
"""
RETIRED = STACK.replace(
    'fraud-v7: {artifact: "s3://ml/fraud/v7.tar.gz", image: img}',
    'fraud-v7:\n    artifact: "s3://ml/fraud/v7.tar.gz"\n    image: img\n'
    '    retired: {reason: "drifted; replaced by fraud-v8", by: ml-platform}',
)


def load(tmp_path: Path, text: str) -> Any:
    return memory_stack(yaml.safe_load(text), tmp_path)


def run(provider: MemoryProvider, tmp_path: Path, text: str, *, apply: bool) -> tuple[dict[str, Any], Any]:
    backend = LocalBackend(tmp_path / "state")
    planned = plan_locked(provider.workspace(load(tmp_path, text)), backend)
    try:
        result = planned.apply() if apply else None
        if result is not None:
            assert result.ok, result.errors
        return planned.plan.document(), backend.read()
    finally:
        planned.release()


def actions(doc: dict[str, Any]) -> dict[str, str]:
    return {c["address"]: c["action"] for c in doc["resource_changes"] if c["action"] != "noop"}


def test_retiring_a_model_takes_it_off_its_endpoint_with_what_watches_it(tmp_path: Path) -> None:
    cloud = MemoryCloud()
    provider = MemoryProvider(cloud=cloud)
    run(provider, tmp_path, STACK, apply=True)
    model_before = cloud.get("model", next(n for n in cloud.names("model") if n.startswith("fraud-v7")))
    assert model_before is not None

    doc, _ = run(provider, tmp_path, RETIRED, apply=False)
    assert actions(doc) == {
        "endpoint.fraud-api": "update",
        "monitor.fraud-v7-drift": "delete",
        "schedule.fraud-v7-retrain": "delete",
        "schedule.fraud-monthly": "update",
        "model.fraud-v7": "retire",
    }
    assert doc["summary"]["retire"] == 1 and doc["summary"]["destroy"] == 2
    reasons = {c["address"]: c["reason_code"] for c in doc["resource_changes"] if c["action"] != "noop"}
    assert reasons["monitor.fraud-v7-drift"] == "retired_with"
    assert reasons["model.fraud-v7"] == "retiring"
    [r] = doc["retirements"]
    assert r["address"] == "model.fraud-v7" and r["reason"] == "drifted; replaced by fraud-v8"
    assert r["by"] == "ml-platform" and r["archive"] is True and r["artifacts_kept"] is True
    assert r["stops_serving"] == [
        {
            "endpoint": "endpoint.fraud-api",
            "variant": "green",
            "traffic_percent": 10.0,
            "mirror_percent": None,
        }
    ]
    assert set(r["removes"]) == {"monitor.fraud-v7-drift", "schedule.fraud-v7-retrain"}
    assert set(r["changes"]) == {"endpoint.fraud-api", "schedule.fraud-monthly"}
    codes = {x["code"] for x in doc["risks"]}
    assert "traffic_shift" in codes and "monitor_removed" not in codes

    order: list[str] = []
    real_update = cloud.update

    def update(rtype: Any, prior: Any, desired: Any, *args: Any, **kwargs: Any) -> Any:
        order.append(f"{rtype.kind}:{prior.get('name')}")
        return real_update(rtype, prior, desired, *args, **kwargs)

    cloud.update = update  # type: ignore[method-assign]
    doc, state = run(provider, tmp_path, RETIRED, apply=True)
    assert order.index("endpoint:fraud-api") < next(i for i, o in enumerate(order) if o.startswith("model:"))
    endpoint = cloud.get("endpoint", "fraud-api")
    assert endpoint is not None and [v["name"] for v in endpoint["variants"]] == ["blue"]
    assert cloud.get("monitor", "fraud-v7-drift") is None and cloud.get("monitor", "fraud-api-quality")
    model = cloud.get("model", model_before["name"])
    assert model is not None and model["retired"]["archive"] is True  # kept, marked retired
    assert model["tags"]["mlops-gitops:retired-by"] == "ml-platform"
    assert model["tags"]["mlops-gitops:retired-reason"] == "drifted- replaced by fraud-v8"
    record = state.get("model.fraud-v7")
    assert (
        record.retired["by"] == "ml-platform"
        and record.retired["at"] == model["tags"]["mlops-gitops:retired-at"]
    )
    retired = [e for e in state.events if e.event == "retired"]
    assert [(e.address, e.reason) for e in retired] == [("model.fraud-v7", "drifted; replaced by fraud-v8")]

    again, _ = run(provider, tmp_path, RETIRED, apply=False)
    assert actions(again) == {} and again["retirements"] == [] and not again["has_changes"]


def test_a_retirement_that_leaves_an_endpoint_nothing_to_serve_is_refused(tmp_path: Path) -> None:
    text = RETIRED.replace("model: fraud-v8, weight: 9", "model: fraud-v7, weight: 9").replace(
        "name: green, model: fraud-v7, weight: 1", "name: green, model: fraud-v8, weight: 0"
    )
    with pytest.raises(StackError) as caught:
        load(tmp_path, text)
    message = str(caught.value)
    assert "models.fraud-v7.retired: retiring it leaves endpoint 'fraud-api' with nothing to serve" in message
    assert "every variant taking live traffic serves a retired model (fraud-v7)" in message
    assert "stack.yaml:" in message


def test_a_batch_job_of_a_retired_model_is_refused(tmp_path: Path) -> None:
    text = (
        RETIRED
        + """
batch_jobs:
  score:
    model: fraud-v7
    input: {uri: "s3://ml/in/"}
    output: {uri: "s3://ml/out/"}
    instance_type: ml.m5.large
"""
    )
    with pytest.raises(StackError, match=r"batch_jobs.score.model: model 'fraud-v7' is retired"):
        load(tmp_path, text)


def test_retiring_an_endpoint_deletes_it_and_keeps_the_record(tmp_path: Path) -> None:
    cloud = MemoryCloud()
    provider = MemoryProvider(cloud=cloud)
    run(provider, tmp_path, STACK, apply=True)
    text = STACK.replace(
        "  fraud-api:\n", "  fraud-api:\n    retired: {reason: moved to fraud-api-v2, by: alice}\n"
    )
    doc, _ = run(provider, tmp_path, text, apply=False)
    assert actions(doc)["endpoint.fraud-api"] == "retire"
    assert {actions(doc)[m] for m in ("monitor.fraud-v7-drift", "monitor.fraud-api-quality")} == {"delete"}
    [r] = doc["retirements"]
    assert [s["traffic_percent"] for s in r["stops_serving"]] == [90.0, 10.0]
    assert r["artifacts_kept"] is False
    assert "serving_retired" in {x["code"] for x in doc["risks"]}
    _, state = run(provider, tmp_path, text, apply=True)
    assert cloud.get("endpoint", "fraud-api") is None and state.get("endpoint.fraud-api") is None
    assert [e.event for e in state.events if e.address == "endpoint.fraud-api"][-1] == "retired"
    again, _ = run(provider, tmp_path, text, apply=False)
    assert not again["has_changes"]


def test_removing_a_serving_endpoint_suggests_retirement(tmp_path: Path) -> None:
    provider = MemoryProvider(cloud=MemoryCloud())
    run(provider, tmp_path, STACK, apply=True)
    data = yaml.safe_load(STACK)
    del data["endpoints"], data["monitors"], data["schedules"], data["models"]["fraud-v7"]
    doc, _ = run(provider, tmp_path, yaml.safe_dump(data), apply=False)
    risks = {x["code"]: x["message"] for x in doc["risks"]}
    assert "mark it retired instead (endpoints.fraud-api.retired:" in risks["serving_destroyed"]
    assert "mark it retired instead (models.fraud-v7.retired:" in risks["model_destroyed"]


def test_the_plan_text_names_the_retirement_in_ml_terms(tmp_path: Path) -> None:
    from mlops_gitops.render.text import render_plan

    provider = MemoryProvider(cloud=MemoryCloud())
    run(provider, tmp_path, STACK, apply=True)
    doc, _ = run(provider, tmp_path, RETIRED, apply=False)
    text = render_plan(doc)
    assert "# model.fraud-v7 will be retired (retired by ml-platform: drifted; replaced by fraud-v8)" in text
    assert (
        "  R model fraud-v7 will be retired: stops serving 10% of fraud-api (variant green); "
        "monitor fraud-v7-drift removed; schedule fraud-v7-retrain removed; schedule fraud-monthly "
        "updated; artifacts kept; archived\n"
        "      why: drifted; replaced by fraud-v8 (decided by ml-platform)"
    ) in text
    assert "Plan: 0 to add, 2 to change, 2 to destroy, 1 to retire." in text
