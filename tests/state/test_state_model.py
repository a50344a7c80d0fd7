"""The state document: exact JSON round trip, helpers, and attribute history."""

from __future__ import annotations

import json
import uuid

import pytest
from pydantic import ValidationError

from mlops_gitops.errors import StateError
from mlops_gitops.state.model import HISTORY_LIMIT, ResourceState, StateDoc


def _resource(kind: str, name: str, /, **attributes: object) -> ResourceState:
    return ResourceState(
        address=f"{kind}.{name}", kind=kind, name=name, provider="sagemaker", attributes=attributes
    )


def _sample() -> StateDoc:
    doc = StateDoc.new("fraud-detection")
    # Insertion order deliberately differs from alphabetical order.
    doc.put(_resource("model", "fraud-xgb-v7", arn="arn:aws:sagemaker:us-east-1:1:model/x", version=7))
    endpoint = _resource(
        "endpoint",
        "fraud-api",
        name="fraud-api",
        variants=[{"name": "blue", "weight": 0.9, "count": 2}, {"name": "green", "weight": 0.1}],
        enabled=True,
        replicas=1,
        ratio=1.0,
        tiny=1e-7,
        big=2**62,
        note="café ✓",
        empty=None,
    )
    endpoint.dependencies = ["model.fraud-xgb-v7"]
    endpoint.record({**endpoint.attributes, "replicas": 3})
    endpoint.deposed = [{"config": "fraud-api-old"}]
    endpoint.status = "tainted"
    doc.put(endpoint)
    doc.put(_resource("monitor", "fraud-drift", schedule="hourly"))
    doc.outputs = {
        "url": {"value": "https://example.invalid/fraud", "sensitive": False},
        "key": {"value": "s3cr3t", "sensitive": True},
    }
    return doc


def test_round_trip_is_exact() -> None:
    doc = _sample()
    text = doc.to_json()
    back = StateDoc.from_json(text)
    assert back == doc
    assert back.addresses() == ["model.fraud-xgb-v7", "endpoint.fraud-api", "monitor.fraud-drift"]
    assert back.to_json() == text
    attrs = back.resources["endpoint.fraud-api"].attributes
    # JSON keeps bool, int and float apart; so must the round trip.
    assert attrs["enabled"] is True
    assert type(attrs["replicas"]) is int
    assert type(attrs["ratio"]) is float
    assert back.resources["endpoint.fraud-api"].history == [{**attrs, "replicas": 1}]


def test_json_is_sorted_indented_and_keeps_resource_order() -> None:
    text = _sample().to_json()
    data = json.loads(text)
    # json.dumps's layout exactly; only a float may be spelled in its shortest form (1e-7).
    assert (
        text.replace("1e-7,", "1e-07,")
        == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )
    assert "\n  " in text and "café ✓" in text
    assert [r["address"] for r in data["resources"]] == [
        "model.fraud-xgb-v7",
        "endpoint.fraud-api",
        "monitor.fraud-drift",
    ]


def test_new_state_has_a_fresh_uuid4_lineage_and_no_writes() -> None:
    first, second = StateDoc.new("s"), StateDoc.new("s")
    assert uuid.UUID(first.lineage).version == 4
    assert first.lineage != second.lineage
    assert (first.version, first.serial, first.stack, first.resources, first.outputs) == (1, 0, "s", {}, {})


def test_put_get_remove_and_addresses() -> None:
    doc = StateDoc.new("s")
    doc.put(_resource("model", "a", v=1))
    doc.put(_resource("endpoint", "b"))
    doc.put(_resource("model", "a", v=2))  # a replacement keeps its place
    assert doc.addresses() == ["model.a", "endpoint.b"]
    assert doc.get("model.a").attributes == {"v": 2}
    assert doc.get("model.missing") is None
    removed = doc.remove("model.a")
    assert removed.address == "model.a"
    assert doc.addresses() == ["endpoint.b"]
    with pytest.raises(StateError, match=r"no resource model\.a in state"):
        doc.remove("model.a")


@pytest.mark.parametrize("value", [object(), {1, 2}, (1, 2), float("nan"), float("inf")])
def test_attributes_must_be_json_values(value: object) -> None:
    with pytest.raises(ValidationError):
        _resource("model", "a", x=value)
    resource = _resource("model", "a", x=1)
    with pytest.raises(ValidationError):
        resource.record({"x": value})
    assert resource.attributes == {"x": 1}
    assert resource.history == []


def test_address_must_match_kind_and_name() -> None:
    with pytest.raises(ValidationError, match="does not match"):
        ResourceState(address="endpoint.a", kind="endpoint", name="b", provider="p")


def test_record_keeps_at_most_five_previous_sets_newest_first() -> None:
    resource = _resource("endpoint", "a", v=0)
    for v in range(1, 9):
        assert resource.record({"v": v}) is True
    assert resource.attributes == {"v": 8}
    assert HISTORY_LIMIT == 5
    assert resource.history == [{"v": 7}, {"v": 6}, {"v": 5}, {"v": 4}, {"v": 3}]


def test_record_of_the_same_attributes_changes_nothing() -> None:
    resource = _resource("endpoint", "a", v=1, nested={"b": [1, 2]})
    resource.updated_at = "2000-01-01T00:00:00Z"
    assert resource.record({"nested": {"b": [1, 2]}, "v": 1}) is False
    assert resource.history == []
    assert resource.updated_at == "2000-01-01T00:00:00Z"


def test_record_moves_updated_at() -> None:
    resource = _resource("endpoint", "a", v=1)
    resource.updated_at = "2000-01-01T00:00:00Z"
    resource.record({"v": 2})
    assert resource.updated_at != "2000-01-01T00:00:00Z"
    assert resource.updated_at.endswith("Z")


def test_record_treats_bool_and_int_as_different() -> None:
    resource = _resource("endpoint", "a", enabled=1)
    assert resource.record({"enabled": True}) is True
    assert resource.history == [{"enabled": 1}]


def test_record_does_not_keep_the_empty_set_of_a_new_resource() -> None:
    resource = ResourceState(address="model.a", kind="model", name="a", provider="p")
    resource.record({"arn": "x"})
    assert resource.history == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "the document is empty"),
        ('{"version": 1,', "not JSON"),
        ("[]", "expected a JSON object, found list"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        ('{"lineage": "l", "stack": "s", "version": 2}', "written by a newer mlops"),
        ('{"lineage": "l", "stack": "s", "serial": -1}', "serial"),
        ('{"lineage": "l", "stack": "s", "surprise": 1}', "surprise"),
        ('{"stack": "s"}', "lineage"),
        ('{"lineage": "l", "stack": "s", "outputs": {"o": {"value": 1}}}', "an output must be"),
        ('{"lineage": "l", "stack": "s", "outputs": {"o": {"value": 1, "sensitive": "no"}}}', "output"),
        (
            '{"lineage": "l", "stack": "s", "resources": [{"address": "model.a", "kind": "model",'
            ' "name": "a", "provider": "p", "status": "broken"}]}',
            "resources.model.a.status",
        ),
        (
            '{"lineage": "l", "stack": "s", "resources": ['
            '{"address": "model.a", "kind": "model", "name": "a", "provider": "p"},'
            '{"address": "model.a", "kind": "model", "name": "a", "provider": "p"}]}',
            "resource model.a appears twice",
        ),
        ('{"lineage": "l", "stack": "s", "resources": [{"kind": "model"}]}', "needs an address"),
    ],
)
def test_from_json_says_what_is_wrong(text: str | bytes, fragment: str) -> None:
    with pytest.raises(StateError) as caught:
        StateDoc.from_json(text)
    assert fragment in str(caught.value)


def test_resources_must_be_filed_under_their_address() -> None:
    with pytest.raises(ValidationError, match="filed under"):
        StateDoc(lineage="l", stack="s", resources={"model.b": _resource("model", "a")})


def test_history_longer_than_the_limit_is_refused() -> None:
    with pytest.raises(ValidationError, match="at most 5 history entries"):
        ResourceState(address="model.a", kind="model", name="a", provider="p", history=[{}] * 6)


def test_the_direct_dump_is_pydantics() -> None:
    from mlops_gitops.state.history import Event

    doc = _sample()
    doc.add_event(Event(at="2026-12-04T00:00:00Z", address="endpoint.fraud-api", event="deployed", by="ci"))
    doc.resources["endpoint.fraud-api"].pending = {"action": "update", "since": "x", "recorded": {}}
    doc.resources["endpoint.fraud-api"].retired = {"reason": "r", "by": "b", "at": "t"}
    assert doc.plain() == doc.model_dump(mode="json")
