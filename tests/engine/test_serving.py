"""The serving view of an endpoint (`mlops_gitops.serving`): what each variant serves, in the
stack's terms, recorded in the plan document before and after every endpoint change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mlops_gitops.engine.operations import plan_locked
from mlops_gitops.provider import UNKNOWN
from mlops_gitops.serving import FIELDS, from_spec, without_unknowns
from mlops_gitops.state.local import LocalBackend
from mlops_gitops.testing import MemoryProvider, memory_stack


def test_weights_become_percentages_and_scaling_is_read_per_variant() -> None:
    view = from_spec(
        {
            "autoscaling": {"min": 1, "max": 4},
            "variants": [
                {"name": "a", "model": "m1", "weight": 3, "instance_type": "t", "instance_count": 2},
                {"name": "b", "model": "m2", "weight": 1, "instance_type": "t", "instance_count": 1,
                 "autoscaling": {"min": 2, "max": 8}},
                {"name": "s", "model_package": "grp@3", "weight": 0, "mirror_percent": 20,
                 "serverless": {"memory_mb": 2048, "max_concurrency": 5}},
            ],
        }
    )  # fmt: skip
    assert view is not None
    a, b, s = view["variants"]
    assert [tuple(v) for v in view["variants"]] == [FIELDS] * 3
    assert (a["traffic_percent"], a["min_instances"], a["max_instances"]) == (75.0, 1, 4)
    assert (b["traffic_percent"], b["min_instances"], b["max_instances"]) == (25.0, 2, 8)
    assert (s["model"], s["traffic_percent"], s["mirror_percent"]) == ("grp@3", 0.0, 20.0)
    assert (s["serverless_memory_mb"], s["min_instances"]) == (2048, None)  # serverless: no autoscaler


def test_a_variant_without_a_weight_weighs_one_and_no_variants_is_no_view() -> None:
    view = from_spec({"variants": [{"name": "a"}, {"name": "b"}]})
    assert view is not None and [v["traffic_percent"] for v in view["variants"]] == [50.0, 50.0]
    assert from_spec({"variants": []}) is None and from_spec({}) is None


def test_values_known_only_after_apply_are_none() -> None:
    assert without_unknowns({"a": UNKNOWN, "b": [UNKNOWN, {"c": 1}]}) == {"a": None, "b": [None, {"c": 1}]}


STACK = """
models:
  m1: {artifact: "s3://b/m1.tar.gz", image: img}
  m2: {artifact: "s3://b/m2.tar.gz", image: img}
endpoints:
  api:
    variants:
      - {name: blue, model: m1, weight: 90, instance_type: ml.m5.large, instance_count: 2}
      - {name: green, model: m2, weight: 10, instance_type: ml.m5.large, instance_count: 1}
"""


def _plan(provider: MemoryProvider, tmp_path: Path, doc: str, *, apply: bool = False) -> dict[str, Any]:
    stack = memory_stack(yaml.safe_load(doc), tmp_path)
    planned = plan_locked(provider.workspace(stack), LocalBackend(tmp_path / "state"))
    try:
        if apply:
            planned.apply()
        return planned.plan.document()
    finally:
        planned.release()


def _endpoint(doc: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in doc["resource_changes"] if c["kind"] == "endpoint")


def test_the_plan_records_what_an_endpoint_serves_before_and_after(tmp_path: Path) -> None:
    provider = MemoryProvider()
    created = _endpoint(_plan(provider, tmp_path, STACK, apply=True))
    assert created["serving"]["before"] is None
    after = created["serving"]["after"]["variants"]
    assert [(v["name"], v["traffic_percent"], v["instance_count"]) for v in after] == [
        ("blue", 90.0, 2),
        ("green", 10.0, 1),
    ]
    assert after[0]["model"].startswith("m1-")  # the model object's name, known at plan time here
    moved = STACK.replace("weight: 90", "weight: 50").replace("weight: 10", "weight: 50")
    doc = _plan(provider, tmp_path, moved)
    updated = _endpoint(doc)
    assert [v["traffic_percent"] for v in updated["serving"]["before"]["variants"]] == [90.0, 10.0]
    assert [v["traffic_percent"] for v in updated["serving"]["after"]["variants"]] == [50.0, 50.0]
    assert all(c["serving"] is None for c in doc["resource_changes"] if c["kind"] == "model")


def test_a_provider_that_cannot_generate_config_has_no_view(tmp_path: Path) -> None:
    class Opaque(MemoryProvider):
        def to_spec(self, kind: str, attributes: Any) -> dict[str, Any]:
            raise NotImplementedError

    provider = Opaque()
    assert provider.serving("endpoint", {"variants": [{"name": "a"}]}) is None
    assert MemoryProvider().serving("model", {"name": "m"}) is None
