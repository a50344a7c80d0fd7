"""State files, mutated from one `mlops apply` wrote: `StateDoc.from_json` gives a document that
round-trips or a StateError, nothing else; `mlops state list` and `mlops plan` read any state.json
with exit 0, 1 (or 2: changes), never write to the cloud, and leave the file as it was."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))  # fuzz_kit, beside this file (importlib mode)
from fuzz_kit import dump_json, fuzz, memory_provider, mlops, mutated_data, mutated_text, write, writes

from mlops_gitops.errors import StateError
from mlops_gitops.state.local import LocalBackend
from mlops_gitops.state.model import StateDoc
from mlops_gitops.testing.memory import MemoryCloud, MemoryProvider

STACK = """\
apiVersion: mlops-gitops/v1
name: fuzz-state
provider:
  memory: {}
variables:
  secret: {sensitive: true, default: hunter2}
models:
  iris:
    artifact: s3://bucket/iris/model.tar.gz
    image: img:1
    environment: {API_KEY: "${var.secret}"}
endpoints:
  iris-api:
    variants:
      - {name: main, model: iris, instance_type: ml.m5.large, instance_count: 1}
outputs:
  arn: {value: "${endpoint.iris-api.arn}"}
  key: {value: "${var.secret}", sensitive: true}
"""
KEYS = ["address", "kind", "name", "serial", "lineage", "version", "attributes", "history", "status"]


class Applied:
    """A stack applied on the memory cloud: its directory, the state it wrote, the cloud."""

    def __init__(self, directory: Path, cloud: MemoryCloud, provider: type[MemoryProvider]) -> None:
        self.directory = directory
        self.cloud = cloud
        self.provider = provider
        self.state_file = directory / ".mlops" / "state.json"
        self.text = self.state_file.read_text()

    def stack(self) -> str:
        return str(self.directory / "stack.yaml")


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    directory = tmp_path_factory.mktemp("state")
    write(directory / "stack.yaml", STACK)
    cloud, provider = memory_provider()
    mlops("-f", str(directory / "stack.yaml"), "apply", "--auto-approve", provider=provider).check((0,))
    shutil.rmtree(directory / ".mlops" / "state.json.backup", ignore_errors=True)
    return Applied(directory, cloud, provider)


def _read(raw: bytes) -> StateDoc | StateError:
    """The property of the parser: a document that round-trips exactly, or a StateError."""
    try:
        doc = StateDoc.from_json(raw)
    except StateError as exc:
        assert str(exc), "a StateError with no message"
        return exc
    text = doc.to_json()
    again = StateDoc.from_json(text)
    assert again == doc
    assert again.to_json() == text
    json.loads(text)  # JSON any reader takes (no NaN)
    return doc


def test_the_state_reads_to_start_with(applied: Applied) -> None:
    doc = _read(applied.text.encode())
    assert isinstance(doc, StateDoc)
    assert doc.addresses() == ["model.iris", "endpoint.iris-api"]


def _state_data(applied: Applied) -> st.SearchStrategy[bytes]:
    base = json.loads(applied.text)
    return st.one_of(
        mutated_data(base, steps=4, keys=KEYS).map(lambda d: dump_json(d).encode()),
        mutated_text(applied.text),
    )


@fuzz(300)
@given(data=st.data())
def test_from_json_round_trips_or_says_why(applied: Applied, data: st.DataObject) -> None:
    result = _read(data.draw(_state_data(applied)))
    event("read" if isinstance(result, StateDoc) else "refused")


@fuzz(120)
@given(data=st.data())
def test_state_list_reads_any_state_file(applied: Applied, data: st.DataObject) -> None:
    raw = data.draw(_state_data(applied))
    write(applied.state_file, raw)
    try:
        expected = _read(raw)
        result = mlops("-f", applied.stack(), "state", "list").check()
        event(f"exit {result.code}")
        if isinstance(expected, StateDoc):
            assert result.code == 0, result.err
            assert result.out.splitlines() == expected.addresses() or (
                not expected.addresses() and result.code == 0
            )
        else:
            assert result.code == 1
            assert result.errors[0].startswith(f"Error: {applied.state_file} is not valid state: "), (
                result.err
            )
            assert len(result.errors) == 1
        assert applied.state_file.read_bytes() == raw
    finally:
        write(applied.state_file, applied.text)


@fuzz(120)
@given(data=st.data())
def test_plan_reads_any_state_file_and_writes_nothing(applied: Applied, data: st.DataObject) -> None:
    raw = data.draw(_state_data(applied))
    write(applied.state_file, raw)
    objects = json.dumps(applied.cloud.objects, sort_keys=True, default=str)
    calls = len(applied.cloud.calls)
    try:
        result = mlops(
            "-f", applied.stack(), "plan", "--json", "--detailed-exitcode", provider=applied.provider
        ).check((0, 1, 2))
        event(f"exit {result.code}")
        assert writes(applied.cloud)[calls:] == []
        assert json.dumps(applied.cloud.objects, sort_keys=True, default=str) == objects
        assert applied.state_file.read_bytes() == raw
        assert not LocalBackend(applied.state_file.parent).lock_path.exists()
        if result.code != 1:
            assert json.loads(result.out)["has_changes"] is (result.code == 2)
            assert "hunter2" not in result.out
    finally:
        write(applied.state_file, applied.text)


@fuzz(40)
@given(
    kind=st.sampled_from(["digits", "nesting"]),
    size=st.one_of(st.integers(4000, 6000), st.integers(50, 200_000)),
    where=st.sampled_from(["serial", "attribute", "output"]),
)
def test_state_beyond_the_parsers_bounds(applied: Applied, kind: str, size: int, where: str) -> None:
    """A number of thousands of digits, JSON nested thousands deep: `state list` says the state
    is not valid (or reads it), as for any other damage."""
    value = "1" * min(size, 6000) if kind == "digits" else "[" * size + "]" * size
    doc = json.loads(applied.text)
    marker = "__fuzz_marker__"
    if where == "serial":
        doc["serial"] = marker
    elif where == "attribute":
        doc["resources"][0]["attributes"]["x"] = marker
    else:
        doc["outputs"]["arn"]["value"] = marker
    write(applied.state_file, json.dumps(doc).replace(f'"{marker}"', value))
    try:
        result = mlops("-f", applied.stack(), "state", "list").check()
        event(f"exit {result.code}")
        if result.code == 1:
            assert result.errors[0].startswith(f"Error: {applied.state_file} is not valid state: "), (
                result.err
            )
    finally:
        write(applied.state_file, applied.text)
