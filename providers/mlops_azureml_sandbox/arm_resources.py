"""The request and reply of one emulated ARM call, and the create/read/delete pattern every
Microsoft.MachineLearningServices resource of the emulator follows: a workspace made on first
use, PUT answered at once and finished by an asynchronous operation (`Azure-AsyncOperation`,
`Location`), DELETE the same, GET and list answering the stored document.

Online endpoints (`resources.py`) and batch endpoints (`batch.py`) are both an endpoint with
child deployments, under a different collection of the workspace: `EndpointCollection` holds their
lookups, reads, lists and deletion once, so the two cannot drift apart in what they answer."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .arm import (
    ML_PROVIDER,
    TENANT_ID,
    ArmError,
    Operation,
    State,
    bad_request,
    new_guid,
    not_found,
    system_data,
)
from .settings import EmulatorSettings

BUSY = ("Creating", "Updating", "Deleting")


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    groups: dict[str, str]
    base_url: str  # https://127.0.0.1:PORT, for the URLs answers carry
    operation: str  # e.g. "OnlineEndpoints_CreateOrUpdate"
    settings: EmulatorSettings
    async_failure: Callable[[], ArmError | None] = lambda: None

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "2023-04-01")


@dataclass
class Reply:
    status: int
    body: Any = None  # None: no body
    headers: dict[str, str] = field(default_factory=dict)


# ---- helpers -------------------------------------------------------------------------------------------


def _props(document: dict[str, Any]) -> dict[str, Any]:
    properties = document.get("properties")
    if not isinstance(properties, dict):
        properties = document["properties"] = {}
    return properties


def _body_properties(call: Call) -> dict[str, Any]:
    properties = call.body.get("properties")
    if not isinstance(properties, dict):
        raise bad_request("The request body must have a 'properties' object.", target="properties")
    return copy.deepcopy(properties)


def workspace_id(call: Call) -> str:
    g = call.groups
    return (
        f"/subscriptions/{g['subscription']}/resourceGroups/{g['group']}/providers/{ML_PROVIDER}"
        f"/workspaces/{g['workspace']}"
    )


def workspace(state: State, call: Call) -> dict[str, Any]:
    """The workspace named by the call, made on first use (any name is an existing workspace)."""
    key = workspace_id(call)
    found = state.get(key)
    if found is not None:
        return found
    g = call.groups
    rg = f"/subscriptions/{g['subscription']}/resourceGroups/{g['group']}/providers"
    name = g["workspace"]
    stem = re.sub(r"[^a-z0-9]", "", name.lower())[:16] or "ws"
    location = call.settings.location
    document = {
        "id": key,
        "name": name,
        "type": f"{ML_PROVIDER}/workspaces",
        "location": location,
        "kind": "Default",
        "tags": {},
        "sku": {"name": "Basic", "tier": "Basic"},
        "identity": {"type": "SystemAssigned", "principalId": new_guid(), "tenantId": TENANT_ID},
        "systemData": system_data(),
        "properties": {
            "workspaceId": new_guid(),
            "friendlyName": name,
            "description": "",
            "provisioningState": "Succeeded",
            "storageAccount": f"{rg}/Microsoft.Storage/storageAccounts/{stem}storage",
            "keyVault": f"{rg}/Microsoft.KeyVault/vaults/{stem}-kv",
            "applicationInsights": f"{rg}/Microsoft.Insights/components/{stem}-ai",
            "containerRegistry": f"{rg}/Microsoft.ContainerRegistry/registries/{stem}acr",
            "discoveryUrl": f"{call.base_url}/discovery",
            "mlFlowTrackingUri": f"azureml://{location}.api.azureml.ms/mlflow/v1.0{key}",
            "hbiWorkspace": False,
            "publicNetworkAccess": "Enabled",
            "v1LegacyMode": False,
            "enableDataIsolation": False,
            "systemDatastoresAuthMode": "accesskey",
            "managedNetwork": {"isolationMode": "Disabled"},
        },
    }
    state.put(document)
    return document


def _list(documents: list[dict[str, Any]]) -> Reply:
    return Reply(200, {"value": documents, "nextLink": None})


def lro_headers(call: Call, operation: Operation) -> dict[str, str]:
    query = f"?api-version={call.api_version}"
    return {
        "Azure-AsyncOperation": f"{call.base_url}{operation.path('mfeOperationsStatus')}{query}",
        "Location": f"{call.base_url}{operation.path('mfeOperationResults')}{query}",
        "Retry-After": str(call.settings.retry_after_seconds),
    }


def _start(
    state: State,
    call: Call,
    document: dict[str, Any],
    finish: Callable[[ArmError | None], None],
    result: Callable[[], dict[str, Any] | None],
) -> Operation:
    subscription = call.groups["subscription"]
    location = str(document.get("location") or call.settings.location).replace(" ", "").lower()
    return state.start(
        subscription, location, document["id"], call.method, finish, result, call.async_failure()
    )


def _provisioned(state: State, key: str) -> Callable[[ArmError | None], None]:
    """An operation's end for a PUT/PATCH: the resource Succeeded, or Failed."""

    def finish(error: ArmError | None) -> None:
        document = state.get(key)
        if document is not None:
            _props(document)["provisioningState"] = "Failed" if error is not None else "Succeeded"

    return finish


def _deleted(
    state: State, key: str, dependents: Callable[[], list[dict[str, Any]]] = list
) -> Callable[[ArmError | None], None]:
    """An operation's end for a DELETE: gone, or Failed (and left there)."""

    def finish(error: ArmError | None) -> None:
        if error is None:
            state.remove(key)
            return
        for document in [state.get(key), *dependents()]:
            if document is not None:
                _props(document)["provisioningState"] = "Failed"

    return finish


def _accepted_put(state: State, call: Call, document: dict[str, Any], created: bool) -> Reply:
    key = document["id"]
    state.put(document)
    operation = _start(state, call, document, _provisioned(state, key), lambda: state.get(key))
    return Reply(201 if created else 200, copy.deepcopy(document), lro_headers(call, operation))


def _put_document(
    state: State, call: Call, key: str, previous: dict[str, Any] | None, document: dict[str, Any]
) -> Reply:
    """A PUT's answer: `document` (name, type, properties...) stored under the id as first
    written (Azure keeps its case) and with the creation in systemData kept from `previous`."""
    document = {
        "id": previous["id"] if previous is not None else key,
        **document,
        "systemData": system_data(previous and previous.get("systemData")),
    }
    return _accepted_put(state, call, document, created=previous is None)


def _accepted(state: State, call: Call, operation: Operation) -> Reply:
    return Reply(202, None, lro_headers(call, operation))


def _delete(
    state: State, call: Call, document: dict[str, Any], dependents: Callable[[], list[dict[str, Any]]] = list
) -> Reply:
    key = document["id"]
    running = state.busy(key)
    if running is not None and running.method == "DELETE":
        return _accepted(state, call, running)  # deleting already: the same operation
    for doc in [document, *dependents()]:
        _props(doc)["provisioningState"] = "Deleting"
    operation = _start(state, call, document, _deleted(state, key, dependents), lambda: None)
    return _accepted(state, call, operation)


# ---- endpoints and their deployments -------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointCollection:
    """One kind of endpoint: `collection` its segment of the workspace (`onlineEndpoints`), the
    type names its 404s give (`OnlineEndpoint`, `Deployment`) and what a deployment's 404 says it
    was looked for in (`endpoint`, `batch endpoint`)."""

    collection: str
    endpoint_type: str
    deployment_type: str
    label: str

    def endpoint_id(self, call: Call) -> str:
        return f"{workspace_id(call)}/{self.collection}/{call.groups['endpoint']}"

    def endpoint(self, state: State, call: Call) -> dict[str, Any]:
        workspace(state, call)
        found = state.get(self.endpoint_id(call))
        if found is None:
            raise not_found(
                self.endpoint_type, call.groups["endpoint"], f"workspace {call.groups['workspace']}"
            )
        return found

    def deployments(self, state: State, endpoint: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The endpoint's deployments by lower-cased name."""
        return {str(d["name"]).lower(): d for d in state.children(f"{endpoint['id']}/deployments")}

    def get_endpoint(self, state: State, call: Call) -> Reply:
        return Reply(200, self.endpoint(state, call))

    def list_endpoints(self, state: State, call: Call) -> Reply:
        workspace(state, call)
        return _list(list(state.children(f"{workspace_id(call)}/{self.collection}")))

    def delete_endpoint(self, state: State, call: Call) -> Reply:
        """Its deployments go with it (Deleting, then gone, or Failed with it)."""
        workspace(state, call)
        endpoint = state.get(self.endpoint_id(call))
        if endpoint is None:
            return Reply(204)
        return _delete(state, call, endpoint, lambda: list(self.deployments(state, endpoint).values()))

    def deployment_id(self, call: Call) -> str:
        return f"{self.endpoint_id(call)}/deployments/{call.groups['deployment']}"

    def deployment(self, state: State, call: Call) -> tuple[dict[str, Any], dict[str, Any]]:
        endpoint = self.endpoint(state, call)
        found = state.get(self.deployment_id(call))
        if found is None:
            raise not_found(
                self.deployment_type,
                call.groups["deployment"],
                f"{self.label} {endpoint['name']}, workspace {call.groups['workspace']}",
            )
        return endpoint, found

    def get_deployment(self, state: State, call: Call) -> Reply:
        return Reply(200, self.deployment(state, call)[1])

    def list_deployments(self, state: State, call: Call) -> Reply:
        return _list(list(self.deployments(state, self.endpoint(state, call)).values()))
