"""The reports of rollback, import, providers, sandbox and validate, from their documents."""

from __future__ import annotations

from mlops_gitops.render.imports import generated_config_note, render_import_summary
from mlops_gitops.render.providers import render_providers
from mlops_gitops.render.rollback import (
    render_rollback_preview,
    rollback_done,
    rollback_progress,
    rollback_unneeded,
)
from mlops_gitops.render.sandbox import (
    emulator_warning,
    render_sandbox_started,
    render_sandbox_status,
    sandbox_not_running,
    sandbox_stopped,
)
from mlops_gitops.render.validate import validation_success, validation_warnings

ROLLBACK = {
    "address": "endpoint.fraud-api",
    "steps": 2,
    "changes": [
        {"path": "variants[0].instance_type", "before": "ml.c5.xlarge", "after": "ml.m5.xlarge"},
        {"path": "tags.owner", "before": None, "after": "<risk & ops>"},
    ],
}


def test_rollback_preview_lists_the_changes_aligned_as_json() -> None:
    assert render_rollback_preview(ROLLBACK) == (
        "endpoint.fraud-api goes back to the configuration recorded 2 apply(s) ago:\n"
        '  ~ variants[0].instance_type = "ml.c5.xlarge" -> "ml.m5.xlarge"\n'
        '  ~ tags.owner                = null -> "<risk & ops>"\n'
    )


def test_rollback_lines() -> None:
    assert rollback_unneeded(ROLLBACK) == "endpoint.fraud-api already runs that configuration."
    assert rollback_progress("endpoint.fraud-api", 12.6, "Updating") == (
        "endpoint.fraud-api: Still rolling back... [13s elapsed] Updating"
    )
    done = rollback_done(ROLLBACK)
    assert done.startswith(
        "\nendpoint.fraud-api rolled back. The stack still asks for the newer configuration"
    )
    assert done.endswith("or apply to roll forward.")


def test_import_summary_names_every_adopted_object() -> None:
    imported = {
        "resources": [
            {"address": "endpoint.fraud-api", "cloud_id": "fraud-api"},
            {"address": "model.fraud-xgb-v7", "cloud_id": "fraud-xgb-v7-1a2b3c4d"},
        ]
    }
    assert render_import_summary(imported) == (
        "endpoint.fraud-api: imported fraud-api.\n"
        "model.fraud-xgb-v7: imported fraud-xgb-v7-1a2b3c4d.\n"
        "Run `mlops plan` to compare them with the stack.\n"
    )


def test_generated_config_note() -> None:
    generated = {
        "path": "gen.yaml",
        "also_written": [],
        "stack_path": "stack.yaml",
        "command": "mlops import endpoint.copy fraud-api",
    }
    assert generated_config_note(generated) == (
        "Wrote gen.yaml: add its entries to stack.yaml, then run `mlops import endpoint.copy fraud-api`."
    )
    generated["also_written"] = ["pipelines/a.json", "pipelines/b.json"]
    assert generated_config_note(generated).startswith(
        "Wrote gen.yaml (and pipelines/a.json, pipelines/b.json): add its entries"
    )


def test_providers_table() -> None:
    rows = [
        {"name": "sagemaker", "module": "m.sm:P", "kinds": ["endpoint", "model"], "error": None},
        {"name": "broken-provider", "module": "m.b:P", "kinds": [], "error": "cannot import m.b"},
    ]
    assert render_providers(rows) == (
        "sagemaker    endpoint, model   (m.sm:P)\nbroken-provider cannot import m.b   (m.b:P)\n"
    )
    assert render_providers([]) == ""


def test_sandbox_started_lists_emulators_by_name() -> None:
    started = {
        "directory": ".mlops/sandbox",
        "urls": {"vertex": "http://127.0.0.1:2", "sagemaker": "http://127.0.0.1:1"},
    }
    assert render_sandbox_started(started) == (
        "sagemaker    http://127.0.0.1:1\n"
        "vertex       http://127.0.0.1:2\n"
        "Sandbox running (state and logs in .mlops/sandbox).\n"
    )


def test_sandbox_status_flags_an_emulator_that_does_not_answer() -> None:
    status = {
        "directory": ".mlops/sandbox",
        "started_at": "2026-11-25T00:00:00Z",
        "emulators": {
            "vertex": {"url": "http://127.0.0.1:2", "pid": 12, "healthy": False},
            "sagemaker": {"url": "http://127.0.0.1:1", "pid": 11, "healthy": True},
        },
    }
    assert render_sandbox_status(status) == (
        "Sandbox running since 2026-11-25T00:00:00Z (state and logs in .mlops/sandbox):\n"
        "  sagemaker    http://127.0.0.1:1  pid 11\n"
        "  vertex       http://127.0.0.1:2  pid 12 (NOT answering)\n"
    )


def test_sandbox_lines() -> None:
    assert (
        emulator_warning("vertex: port in use")
        == "Warning: vertex: port in use; the other emulators are running"
    )
    assert sandbox_not_running() == "Sandbox not running (it starts on the first --sandbox command)."
    assert sandbox_stopped(True) == "Sandbox stopped; its state was discarded."
    assert sandbox_stopped(False) == "Sandbox was not running."


def test_validation() -> None:
    doc = {"valid": True, "errors": [], "warnings": ["a canary needs one variant"], "resources": 3}
    assert validation_warnings(doc) == ["Warning: a canary needs one variant"]
    assert validation_success(doc, stack_path="stack.yaml") == "Success! stack.yaml is valid (3 resources)."
