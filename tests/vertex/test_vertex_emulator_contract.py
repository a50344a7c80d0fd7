"""The emulator contract check (control API and lifecycle), run for the Vertex AI emulator, with
state made and looked at through the real aiplatform_v1 clients (REST)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from google.api_core.retry import Retry
from google.cloud import aiplatform_v1 as v1
from mlops_vertex_sandbox.server import VertexEmulator

from mlops_gitops.sandbox.emulators import emulator_class
from mlops_gitops.testing.emulator_contract import EmulatorCase, EmulatorContract

PARENT = "projects/contract/locations/us-central1"


def test_the_entry_point_names_the_emulator() -> None:
    assert emulator_class("vertex") is VertexEmulator


class TestVertexEmulatorContract(EmulatorContract):
    @pytest.fixture
    def emulator_case(
        self, vx_emulator: VertexEmulator, vertex_client: Callable[[type], Any], polling: Retry
    ) -> EmulatorCase:
        endpoints = vertex_client(v1.EndpointServiceClient)

        def create() -> None:
            endpoint = v1.Endpoint(display_name="contract-api")
            endpoints.create_endpoint(parent=PARENT, endpoint=endpoint).result(polling=polling)

        return EmulatorCase(
            emulator=vx_emulator,
            cls=emulator_class("vertex"),
            setting="operation_delay_seconds",
            value=0.5,
            invalid=-1,
            create=create,
            exists=lambda: bool(list(endpoints.list_endpoints(parent=PARENT))),
        )
