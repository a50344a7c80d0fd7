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
        )
