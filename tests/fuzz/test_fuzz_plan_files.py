"""Saved plan files (`plan --out`), mutated: loading one gives the plan or one `Error:` line that
names the file; `mlops show FILE` (text, JSON, Markdown) and `mlops apply FILE` answer every one
with exit 0 or 1, no traceback, and apply does only what a valid, current plan says."""

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

from mlops_gitops.cli.saved_plan import SavedPlan, load_saved_plan
from mlops_gitops.errors import MlopsError

STACK = """\
apiVersion: mlops-gitops/v1
name: fuzz-plan
provider:
  memory: {}
variables:
  secret: {sensitive: true, default: hunter2}
  label: {default: "café ✓ 😀"}
models:
  iris:
    artifact: s3://bucket/iris/model.tar.gz
    image: img:1
    environment: {API_KEY: "${var.secret}", LABEL: "${var.label}"}
endpoints:
  iris-api:
    variants:
      - {name: main, model: iris, instance_type: ml.m5.large, instance_count: 1}
outputs:
  arn: {value: "${endpoint.iris-api.arn}"}
"""
KEYS = ["format", "plan", "address", "action", "mode", "targets", "summary", "changes", "has_changes"]


class Saved:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.stack = str(directory / "stack.yaml")
        self.file = directory / "plan.bin"
        self.text = self.file.read_text()


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Saved:
    directory = tmp_path_factory.mktemp("plan")
    write(directory / "stack.yaml", STACK)
    _cloud, provider = memory_provider()
    out = str(directory / "plan.bin")
    mlops("-f", str(directory / "stack.yaml"), "plan", "--out", out, provider=provider).check((0,))
    return Saved(directory)


def _plans(saved: Saved) -> st.SearchStrategy[bytes]:
    base = json.loads(saved.text)
    return st.one_of(
        mutated_data(base, steps=3, keys=KEYS).map(lambda d: dump_json(d).encode()),
        mutated_text(saved.text),
    )


def _load(path: Path) -> SavedPlan | MlopsError:
    try:
        return load_saved_plan(path)
    except MlopsError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: "), message
        assert "\n" not in message, message
        assert "hunter2" not in message  # the file holds the secrets; its errors never show them
        return exc


def test_the_plan_file_loads_and_applies(saved: Saved, tmp_path: Path) -> None:
    assert isinstance(_load(saved.file), SavedPlan)


@fuzz(250)
@given(data=st.data())
def test_a_plan_file_loads_or_says_why_in_one_line(saved: Saved, data: st.DataObject) -> None:
    path = write(saved.directory / "mutated.bin", data.draw(_plans(saved)))
    event("loaded" if isinstance(_load(path), SavedPlan) else "refused")


@fuzz(150)
@given(data=st.data(), format_=st.sampled_from(["text", "json", "markdown"]))
def test_show_any_plan_file(saved: Saved, data: st.DataObject, format_: str) -> None:
    path = write(saved.directory / "mutated.bin", data.draw(_plans(saved)))
    loaded = _load(path)
    result = mlops("-f", saved.stack, "show", "--format", format_, str(path)).check()
    event(f"exit {result.code}")
    if isinstance(loaded, MlopsError):
        assert result.errors == [f"Error: {loaded}"]
    if format_ == "json" and result.code == 0:
        assert json.loads(result.out) == loaded.document()  # type: ignore[union-attr]
    assert "hunter2" not in result.out + result.err


@fuzz(100)
@given(data=st.data())
def test_apply_any_plan_file(saved: Saved, data: st.DataObject) -> None:
    """Apply goes ahead only with a plan that loads and is the one planned now; whatever the
    file, nothing is written to the cloud otherwise."""
    path = write(saved.directory / "mutated.bin", data.draw(_plans(saved)))
    loaded = _load(path)
    cloud, provider = memory_provider()
    try:
        result = mlops("-f", saved.stack, "apply", str(path), provider=provider).check()
        event(f"exit {result.code}")
        if isinstance(loaded, MlopsError):
            assert result.errors == [f"Error: {loaded}"]
        if result.code == 1:
            assert writes(cloud) == [], result.err
        else:
            made = sorted(" ".join(w.split()[:2]) for w in writes(cloud))
            assert made == ["create endpoint", "create model"], result.out
    finally:
        shutil.rmtree(saved.directory / ".mlops", ignore_errors=True)
