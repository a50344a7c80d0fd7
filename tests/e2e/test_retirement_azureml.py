"""Retiring a model on Azure ML through the installed `mlops` command on the sandbox: the example
fraud stack (blue on 90% of the traffic, the candidate green on 10%) with its drift monitor about
the candidate (`model: fraud-v8`, alerting by e-mail); a `retired:` block on the candidate plans one
retirement (the 10% it served, the monitor it takes along), the apply moves all the traffic to blue
before deleting green's deployment, deletes the MonitorSchedule with its alert, and keeps the model
version with its artifact, archived; the history says why, and the next plan is empty. What the
emulator holds is read with the real `azure-ai-ml` SDK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sandbox_kit import example_on_sandbox, mlops, sandbox_azureml_client

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"  # the stack's variable defaults
RESOURCE_GROUP = "rg-fraud-ml"
WORKSPACE = "fraud-ws"
REASON = "Lost the November A/B test to fraud-v7"


def _ml(stack_dir: Path) -> Any:
    return sandbox_azureml_client(stack_dir, SUBSCRIPTION, RESOURCE_GROUP, WORKSPACE)


def _deployments(ml: Any) -> dict[str, str]:
    """Variant -> its deployment (named `<variant>-<digest>`)."""
    return {d.name.rsplit("-", 1)[0]: d.name for d in ml.online_deployments.list("fraud-api")}


def _live(traffic: dict[str, Any] | None) -> dict[str, int]:
    return {k: int(v) for k, v in (traffic or {}).items() if int(v) > 0}


def test_retiring_the_candidate_on_the_sandbox(tmp_path: Path) -> None:
    from azure.ai.ml.constants import ListViewType
    from azure.core.exceptions import ResourceNotFoundError

    with example_on_sandbox(tmp_path, "azureml-fraud", operation_delay=0.05) as stack_dir:
        stack = stack_dir / "stack.yaml"
        text = stack.read_text()
        # The monitor is about the candidate, on green: `model:` chooses its variant.
        edited = text.replace("      variant: blue\n", "").replace(
            "    endpoint: fraud-api\n", "    endpoint: fraud-api\n    model: fraud-v8\n"
        )
        assert edited.count("model: fraud-v8") == 2 and "variant: blue" not in edited
        stack.write_text(edited)

        res = mlops(stack_dir, "--sandbox", "apply", "--auto-approve", "--no-color", timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
        ml = _ml(stack_dir)
        deployments = _deployments(ml)
        assert _live(ml.online_endpoints.get("fraud-api").traffic) == {
            deployments["blue"]: 90,
            deployments["green"]: 10,
        }
        monitor = ml.schedules.get("fraud-drift").create_monitor
        assert monitor.monitoring_target.endpoint_deployment_id.endswith(f"/{deployments['green']}")
        assert monitor.alert_notification.emails == ["fraud-ml-oncall@acme.example"]
        (before,) = ml.models.list("fraud-v8")
        version = str(before.version)
        env_version = before.tags["mlops-gitops:environment-version"]
        env_before = ml.environments.get("fraud-v8-env", version=env_version)

        stack.write_text(
            edited.replace(
                "    description: Candidate retrained on November data\n",
                "    description: Candidate retrained on November data\n"
                f"    retired: {{reason: {REASON}, by: risk-ml}}\n",
            )
        )
        res = mlops(stack_dir, "--sandbox", "plan", "--json")
        assert res.returncode == 0, res.stdout + res.stderr
        plan = json.loads(res.stdout)
        (retirement,) = plan["retirements"]
        assert retirement["address"] == "model.fraud-v8"
        assert retirement["reason"] == REASON and retirement["by"] == "risk-ml"
        assert retirement["stops_serving"][0]["endpoint"] == "endpoint.fraud-api"
        assert retirement["stops_serving"][0]["variant"] == "green"
        assert retirement["stops_serving"][0]["traffic_percent"] == 10.0
        assert retirement["removes"] == ["monitor.fraud-drift"]
        actions = {c["address"]: c["action"] for c in plan["resource_changes"] if c["action"] != "noop"}
        assert actions == {
            "endpoint.fraud-api": "update",
            "monitor.fraud-drift": "delete",
            "model.fraud-v8": "retire",
        }

        res = mlops(stack_dir, "--sandbox", "plan", "--no-color")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "model.fraud-v8" in res.stdout and "retire" in res.stdout

        res = mlops(stack_dir, "--sandbox", "apply", "--auto-approve", "--no-color", timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr

        # Blue takes all the traffic; green's deployment is gone (the sandbox refuses to delete
        # a deployment still taking traffic: the traffic left it first).
        endpoint = ml.online_endpoints.get("fraud-api")
        assert _live(endpoint.traffic) == {deployments["blue"]: 100}
        assert _live(endpoint.mirror_traffic) == {}
        assert {d.name for d in ml.online_deployments.list("fraud-api")} == {deployments["blue"]}
        # The MonitorSchedule, with its alert notification, is gone; the retraining cron stays.
        with pytest.raises(ResourceNotFoundError):
            ml.schedules.get("fraud-drift")
        assert ml.schedules.get("fraud-retrain") is not None
        # The model version stays, archived, its artifact where it was, tagged with the retirement.
        model = ml.models.get("fraud-v8", version=version)
        assert model.path == before.path and model.path.endswith("/paths/fraud/v8/")
        assert model.tags["mlops-gitops:retired-reason"] == "Lost the November A/B test to fraud-v7"
        assert model.tags["mlops-gitops:retired-by"] == "risk-ml"
        assert model.tags["mlops-gitops:retired-at"]
        archived = {
            str(m.version) for m in ml.models.list("fraud-v8", list_view_type=ListViewType.ARCHIVED_ONLY)
        }
        active = {str(m.version) for m in ml.models.list("fraud-v8")}
        assert version in archived and version not in active
        # Its environment version is untouched.
        environment = ml.environments.get("fraud-v8-env", version=env_version)
        assert environment.image == env_before.image and environment.tags == env_before.tags
        # The blue model is untouched.
        (blue,) = ml.models.list("fraud-v7")
        assert "mlops-gitops:retired-reason" not in blue.tags

        res = mlops(stack_dir, "--sandbox", "--no-color", "history")
        assert res.returncode == 0, res.stdout + res.stderr
        assert REASON in res.stdout and "model.fraud-v8" in res.stdout
        res = mlops(stack_dir, "--sandbox", "history", "model.fraud-v8", "--json")
        assert res.returncode == 0, res.stdout + res.stderr
        events = json.loads(res.stdout)["events"]
        retired = [e for e in events if e["event"] == "retired"]
        assert [e["address"] for e in retired] == ["model.fraud-v8"]
        assert retired[0]["reason"] == REASON

        res = mlops(stack_dir, "--sandbox", "plan", "--detailed-exitcode")
        assert res.returncode == 0, res.stdout + res.stderr  # 0: no changes
