"""A provider from outside the core: `examples/providers/mlops-localfs`, installed with pip
(offline) into a directory of its own and found through its entry point. It validates, plans,
applies and destroys through the installed `mlops` command, its `localfs:` blocks are checked
and in the schema, and it passes the provider contract suite, with the core untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops import plugins
from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.testing.contract import ContractCase, Edit, PartialCreate, ProviderContract, Unsupported

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "providers" / "mlops-localfs"
MLOPS = str(Path(sys.executable).parent / "mlops")

STACK = """\
apiVersion: mlops-gitops/v1
name: shop
provider: {localfs: {root: ROOT}}
tags: {team: recs}
models:
  recs:
    artifact: file:///models/recs-v1.bin
    image: recs-server:1
    localfs: {file_mode: "0600"}
endpoints:
  recs-api:
    variants:
      - {name: main, model: recs, instance_type: small, instance_count: 2}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example installed as a user would (pip, its pyproject, its entry point), into a
    directory of its own: no network, and nothing left in this environment."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (target / "mlops_localfs").is_dir()
    return target


@pytest.fixture
def installed(site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The example importable and its entry point visible in this process too."""
    monkeypatch.syspath_prepend(str(site))
    plugins.available.cache_clear()
    plugins._load.cache_clear()
    yield site
    monkeypatch.undo()
    plugins.available.cache_clear()
    plugins._load.cache_clear()
    for name in [m for m in sys.modules if m.startswith("mlops_localfs")]:
        del sys.modules[name]


def _run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "NO_COLOR": "1"}
    env.pop("MLOPS_SANDBOX", None)
    return subprocess.run([MLOPS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _stack(tmp_path: Path, text: str = STACK) -> Path:
    d = tmp_path / "shop"
    d.mkdir(exist_ok=True)
    (d / "stack.yaml").write_text(text.replace("ROOT", str(tmp_path / "cloud")))
    return d


def _ok(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_the_cli_lists_validates_plans_applies_and_destroys_it(site: Path, tmp_path: Path) -> None:
    d = _stack(tmp_path)
    assert "localfs" in _ok(_run(site, d, "providers"))
    _ok(_run(site, d, "validate"))
    out = _ok(_run(site, d, "apply", "--auto-approve"))
    assert "2 added, 0 changed, 0 destroyed" in out
    cloud = tmp_path / "cloud"
    (model_file,) = (cloud / "models").glob("recs-*.json")
    assert oct(model_file.stat().st_mode & 0o777) == "0o600"
    endpoint = json.loads((cloud / "endpoints" / "recs-api.json").read_text())
    assert endpoint["status"] == "ready" and endpoint["variants"][0]["model"] == model_file.stem
    assert endpoint["tags"] == {
        "team": "recs",
        "mlops-gitops:stack": "shop",
        "mlops-gitops:address": "endpoint.recs-api",
    }
    assert "No changes" in _ok(_run(site, d, "plan"))

    # Someone opens the model's file to everyone: drift, and the plan puts it back.
    model_file.chmod(0o644)
    drift = _ok(_run(site, d, "plan"))
    assert "Objects have changed outside of mlops" in drift and '~ file_mode = "0644" -> "0600"' in drift

    out = _ok(_run(site, d, "destroy", "--auto-approve"))
    assert "2 destroyed" in out
    assert list((cloud / "models").glob("*.json")) == [] and list((cloud / "endpoints").glob("*.json")) == []


def test_its_settings_blocks_and_features_are_checked_with_positions(site: Path, tmp_path: Path) -> None:
    bad = STACK.replace('file_mode: "0600"', 'file_mode: "0999"').replace(
        "instance_type: small, instance_count: 2", "serverless: {memory_mb: 2048}"
    )
    d = _stack(tmp_path, bad)
    res = _run(site, d, "validate")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert any("models.recs.localfs.file_mode: " in line for line in lines), lines
    assert any(
        "endpoints.recs-api.variants[0].serverless: localfs runs variants on named instance types only"
        in line
        for line in lines
    ), lines
    assert not (tmp_path / "cloud").exists(), "bad input reaches no cloud"

    # Another provider's block is refused where this provider is in use.
    other = STACK.replace('    localfs: {file_mode: "0600"}\n', "    sagemaker: {execution_role_arn: x}\n")
    res = _run(site, _stack(tmp_path, other), "validate")
    assert res.returncode == 1 and "a sagemaker block has no effect here" in res.stderr


def test_the_schema_includes_its_blocks(site: Path, tmp_path: Path) -> None:
    doc = json.loads(_ok(_run(site, tmp_path, "schema")))
    assert doc["$defs"]["ModelSpec"]["properties"]["localfs"]["properties"]["file_mode"]["pattern"]
    assert "root" in doc["properties"]["provider"]["properties"]["localfs"]["properties"]


# ------------------------------------------------------------------------------------ contract
def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.glob("*/*.json"))


class TestLocalFsContract(ProviderContract):
    @pytest.fixture
    def contract_case(self, installed: Path, tmp_path: Path) -> ContractCase:
        root = tmp_path / "cloud"
        root.mkdir()

        def faults(**kw: Any) -> None:
            (root / ".faults.json").write_text(json.dumps(kw))

        def endpoint_file(attrs: Any) -> Path:
            return root / "endpoints" / f"{attrs['name']}.json"

        def change(attrs: Any) -> None:
            path = endpoint_file(attrs)
            body = json.loads(path.read_text())
            body["variants"][0]["instance_count"] = 7
            path.write_text(json.dumps(body))

        return ContractCase(
            sandbox=SandboxEndpoints(),
            stack_yaml=STACK.replace("ROOT", str(root)),
            in_place=Edit(
                lambda s: s.replace("instance_count: 2", "instance_count: 3"), {"endpoint.recs-api": "update"}
            ),
            replace=Edit(
                lambda s: s.replace("recs-v1.bin", "recs-v2.bin"),
                {"model.recs": "replace", "endpoint.recs-api": "update"},
            ),
            import_address="endpoint.recs-api",
            cloud_id=lambda attrs: attrs["name"],
            drift_address="endpoint.recs-api",
            change_out_of_band=change,
            delete_out_of_band=lambda attrs: endpoint_file(attrs).unlink(),
            leftovers=lambda: _files(root),
            throttle=lambda n: faults(throttle=n),
            partial_create=PartialCreate(
                "endpoint.recs-api", lambda: faults(fail_after_checkpoint=["endpoint.recs-api"])
            ),
            # The example shows the plugin interface; it declares no `retired` feature, so a
            # stack retiring one of its models is refused at validate time.
            retire=Unsupported("the example provider does not declare the retired feature"),
        )
