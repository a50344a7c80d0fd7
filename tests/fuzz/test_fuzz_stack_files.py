"""Stack files, mutated from the repository's own stacks: `mlops validate` and `mlops plan` answer
every one with exit 0 or 1 (2: changes, under --detailed-exitcode), `Error:` lines naming the
stack file (with a line where the problem has one), no traceback, quickly, and no cloud call."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))  # fuzz_kit, beside this file (importlib mode)
from fuzz_kit import (
    STACKS,
    dump_yaml,
    fuzz,
    memory_provider,
    mlops,
    mutated_data,
    mutated_text,
    write,
    writes,
    yaml_bombs,
)

# The repository's stacks with the var file each needs (validate makes no cloud call, whichever
# provider the stack names).
REAL = {
    "minimal": [],
    "fraud-detection": ["sandbox.vars.yaml"],
    "credit-risk": ["sandbox.vars.yaml"],
    "churn-batch": ["sandbox.vars.yaml"],
    "vertex-churn": [],
    "azureml-fraud": [],
}

# A stack for the memory provider: plan runs in full (no state: the plan reads nothing).
MEMORY = """\
apiVersion: mlops-gitops/v1
name: fuzz
provider:
  memory: {}
variables:
  replicas: {type: number, default: 2}
  image: {default: "img:1"}
  secret: {sensitive: true, default: hunter2}
tags:
  team: ml
models:
  iris:
    artifact: s3://bucket/iris/model.tar.gz
    image: ${var.image}
    environment: {API_KEY: "${var.secret}", MODE: fast}
endpoints:
  iris-api:
    variants:
      - name: main
        model: iris
        instance_type: ml.m5.large
        instance_count: ${var.replicas}
outputs:
  arn:
    value: ${endpoint.iris-api.arn}
"""

# `stack.yaml:LINE:COLUMN` (the path in front is the command's).
LOCATED = re.compile(r"stack\.yaml:\d+:\d+: ")


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A private copy of each stack's directory: examples overwrite its stack.yaml."""
    import shutil

    out = {}
    for name in REAL:
        dest = tmp_path_factory.mktemp("stacks") / name
        shutil.copytree(STACKS / name, dest, ignore=shutil.ignore_patterns(".mlops"))
        out[name] = dest
    dest = tmp_path_factory.mktemp("stacks") / "memory"
    dest.mkdir()
    out["memory"] = dest
    return out


def _original(name: str) -> str:
    return MEMORY if name == "memory" else (STACKS / name / "stack.yaml").read_text()


def _validate(directory: Path, name: str) -> Any:
    var_files = [a for f in REAL.get(name, []) for a in ("--var-file", str(directory / f))]
    if name == "memory":
        _cloud, provider = memory_provider()
        return mlops("-f", str(directory / "stack.yaml"), "validate", *var_files, provider=provider)
    return mlops("-f", str(directory / "stack.yaml"), "validate", *var_files)


def _check_stack_errors(result: Any) -> None:
    """A failure names the stack file: each problem found in it with its line and column."""
    if result.code == 0:
        assert "is valid" in result.out, result.out
        return
    first = result.errors[0]
    assert "stack.yaml" in first, result.err
    for line in result.errors:
        if line.startswith("Error: invalid YAML") or "stack.yaml: invalid YAML" in line:
            raise AssertionError(f"a YAML syntax error without its line: {line}")
        if "invalid YAML" in line:
            assert LOCATED.search(line), line


def test_the_stacks_are_valid_to_start_with(copies: dict[str, Path]) -> None:
    for name, directory in copies.items():
        write(directory / "stack.yaml", _original(name))
        result = _validate(directory, name).check((0,))
        assert "is valid" in result.out


names = st.sampled_from([*REAL, "memory"])


@fuzz(250)
@given(data=st.data(), name=names)
def test_mutated_stack_values(copies: dict[str, Path], data: st.DataObject, name: str) -> None:
    """Keys deleted, renamed or added, values of another type: validate says what is wrong, where."""
    base = yaml.safe_load(_original(name))
    doc = data.draw(mutated_data(base, keys=["name", "nope", "models", "endpoints", "lifecycle", "tags"]))
    write(copies[name] / "stack.yaml", dump_yaml(doc))
    _check_stack_errors(_validate(copies[name], name).check())


@fuzz(250)
@given(data=st.data(), name=names)
def test_mutated_stack_text(copies: dict[str, Path], data: st.DataObject, name: str) -> None:
    """Broken syntax, truncation, duplicate lines, stray `${`, aliases, bad UTF-8, BOM, tabs."""
    raw = data.draw(mutated_text(_original(name)))
    write(copies[name] / "stack.yaml", raw)
    _check_stack_errors(_validate(copies[name], name).check())


@fuzz(150)
@given(data=st.data())
def test_plan_of_a_mutated_stack(copies: dict[str, Path], data: st.DataObject) -> None:
    """The whole of `plan` on the memory provider: an exit code saying whether there are changes
    (as the JSON document says), and nothing asked of the cloud."""
    base = yaml.safe_load(MEMORY)
    doc = data.draw(mutated_data(base, keys=["name", "nope", "models", "endpoints", "outputs", "tags"]))
    directory = copies["memory"]
    write(directory / "stack.yaml", dump_yaml(doc))
    cloud, provider = memory_provider()
    result = mlops(
        "-f", str(directory / "stack.yaml"), "plan", "--json", "--detailed-exitcode", provider=provider
    ).check((0, 1, 2))
    assert writes(cloud) == []
    assert not (directory / ".mlops" / "state.json").exists()
    if result.code == 1:
        _check_stack_errors(result)
        return
    plan = json.loads(result.out)
    assert plan["has_changes"] is (result.code == 2)
    if _still_sensitive(doc):
        assert "hunter2" not in result.out


def _still_sensitive(doc: Any) -> bool:
    variables = doc.get("variables") if isinstance(doc, dict) else None
    secret = variables.get("secret") if isinstance(variables, dict) else None
    return isinstance(secret, dict) and secret.get("sensitive") is True and secret.get("default") == "hunter2"


@fuzz(60)
@given(text=yaml_bombs())
def test_yaml_bombs_are_refused_fast(copies: dict[str, Path], text: str) -> None:
    """Exponential aliases, deep nesting and alias cycles: refused (or read) in well under the
    check's time bound, with the line of the problem."""
    directory = copies["memory"]
    write(directory / "stack.yaml", text)
    result = _validate(directory, "memory").check()
    assert result.seconds < 3, f"{result.seconds:.1f}s"
    _check_stack_errors(result)
