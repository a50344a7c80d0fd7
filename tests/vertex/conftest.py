"""Fixtures for tests that drive the Vertex AI emulator with the real `google.cloud.aiplatform_v1`
clients (REST transport, anonymous credentials), over HTTP on loopback.

- `vertex_emulator` (session): one emulator for the whole run, with operations taking
  `TEST_OPERATION_DELAY` seconds, so operations are exercised but fast. Its state is shared:
  prefer the function-scoped fixtures below.
- `vx_emulator`: that emulator, reset (resources, operations and settings) before the test.
  Change its settings with `vx_emulator.update_settings({...})`; the next test gets the initial
  ones back.
- `vertex_client`: a factory of clients bound to the emulator: `vertex_client(v1.ModelServiceClient)`.
  Using it gives the test a clean emulator (it depends on `vx_emulator`); the clients' connections
  are closed after the test.
- `polling`: a polling policy for `operation.result(polling=polling)`. The default one sleeps up
  to a second between polls; this one polls every few milliseconds and gives up after 10 s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.api_core.future.polling import DEFAULT_POLLING
from google.api_core.retry import Retry
from google.auth.credentials import AnonymousCredentials
from mlops_vertex_sandbox.server import VertexEmulator

TEST_OPERATION_DELAY = 0.02


@pytest.fixture(scope="session")
def vertex_emulator() -> Iterator[VertexEmulator]:
    emulator = VertexEmulator({"operation_delay_seconds": TEST_OPERATION_DELAY})
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def vx_emulator(vertex_emulator: VertexEmulator) -> VertexEmulator:
    vertex_emulator.reset()
    return vertex_emulator


@pytest.fixture
def vertex_client(vx_emulator: VertexEmulator) -> Iterator[Callable[[type], Any]]:
    clients: list[Any] = []

    def make(client_class: type) -> Any:
        client = client_class(
            transport="rest",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": vx_emulator.url},
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.transport.close()


@pytest.fixture(scope="session")
def polling() -> Retry:
    return DEFAULT_POLLING.with_delay(initial=0.005, maximum=0.02, multiplier=1.5).with_timeout(10)
