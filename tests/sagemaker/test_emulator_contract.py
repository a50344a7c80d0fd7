"""The emulator contract check (control API and lifecycle), run for the SageMaker emulator, with
state made and looked at through boto3."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from mlops_sagemaker_sandbox.server import SageMakerEmulator

from mlops_gitops.sandbox.emulators import emulator_class
from mlops_gitops.testing.emulator_contract import EmulatorCase, EmulatorContract


def test_the_entry_point_names_the_emulator() -> None:
    assert emulator_class("sagemaker") is SageMakerEmulator


class TestSageMakerEmulatorContract(EmulatorContract):
    @pytest.fixture
    def emulator_case(self, sm_emulator: SageMakerEmulator, sm_client: Callable[..., Any]) -> EmulatorCase:
        sm = sm_client()

        def create() -> None:
            sm.create_model(
                ModelName="contract-model",
                ExecutionRoleArn="arn:aws:iam::123456789012:role/contract",
                PrimaryContainer={"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/xgb:1.7-1"},
            )

        return EmulatorCase(
            emulator=sm_emulator,
            cls=emulator_class("sagemaker"),
            setting="endpoint_delay_seconds",
            value=0.5,
            invalid=-1,
            create=create,
            exists=lambda: bool(sm.list_models()["Models"]),
        )
