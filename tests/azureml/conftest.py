"""Fixtures for tests that drive the Azure Machine Learning emulator with the real
`azure.ai.ml.MLClient` (and `azure.mgmt.monitor.MonitorManagementClient`), over TLS on loopback.

- `azureml_server` (session): one started `AzureMLEmulator` for the whole run, with operations
  taking `TEST_OPERATION_DELAY` seconds (exercised, but fast). Its state is shared: use the
  function-scoped fixtures below.
- `azureml_emulator`: an `AzureMLHandle` for that emulator, reset (resources, operations, request
  log and settings) before the test:
      .url       "https://127.0.0.1:<port>"
      .ca_file   path of the PEM of its self-signed certificate (also `settings["tls_ca_file"]`)
      .emulator  the AzureMLEmulator, e.g. `.emulator.update_settings({"operation_delay_seconds": 1})`
      .requests()  the request log (`GET /_emulator/requests`): [{method, path, status, time}, ...]
  The next test gets the initial settings back.
- `ml_client`: a factory `ml_client(workspace="ws", subscription="00000000-...", resource_group="rg")`
  building the real MLClient bound to the emulator, the way CLOUD-NOTES shows (static token
  credential, `cloud="Local<port>"`, `cloud_metadata`, `connection_verify=ca_file`, no telemetry,
  no progress bars). Using it gives the test a clean emulator (it depends on `azureml_emulator`).
- `monitor_client`: a factory `monitor_client(subscription=...)` of
  `azure.mgmt.monitor.MonitorManagementClient` pointed at the emulator (autoscale settings).
- `StaticToken`: the credential class (any `get_token` returning an AccessToken will do).

`SUBSCRIPTION` and `RESOURCE_GROUP` are the defaults the factories use."""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from mlops_azureml_sandbox.server import AzureMLEmulator

TEST_OPERATION_DELAY = 0.05
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
RESOURCE_GROUP = "rg"


def _unsigned_jwt(audience: str, expires: int) -> str:
    """A JWT-shaped token: the SDK decodes the token's claims (unverified) when it submits a job,
    and wants the audience to be the `aml_resource_id` it asked a token for."""

    def part(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")

    claims = {
        "aud": audience,
        "iss": "https://sts.windows.net/72f988bf-0000-0000-0000-000000000000/",
        "oid": "11111111-1111-1111-1111-111111111111",
        "tid": "72f988bf-0000-0000-0000-000000000000",
        "upn": "sandbox@mlops.local",
        "name": "sandbox",
        "exp": expires,
    }
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.c2FuZGJveA"


class StaticToken:
    """A credential: the emulator accepts any bearer token (this one is JWT-shaped)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        expires = int(time.time()) + 3600
        audience = scopes[0].removesuffix("/.default") if scopes else "https://management.azure.com/"
        return AccessToken(_unsigned_jwt(audience, expires), expires)

    def close(self) -> None:
        return None

    def __enter__(self) -> StaticToken:
        return self

    def __exit__(self, *args: Any) -> None:
        return None


@dataclass
class AzureMLHandle:
    """A started, freshly reset emulator, as the tests see it."""

    emulator: AzureMLEmulator
    url: str
    ca_file: str

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def requests(self) -> list[dict[str, Any]]:
        """The emulator's request log (oldest first), through its control API."""
        with urllib.request.urlopen(
            f"{self.url}/_emulator/requests", context=self.ssl_context(), timeout=10
        ) as response:
            return list(json.loads(response.read())["requests"])


@pytest.fixture(scope="session")
def azureml_server() -> Iterator[AzureMLEmulator]:
    emulator = AzureMLEmulator({"operation_delay_seconds": TEST_OPERATION_DELAY})
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def azureml_emulator(azureml_server: AzureMLEmulator) -> AzureMLHandle:
    azureml_server.reset()
    return AzureMLHandle(azureml_server, azureml_server.url, azureml_server.settings["tls_ca_file"])


def make_ml_client(
    url: str,
    ca_file: str,
    workspace: str = "ws",
    subscription: str = SUBSCRIPTION,
    resource_group: str = RESOURCE_GROUP,
) -> Any:
    """The real MLClient against the emulator at `url` (no HTTP call is made here)."""
    from azure.ai.ml import MLClient

    port = url.rsplit(":", 1)[1]
    return MLClient(
        StaticToken(),
        subscription,
        resource_group,
        workspace,
        cloud=f"Local{port}",  # cloud registration is process-global: one name per URL
        cloud_metadata={
            "azure_portal": url,
            "resource_manager": url,
            "active_directory": url,
            "aml_resource_id": url,
            "storage_endpoint": "core.localhost",
            "registry_discovery_endpoint": url,
        },
        connection_verify=ca_file,
        enable_telemetry=False,
        show_progress=False,
    )


@pytest.fixture
def ml_client(azureml_emulator: AzureMLHandle) -> Callable[..., Any]:
    def make(
        workspace: str = "ws", subscription: str = SUBSCRIPTION, resource_group: str = RESOURCE_GROUP
    ) -> Any:
        return make_ml_client(
            azureml_emulator.url, azureml_emulator.ca_file, workspace, subscription, resource_group
        )

    return make


@pytest.fixture
def monitor_client(azureml_emulator: AzureMLHandle) -> Iterator[Callable[..., Any]]:
    clients: list[Any] = []

    def make(subscription: str = SUBSCRIPTION) -> Any:
        from azure.mgmt.monitor import MonitorManagementClient

        client = MonitorManagementClient(
            StaticToken(),
            subscription,
            base_url=azureml_emulator.url,
            credential_scopes=[f"{azureml_emulator.url}/.default"],
            connection_verify=azureml_emulator.ca_file,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
