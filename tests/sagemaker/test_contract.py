"""The provider contract suite, run for SageMaker through boto3 against the emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from mlops_sagemaker_sandbox.server import SageMakerEmulator

from mlops_gitops.provider import SandboxEndpoints
from mlops_gitops.testing.contract import (
    ContractCase,
    Edit,
    PartialCreate,
    ProviderContract,
    Retire,
    emulator_settings,
)
from mlops_gitops.testing.harness import StackHarness

STACK = """\
apiVersion: mlops-gitops/v1
name: contract
provider:
  sagemaker:
    region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/contract
models:
  scorer:
    artifact: s3://contract/scorer/v1/model.tar.gz
    image: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3
    registry: {group: contract-scorer, approval: Approved}
    tags: {owner: contract}
endpoints:
  scorer-api:
    variants:
      - {name: main, model: scorer, instance_type: ml.m5.large, instance_count: 1, weight: 1}
"""


class TestSageMakerContract(ProviderContract):
    @pytest.fixture
    def contract_case(self, sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]) -> ContractCase:
        sm = sm_client()

        def leftovers() -> list[str]:
            return (
                [m["ModelName"] for m in sm.list_models()["Models"]]
                + [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
                + [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
            )

        def change_out_of_band(attrs: dict[str, Any]) -> None:
            # A console user moves the variant to a bigger instance count without telling anyone.
            sm.update_endpoint_weights_and_capacities(
                EndpointName=attrs["name"],
                DesiredWeightsAndCapacities=[{"VariantName": "main", "DesiredInstanceCount": 3}],
            )

        def throttle(times: int) -> None:
            sm_emulator.update_settings(
                {
                    "fail": [
                        {
                            "action": "DescribeEndpoint",
                            "code": "ThrottlingException",
                            "message": "Rate exceeded",
                            "status": 400,
                            "times": times,
                        }
                    ]
                }
            )

        def archived(attrs: dict[str, Any]) -> bool:
            # The version is rejected and archived; the Model, and the artifact it loads, stay.
            package = sm.describe_model_package(ModelPackageName=attrs["package_arn"])
            model = sm.describe_model(ModelName=attrs["name"])
            return (
                package["ModelApprovalStatus"] == "Rejected"
                and package.get("ModelLifeCycle", {}).get("Stage") == "Archived"
                and model["PrimaryContainer"]["ModelDataUrl"] == "s3://contract/scorer/v1/model.tar.gz"
            )

        image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
        sandbox = SandboxEndpoints({"sagemaker": sm_emulator.url})
        # CreateEndpoint refused once: the endpoint config (and the checkpoint naming it) exist,
        # the endpoint does not.
        refuse_endpoint = emulator_settings(
            sandbox,
            "sagemaker",
            {"fail": [{"action": "CreateEndpoint", "code": "ResourceLimitExceeded", "times": 1}]},
        )
        return ContractCase(
            sandbox=sandbox,
            stack_yaml=STACK,
            in_place=Edit(
                lambda s: s.replace("instance_count: 1", "instance_count: 2"),
                {"endpoint.scorer-api": "update"},
            ),
            replace=Edit(
                lambda s: s.replace("scorer/v1/", "scorer/v2/"),
                {"model.scorer": "replace", "endpoint.scorer-api": "update"},
            ),
            import_address="endpoint.scorer-api",
            cloud_id=lambda attrs: attrs["name"],
            drift_address="endpoint.scorer-api",
            change_out_of_band=change_out_of_band,
            delete_out_of_band=lambda attrs: sm.delete_endpoint(EndpointName=attrs["name"]),
            leftovers=leftovers,
            throttle=throttle,
            partial_create=PartialCreate("endpoint.scorer-api", refuse_endpoint),
            reset=sm_emulator.reset,
            retire=Retire(
                lambda s: s.replace(
                    "    tags: {owner: contract}\n",
                    "    tags: {owner: contract}\n"
                    "    retired: {reason: superseded by scorer-v2, by: ml-team}\n"
                    f"  scorer-v2: {{artifact: s3://contract/scorer/v2/model.tar.gz, image: {image}}}\n",
                ).replace(
                    "weight: 1}\n",
                    "weight: 1}\n"
                    "      - {name: next, model: scorer-v2, instance_type: ml.m5.large, weight: 1}\n",
                ),
                {"model.scorer-v2": "create", "endpoint.scorer-api": "update", "model.scorer": "retire"},
                "model.scorer",
                archived,
            ),
        )

    def test_a_create_failed_half_way_is_destroyed_entirely(
        self, harness: StackHarness, contract_case: ContractCase
    ) -> None:
        super().test_a_create_failed_half_way_is_destroyed_entirely(harness, contract_case)
