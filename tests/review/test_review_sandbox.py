"""The "done when" of the pull-request review, through the installed `mlops` on the sandbox: a
plan that swaps a model behind a 90/10 endpoint, removes its monitor and adds a variant renders a
comment whose first screen names those three risks, with the summary table and its cost column,
a Mermaid diagram that parses, and a sensitive value masked."""

from __future__ import annotations

import json
from pathlib import Path

from mermaid_check import assert_parses, mermaid_blocks
from sandbox_kit import VARS, example_on_sandbox, mlops

from mlops_gitops.review import marker

MONITOR = """
monitors:
  fraud-drift:
    endpoint: fraud-api
    type: data_quality
    every: hourly
    baseline: s3://${var.artifact_bucket}/baselines/fraud/
    alert: {metric: feature_baseline_drift_amount, threshold: 0.2, notify: [fraud-oncall@example.com]}
"""
SECRET, ROTATED = "tok-S3cr3t-4242", "tok-R0tat3d-9191"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_a_model_swap_a_removed_monitor_and_a_new_variant_lead_the_comment(tmp_path: Path) -> None:
    with example_on_sandbox(tmp_path, "fraud-detection", operation_delay=0.1) as stack_dir:
        stack = stack_dir / "stack.yaml"
        # A monitor on the endpoint, and a secret in the candidate's environment.
        edit(stack, "variables:\n", f"variables:\n  api_token:\n    sensitive: true\n    default: {SECRET}\n")
        edit(stack, 'FRAUD_THRESHOLD: "0.80"', 'FRAUD_THRESHOLD: "0.80"\n      API_TOKEN: ${var.api_token}')
        stack.write_text(stack.read_text() + MONITOR)
        res = mlops(stack_dir, "--sandbox", "apply", *VARS, "--auto-approve")
        assert res.returncode == 0, res.stdout + res.stderr

        # Swap the candidate's model, remove the monitor, add a third variant.
        edit(stack, "fraud/v8/model.tar.gz", "fraud/v8.1/model.tar.gz")
        edit(stack, SECRET, ROTATED)  # the secret changes too: its diff shows, masked
        stack.write_text(stack.read_text().split("\nmonitors:", 1)[0] + "\n")
        edit(
            stack,
            "        weight: 10\n",
            "        weight: 10\n      - name: challenger\n        model: fraud-xgb-v7\n"
            "        instance_type: ml.m5.large\n        instance_count: 1\n        weight: 10\n",
        )
        res = mlops(stack_dir, "--sandbox", "plan", *VARS, "--out", "p.bin")
        assert res.returncode == 0, res.stdout + res.stderr
        res = mlops(
            stack_dir,
            "--sandbox",
            "show",
            "--format",
            "markdown",
            "p.bin",
            *VARS,
            "--artifact-url",
            "https://ci.example.com/runs/7/plan",
        )
        assert res.returncode == 0, res.stderr
        comment = res.stdout
        doc = json.loads(mlops(stack_dir, "--sandbox", "show", "--json", "p.bin", *VARS).stdout)

    codes = {r["code"] for r in doc["risks"]}
    assert {"model_changed", "monitor_removed", "traffic_shift"} <= codes, doc["risks"]
    first_screen = "\n".join(comment.splitlines()[:40])
    assert first_screen.startswith(marker.for_plan(doc, doc["environment"]).line())
    for title in ("Model swapped", "Monitor removed", "Traffic shift"):
        assert title in first_screen, first_screen
    assert "current 90% → 81.82%, candidate 10% → 9.09%, challenger (new) → 9.09%" in first_screen
    assert "| stack | environment | add | change | replace | destroy | drift | monthly cost (estimate) |" in (
        first_screen
    )
    # The monitor is destroyed, the candidate's model replaced, the endpoint updated in place; the
    # cost column shows the estimate when the plan has one (the cost engine's), else n/a.
    (row,) = [line for line in first_screen.splitlines() if line.startswith("| fraud-detection | - |")]
    assert row.startswith("| fraud-detection | - | 0 | 1 | 1 | 1 | 0 | ")
    assert ("(estimate)" in row) if doc.get("cost") else row.endswith("| n/a |")
    (diagram,) = mermaid_blocks(comment)
    assert_parses(diagram)
    assert SECRET not in comment and ROTATED not in comment
    assert "- environment.API_TOKEN = (sensitive)" in comment
    assert "[Full plan](https://ci.example.com/runs/7/plan)" in comment
