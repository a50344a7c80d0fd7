"""The provider contract suite, run for Azure ML through the real `azure-ai-ml` MLClient against
the ARM emulator over TLS."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops.testing.contract import (
    ContractCase,
    Edit,
    PartialCreate,
    ProviderContract,
    Retire,
)

sys.path.insert(0, str(Path(__file__).parent))  # provider_kit, beside this file (importlib mode)
from provider_kit import SMALL, WORKSPACE, leftovers, sandbox

# The model is registered under another Azure name through azureml.name: a new model (the
# endpoint rolls over to it, the old one is archived).
STACK = SMALL.replace(
    "    image: mcr.microsoft.com/azureml/curated/sklearn-1.5:latest\n",
    "    image: mcr.microsoft.com/azureml/curated/sklearn-1.5:latest\n    tags: {owner: contract}\n"
    "    azureml: {name: Scorer_A}\n",
)


class TestAzureMLContract(ProviderContract):
    @pytest.fixture
    def contract_case(self, azureml_emulator: Any, ml_client: Callable[..., Any]) -> ContractCase:
        ml = ml_client(workspace=WORKSPACE)

        def change_out_of_band(attrs: dict[str, Any]) -> None:
            # A console user evens out the traffic between the two deployments.
            endpoint = ml.online_endpoints.get(attrs["name"])
            names = [v["deployment"] for v in attrs["variants"]]
            endpoint.traffic = {names[0]: 50, names[1]: 50}
            ml.online_endpoints.begin_create_or_update(endpoint).result()

        def delete_out_of_band(attrs: dict[str, Any]) -> None:
            ml.online_endpoints.begin_delete(name=attrs["name"]).result()

        def archived(attrs: dict[str, Any]) -> bool:
            # Read with the SDK: the version is still registered, archived (listed among the
            # archived versions only), tagged with the retirement, its artifact where it was.
            from azure.ai.ml.constants import ListViewType

            model = ml.models.get(attrs["name"], version=attrs["version"])
            hidden = {
                str(m.version)
                for m in ml.models.list(name=attrs["name"], list_view_type=ListViewType.ARCHIVED_ONLY)
            }
            active = {str(m.version) for m in ml.models.list(name=attrs["name"])}
            return (
                str(model.version) in hidden - active
                and model.tags.get("mlops-gitops:retired-reason") == "superseded by scorer-v2"
                and model.tags.get("mlops-gitops:retired-by") == "ml-team"
                and str(model.path).endswith("/datastores/workspaceblobstore/paths/scorer/v1/")
            )

        def throttle(times: int) -> None:
            azureml_emulator.emulator.update_settings({"throttle": [{"method": "GET", "times": times}]})

        def failed_deployment() -> None:
            # The endpoint is made (and checkpointed), then provisioning its first deployment
            # fails. (The core's `emulator_settings` speaks plain https without the emulator's
            # CA, so the in-process emulator is told directly.)
            azureml_emulator.emulator.update_settings(
                {"fail_async": [{"operation": "OnlineDeployments_CreateOrUpdate", "times": 1}]}
            )

        return ContractCase(
            sandbox=sandbox(azureml_emulator),
            stack_yaml=STACK,
            in_place=Edit(
                lambda s: s.replace("weight: 80}", "weight: 60}").replace("weight: 20}", "weight: 40}"),
                {"endpoint.scorer-api": "update"},
            ),
            replace=Edit(
                lambda s: s.replace("name: Scorer_A", "name: Scorer_B"),
                {"model.scorer": "replace", "endpoint.scorer-api": "update"},
            ),
            import_address="endpoint.scorer-api",
            cloud_id=lambda attrs: attrs["name"],
            drift_address="endpoint.scorer-api",
            change_out_of_band=change_out_of_band,
            delete_out_of_band=delete_out_of_band,
            leftovers=lambda: leftovers(ml),
            throttle=throttle,
            partial_create=PartialCreate("endpoint.scorer-api", failed_deployment),
            reset=azureml_emulator.emulator.reset,
            retire=Retire(
                lambda s: s.replace(
                    "    azureml: {name: Scorer_A}\n",
                    "    azureml: {name: Scorer_A}\n"
                    "    retired: {reason: superseded by scorer-v2, by: ml-team}\n"
                    "  scorer-v2:\n"
                    "    artifact: azureml://datastores/workspaceblobstore/paths/scorer/v2/\n"
                    "    image: mcr.microsoft.com/azureml/curated/sklearn-1.5:latest\n",
                ).replace(
                    "weight: 20}\n",
                    "weight: 20}\n"
                    "      - {name: next, model: scorer-v2, instance_type: Standard_DS3_v2, "
                    "instance_count: 1, weight: 1}\n",
                ),
                {"model.scorer-v2": "create", "endpoint.scorer-api": "update", "model.scorer": "retire"},
                "model.scorer",
                archived,
            ),
        )
