"""What an Azure ML stack may say, checked at `mlops validate` (no cloud call, no SDK import): each
rule is one located line (file, line, column, field) saying what to write instead. Through the
loader and workspace, as `mlops validate` runs them, and through the CLI in a subprocess for what
must stay out of the process (the SDK) and out of the output (its console noise)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mlops_gitops.errors import StackError
from mlops_gitops.stack.loader import load_stack
from mlops_gitops.workspace import open_workspace

sys.path.insert(0, str(Path(__file__).parent))  # provider_kit, beside this file (importlib mode)
from provider_kit import STACK, write_stack

MLOPS = str(Path(sys.executable).parent / "mlops")


def problems(tmp_path: Path, change: Callable[[str], str] = lambda s: s) -> list[str]:
    """The lines `mlops validate` prints for the kit's stack after `change` (empty: it validates)."""
    path = write_stack(tmp_path, change(STACK))
    try:
        ws = open_workspace(load_stack(path, environ={}))
    except StackError as exc:
        return exc.lines()
    return [str(w) for w in ws.warnings]


def replace(old: str, new: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert old in text, old
        return text.replace(old, new)

    return change


def test_the_kit_stack_validates(tmp_path: Path) -> None:
    assert problems(tmp_path) == []


RULES = [
    # models
    (
        replace("azureml://datastores/workspaceblobstore/paths/churn/blue/", "s3://bucket/churn/"),
        "stack.yaml:9:15: models.churn-blue.artifact: Azure ML registers model artifacts from azureml://",
    ),
    (
        replace("conda_file: envs/serve.yaml", "conda_file: envs/missing.yaml"),
        "models.churn-blue.azureml.conda_file: cannot read 'envs/missing.yaml'",
    ),
    (
        replace('{framework: sklearn, version: "1.5"}', '{framework: xgboost, version: "1.7"}'),
        "models.churn-blue.image: Azure ML has no prebuilt curated inference environment for 'xgboost'",
    ),
    (
        replace('{framework: sklearn, version: "1.5"}', '{framework: sklearn, version: "0.9"}'),
        "supported versions: 1.0, 1.1, 1.5",
    ),
    (
        replace("    environment: {LOG_LEVEL: info}\n", "    registry: {group: churn}\n"),
        "models.churn-blue.registry: every Azure ML model version is registered in the workspace's",
    ),
    # endpoints
    (
        lambda s: s.replace("  churn-api:\n", "  churn-api-with-a-name-longer-than-azure:\n").replace(
            "endpoint: churn-api", "endpoint: churn-api-with-a-name-longer-than-azure"
        ),
        "endpoints.churn-api-with-a-name-longer-than-azure: Azure ML endpoint names have 3 to 32 characters",
    ),
    (
        replace("{name: green,", "{name: 2green,"),
        "endpoints.churn-api.variants[1].name: Azure ML deployment names start with a letter",
    ),
    (
        replace(
            "weight: 10}\n",
            "weight: 10}\n      - {name: shadow, model: churn-green, instance_type: Standard_DS3_v2,"
            " weight: 0,"
            " mirror_percent: 60}\n",
        ),
        "endpoints.churn-api.variants[2].mirror_percent: Azure ML mirrors at most 50% of the requests",
    ),
    (
        replace(
            "weight: 10}\n",
            "weight: 10}\n"
            "      - {name: s1, model: churn-green, instance_type: Standard_DS3_v2, weight: 0,"
            " mirror_percent: 30}\n"
            "      - {name: s2, model: churn-green, instance_type: Standard_DS3_v2, weight: 0,"
            " mirror_percent: 30}\n",
        ),
        "endpoints.churn-api.variants: the variants mirror 60% of the requests; Azure ML mirrors at most 50%",
    ),
    (
        replace(
            "{name: green, model: churn-green, instance_type: Standard_DS3_v2, instance_count: 1,",
            "{name: green, model: churn-green, serverless: {memory_mb: 2048},",
        ),
        "endpoints.churn-api.variants[1].serverless: Azure ML managed online endpoints run on dedicated",
    ),
    (
        replace("{name: green, model: churn-green,", "{name: green, model_package: churn@3,"),
        "endpoints.churn-api.variants[1].model_package: Azure ML deploys models of this stack",
    ),
    (
        replace("bake_minutes: 0}", "bake_minutes: 0, rollback_on: [latency-high]}"),
        "endpoints.churn-api.rollout.rollback_on: Azure ML has no alarms to watch during a rollout",
    ),
    (
        replace(
            'destination: "azureml://datastores/workspaceblobstore/paths/capture"',
            "destination: s3://b/c",
        ),
        "endpoints.churn-api.data_capture.destination: Azure ML collects deployment data into a datastore",
    ),
    (
        replace(
            "    rollout:",
            "    autoscaling: {min: 1, max: 3, scale_out_cooldown: 30}\n    rollout:",
        ),
        "endpoints.churn-api.autoscaling.scale_out_cooldown: Azure Monitor autoscale cooldowns last from 60",
    ),
    (
        replace("    rollout:", "    autoscaling: {min: 1, max: 3, scale_in_cooldown: 90}\n    rollout:"),
        "endpoints.churn-api.autoscaling.scale_in_cooldown: Azure Monitor autoscale counts cooldowns in",
    ),
    (
        replace(
            "    rollout:",
            "    azureml: {variants: {purple: {app_insights_enabled: true}}}\n    rollout:",
        ),
        "endpoints.churn-api.azureml.variants.purple: no variant named 'purple' (variants: blue, green)",
    ),
    (
        replace("    rollout:", "    azureml: {auth_mode: password}\n    rollout:"),
        "endpoints.churn-api.azureml.auth_mode:",
    ),
    # monitors
    (
        replace(
            "    type: data_quality\n",
            "    type: model_quality\n    ground_truth: azureml://x/labels/\n",
        ),
        "monitors.churn-drift.type: Azure ML monitors data drift, prediction drift and data quality",
    ),
    (
        replace(
            '    data_capture: {destination: "azureml://datastores/workspaceblobstore/paths/capture", '
            "sample_percent: 50}\n",
            "",
        ),
        "monitors.churn-drift.endpoint: endpoint 'churn-api' has no data_capture",
    ),
    (
        replace("notify: [ml-oncall@example.com]", "notify: [arn:aws:sns:us-east-1:1:topic]"),
        "monitors.churn-drift.alert.notify[0]: Azure ML monitors alert by e-mail",
    ),
    (
        replace("alert: {threshold: 0.2,", "alert: {threshold: 0.2, metric: accuracy,"),
        "monitors.churn-drift.alert.metric: Azure ML's signals fix their metrics",
    ),
    (
        replace(
            "baseline: azureml://datastores/workspaceblobstore/paths/churn/train/",
            "baseline: gs://b/train/",
        ),
        "monitors.churn-drift.baseline: Azure ML reads reference data from azureml:// or https:// URIs",
    ),
    (
        replace(
            "    type: data_quality\n",
            "    type: data_quality\n    azureml: {signals: [data_drift, data_drift]}\n",
        ),
        "monitors.churn-drift.azureml.signals: a signal is listed twice",
    ),
    # schedules
    (
        replace("timezone: Europe/Paris", "timezone: Antarctica/Troll"),
        "schedules.churn-retrain.timezone: time zone 'Antarctica/Troll' has no Windows name",
    ),
    (
        replace("timezone: Europe/Paris", "timezone: America/Punta_Arenas"),
        "schedules.churn-retrain.timezone: time zone 'America/Punta_Arenas' is 'Magallanes Standard Time' in "
        "Windows terms, which Azure ML schedules do not offer",
    ),
    (
        replace(
            "    pipeline: {definition: pipelines/train.yaml,",
            "    also_on: [churn-drift]\n    pipeline: {definition: pipelines/train.yaml,",
        ),
        "schedules.churn-retrain.also_on: Azure ML has no trigger that starts a pipeline",
    ),
    (
        replace("definition: pipelines/train.yaml", "template_uri: https://example.com/train.yaml"),
        "schedules.churn-retrain.pipeline.template_uri: Azure ML schedules run a pipeline job",
    ),
    (
        replace("parameters: {epochs: 100}", "parameters: {epochs: 100, batch: 32}"),
        "schedules.churn-retrain.pipeline.parameters.batch: the pipeline declares no input 'batch'"
        " (inputs: epochs, learning_rate)",
    ),
    (
        replace("definition: pipelines/train.yaml", "definition: envs/serve.yaml"),
        "schedules.churn-retrain.pipeline.definition: 'envs/serve.yaml' is not an Azure ML pipeline job",
    ),
    # the provider block
    (
        replace("subscription_id: 00000000-0000-0000-0000-000000000000", "subscription_id: my-sub"),
        "provider.azureml.subscription_id: must be text matching",
    ),
]


def _field(expected: str) -> str:
    """The field a rule's line names: its test id."""
    return re.sub(r"^stack\.yaml:\d+:\d+: ", "", expected).split(": ")[0]


@pytest.mark.parametrize(("change", "expected"), RULES, ids=[_field(e) for _, e in RULES])
def test_a_rule_is_one_located_line(tmp_path: Path, change: Callable[[str], str], expected: str) -> None:
    lines = problems(tmp_path, change)
    matching = [line for line in lines if expected in line]
    assert matching, lines
    (line,) = matching
    # file:line:column: field: what to do, on one line.
    assert re.search(r"stack\.yaml:\d+:\d+: [a-z]", line) and "\n" not in line, line


def test_max_concurrent_runs_is_a_warning(tmp_path: Path) -> None:
    lines = problems(tmp_path, replace("    cron:", "    max_concurrent_runs: 2\n    cron:"))
    assert any("max_concurrent_runs" in line and "ignored" in line for line in lines), lines


# ---- the process -----------------------------------------------------------------------------------------
def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MLOPS, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", **env},
        check=False,
    )


def test_validate_of_an_azure_stack_imports_no_azure_sdk(tmp_path: Path) -> None:
    write_stack(tmp_path)
    probe = (
        "import sys, json\n"
        "from mlops_gitops.cli.main import main\n"
        "sys.argv = ['mlops', 'validate']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('azure'))\n"
        "print(json.dumps({'code': code, 'azure': loaded}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"code": 0, "azure": []}, done.stderr


def test_a_sandbox_apply_plan_and_destroy_print_nothing_of_the_sdk(tmp_path: Path) -> None:
    """Through the CLI, against the emulator the sandbox starts: our lines only, on stdout and stderr
    (no progress dots, no experimental-class notices, no SDK log lines, no warnings)."""
    write_stack(tmp_path)
    try:
        # A cloud name the SDK left in the environment of a parent process must not matter.
        applied = _run(["--sandbox", "apply", "--auto-approve"], tmp_path, AZUREML_CURRENT_CLOUD="Local1")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        planned = _run(["--sandbox", "plan", "--detailed-exitcode"], tmp_path)
        assert planned.returncode == 0, planned.stdout + planned.stderr
        destroyed = _run(["--sandbox", "destroy", "--auto-approve"], tmp_path)
        assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    finally:
        _run(["sandbox", "down"], tmp_path)
    for done in (applied, planned, destroyed):
        assert done.stderr == ""
        for line in done.stdout.splitlines():
            stripped = line.strip()
            assert not stripped.startswith("."), line  # the SDK's polling dots
            assert "Check: endpoint" not in line and "experimental" not in line.lower(), line
            assert "Warning" not in line, line
    assert "Apply complete! Resources: 5 added" in applied.stdout
    assert "No changes." in planned.stdout
    assert "Destroy complete! Resources: 5 destroyed." in destroyed.stdout
