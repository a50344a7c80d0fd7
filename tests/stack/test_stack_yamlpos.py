"""YAML with positions: values as SafeLoader builds them, plus where each was written."""

from __future__ import annotations

from textwrap import dedent

import pytest
import yaml

from mlops_gitops.errors import Position
from mlops_gitops.stack import yamlpos
from mlops_gitops.stack.suggest import closest, did_you_mean

TEXT = dedent("""\
    name: fraud
    count: 3
    ratio: 0.5
    "on": true
    quoted: "3"
    empty:
    when: 2024-01-01
    endpoints:
      fraud-api:
        variants:
          - {name: blue, weight: 90}
          - name: green
            weight: 10
""")


def test_values_match_safe_loader_except_dates() -> None:
    doc = yamlpos.parse(TEXT, "s.yaml")
    expected = yaml.safe_load(TEXT)
    expected["when"] = "2024-01-01"  # dates stay as written
    assert doc.data == expected
    assert doc.diagnostics == []


def test_positions_of_values_and_keys() -> None:
    positions = yamlpos.parse(TEXT, "s.yaml").positions
    assert positions.value("count") == Position("s.yaml", 2, 8)
    assert positions.key("count") == Position("s.yaml", 2, 1)
    assert positions.value("endpoints.fraud-api.variants[0].weight") == Position("s.yaml", 11, 30)
    assert positions.value("endpoints.fraud-api.variants[1]") == Position("s.yaml", 12, 9)
    assert positions.key("endpoints.fraud-api.variants[1].weight") == Position("s.yaml", 13, 9)
    # Not in the file (a missing field, say): the nearest ancestor that is.
    assert positions.value("endpoints.fraud-api.variants[1].model") == Position("s.yaml", 12, 9)
    assert positions.value("nothing.here") == Position("s.yaml", 1, 1)


def test_duplicate_keys_are_reported_at_the_second() -> None:
    doc = yamlpos.parse("a: 1\nb: {x: 1, x: 2}\na: 3\n", "s.yaml")
    assert [str(d) for d in doc.diagnostics] == [
        "s.yaml:2:11: b.x: duplicate key 'x' (first defined on line 2)",
        "s.yaml:3:1: a: duplicate key 'a' (first defined on line 1)",
    ]


def test_merge_keys_fill_in_without_counting_as_duplicates() -> None:
    doc = yamlpos.parse(
        dedent("""\
            base: &base {instance_type: ml.m5.large, weight: 1}
            extra: &extra {weight: 7, count: 2}
            blue:
              <<: [*base, *extra]
              weight: 90
        """),
        "s.yaml",
    )
    assert doc.diagnostics == []
    assert doc.data is not None
    assert doc.data["blue"] == {"weight": 90, "instance_type": "ml.m5.large", "count": 2}
    assert doc.positions.value("blue.instance_type") == Position("s.yaml", 1, 29)


NOT_A_MAPPING = "s.yaml:1:1: expected a mapping of `key: value` lines at the top level, found"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: !!binary aGk=\n", "s.yaml:1:4: a: unsupported YAML tag !!binary"),
        ("a: !Ref x\n", "s.yaml:1:4: a: unsupported YAML tag !Ref"),
        ("a: !!int abc\n", "s.yaml:1:4: a: the value is not a valid !!int"),
        ("? [1]\n: x\n", "s.yaml:1:3: a mapping key must be a plain value, not a list or a mapping"),
        ("a: &r [1, *r]\n", "s.yaml:1:4: a[1]: a YAML alias refers to the collection that contains it"),
        (
            "a: [1, 2\n",
            "s.yaml:2:1: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence)",
        ),
        (
            "a: 1\n---\nb: 2\n",
            "s.yaml:2:1: invalid YAML: but found another document (expected a single document in the stream)",
        ),
        ("", f"{NOT_A_MAPPING} nothing"),
        ("just text\n", f"{NOT_A_MAPPING} a scalar"),
    ],
)
def test_problems(text: str, expected: str) -> None:
    assert [str(d) for d in yamlpos.parse(text, "s.yaml").diagnostics] == [expected]


def test_bytes_that_are_not_utf8() -> None:
    doc = yamlpos.parse_bytes(b"a: 1\nb: \xff\n", "s.yaml")
    assert doc.data is None
    assert [str(d) for d in doc.diagnostics] == ["s.yaml:2:1: the file is not valid UTF-8 text"]


def test_libyaml_is_used_when_available() -> None:
    assert yamlpos._LOADER is (yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)


def test_paths() -> None:
    assert yamlpos.dotted(["endpoints", "fraud-api", "variants", 0, "model"]) == (
        "endpoints.fraud-api.variants[0].model"
    )
    assert yamlpos.parent_path("endpoints.fraud-api.variants[0]") == "endpoints.fraud-api.variants"
    assert yamlpos.parent_path("endpoints") == ""


def test_suggestions_ignore_case_and_skip_far_fetched_ones() -> None:
    assert closest("utc", ["UTC", "Europe/Paris"]) == "UTC"
    assert did_you_mean("fraud-xgb-v9", ["fraud-xgb-v7", "churn"]) == " (did you mean 'fraud-xgb-v7'?)"
    assert did_you_mean("zzz", ["fraud-xgb-v7"]) == ""
