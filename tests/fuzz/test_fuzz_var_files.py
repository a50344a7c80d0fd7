"""Var files (`--var-file`, YAML or JSON): a value of its variable's type is used as given; any
other value, an unknown name or a broken file is one `Error:` (or warning) line pointing into the
var file, never a traceback."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))  # fuzz_kit, beside this file (importlib mode)
from fuzz_kit import dump_json, dump_yaml, fuzz, memory_provider, mlops, mutated_text, values, write, writes

STACK = """\
apiVersion: mlops-gitops/v1
name: vars
provider:
  memory: {}
variables:
  n: {type: number, default: 1}
  b: {type: bool, default: false}
  s: {type: string, default: x}
  a: {default: anything}
  key: {type: string, sensitive: true, default: hunter2-key}
models:
  iris:
    artifact: s3://bucket/iris/model.tar.gz
    image: img:1
    environment: {N: "v=${var.n}", B: "v=${var.b}", S: "v=${var.s}", K: "${var.key}"}
endpoints:
  iris-api:
    variants:
      - {name: main, model: iris, instance_type: ml.m5.large, instance_count: 1}
"""
VALID_VARS = 'n: 3\nb: true\ns: "hello"\na: [1, {x: 2}]\nkey: "s3cr3t-value"\n'
TYPES = {"n": "number", "b": "bool", "s": "string", "a": "any", "key": "string"}
VAR_ERROR = re.compile(r"^Error: .*vars\.(yaml|json):\d+:\d+: ")


@pytest.fixture(scope="module")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("vars")
    write(directory / "stack.yaml", STACK)
    return directory


def _plan(directory: Path, var_file: Path) -> Any:
    cloud, provider = memory_provider()
    args = ("-f", str(directory / "stack.yaml"), "plan", "--json", "--var-file", str(var_file))
    result = mlops(*args, provider=provider).check()
    assert writes(cloud) == []
    event(f"exit {result.code}")
    return result


def _environment(plan_json: str) -> dict[str, str]:
    doc = json.loads(plan_json)
    (model,) = [c for c in doc["resource_changes"] if c["address"] == "model.iris"]
    return model["after"]["environment"]


# ------------------------------------------------------------------------------- the oracle
def _accepted(type_: str, value: Any) -> str | None:
    """What the documented coercion makes of `value` as text in `v=${var.x}`, or None when the
    type refuses it: numbers (finite) or text that reads as one; true/false; for a string any
    scalar but null."""
    if type_ == "number":
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, int):
            return json.dumps(value)
        if isinstance(value, float):
            return json.dumps(value) if math.isfinite(value) else None
        if isinstance(value, str):
            try:
                return json.dumps(int(value.strip()))
            except ValueError:
                pass
            try:
                number = float(value.strip())
            except ValueError:
                return None
            return json.dumps(number) if math.isfinite(number) else None
        return None
    if type_ == "bool":
        if isinstance(value, bool):
            return json.dumps(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower()
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _representable(value: Any, as_json: bool) -> bool:
    """Whether a var file can hold `value` as written: Python reads no integer of more than 4300
    digits, mapping keys must be text (JSON makes them text), JSON has no NaN or infinity, and a
    YAML flow mapping's key (all of a JSON file's) is at most 1024 characters long."""
    if isinstance(value, int) and not isinstance(value, bool):
        return len(str(abs(value))) <= 4300
    if isinstance(value, float):
        return math.isfinite(value) or not as_json
    if isinstance(value, list):
        return all(_representable(v, as_json) for v in value)
    if isinstance(value, dict):
        keys_ok = all((isinstance(k, str) or as_json) and (not as_json or len(str(k)) < 1000) for k in value)
        return keys_ok and all(_representable(v, as_json) for v in value.values())
    return True


# ----------------------------------------------------------------------------------- tests
well_typed = st.fixed_dictionaries(
    {},
    optional={
        "n": st.one_of(
            st.integers(-(10**30), 10**30),
            st.floats(allow_nan=False, allow_infinity=False),
            st.integers(-(10**9), 10**9).map(str),
        ),
        "b": st.one_of(st.booleans(), st.sampled_from(["true", "FALSE", " True "])),
        "s": st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=40),
    },
)


@fuzz(150)
@given(values_=well_typed, as_json=st.booleans())
def test_values_of_the_declared_type_are_used(
    stack_dir: Path, values_: dict[str, Any], as_json: bool
) -> None:
    var_file = write(
        stack_dir / ("vars.json" if as_json else "vars.yaml"), (dump_json if as_json else dump_yaml)(values_)
    )
    result = _plan(stack_dir, var_file)
    assert result.code == 0, result.err
    env = _environment(result.out)
    defaults = {"n": "1", "b": "false", "s": "x"}
    for name, shown in defaults.items():
        expected = _accepted(TYPES[name], values_[name]) if name in values_ else shown
        assert env[name.upper()] == f"v={expected}", (name, values_)
    assert "hunter2-key" not in result.out  # the sensitive one is redacted


@fuzz(200)
@given(
    values_=st.dictionaries(st.sampled_from([*TYPES, "unknown", "N", "n "]), values(), max_size=5),
    as_json=st.booleans(),
)
def test_values_of_any_type(stack_dir: Path, values_: dict[str, Any], as_json: bool) -> None:
    """Each value is used or refused as its type says; a refusal names the var file, line and
    column, and never shows a sensitive value."""
    text = (dump_json if as_json else dump_yaml)(values_)
    var_file = write(stack_dir / ("vars.json" if as_json else "vars.yaml"), text)
    result = _plan(stack_dir, var_file)
    representable = all(_representable(v, as_json) for v in values_.values())
    refused = [
        name
        for name, value in values_.items()
        if name in TYPES and TYPES[name] != "any" and _accepted(TYPES[name], value) is None
    ]
    if not representable:
        assert result.code == 1
        return
    if refused:
        assert result.code == 1, (values_, result.out[:500])
        # Each refused value is named, unless the file did not read at all (then that is said).
        unread = any(VAR_ERROR.match(line) and "invalid YAML" in line for line in result.errors)
        for name in refused:
            assert unread or any(VAR_ERROR.match(line) and f" {name}: " in line for line in result.errors), (
                name,
                result.err,
            )
    elif result.code == 1:
        # Only the stack's own checks may still refuse a value the variable accepts (an image
        # name of the wrong shape...): those point into the stack file.
        assert all("stack.yaml" in line for line in result.errors), result.err
    else:
        env = _environment(result.out)
        for name in ("n", "b", "s"):
            if name in values_:
                assert env[name.upper()] == f"v={_accepted(TYPES[name], values_[name])}"
    if "key" in values_ and isinstance(values_["key"], str) and len(values_["key"]) > 3:
        assert values_["key"] not in result.err


@fuzz(150)
@given(data=st.data(), as_json=st.booleans())
def test_broken_var_files(stack_dir: Path, data: st.DataObject, as_json: bool) -> None:
    """Truncated, mis-indented, duplicated, not UTF-8: one `Error:` line per problem, located."""
    base = json.dumps(dict(n=3, b=True, s="hello", a=[1, {"x": 2}], key="s3cr3t-value"), indent=2)
    raw = data.draw(mutated_text(base if as_json else VALID_VARS))
    var_file = write(stack_dir / ("vars.json" if as_json else "vars.yaml"), raw)
    result = _plan(stack_dir, var_file)
    for line in result.errors:
        assert "vars." in line or "stack.yaml" in line, result.err
        if "invalid YAML" in line or "not valid UTF-8" in line:
            assert VAR_ERROR.match(line), line
    assert "s3cr3t-value" not in result.err
