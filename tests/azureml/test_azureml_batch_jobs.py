"""Azure ML batch jobs through the real MLClient against the emulator: a batch endpoint with its
deployment, compute cluster and JobSchedule; `run` following a job to its end; failures with the
run's reason; drift and destroy."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops.errors import ProviderError
from mlops_gitops.testing.context import RecordingContext
from mlops_gitops.testing.contract import (
    ContractCase,
    Edit,
    PartialCreate,
    ProviderContract,
    Unsupported,
)
from mlops_gitops.testing.harness import actions

sys.path.insert(0, str(Path(__file__).parent))  # provider_kit, beside this file (importlib mode)
from provider_kit import PROVIDER, WORKSPACE, harness, leftovers, sandbox

OUTPUT = "azureml://datastores/workspaceblobstore/paths/churn/predictions/"
BATCH = f"""\
apiVersion: mlops-gitops/v1
name: batchy
{PROVIDER}models:
  scorer:
    artifact: azureml://datastores/workspaceblobstore/paths/scorer/v1/
    image: mcr.microsoft.com/azureml/curated/sklearn-1.5:latest
    azureml: {{type: mlflow_model}}
batch_jobs:
  nightly:
    model: scorer
    input: {{uri: "azureml://datastores/workspaceblobstore/paths/churn/input/"}}
    output: {{uri: "{OUTPUT}"}}
    instance_type: Standard_DS3_v2
    instance_count: 2
    mini_batch_size: 5
    max_concurrency: 2
    retries: 1
    timeout_minutes: 10
    cron: "0 2 * * *"
    timezone: Europe/Paris
"""


@pytest.fixture
def ml(azureml_emulator: Any, ml_client: Callable[..., Any]) -> Any:
    return ml_client(workspace=WORKSPACE)


def _batch_leftovers(ml: Any) -> list[str]:
    out = leftovers(ml)
    for e in ml.batch_endpoints.list():
        out.append(f"batch endpoint {e.name}")
        out += [f"batch deployment {e.name}/{d.name}" for d in ml.batch_deployments.list(e.name)]
    out += [f"compute {c.name}" for c in ml.compute.list()]
    # The anonymous environment the SDK registered for the schedule's step is Azure's to keep
    # (anonymous assets are shared by content and never listed as the stack's).
    return [o for o in out if "CliV2AnonymousEnvironment" not in o]


def test_a_batch_job_applies_plans_next_runs_runs_and_destroys(
    tmp_path: Path, azureml_emulator: Any, ml: Any
) -> None:
    h = harness(tmp_path, azureml_emulator, BATCH)
    plan = h.plan()
    assert actions(plan) == {"model.scorer": "create", "batch_job.nightly": "create"}
    change = next(c for c in plan.changes if c.address == "batch_job.nightly")
    assert any(n.startswith("next runs (Europe/Paris): ") and n.count(",") == 2 for n in change.notes)
    plan, result = h.apply()
    assert result.ok, result.errors

    endpoint = ml.batch_endpoints.get("nightly")
    assert endpoint.tags["mlops-gitops:address"] == "batch_job.nightly"
    deployment = ml.batch_deployments.get("scoring", "nightly")
    assert deployment.mini_batch_size == 5 and deployment.max_concurrency_per_instance == 2
    assert deployment.retry_settings.max_retries == 1 and deployment.retry_settings.timeout == 600
    assert deployment.output_action == "append_row"
    schedule = ml.schedules.get("nightly-schedule")
    assert schedule.trigger.expression == "0 2 * * *"
    assert (
        str(getattr(schedule.trigger.time_zone, "value", schedule.trigger.time_zone))
        == "Romance Standard Time"
    )
    assert not h.plan().has_changes

    provider = h.workspace().provider
    rs = h.state().get("batch_job.nightly")  # type: ignore[union-attr]
    ctx = RecordingContext(address="batch_job.nightly")
    done = provider.run("batch_job", rs.attributes, ctx, wait=True)
    assert done["status"] == "Completed" and done["output"] == OUTPUT
    job = ml.jobs.get(done["id"])
    assert job.outputs["score"].path == OUTPUT
    statuses = [m for m in ctx.messages if ": " in m]
    assert any("Running" in m for m in statuses) and any("Completed" in m for m in statuses)

    # A failed job: the run's reason, as the run history gives it.
    azureml_emulator.emulator.update_settings(
        {
            "fail_async": [
                {
                    "operation": "BatchEndpoints_Invoke",
                    "code": "ScoringScriptError",
                    "message": "predict() raised ValueError: bad row 17",
                }
            ]
        }
    )
    with pytest.raises(ProviderError, match="bad row 17"):
        provider.run("batch_job", rs.attributes, RecordingContext(address="batch_job.nightly"), wait=True)

    _, result = h.apply(mode="destroy")
    assert result.ok, result.errors
    assert _batch_leftovers(ml) == []


def test_drift_disabled_schedule_and_no_cron(tmp_path: Path, azureml_emulator: Any, ml: Any) -> None:
    h = harness(tmp_path, azureml_emulator, BATCH)
    _, result = h.apply()
    assert result.ok, result.errors
    # Drift: someone changes the deployment's mini batch size by hand.
    d = ml.batch_deployments.get("scoring", "nightly")
    d.mini_batch_size = 50
    ml.batch_deployments.begin_create_or_update(d, skip_script_validation=True).result()
    assert actions(h.plan()) == {"batch_job.nightly": "update"}
    _, result = h.apply()
    assert result.ok, result.errors
    assert ml.batch_deployments.get("scoring", "nightly").mini_batch_size == 5
    # Disabled, then no cron at all (the schedule goes).
    h.edit(
        lambda text: text.replace(
            "    timezone: Europe/Paris\n", "    timezone: Europe/Paris\n    enabled: false\n"
        )
    )
    _, result = h.apply()
    assert result.ok, result.errors
    assert ml.schedules.get("nightly-schedule").is_enabled is False
    assert not h.plan().has_changes
    h.edit(lambda text: text.replace('    cron: "0 2 * * *"\n', ""))
    _, result = h.apply()
    assert result.ok, result.errors
    assert [s.name for s in ml.schedules.list(list_view_type="All")] == []
    assert not h.plan().has_changes


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ("    instance_count: 2\n", "replicas"),
        ("    mini_batch_size: 5\n", "max_payload_mb"),
    ],
)
def test_unsupported_parts_are_refused_at_validate(
    tmp_path: Path, azureml_emulator: Any, change: str, word: str
) -> None:
    replacement = {
        "replicas": "    replicas: {min: 1, max: 3}\n",
        "max_payload_mb": "    max_payload_mb: 5\n",
    }
    h = harness(tmp_path, azureml_emulator, BATCH.replace(change, replacement[word]))
    with pytest.raises(Exception, match=word):
        h.plan()


# ====================================================================================== contract
CONTRACT_STACK = f"""\
apiVersion: mlops-gitops/v1
name: contract
{PROVIDER}models:
  scorer:
    artifact: azureml://datastores/workspaceblobstore/paths/scorer/v1/
    image: mcr.microsoft.com/azureml/curated/sklearn-1.5:latest
    azureml: {{type: mlflow_model, name: Scorer_A}}
batch_jobs:
  scoring:
    model: scorer
    input: {{uri: "azureml://datastores/workspaceblobstore/paths/contract/input/"}}
    output: {{uri: "azureml://datastores/workspaceblobstore/paths/contract/output/"}}
    instance_type: Standard_DS3_v2
    instance_count: 1
    mini_batch_size: 5
    cron: "0 6 * * *"
    timezone: Europe/Paris
"""


class TestAzureMLBatchJobContract(ProviderContract):
    @pytest.fixture
    def contract_case(self, azureml_emulator: Any, ml_client: Callable[..., Any]) -> ContractCase:
        ml = ml_client(workspace=WORKSPACE)

        def all_leftovers() -> list[str]:
            # Disabled schedules too: a schedule left behind disabled is still left behind.
            return _batch_leftovers(ml) + [
                f"schedule {s.name}" for s in ml.schedules.list(list_view_type="DisabledOnly")
            ]

        def change_out_of_band(attrs: Mapping[str, Any]) -> None:
            # A console user raises the deployment's mini batch size.
            deployment = ml.batch_deployments.get(attrs["deployment"]["name"], attrs["name"])
            deployment.mini_batch_size = 50
            ml.batch_deployments.begin_create_or_update(deployment, skip_script_validation=True).result()

        def delete_out_of_band(attrs: Mapping[str, Any]) -> None:
            # Everything the batch job owns: its schedule, its endpoint (with the deployment), and
            # its cluster.
            ml.schedules.begin_delete(attrs["schedule"]["name"]).result()
            ml.batch_endpoints.begin_delete(name=attrs["name"]).result()
            ml.compute.begin_delete(attrs["compute"]["name"]).result()

        def throttle(times: int) -> None:
            azureml_emulator.emulator.update_settings({"throttle": [{"method": "GET", "times": times}]})

        def failed_deployment() -> None:
            # The cluster and the endpoint are made (and checkpointed), then provisioning the
            # deployment fails. (The core's `emulator_settings` speaks plain https without the
            # emulator's CA, so the in-process emulator is told directly.)
            azureml_emulator.emulator.update_settings(
                {"fail_async": [{"operation": "BatchDeployments_CreateOrUpdate", "times": 1}]}
            )

        return ContractCase(
            sandbox=sandbox(azureml_emulator),
            stack_yaml=CONTRACT_STACK,
            in_place=Edit(
                lambda s: s.replace("mini_batch_size: 5", "mini_batch_size: 20"),
                {"batch_job.scoring": "update"},
            ),
            # The model is registered under another Azure name: a new model, the deployment moves
            # to it in place, the old one is archived.
            replace=Edit(
                lambda s: s.replace("name: Scorer_A", "name: Scorer_B"),
                {"model.scorer": "replace", "batch_job.scoring": "update"},
            ),
            # The provider refuses to import a batch endpoint: the stack's input, output and cron
            # are kept on no Azure object it could read them from. The model is imported instead.
            import_address="model.scorer",
            cloud_id=lambda attrs: f"{attrs['name']}:{attrs['version']}",
            drift_address="batch_job.scoring",
            change_out_of_band=change_out_of_band,
            delete_out_of_band=delete_out_of_band,
            leftovers=all_leftovers,
            throttle=throttle,
            partial_create=PartialCreate("batch_job.scoring", failed_deployment),
            reset=azureml_emulator.emulator.reset,
            retire=Unsupported(
                "this case covers the batch_job kind; retirement is covered by the Azure ML model contract "
                "(tests/azureml/test_azureml_contract.py)"
            ),
        )
