"""`--backend-config KEY=VALUE` (the loader's `backend_config`): settings of the state backend given
by CI rather than the file, as Terraform's `-backend-config`. The file names the store; the flags
fill in or override its settings, in the block in force (an environment's own, else the stack's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlops_gitops.errors import StackError
from mlops_gitops.stack.loader import load_stack

HEAD = """\
apiVersion: mlops-gitops/v1
name: fraud
provider: {sagemaker: {region: us-east-1, role_arn: "arn:aws:iam::111111111111:role/ml"}}
"""
MODEL = """\
models:
  m:
    artifact: s3://ml/fraud/model.tar.gz
    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1
"""


def write(tmp_path: Path, middle: str) -> Path:
    path = tmp_path / "stack.yaml"
    path.write_text(HEAD + middle + MODEL)
    return path


def test_the_flags_fill_a_backend_the_file_only_names(tmp_path: Path) -> None:
    path = write(tmp_path, "backend: {s3: {}}\n")
    stack = load_stack(path, backend_config={"bucket": "acme-state", "key": "fraud/state.json"}, environ={})
    assert stack.backend.s3 is not None
    assert (stack.backend.s3.bucket, stack.backend.s3.key) == ("acme-state", "fraud/state.json")


def test_the_flags_override_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "backend: {gcs: {bucket: from-file, prefix: fraud}}\n")
    stack = load_stack(path, backend_config={"bucket": "from-ci"}, environ={})
    assert stack.backend.gcs is not None
    assert (stack.backend.gcs.bucket, stack.backend.gcs.prefix) == ("from-ci", "fraud")


def test_an_environment_keeps_its_own_path_below_the_configured_backend(tmp_path: Path) -> None:
    path = write(tmp_path, "backend: {azureblob: {}}\nenvironments: {dev: {}, prod: {}}\n")
    config = {"container": "state", "blob": "fraud/state.json"}
    stack = load_stack(path, environment="prod", backend_config=config, environ={})
    assert stack.backend.azureblob is not None
    assert (stack.backend.azureblob.container, stack.backend.azureblob.blob) == (
        "state",
        "env/prod/fraud/state.json",
    )


def test_an_environment_with_its_own_backend_gets_the_flags(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "backend: {s3: {bucket: dev-state, key: fraud.json}}\n"
        "environments:\n  dev: {}\n  prod: {backend: {s3: {bucket: prod-state, key: fraud.json}}}\n",
    )
    prod = load_stack(path, environment="prod", backend_config={"bucket": "prod-state-2"}, environ={})
    assert prod.backend.s3 is not None and prod.backend.s3.bucket == "prod-state-2"
    dev = load_stack(path, environment="dev", backend_config={"region": "eu-west-1"}, environ={})
    assert dev.backend.s3 is not None
    assert (dev.backend.s3.bucket, dev.backend.s3.key, dev.backend.s3.region) == (
        "dev-state",
        "env/dev/fraud.json",
        "eu-west-1",
    )


def test_an_unknown_setting_is_named_with_the_settings_there_are(tmp_path: Path) -> None:
    path = write(tmp_path, "backend: {s3: {bucket: b, key: k}}\n")
    with pytest.raises(StackError) as caught:
        load_stack(path, backend_config={"buckt": "x"}, environ={})
    assert str(caught.value) == (
        "--backend-config buckt=...: the s3 backend has no setting buckt (did you mean 'bucket'?); "
        "it has bucket, key, region, endpoint_url"
    )


@pytest.mark.parametrize("backend", ["", "backend: {}\n", "backend: {s3: {}, gcs: {bucket: b}}\n"])
def test_the_file_must_name_one_store(tmp_path: Path, backend: str) -> None:
    path = write(tmp_path, backend)
    with pytest.raises(StackError) as caught:
        load_stack(path, backend_config={"bucket": "x"}, environ={})
    assert str(caught.value) == (
        f"{path}: --backend-config needs backend to name one store (local, s3, gcs or azureblob), "
        "e.g. backend: {s3: {}}: the flags give its settings"
    )


def test_a_setting_still_missing_is_a_located_error(tmp_path: Path) -> None:
    path = write(tmp_path, "backend:\n  s3: {}\n")
    with pytest.raises(StackError) as caught:
        load_stack(path, backend_config={"bucket": "x"}, environ={})
    assert str(caught.value) == (
        f"{path}:5:7: backend.s3: missing required field 'key' (in the file, or from CI with "
        "--backend-config key=...)"
    )


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_gitops.cli.main", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", **env},
        timeout=60,
    )


def test_the_cli_takes_flags_before_or_after_the_command_and_from_the_environment(tmp_path: Path) -> None:
    write(tmp_path, "backend: {s3: {}}\n")
    missing = run(tmp_path, "validate")
    assert missing.returncode == 1
    assert "backend.s3: missing required field 'bucket' (in the file, or from CI" in missing.stderr
    before = run(tmp_path, "--backend-config", "bucket=b", "--backend-config=key=k", "validate")
    assert before.returncode == 0, before.stderr
    after = run(tmp_path, "validate", "--backend-config", "bucket=b", "--backend-config", "key=k")
    assert after.returncode == 0, after.stderr
    environ = run(tmp_path, "validate", MLOPS_BACKEND_CONFIG="bucket=b key=k")
    assert environ.returncode == 0, environ.stderr
    bad = run(tmp_path, "--backend-config", "bucket", "validate")
    assert bad.returncode == 1
    assert bad.stderr == "Error: --backend-config 'bucket': expected KEY=VALUE\n"
