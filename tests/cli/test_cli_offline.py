"""CLI behaviour that needs no cloud: validation errors, schema, providers, start-up cost."""

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from mlops_gitops.cli.main import cli

HEAVY = (
    "boto3",
    "botocore",
    "moto",
    "google.cloud.aiplatform",
    "google.api_core",
    "google.auth",
    "grpc",
    "azure",
    "sagemaker",
    "jinja2",
)


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, list(args), catch_exceptions=False, standalone_mode=False)
    return (res.return_value if isinstance(res.return_value, int) else res.exit_code), res.stdout, res.stderr


def mlops(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    exe = Path(sys.executable).parent / "mlops"
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_validate_ok(fraud_dir: Path) -> None:
    res = mlops("validate", "--var-file", "sandbox.vars.yaml", cwd=fraud_dir)
    assert res.returncode == 0, res.stderr
    assert "valid (3 resources)" in res.stdout


def test_misspelt_model_reference_is_located_and_makes_no_call(fraud_dir: Path) -> None:
    stack = fraud_dir / "stack.yaml"
    text = stack.read_text()
    stack.write_text(text.replace("model: fraud-xgb-v8", "model: fraud-xgb-v9"))
    line = next(i for i, t in enumerate(stack.read_text().splitlines(), 1) if "fraud-xgb-v9" in t)
    col = stack.read_text().splitlines()[line - 1].index("fraud-xgb-v9") + 1
    for args in (["validate"], ["--sandbox", "plan"], ["--sandbox", "apply", "--auto-approve"]):
        res = mlops(*args, "--var-file", "sandbox.vars.yaml", cwd=fraud_dir)
        assert res.returncode == 1
        assert res.stderr.strip() == (
            f"Error: stack.yaml:{line}:{col}: endpoints.fraud-api.variants[1].model: "
            "no model named 'fraud-xgb-v9' (did you mean 'fraud-xgb-v8'?)"
        )
        assert "Traceback" not in res.stderr
    # No emulator was started and no state written: nothing reached for a cloud.
    assert not (fraud_dir / ".mlops").exists()


def test_unknown_field_with_suggestion(fraud_dir: Path) -> None:
    stack = fraud_dir / "stack.yaml"
    stack.write_text(
        stack.read_text().replace(
            "instance_type: ml.m5.xlarge\n        instance_count: 2",
            "instnce_type: ml.m5.xlarge\n        instance_count: 2",
        )
    )
    res = mlops("validate", "--var-file", "sandbox.vars.yaml", cwd=fraud_dir)
    assert res.returncode == 1
    assert res.stderr.startswith(
        "Error: stack.yaml:49:9: endpoints.fraud-api.variants[0].instnce_type: "
        "unknown field 'instnce_type' (did you mean 'instance_type'?)"
    )


def test_provider_settings_are_validated_with_position(fraud_dir: Path) -> None:
    stack = fraud_dir / "stack.yaml"
    stack.write_text(
        stack.read_text().replace("    region: ${var.region}\n", "    regoin: ${var.region}\n", 1)
    )
    res = mlops("validate", "--var-file", "sandbox.vars.yaml", cwd=fraud_dir)
    assert res.returncode == 1
    assert res.stderr.splitlines() == [
        "Error: stack.yaml:10:5: provider.sagemaker: missing required field 'region'",
        "Error: stack.yaml:10:5: provider.sagemaker.regoin: unknown field 'regoin' (did you mean 'region'?)",
    ]


def test_unsupported_kind_fails_clearly(fraud_dir: Path) -> None:
    stack = fraud_dir / "stack.yaml"
    stack.write_text(
        stack.read_text().replace(
            "outputs:",
            """monitors:
  fraud-drift:
    endpoint: fraud-api
    type: bias
    baseline: s3://b/baseline/

outputs:""",
        )
    )
    res = mlops("validate", "--var-file", "sandbox.vars.yaml", cwd=fraud_dir)
    assert res.returncode == 1
    assert (
        "monitors.fraud-drift.type: monitor type bias is not supported by provider sagemaker yet"
        in res.stderr
    )


def test_schema_is_json_schema_of_the_stack() -> None:
    code, out, _ = run("schema")
    doc = json.loads(out)
    assert code == 0
    assert {"apiVersion", "models", "endpoints", "monitors", "schedules"} <= set(doc["properties"])
    assert doc["additionalProperties"] is False


def test_providers_lists_sagemaker() -> None:
    code, out, _ = run("providers")
    assert code == 0 and "sagemaker" in out and "endpoint, model" in out


def _modules_after(args: list[str], cwd: Path) -> set[str]:
    code = (
        "import sys\nfrom mlops_gitops.cli.main import cli\n"
        f"try:\n    cli.main({args!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)))"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return set(res.stdout.split())


def test_help_and_validate_import_no_cloud_sdk(fraud_dir: Path) -> None:
    # Some packages put namespace stubs on sys.modules at interpreter start (google-cloud's .pth
    # files): only what the command itself loads counts.
    res = subprocess.run(
        [sys.executable, "-c", "import sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    at_start = set(res.stdout.split())
    for args in (["--help"], ["validate", "--var-file", "sandbox.vars.yaml"]):
        loaded = _modules_after(args, fraud_dir) - at_start
        assert "mlops_gitops.cli.main" in loaded
        heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
        assert not heavy, f"{args} imported {heavy[:5]}"


def test_force_unlock_releases_only_the_named_lock(fraud_dir: Path) -> None:
    from mlops_gitops.state.local import LocalBackend

    held = LocalBackend(fraud_dir / ".mlops").lock("apply")
    res = mlops("force-unlock", "not-the-id", "--force", "--var-file", "sandbox.vars.yaml", cwd=fraud_dir)
    assert res.returncode == 1 and held.id in res.stderr
    res = mlops("force-unlock", held.id, "--force", "--var-file", "sandbox.vars.yaml", cwd=fraud_dir)
    assert res.returncode == 0, res.stderr
    assert LocalBackend(fraud_dir / ".mlops").lock_info() is None
