"""Framework image URIs are resolved through sagemaker-core once, then read from the user's cache:
a second plan does not import the SDK (over a second of start-up) at all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mlops_sagemaker import images

from mlops_gitops.stack.schema import FrameworkImage

SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
RESOLVE = """
import json, sys
from mlops_sagemaker import images
from mlops_gitops.stack.schema import FrameworkImage
uri = images.resolve(FrameworkImage(framework="sklearn", version="1.2-1"), "us-east-1")
sdk = sorted(m for m in sys.modules if m == "sagemaker" or m.startswith("sagemaker."))
print(json.dumps({"uri": uri, "sdk": sdk}))
"""


def resolve_in_a_new_process(cache: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", RESOLVE],
        capture_output=True,
        text=True,
        timeout=120,
        env={"XDG_CACHE_HOME": str(cache), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    return dict(json.loads(done.stdout))


def test_a_second_resolution_reads_the_cache_and_does_not_import_the_sdk(tmp_path: Path) -> None:
    first = resolve_in_a_new_process(tmp_path)
    assert first["uri"] == SKLEARN and "sagemaker.core" in first["sdk"]
    cached = json.loads((tmp_path / "mlops-gitops" / "sagemaker-images.json").read_text())
    assert cached["images"] == {"sklearn|1.2-1||cpu|us-east-1": SKLEARN}
    assert cached["sagemaker-core"]  # the version the URIs come from

    second = resolve_in_a_new_process(tmp_path)
    assert second == {"uri": SKLEARN, "sdk": []}


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"sagemaker-core": "0.0.1", "images": {"sklearn|1.2-1||cpu|us-east-1": "stale"}}),
    ],
    ids=["unreadable", "another-sdk-version"],
)
def test_a_cache_that_cannot_be_trusted_is_resolved_again_and_rewritten(tmp_path: Path, content: str) -> None:
    path = tmp_path / "mlops-gitops" / "sagemaker-images.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    resolved = resolve_in_a_new_process(tmp_path)
    assert resolved["uri"] == SKLEARN and resolved["sdk"]
    assert json.loads(path.read_text())["images"] == {"sklearn|1.2-1||cpu|us-east-1": SKLEARN}
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_resolutions_are_kept_in_memory_and_failures_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(images, "_memory", {})  # this process's URIs stay real for other tests
    calls: list[str] = []

    def retrieve(framework: str, version: str, py: str | None, processor: str, region: str) -> str:
        calls.append(version)
        if version == "0.0":
            raise images.ImageError("no such version")
        return f"uri-of-{framework}-{version}-{processor}-{region}"

    monkeypatch.setattr(images, "_retrieve", retrieve)
    image = FrameworkImage(framework="xgboost", version="1.7-1", processor="gpu")
    assert images.resolve(image, "eu-west-1") == "uri-of-xgboost-1.7-1-gpu-eu-west-1"
    (tmp_path / "mlops-gitops" / "sagemaker-images.json").unlink()  # memory, not the file, answers
    assert images.resolve(image, "eu-west-1") == "uri-of-xgboost-1.7-1-gpu-eu-west-1"
    assert calls == ["1.7-1"]
    for _ in range(2):
        with pytest.raises(images.ImageError):
            images.resolve(FrameworkImage(framework="xgboost", version="0.0"), "eu-west-1")
    assert calls == ["1.7-1", "0.0", "0.0"]


def test_an_unwritable_cache_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file: no directory can be made in it
    monkeypatch.setattr(images, "_memory", {})
    monkeypatch.setattr(images, "_retrieve", lambda *args: "uri")
    assert images.resolve(FrameworkImage(framework="pytorch", version="2.1"), "us-west-2") == "uri"
