"""The provider contract suite, run for Vertex AI through the real aiplatform_v1 clients (REST)
against the emulator."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from google.api_core.retry import Retry
from google.cloud import aiplatform_v1 as v1
from mlops_vertex_sandbox.server import VertexEmulator

from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.testing.contract import (
    ContractCase,
    Edit,
    PartialCreate,
    ProviderContract,
    Retire,
    emulator_settings,
)

PARENT = "projects/contract/locations/us-central1"
KEY = "projects/contract/locations/us-central1/keyRings/ml/cryptoKeys"
STACK = f"""\
apiVersion: mlops-gitops/v1
name: contract
provider:
  vertex:
    project: contract
    location: us-central1
models:
  scorer:
    artifact: gs://contract/scorer/v1/
    image: us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest
    tags: {{owner: contract}}
    vertex: {{kms_key_name: {KEY}/first}}
endpoints:
  scorer-api:
    variants:
      - {{name: blue, model: scorer, instance_type: n1-standard-2, instance_count: 1, weight: 80}}
      - {{name: green, model: scorer, instance_type: n1-standard-2, instance_count: 1, weight: 20}}
"""


class TestVertexContract(ProviderContract):
    @pytest.fixture
    def contract_case(
        self, vx_emulator: VertexEmulator, vertex_client: Callable[[type], Any], polling: Retry
    ) -> ContractCase:
        models = vertex_client(v1.ModelServiceClient)
        endpoints = vertex_client(v1.EndpointServiceClient)

        def leftovers() -> list[str]:
            return [m.name for m in models.list_models(parent=PARENT)] + [
                e.name for e in endpoints.list_endpoints(parent=PARENT)
            ]

        def endpoint_name(attrs: dict[str, Any]) -> str:
            return f"{PARENT}/endpoints/{attrs['id']}"

        def change_out_of_band(attrs: dict[str, Any]) -> None:
            # A console user evens out the traffic between the two deployed models.
            ids = [v["deployed_model_id"] for v in attrs["variants"]]
            endpoints.update_endpoint(
                endpoint={"name": endpoint_name(attrs), "traffic_split": {ids[0]: 50, ids[1]: 50}},
                update_mask={"paths": ["traffic_split"]},
            )

        def delete_out_of_band(attrs: dict[str, Any]) -> None:
            name = endpoint_name(attrs)
            ids = [v["deployed_model_id"] for v in attrs["variants"]]
            moved = {ids[0]: 100}
            endpoints.undeploy_model(endpoint=name, deployed_model_id=ids[1], traffic_split=moved).result(
                polling=polling
            )
            endpoints.undeploy_model(endpoint=name, deployed_model_id=ids[0]).result(polling=polling)
            endpoints.delete_endpoint(name=name).result(polling=polling)

        def throttle(times: int) -> None:
            vx_emulator.update_settings({"throttle": {"times": times, "method": "GET"}})

        sandbox = SandboxEndpoints({"vertex": vx_emulator.url})
        # The endpoint is made (and checkpointed), then deploying the first model to it fails.
        failed_deployment = emulator_settings(
            sandbox,
            "vertex",
            {
                "fail": [
                    {
                        "path": ":deployModel$",
                        "status": "RESOURCE_EXHAUSTED",
                        "in_operation": True,
                        "times": 1,
                    }
                ]
            },
        )

        def retire_scorer(text: str) -> str:
            # Retire scorer, and serve a new model, scorer-v2, from a variant of its own.
            retired = "    retired: {reason: superseded by scorer-v2, by: ml-team}\n"
            v2 = (
                "  scorer-v2:\n"
                "    artifact: gs://contract/scorer/v2/\n"
                "    image: us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest\n"
            )
            variant = (
                "      - {name: next, model: scorer-v2, instance_type: n1-standard-2, instance_count: 1, "
                "weight: 20}\n"
            )
            tags = "    tags: {owner: contract}\n"
            return (
                text.replace(tags, retired + tags)
                .replace("endpoints:\n", v2 + "endpoints:\n")
                .replace("weight: 20}\n", "weight: 20}\n" + variant)
            )

        def archived(attrs: Mapping[str, Any]) -> bool:
            # The version the stack was on, still in the registry with its artifact: without the
            # stack's alias and labels, with the retirement labels.
            model = models.get_model(name=f"{PARENT}/models/{attrs['id']}@{attrs['version_id']}")
            return (
                model.artifact_uri == "gs://contract/scorer/v1/"
                and list(model.version_aliases) == ["default"]
                and "owner" not in model.labels
                and model.labels.get("mlops-gitops-retired-reason") == "superseded_by_scorer-v2"
                and model.labels.get("mlops-gitops-retired-by") == "ml-team"
                and bool(model.labels.get("mlops-gitops-retired-at"))
                and model.labels.get("mlops-gitops-address") == "model_scorer"
            )

        return ContractCase(
            sandbox=sandbox,
            stack_yaml=STACK,
            in_place=Edit(
                lambda s: s.replace("weight: 80}", "weight: 60}").replace("weight: 20}", "weight: 40}"),
                {"endpoint.scorer-api": "update"},
            ),
            # Vertex cannot change a model's encryption key: a new model is uploaded, the endpoint
            # moves to it, and the old one is deleted.
            replace=Edit(
                lambda s: s.replace(f"{KEY}/first", f"{KEY}/second"),
                {"model.scorer": "replace", "endpoint.scorer-api": "update"},
            ),
            import_address="endpoint.scorer-api",
            cloud_id=lambda attrs: attrs["id"],
            drift_address="endpoint.scorer-api",
            change_out_of_band=change_out_of_band,
            delete_out_of_band=delete_out_of_band,
            leftovers=leftovers,
            throttle=throttle,
            partial_create=PartialCreate("endpoint.scorer-api", failed_deployment),
            reset=vx_emulator.reset,
            # Both variants of the retired model go; the new model's variant takes the traffic.
            retire=Retire(
                retire_scorer,
                {"model.scorer-v2": "create", "endpoint.scorer-api": "update", "model.scorer": "retire"},
                "model.scorer",
                archived,
            ),
        )
