"""Retiring a model on Vertex AI through the installed `mlops` command on the sandbox: the example
churn stack with its challenger on 10% of the traffic and the drift monitor about the challenger;
a `retired:` block on the challenger plans one retirement (the 10% it served, the monitor it
takes along), the apply moves the traffic to the champion before undeploying the challenger,
deletes the monitoring job, and keeps the Model with its artifact, archived; the history says why,
and the next plan is empty. What the emulator holds is read with the real SDK."""

from __future__ import annotations

import json
from pathlib import Path

from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1 as v1
from sandbox_kit import example_on_sandbox, mlops

PARENT = "projects/acme-ml/locations/europe-west4"
REASON = "Superseded by churn-xgb after the November review"


def _url(stack_dir: Path) -> str:
    return str(json.loads((stack_dir / ".mlops" / "sandbox" / "sandbox.json").read_text())["urls"]["vertex"])


def _client(cls: type, url: str) -> object:
    return cls(transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": url})


def _model_name(models: v1.ModelServiceClient, display_name: str) -> str:
    (model,) = [m for m in models.list_models(parent=PARENT) if m.display_name == display_name]
    return str(model.name)


def test_retiring_the_challenger_on_the_sandbox(tmp_path: Path) -> None:
    with example_on_sandbox(tmp_path, "vertex-churn", operation_delay=0.05) as stack_dir:
        stack = stack_dir / "stack.yaml"
        text = stack.read_text()
        edited = (
            text.replace("        weight: 80\n", "        weight: 90\n")
            .replace("        weight: 20\n", "        weight: 10\n")
            .replace("    endpoint: churn-api\n", "    endpoint: churn-api\n    model: churn-challenger\n")
        )
        assert edited.count("model: churn-challenger") == 2
        stack.write_text(edited)

        res = mlops(stack_dir, "--sandbox", "apply", "--auto-approve", "--no-color")
        assert res.returncode == 0, res.stdout + res.stderr
        url = _url(stack_dir)
        endpoints = _client(v1.EndpointServiceClient, url)
        models = _client(v1.ModelServiceClient, url)
        jobs = _client(v1.JobServiceClient, url)

        (endpoint,) = endpoints.list_endpoints(parent=PARENT)  # type: ignore[attr-defined]
        ids = {dm.display_name: dm.id for dm in endpoint.deployed_models}
        assert {ids["champion"]: 90, ids["challenger"]: 10} == dict(endpoint.traffic_split)
        (job,) = jobs.list_model_deployment_monitoring_jobs(parent=PARENT)  # type: ignore[attr-defined]
        # The monitor is about the challenger: it watches its deployed model only.
        assert [c.deployed_model_id for c in job.model_deployment_monitoring_objective_configs] == [
            ids["challenger"]
        ]
        assert list(job.model_monitoring_alert_config.email_alert_config.user_emails) == [
            "ml-oncall@acme.example"
        ]
        name = _model_name(models, "churn-challenger")  # type: ignore[arg-type]
        before = models.get_model(name=name)  # type: ignore[attr-defined]
        assert sorted(before.version_aliases) == ["challenger", "default"]

        stack.write_text(
            edited.replace(
                "      aliases: [challenger]\n",
                f"      aliases: [challenger]\n    retired: {{reason: {REASON}, by: growth-ml}}\n",
            )
        )
        res = mlops(stack_dir, "--sandbox", "plan", "--json")
        assert res.returncode == 0, res.stdout + res.stderr
        plan = json.loads(res.stdout)
        (retirement,) = plan["retirements"]
        assert retirement["address"] == "model.churn-challenger"
        assert retirement["reason"] == REASON and retirement["by"] == "growth-ml"
        assert retirement["stops_serving"][0]["endpoint"] == "endpoint.churn-api"
        assert retirement["stops_serving"][0]["variant"] == "challenger"
        assert retirement["stops_serving"][0]["traffic_percent"] == 10.0
        assert retirement["removes"] == ["monitor.churn-drift"]
        assert retirement["artifacts_kept"] is True
        actions = {c["address"]: c["action"] for c in plan["resource_changes"] if c["action"] != "noop"}
        assert actions == {
            "endpoint.churn-api": "update",
            "monitor.churn-drift": "delete",
            "model.churn-challenger": "retire",
        }

        res = mlops(stack_dir, "--sandbox", "plan", "--no-color")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "model.churn-challenger" in res.stdout and "retire" in res.stdout

        res = mlops(stack_dir, "--sandbox", "apply", "--auto-approve", "--no-color")
        assert res.returncode == 0, res.stdout + res.stderr

        # The champion takes all the traffic; the challenger's deployed model is gone.
        (endpoint,) = endpoints.list_endpoints(parent=PARENT)  # type: ignore[attr-defined]
        assert [dm.id for dm in endpoint.deployed_models] == [ids["champion"]]
        assert dict(endpoint.traffic_split) == {ids["champion"]: 100}
        # The monitoring job, with its alert, is gone.
        assert list(jobs.list_model_deployment_monitoring_jobs(parent=PARENT)) == []  # type: ignore[attr-defined]
        # The Model stays, with its version and artifact, archived.
        model = models.get_model(name=name)  # type: ignore[attr-defined]
        assert model.version_id == before.version_id
        assert model.artifact_uri == before.artifact_uri
        assert model.artifact_uri == "gs://acme-ml-artifacts/churn/sklearn/2026-11/"
        assert list(model.version_aliases) == ["default"]
        assert (
            model.labels["mlops-gitops-retired-reason"] == "superseded_by_churn-xgb_after_the_november_review"
        )
        assert model.labels["mlops-gitops-retired-by"] == "growth-ml"
        assert model.labels["mlops-gitops-retired-at"]
        assert model.labels["mlops-gitops-address"] == "model_churn-challenger"
        assert "team" not in model.labels
        # The champion's model is untouched.
        xgb = models.get_model(name=_model_name(models, "churn-xgb"))  # type: ignore[attr-defined,arg-type]
        assert sorted(xgb.version_aliases) == ["champion", "default"]

        res = mlops(stack_dir, "--sandbox", "--no-color", "history")
        assert res.returncode == 0, res.stdout + res.stderr
        assert REASON in res.stdout and "model.churn-challenger" in res.stdout
        res = mlops(stack_dir, "--sandbox", "history", "model.churn-challenger", "--json")
        assert res.returncode == 0, res.stdout + res.stderr
        events = json.loads(res.stdout)["events"]
        retired = [e for e in events if e["event"] == "retired"]
        assert [e["address"] for e in retired] == ["model.churn-challenger"]
        assert retired[0]["reason"] == REASON

        res = mlops(stack_dir, "--sandbox", "plan", "--detailed-exitcode")
        assert res.returncode == 0, res.stdout + res.stderr  # 0: no changes
