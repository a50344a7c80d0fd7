"""The no-op fast paths of `mlops_gitops.engine.diff`: an unchanged resource is recognised without
flattening its attributes, and whatever the fast path answers must be what the field-by-field
comparison answers. Each case is decided twice, with the fast paths and with them switched off,
and the two decisions must be the same."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import pytest

from mlops_gitops.engine import diff
from mlops_gitops.engine.plan import FieldChange
from mlops_gitops.provider import UNKNOWN, ResourceType

ENDPOINT = ResourceType(
    "endpoint", force_new=("variants[*].instance_type",), computed=("arn", "config"), not_drift=("current",)
)


def prior() -> dict[str, Any]:
    return {
        "name": "e",
        "arn": "arn:1",
        "config": "c1",
        "current": 3,
        "variants": [{"name": "v", "instance_type": "t", "count": 1, "weight": 1.0, "canary": False}],
        "tags": {"team": "x", "env": "prod"},
        "capture": {},
        "extra": [],
        "note": None,
    }


def desired(**changes: Any) -> dict[str, Any]:
    out = {**prior(), "arn": UNKNOWN, "config": UNKNOWN}
    out.update(changes)
    return out


def slow(call: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """`call()` with the fast paths off: only the field-by-field comparison decides."""
    with monkeypatch.context() as m:
        m.setattr(diff, "_unchanged", lambda *_a, **_k: None)
        m.setattr(diff, "_same", lambda *_a: False)
        return call()


def both(call: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    fast = call()
    assert fast == slow(call, monkeypatch)
    return fast


# ------------------------------------------------------------------------- _same, directly
@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"x": 1}, {"x": 1.0}),  # int -> float
        ({"x": True}, {"x": 1}),  # bool -> int
        ({"x": 0}, {"x": False}),
        ({"x": [1, 2]}, {"x": (1, 2)}),  # JSON alike, not to the flattening
        ({"x": {1: "a"}}, {"x": {"1": "a"}}),
        ({"x": math.nan}, {"x": math.nan}),  # NaN equals nothing
        ({"x": UNKNOWN}, {"x": UNKNOWN}),
        ({"x": {}}, {"x": []}),
        ({"x": None}, {}),
        ({"x": "1"}, {"x": 1}),
    ],
)
def test_values_that_differ_in_type_are_not_the_same(a: Any, b: Any) -> None:
    assert not diff._same(a, b)
    assert not diff._same(b, a)


def test_key_order_does_not_matter() -> None:
    a = {"a": 1, "b": {"c": [1, {"d": 2.5, "e": None}], "f": True}}
    b = {"b": {"f": True, "c": [1, {"e": None, "d": 2.5}]}, "a": 1}
    assert diff._same(a, b)
    assert diff.compare(a, b) == []


def test_nan_is_never_taken_for_unchanged() -> None:
    nan = math.nan
    a, b = {"w": nan}, {"w": nan}  # the very same object on both sides
    assert not diff._same(a, b)
    assert [c.path for c in diff.compare(a, b)] == ["w"]
    assert diff._unchanged(ENDPOINT, {"name": "e", "w": nan}, {"name": "e", "w": nan}) is None


# ------------------------------------------------------------------------- decide
def test_unchanged_is_noop_and_computed_values_come_from_state(monkeypatch: pytest.MonkeyPatch) -> None:
    assert diff._unchanged(ENDPOINT, prior(), desired()) is not None  # the fast path answers
    d = both(lambda: diff.decide(ENDPOINT, prior(), desired()), monkeypatch)
    assert d.action == "noop" and d.changes == []
    assert d.after == prior()
    assert list(d.after) == list(desired())  # in the order the provider gave


def test_noop_after_is_a_copy() -> None:
    want = desired()
    d = diff.decide(ENDPOINT, prior(), want)
    d.after["variants"][0]["count"] = 9
    d.after["tags"]["team"] = "y"
    assert want["variants"][0]["count"] == 1 and want["tags"]["team"] == "x"


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["variants"][0].update(count=1.0),  # int -> float
        lambda d: d["variants"][0].update(weight=1),  # float -> int
        lambda d: d["variants"][0].update(canary=0),  # bool -> int
        lambda d: d["variants"][0].update(count=True),  # int -> bool
        lambda d: d["tags"].update(team="y"),
        lambda d: d["tags"].pop("env"),
        lambda d: d["tags"].update(extra="z"),
        lambda d: d.update(capture={"on": True}),
        lambda d: d.update(extra=[1]),
        lambda d: d.update(note="n"),
        lambda d: d["variants"].append({"name": "w"}),
        lambda d: d["variants"][0].update(instance_type="t2"),  # forces replacement
        lambda d: d.update(name="f"),  # a new id: replaced
        lambda d: d.update(current=5),  # not drift: never compared
        lambda d: d.update(tags={"env": "prod", "team": "x"}),  # the same, in another order
        lambda d: d.update(arn="arn:1"),  # a computed value given, equal
        lambda d: d.update(arn="arn:2"),  # a computed value given, different
        lambda d: d.update(note=UNKNOWN),  # UNKNOWN where state has None, not computed
        lambda d: d.update(name=UNKNOWN),  # UNKNOWN where state has a value, not computed
        lambda d: d.update(variants=UNKNOWN),  # UNKNOWN over a list in state
    ],
)
def test_every_change_is_decided_as_field_by_field(
    edit: Callable[[dict[str, Any]], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    want = desired()
    edit(want)
    both(lambda: diff.decide(ENDPOINT, prior(), copy.deepcopy(want)), monkeypatch)
    both(lambda: diff.compare(prior(), want), monkeypatch)


def test_type_changes_are_left_to_the_field_by_field_comparison() -> None:
    # The fast path cannot vouch for them: it answers nothing, the comparison decides.
    for value in (1.0, True):
        want = desired()
        want["variants"][0]["count"] = value
        assert diff._unchanged(ENDPOINT, prior(), want) is None


def test_computed_container_under_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    # `config` is a mapping in state: decide looks at its leaves one by one, so the fast path
    # steps aside whatever the outcome.
    before = {**prior(), "config": {"id": "c1", "rev": 2}}
    assert diff._unchanged(ENDPOINT, before, desired()) is None
    both(lambda: diff.decide(ENDPOINT, before, desired()), monkeypatch)
    empty = {**prior(), "config": {}}
    both(lambda: diff.decide(ENDPOINT, empty, desired()), monkeypatch)


def test_unknown_in_state_is_not_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    before = {**prior(), "arn": UNKNOWN}
    assert diff._unchanged(ENDPOINT, before, desired()) is None
    both(lambda: diff.decide(ENDPOINT, before, desired()), monkeypatch)


@pytest.mark.parametrize("ignore", [["tags"], ["variants[*].count"], ["arn"], ["*"]])
def test_ignore_changes(ignore: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for want in (desired(), desired(tags={"team": "y"}), desired(note=UNKNOWN)):
        both(
            lambda w=want: diff.decide(ENDPOINT, prior(), copy.deepcopy(w), ignore_changes=ignore),
            monkeypatch,
        )


def test_tainted_is_replaced_even_when_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    d = both(lambda: diff.decide(ENDPOINT, prior(), desired(), tainted=True), monkeypatch)
    assert d.action == "replace"


def test_sensitive_paths_still_marked_when_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    d = both(
        lambda: diff.decide(
            ENDPOINT, prior(), desired(tags={"team": "y", "env": "prod"}), sensitive=["tags"]
        ),
        monkeypatch,
    )
    assert d.changes == [FieldChange("tags.team", "x", "y", sensitive=True)]


def test_keys_that_are_not_plain_names(monkeypatch: pytest.MonkeyPatch) -> None:
    odd = {"name": "e", "tags": {"mlops-gitops:stack": "s", "a.b": "c", "": "empty", "*": "star"}}
    both(lambda: diff.decide(ENDPOINT, odd, copy.deepcopy(odd)), monkeypatch)
    changed = copy.deepcopy(odd)
    changed["tags"]["a.b"] = "d"
    d = both(lambda: diff.decide(ENDPOINT, odd, changed), monkeypatch)
    assert d.action == "update"


def test_create_and_drift_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    both(lambda: diff.decide(ENDPOINT, None, desired()), monkeypatch)
    assert both(lambda: diff.drift(ENDPOINT, prior(), prior()), monkeypatch) == []
    moved = {**prior(), "current": 9, "tags": {"team": "x"}}
    assert [c.path for c in both(lambda: diff.drift(ENDPOINT, prior(), moved), monkeypatch)] == ["tags.env"]
