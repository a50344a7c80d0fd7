"""The Microsoft.MachineLearningServices resources of one workspace, as the ARM REST API serves
them: the workspace itself (made on first use), online endpoints and their deployments, model,
environment, data, component and code assets (containers and versions), schedules, jobs and
datastores. Each handler takes the state (lock held) and the call and returns a `Reply`.

What Azure checks and the emulator checks too (ARM error shapes, `arm.ArmError`):
- a missing object: 404 (UserError, details NotFound), which the SDK raises as ResourceNotFoundError;
- endpoint traffic: percentages summing to 100 (or 0: no traffic), naming existing deployments;
  mirror traffic at most 50% and to one deployment that takes no live traffic (400);
- no deployment change or traffic change while the endpoint is Creating/Updating/Deleting, and
  no change of a deployment with an operation in flight (409 Conflict);
- a deployment's instance type among the known SKUs and its instance count at least 1 (400), its
  model and environment (when workspace asset ids) registered (400);
- no deletion of a deployment that takes live or mirrored traffic (400);
- asset versions immutable but for description, tags, stage and isArchived (409);
- schedules: a valid 5-field cron expression and a Windows time-zone name (400), and a monitor
  schedule's target deployment collecting model_inputs and model_outputs (400)."""

from __future__ import annotations

import copy
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from . import schedules
from .arm import (
    ML_PROVIDER,
    TENANT_ID,
    ArmError,
    Operation,
    State,
    bad_request,
    conflict,
    new_guid,
    not_found,
    now_iso,
    system_data,
)
from .arm_resources import (
    BUSY,
    Call,
    EndpointCollection,
    Reply,
    _accepted,
    _body_properties,
    _delete,
    _list,
    _props,
    _provisioned,
    _put_document,
    _start,
    workspace,
    workspace_id,
)

DEFAULT_DATASTORES = (
    "workspaceblobstore",
    "workspaceartifactstore",
    "workspacefilestore",
    "workspaceworkingdirectory",
)


def get_workspace(state: State, call: Call) -> Reply:
    return Reply(200, workspace(state, call))


def discovery(state: State, call: Call) -> Reply:
    """The workspace discovery document: every data-plane service on the emulator itself."""
    base = call.base_url
    return Reply(
        200,
        {
            name: base
            for name in (
                "api",
                "catalog",
                "experimentation",
                "history",
                "modelmanagement",
                "pipelines",
                "studio",
            )
        },
    )


# ---- online endpoints ----------------------------------------------------------------------------------


ONLINE = EndpointCollection("onlineEndpoints", "OnlineEndpoint", "Deployment", "endpoint")
endpoint_id = ONLINE.endpoint_id
_endpoint = ONLINE.endpoint
_deployments = ONLINE.deployments
get_endpoint = ONLINE.get_endpoint
list_endpoints = ONLINE.list_endpoints
delete_endpoint = ONLINE.delete_endpoint
deployment_id = ONLINE.deployment_id
_deployment = ONLINE.deployment
get_deployment = ONLINE.get_deployment
list_deployments = ONLINE.list_deployments


def _identity(sent: Any, previous: Any) -> dict[str, Any]:
    identity = copy.deepcopy(sent) if isinstance(sent, dict) else {"type": "SystemAssigned"}
    kind = str(identity.get("type") or "SystemAssigned")
    identity["type"] = kind
    if "systemassigned" in kind.lower():
        old = previous if isinstance(previous, dict) else {}
        identity["principalId"] = old.get("principalId") or new_guid()
        identity["tenantId"] = old.get("tenantId") or TENANT_ID
    return identity


def _check_traffic(
    deployments: dict[str, dict[str, Any]], traffic: Any, mirror: Any, endpoint_name: str
) -> tuple[dict[str, int], dict[str, int]]:
    """Validate an endpoint's traffic and mirrorTraffic as Azure does; both as {name: percent}."""
    checked: list[dict[str, int]] = []
    for what, value in (("traffic", traffic), ("mirrorTraffic", mirror)):
        if value is None:
            checked.append({})
            continue
        if not isinstance(value, dict):
            raise bad_request(f"{what} must be a map of deployment names to percentages.", target=what)
        split: dict[str, int] = {}
        for name, percent in value.items():
            if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
                raise bad_request(
                    f"Invalid {what} value {percent!r} for deployment {name}: it must be an integer between "
                    "0 and 100.",
                    target=what,
                )
            if str(name).lower() not in deployments:
                raise bad_request(
                    f"Deployment {name} specified in {what} does not exist in endpoint {endpoint_name}. "
                    f"Existing deployments: {sorted(d['name'] for d in deployments.values()) or 'none'}.",
                    target=what,
                )
            split[str(name)] = percent
        checked.append(split)
    live, mirrored = checked
    total = sum(live.values())
    if total not in (0, 100):
        raise bad_request(
            f"Traffic values must add up to 100 (or 0 for no traffic) but they add up to {total}: {live}.",
            target="traffic",
        )
    for name, percent in mirrored.items():
        if percent > 50:
            raise bad_request(
                f"Mirror traffic to deployment {name} is {percent}%: at most 50% of the traffic can be "
                "mirrored.",
                target="mirrorTraffic",
            )
        if percent and live.get(name, 0):
            raise bad_request(
                f"Deployment {name} takes live traffic ({live[name]}%): traffic cannot be mirrored to a "
                "deployment that receives live traffic.",
                target="mirrorTraffic",
            )
    if sum(1 for percent in mirrored.values() if percent) > 1:
        raise bad_request("Traffic can be mirrored to one deployment only.", target="mirrorTraffic")
    return live, mirrored


def _endpoint_busy(endpoint: dict[str, Any], doing: str) -> ArmError:
    state = _props(endpoint).get("provisioningState")
    return conflict(
        f"Endpoint {endpoint['name']} is being updated (provisioningState {state}): {doing} cannot start "
        "until the operation in progress on the endpoint finishes. Please retry later.",
        code="Conflict",
    )


def put_endpoint(state: State, call: Call) -> Reply:
    ws = workspace(state, call)
    key = endpoint_id(call)
    previous = state.get(key)
    properties = _body_properties(call)
    if previous is not None and _props(previous).get("provisioningState") in BUSY:
        raise _endpoint_busy(previous, "an update of the endpoint")
    auth = properties.get("authMode")
    modes = {"key": "Key", "amltoken": "AMLToken", "aadtoken": "AADToken"}
    if not isinstance(auth, str) or auth.lower() not in modes:
        raise bad_request(f"Invalid authMode {auth!r}: one of Key, AMLToken, AADToken.", target="authMode")
    properties["authMode"] = modes[auth.lower()]
    deployments = _deployments(state, previous) if previous is not None else {}
    name = previous["name"] if previous is not None else call.groups["endpoint"]
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]", name):
        raise bad_request(
            f"Invalid endpoint name {name}: it must be 3 to 32 characters, start with a letter, and hold "
            "only letters, digits and '-' (not at the end).",
            target="name",
        )
    live, mirrored = _check_traffic(
        deployments, properties.get("traffic"), properties.get("mirrorTraffic"), name
    )
    properties["traffic"] = live
    properties["mirrorTraffic"] = mirrored
    location = str(call.body.get("location") or "")
    if not location or location == "None":
        location = ws["location"]
    host = f"{name.lower()}.{location.replace(' ', '').lower()}.inference.ml.azure.com"
    properties.update(
        {
            "scoringUri": f"https://{host}/score",
            "swaggerUri": f"https://{host}/swagger.json",
            "provisioningState": "Updating" if previous is not None else "Creating",
            "publicNetworkAccess": properties.get("publicNetworkAccess") or "Enabled",
        }
    )
    properties.setdefault("description", None)
    properties.setdefault("properties", {})
    if previous is None:
        state.extra[key.lower()] = {
            "primaryKey": secrets.token_urlsafe(24),
            "secondaryKey": secrets.token_urlsafe(24),
        }
    document = {
        "name": name,
        "type": f"{ML_PROVIDER}/workspaces/onlineEndpoints",
        "location": location,
        "tags": copy.deepcopy(call.body.get("tags") or {}),
        "kind": call.body.get("kind") or "Managed",
        "identity": _identity(call.body.get("identity"), previous and previous.get("identity")),
        "properties": properties,
    }
    return _put_document(state, call, key, previous, document)


def patch_endpoint(state: State, call: Call) -> Reply:
    endpoint = _endpoint(state, call)
    if _props(endpoint).get("provisioningState") in BUSY:
        raise _endpoint_busy(endpoint, "an update of the endpoint")
    body = call.body
    if "tags" in body:
        endpoint["tags"] = copy.deepcopy(body.get("tags") or {})
    if "identity" in body:
        endpoint["identity"] = _identity(body["identity"], endpoint.get("identity"))
    if body.get("kind"):
        endpoint["kind"] = body["kind"]
    properties = body.get("properties")
    if isinstance(properties, dict):  # traffic changes, where a client sends them this way
        live, mirrored = _check_traffic(
            _deployments(state, endpoint),
            properties.get("traffic", _props(endpoint).get("traffic")),
            properties.get("mirrorTraffic", _props(endpoint).get("mirrorTraffic")),
            endpoint["name"],
        )
        _props(endpoint).update(traffic=live, mirrorTraffic=mirrored)
        for name in ("description",):
            if name in properties:
                _props(endpoint)[name] = properties[name]
    _props(endpoint)["provisioningState"] = "Updating"
    endpoint["systemData"] = system_data(endpoint.get("systemData"))
    key = endpoint["id"]
    operation = _start(state, call, endpoint, _provisioned(state, key), lambda: state.get(key))
    return _accepted(state, call, operation)


def _keys(state: State, endpoint: dict[str, Any]) -> dict[str, str]:
    if _props(endpoint).get("authMode") != "Key":
        raise bad_request(
            f"Endpoint {endpoint['name']} uses {_props(endpoint).get('authMode')} authentication, not keys.",
            target="authMode",
        )
    return state.extra.setdefault(
        str(endpoint["id"]).lower(),
        {"primaryKey": secrets.token_urlsafe(24), "secondaryKey": secrets.token_urlsafe(24)},
    )


def list_keys(state: State, call: Call) -> Reply:
    return Reply(200, dict(_keys(state, _endpoint(state, call))))


def regenerate_keys(state: State, call: Call) -> Reply:
    endpoint = _endpoint(state, call)
    keys = _keys(state, endpoint)
    kind = str(call.body.get("keyType") or "")
    if kind.lower() not in ("primary", "secondary"):
        raise bad_request(f"Invalid keyType {kind!r}: Primary or Secondary.", target="keyType")
    # The SDK sends the key's current value as keyValue and expects a new one: a keyValue is taken
    # only when it differs from the current key.
    slot = f"{kind.lower()}Key"
    sent = call.body.get("keyValue")
    keys[slot] = str(sent) if sent and sent != keys[slot] else secrets.token_urlsafe(24)
    operation = state.start(
        call.groups["subscription"],
        str(endpoint["location"]).lower(),
        f"{endpoint['id']}/keys",
        "POST",
        lambda error: None,
        lambda: None,
    )
    return _accepted(state, call, operation)


def get_token(state: State, call: Call) -> Reply:
    endpoint = _endpoint(state, call)
    if _props(endpoint).get("authMode") != "AMLToken":
        raise bad_request(
            f"Endpoint {endpoint['name']} does not use AMLToken authentication.", target="authMode"
        )
    now = int(time.time())
    return Reply(
        200,
        {
            "accessToken": secrets.token_urlsafe(32),
            "tokenType": "Bearer",
            "expiryTimeUtc": now + 3600,
            "refreshAfterTimeUtc": now + 1800,
        },
    )


# ---- online deployments --------------------------------------------------------------------------------


def _capitalised(value: Any) -> Any:
    return value[:1].upper() + value[1:] if isinstance(value, str) else value


def _normalise_data_collector(collector: Any) -> None:
    """Azure answers the enums of a data collector capitalised, whatever the client sent."""
    if not isinstance(collector, dict):
        return
    for collection in (collector.get("collections") or {}).values():
        if isinstance(collection, dict) and "dataCollectionMode" in collection:
            collection["dataCollectionMode"] = _capitalised(collection["dataCollectionMode"])
    request_logging = collector.get("requestLogging")
    if isinstance(request_logging, dict):
        request_logging.setdefault("captureHeaders", [])
    if "rollingRate" in collector:
        collector["rollingRate"] = _capitalised(collector["rollingRate"])


def _check_asset(state: State, call: Call, reference: Any, kind: str) -> None:
    """A deployment's model or environment, when it is an asset of this workspace, must exist."""
    if not isinstance(reference, str):
        return
    match = re.fullmatch(
        rf"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/{ML_PROVIDER}/workspaces/[^/]+"
        rf"/{kind}/(?P<name>[^/]+)/versions/(?P<version>[^/]+)",
        reference,
        re.IGNORECASE,
    )
    if match is not None and state.get(reference) is None:
        what = "Model" if kind == "models" else "Environment"
        raise bad_request(
            f"{what} {match['name']}:{match['version']} referenced by the deployment was not found: "
            f"{reference}.",
            target=what.lower(),
        )


def put_deployment(state: State, call: Call) -> Reply:
    endpoint = _endpoint(state, call)
    key = deployment_id(call)
    previous = state.get(key)
    if _props(endpoint).get("provisioningState") in BUSY:
        raise _endpoint_busy(endpoint, f"an operation on deployment {call.groups['deployment']}")
    if previous is not None and _props(previous).get("provisioningState") in BUSY:
        raise conflict(
            f"Deployment {previous['name']} is being updated (provisioningState "
            f"{_props(previous)['provisioningState']}): retry once the operation in progress finishes."
        )
    name = previous["name"] if previous is not None else call.groups["deployment"]
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{1,30}[A-Za-z0-9]", name):
        raise bad_request(
            f"Invalid deployment name {name}: 3 to 32 letters, digits and '-', starting with a letter or "
            "digit.",
            target="name",
        )
    properties = _body_properties(call)
    compute = str(properties.get("endpointComputeType") or "Managed")
    properties["endpointComputeType"] = compute
    sku = copy.deepcopy(call.body.get("sku")) if isinstance(call.body.get("sku"), dict) else {}
    if compute.lower() == "managed":
        instance_type = properties.get("instanceType")
        known = {sku_name.lower(): sku_name for sku_name in call.settings.instance_types}
        if not isinstance(instance_type, str) or instance_type.lower() not in known:
            raise bad_request(
                f"The specified instance type {instance_type} is not supported for managed online "
                f"deployments in {endpoint['location']}. Supported instance types: "
                f"{', '.join(call.settings.instance_types)}. See "
                "https://learn.microsoft.com/azure/machine-learning/reference-managed-online-endpoints-vm-sku-list",
                target="instanceType",
                code="InvalidVMSize" if isinstance(instance_type, str) else "UserError",
            )
        properties["instanceType"] = known[instance_type.lower()]
    capacity = sku.get("capacity")
    scale = properties.get("scaleSettings") or {"scaleType": "Default"}
    properties["scaleSettings"] = scale
    if str(scale.get("scaleType", "Default")).lower() == "default":
        if capacity is None:
            capacity = 1
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise bad_request(
                f"Invalid instance count {capacity!r}: a deployment needs at least 1 instance.",
                target="sku.capacity",
            )
    sku = {"name": sku.get("name") or "Default", "tier": sku.get("tier") or "Standard", "capacity": capacity}
    _check_asset(state, call, properties.get("model"), "models")
    _check_asset(state, call, properties.get("environmentId"), "environments")
    _normalise_data_collector(properties.get("dataCollector"))
    properties.setdefault(
        "requestSettings",
        {"requestTimeout": "PT5S", "maxConcurrentRequestsPerInstance": 1, "maxQueueWait": "PT0.5S"},
    )
    for probe in ("livenessProbe", "readinessProbe"):
        properties.setdefault(
            probe,
            {
                "initialDelay": "PT10M",
                "period": "PT10S",
                "timeout": "PT2S",
                "successThreshold": 1,
                "failureThreshold": 30,
            },
        )
    properties.setdefault("appInsightsEnabled", False)
    properties.setdefault("egressPublicNetworkAccess", "Enabled")
    properties.setdefault("properties", {})
    properties["provisioningState"] = "Updating" if previous is not None else "Creating"
    document = {
        "name": name,
        "type": f"{ML_PROVIDER}/workspaces/onlineEndpoints/deployments",
        "location": endpoint["location"],
        "tags": copy.deepcopy(call.body.get("tags") or {}),
        "kind": call.body.get("kind") or compute,
        "sku": sku,
        "properties": properties,
    }
    return _put_document(state, call, key, previous, document)


def patch_deployment(state: State, call: Call) -> Reply:
    endpoint, deployment = _deployment(state, call)
    if _props(endpoint).get("provisioningState") in BUSY:
        raise _endpoint_busy(endpoint, f"an operation on deployment {deployment['name']}")
    if _props(deployment).get("provisioningState") in BUSY:
        raise conflict(f"Deployment {deployment['name']} is being updated: retry once it finishes.")
    body = call.body
    if "tags" in body:
        deployment["tags"] = copy.deepcopy(body.get("tags") or {})
    if isinstance(body.get("sku"), dict) and "capacity" in body["sku"]:
        capacity = body["sku"]["capacity"]
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise bad_request(f"Invalid instance count {capacity!r}: at least 1.", target="sku.capacity")
        deployment["sku"]["capacity"] = capacity
    if isinstance(body.get("properties"), dict):
        for name, value in body["properties"].items():
            if name not in ("provisioningState", "instanceType", "model", "environmentId"):
                _props(deployment)[name] = copy.deepcopy(value)
    _props(deployment)["provisioningState"] = "Updating"
    deployment["systemData"] = system_data(deployment.get("systemData"))
    key = deployment["id"]
    operation = _start(state, call, deployment, _provisioned(state, key), lambda: state.get(key))
    return _accepted(state, call, operation)


def delete_deployment(state: State, call: Call) -> Reply:
    endpoint = _endpoint(state, call)
    deployment = state.get(deployment_id(call))
    if deployment is None:
        return Reply(204)
    name = str(deployment["name"])
    props = _props(endpoint)
    running = state.busy(deployment["id"])
    if running is not None and running.method == "DELETE":
        return _accepted(state, call, running)
    if props.get("provisioningState") in BUSY:
        raise _endpoint_busy(endpoint, f"the deletion of deployment {name}")
    if running is not None:
        raise conflict(f"Deployment {name} is being updated: retry once the operation in progress finishes.")
    for what in ("traffic", "mirrorTraffic"):
        share = {k.lower(): v for k, v in (props.get(what) or {}).items()}.get(name.lower(), 0)
        if share:
            kind = "live" if what == "traffic" else "mirrored"
            raise bad_request(
                f"Deployment {name} cannot be deleted because it receives {share}% of the endpoint's {kind} "
                f"traffic. Set its traffic to 0 on endpoint {endpoint['name']} first.",
                target=what,
            )
    return _delete(state, call, deployment)


def deployment_logs(state: State, call: Call) -> Reply:
    _, deployment = _deployment(state, call)
    container = str(call.body.get("containerType") or "InferenceServer")
    lines = [
        f"{now_iso()} [{container}] deployment {deployment['name']} "
        f"provisioningState={_props(deployment).get('provisioningState')} (sandbox emulator log)",
    ]
    tail = call.body.get("tail")
    if isinstance(tail, int) and tail > 0:
        lines = lines[-tail:]
    return Reply(200, {"content": "\n".join(lines) + "\n"})


# ---- assets: models, environments, data, components, codes ---------------------------------------------


@dataclass(frozen=True)
class AssetKind:
    collection: str  # path segment, e.g. "models"
    label: str  # in messages
    immutable: tuple[str, ...]  # version properties that cannot change
    defaults: dict[str, Any]


ASSETS: dict[str, AssetKind] = {
    "models": AssetKind(
        "models",
        "Model",
        ("modelUri", "modelType", "jobName", "flavors"),
        {"flavors": {}, "modelType": "custom_model", "stage": "Development"},
    ),
    "environments": AssetKind(
        "environments",
        "Environment",
        ("image", "condaFile", "build", "osType", "inferenceConfig"),
        {"osType": "Linux", "environmentType": "UserCreated", "autoRebuild": "Disabled"},
    ),
    "data": AssetKind("data", "Data", ("dataUri", "dataType"), {}),
    "components": AssetKind("components", "Component", ("componentSpec",), {}),
    "codes": AssetKind("codes", "Code", ("codeUri",), {}),
}


def _asset_kind(call: Call) -> AssetKind:
    return ASSETS[call.groups["collection"].lower()]


def container_id(call: Call) -> str:
    return f"{workspace_id(call)}/{_asset_kind(call).collection}/{call.groups['name']}"


def _container(state: State, call: Call) -> dict[str, Any]:
    workspace(state, call)
    found = state.get(container_id(call))
    if found is None:
        kind = _asset_kind(call)
        raise not_found(
            f"{kind.label} container", call.groups["name"], f"workspace {call.groups['workspace']}"
        )
    return found


def _view(query: dict[str, str], archived: bool) -> bool:
    """Whether an asset shows in a list with the query's listViewType (ActiveOnly by default)."""
    view = query.get("listViewType", "ActiveOnly").lower()
    return view == "all" or (view == "archivedonly") == archived


def _new_container(call: Call, key: str, name: str) -> dict[str, Any]:
    kind = _asset_kind(call)
    return {
        "id": key,
        "name": name,
        "type": f"{ML_PROVIDER}/workspaces/{kind.collection}",
        "properties": {
            "description": None,
            "tags": {},
            "properties": {},
            "isArchived": False,
            "latestVersion": None,
            "nextVersion": "1",
            "provisioningState": "Succeeded",
        },
        "systemData": system_data(),
    }


def put_container(state: State, call: Call) -> Reply:
    workspace(state, call)
    key = container_id(call)
    previous = state.get(key)
    sent = _body_properties(call)
    document = previous or _new_container(call, key, call.groups["name"])
    for name in ("description", "tags", "properties", "isArchived"):
        if name in sent:
            _props(document)[name] = sent[name]
    if previous is not None:
        document["systemData"] = system_data(previous.get("systemData"))
    state.put(document)
    return Reply(200 if previous else 201, document)


def get_container(state: State, call: Call) -> Reply:
    return Reply(200, _container(state, call))


def list_containers(state: State, call: Call) -> Reply:
    workspace(state, call)
    found = [
        d
        for d in state.children(f"{workspace_id(call)}/{_asset_kind(call).collection}")
        if _view(call.query, bool(_props(d).get("isArchived")))
    ]
    return _list(found)


def delete_container(state: State, call: Call) -> Reply:
    workspace(state, call)
    key = container_id(call)
    if state.get(key) is None:
        return Reply(204)
    state.remove(key)
    return Reply(200)


def _versions(state: State, container: str) -> list[dict[str, Any]]:
    return list(state.children(f"{container}/versions"))


def _refresh_container(state: State, container: dict[str, Any]) -> None:
    versions = _versions(state, container["id"])
    props = _props(container)
    props["latestVersion"] = versions[-1]["name"] if versions else None
    numbers = [int(v["name"]) for v in versions if str(v["name"]).isdigit()]
    props["nextVersion"] = str(max(numbers, default=0) + 1)


def put_version(state: State, call: Call) -> Reply:
    workspace(state, call)
    kind = _asset_kind(call)
    ckey = container_id(call)
    key = f"{ckey}/versions/{call.groups['version']}"
    previous = state.get(key)
    sent = _body_properties(call)
    sent.pop("provisioningState", None)
    if kind.collection == "models":
        uri = sent.get("modelUri")
        match = re.match(r"azureml://datastores/([^/]+)/", uri or "", re.IGNORECASE)
        if match and match[1].lower() not in DEFAULT_DATASTORES:
            raise bad_request(
                f"Datastore {match[1]} referenced by modelUri {uri} was not found.", target="modelUri"
            )
        if not uri:
            raise bad_request("A model version needs a modelUri.", target="modelUri")
    if previous is not None:
        stored = _props(previous)
        changed = [
            name
            for name in kind.immutable
            if sent.get(name) not in (None, kind.defaults.get(name)) and sent.get(name) != stored.get(name)
        ]
        if changed:
            raise conflict(
                f"{kind.label} {call.groups['name']} version {call.groups['version']} already exists with "
                f"different {', '.join(changed)}: asset versions are immutable (only description, tags, "
                "stage "
                "and isArchived can change). Use a new version.",
                code="UserError",
            )
        for name in ("description", "tags", "isArchived", "stage"):
            if name in sent:
                stored[name] = sent[name]
        previous["systemData"] = system_data(previous.get("systemData"))
        return Reply(200, previous)
    container = state.get(ckey)
    if container is None:
        container = _new_container(call, ckey, call.groups["name"])
        state.put(container)
    properties = {**copy.deepcopy(kind.defaults), **{k: v for k, v in sent.items() if v is not None}}
    properties.setdefault("isArchived", False)
    properties.setdefault("isAnonymous", False)
    properties.setdefault("tags", {})
    properties.setdefault("properties", {})
    properties.setdefault("description", None)
    properties["provisioningState"] = "Succeeded"
    document = {
        "id": key,
        "name": call.groups["version"],
        "type": f"{ML_PROVIDER}/workspaces/{kind.collection}/versions",
        "properties": properties,
        "systemData": system_data(),
    }
    state.put(document)
    _refresh_container(state, container)
    return Reply(201, document)


def get_version(state: State, call: Call) -> Reply:
    container = _container(state, call)
    found = state.get(f"{container['id']}/versions/{call.groups['version']}")
    if found is None:
        kind = _asset_kind(call)
        raise not_found(
            f"{kind.label} version",
            f"{call.groups['name']}:{call.groups['version']}",
            f"workspace {call.groups['workspace']}",
        )
    return Reply(200, found)


def list_versions(state: State, call: Call) -> Reply:
    workspace(state, call)
    container = state.get(container_id(call))
    versions = [] if container is None else _versions(state, container["id"])
    versions = [v for v in versions if _view(call.query, bool(_props(v).get("isArchived")))]
    if "version" in call.query:
        versions = [v for v in versions if v["name"] == call.query["version"]]
    order = call.query.get("$orderBy", "").lower().split()
    if order and order[0] == "createdtime" and order[-1] == "desc":
        versions.reverse()
    elif order and order[0] == "version":
        versions.sort(
            key=lambda v: (
                not str(v["name"]).isdigit(),
                int(v["name"]) if str(v["name"]).isdigit() else 0,
                v["name"],
            ),
            reverse=order[-1] == "desc",
        )
    top = call.query.get("$top")
    if top and top.isdigit():
        versions = versions[: int(top)]
    return _list(versions)


def delete_version(state: State, call: Call) -> Reply:
    workspace(state, call)
    ckey = container_id(call)
    key = f"{ckey}/versions/{call.groups['version']}"
    if state.get(key) is None:
        return Reply(204)
    state.remove(key)
    container = state.get(ckey)
    if container is not None:
        _refresh_container(state, container)
    return Reply(200)


# ---- datastores ----------------------------------------------------------------------------------------


def _datastore_document(call: Call, name: str) -> dict[str, Any]:
    ws = call.groups["workspace"]
    stem = re.sub(r"[^a-z0-9]", "", ws.lower())[:16] or "ws"
    file_share = name.lower() in ("workspacefilestore", "workspaceworkingdirectory")
    properties: dict[str, Any] = {
        "datastoreType": "AzureFile" if file_share else "AzureBlob",
        "accountName": f"{stem}storage",
        "endpoint": "core.windows.net",
        "protocol": "https",
        "isDefault": name.lower() == "workspaceblobstore",
        "credentials": {"credentialsType": "AccountKey"},
        "serviceDataAccessAuthIdentity": "None",
        "description": None,
        "tags": {},
        "properties": {},
    }
    container = f"azureml-blobstore-{new_guid()}" if not file_share else f"code-{new_guid()}"
    properties["fileShareName" if file_share else "containerName"] = container
    return {
        "id": f"{workspace_id(call)}/datastores/{name}",
        "name": name,
        "type": f"{ML_PROVIDER}/workspaces/datastores",
        "properties": properties,
        "systemData": system_data(),
    }


def _ensure_datastores(state: State, call: Call) -> None:
    workspace(state, call)
    for name in DEFAULT_DATASTORES:
        if state.get(f"{workspace_id(call)}/datastores/{name}") is None:
            state.put(_datastore_document(call, name))


def _datastore(state: State, call: Call) -> dict[str, Any]:
    _ensure_datastores(state, call)
    found = state.get(f"{workspace_id(call)}/datastores/{call.groups['datastore']}")
    if found is None:
        raise not_found("Datastore", call.groups["datastore"], f"workspace {call.groups['workspace']}")
    return found


def get_datastore(state: State, call: Call) -> Reply:
    return Reply(200, _datastore(state, call))


def list_datastores(state: State, call: Call) -> Reply:
    _ensure_datastores(state, call)
    found = list(state.children(f"{workspace_id(call)}/datastores"))
    if call.query.get("isDefault", "").lower() == "true":
        found = [d for d in found if _props(d).get("isDefault")]
    return _list(found)


def datastore_secrets(state: State, call: Call) -> Reply:
    _datastore(state, call)
    return Reply(200, {"secretsType": "AccountKey", "key": "c2FuZGJveC1rZXk="})


# ---- computes ------------------------------------------------------------------------------------------


def get_compute(state: State, call: Call) -> Reply:
    """Any compute a job or schedule names exists (an AmlCompute cluster made on first use), as in a
    sandbox workspace set up with the clusters its pipelines need."""
    ws = workspace(state, call)
    key = f"{workspace_id(call)}/computes/{call.groups['compute']}"
    found = state.get(key)
    if found is None:
        found = {
            "id": key,
            "name": call.groups["compute"],
            "type": f"{ML_PROVIDER}/workspaces/computes",
            "location": ws["location"],
            "identity": {"type": "None"},
            "properties": {
                "computeType": "AmlCompute",
                "computeLocation": ws["location"],
                "provisioningState": "Succeeded",
                "disableLocalAuth": True,
                "properties": {
                    "vmSize": "STANDARD_DS3_V2",
                    "vmPriority": "Dedicated",
                    "scaleSettings": {
                        "minNodeCount": 0,
                        "maxNodeCount": 4,
                        "nodeIdleTimeBeforeScaleDown": "PT2M",
                    },
                    "osType": "Linux",
                    "currentNodeCount": 0,
                    "targetNodeCount": 0,
                    "allocationState": "Steady",
                },
            },
            "systemData": system_data(),
        }
        state.put(found)
    return Reply(200, found)


def list_computes(state: State, call: Call) -> Reply:
    workspace(state, call)
    return _list(list(state.children(f"{workspace_id(call)}/computes")))


# ---- schedules -----------------------------------------------------------------------------------------


def schedule_id(call: Call) -> str:
    return f"{workspace_id(call)}/schedules/{call.groups['schedule']}"


def _schedule(state: State, call: Call) -> dict[str, Any]:
    workspace(state, call)
    found = state.get(schedule_id(call))
    if found is None:
        raise not_found("Schedule", call.groups["schedule"], f"workspace {call.groups['workspace']}")
    return found


def _monitoring_target(state: State, call: Call, monitor: dict[str, Any]) -> None:
    """A monitor needs its target deployment to collect model inputs and outputs."""
    target = monitor.get("monitoringTarget") or {}
    reference = target.get("deploymentId")
    if not reference:
        return
    deployment: dict[str, Any] | None = None
    match = re.fullmatch(r"(?:azureml:)?([^:/]+):([^:/]+)", str(reference))
    if match is not None:
        deployment = state.get(f"{workspace_id(call)}/onlineEndpoints/{match[1]}/deployments/{match[2]}")
    elif str(reference).startswith("/subscriptions/"):
        deployment = state.get(str(reference))
    if deployment is None:
        raise bad_request(
            f"The monitoring target deployment {reference} was not found.",
            target="monitoringTarget.deploymentId",
        )
    collections = ((_props(deployment).get("dataCollector") or {}).get("collections")) or {}
    missing = [
        name
        for name in ("model_inputs", "model_outputs")
        if str((collections.get(name) or {}).get("dataCollectionMode", "")).lower() != "enabled"
    ]
    if missing:
        raise bad_request(
            f"Deployment {deployment['name']} does not collect {' and '.join(missing)}: enable data "
            "collection "
            f"({', '.join(missing)}) on the deployment's data_collector before monitoring it.",
            target="monitoringTarget.deploymentId",
        )


def put_schedule(state: State, call: Call) -> Reply:
    workspace(state, call)
    key = schedule_id(call)
    previous = state.get(key)
    if previous is not None and _props(previous).get("provisioningState") in BUSY:
        raise conflict(f"Schedule {previous['name']} is being updated: retry once the operation finishes.")
    properties = _body_properties(call)
    schedules.check_trigger(properties.get("trigger"))
    action = properties.get("action")
    if not isinstance(action, dict) or not action.get("actionType"):
        raise bad_request("A schedule needs an action with an actionType.", target="action")
    action_type = str(action["actionType"])
    if action_type == "CreateMonitor":
        _monitoring_target(state, call, action.get("monitorDefinition") or {})
    elif action_type == "CreateJob":
        if not isinstance(action.get("jobDefinition"), dict):
            raise bad_request("A CreateJob action needs a jobDefinition.", target="action.jobDefinition")
    elif action_type not in ("InvokeBatchEndpoint", "ImportData"):
        raise bad_request(f"Unknown schedule actionType {action_type}.", target="action.actionType")
    properties.setdefault("isEnabled", True)
    properties.setdefault("properties", {})
    properties.setdefault("tags", {})
    properties["provisioningState"] = "Updating" if previous is not None else "Creating"
    document = {
        "name": previous["name"] if previous is not None else call.groups["schedule"],
        "type": f"{ML_PROVIDER}/workspaces/schedules",
        "properties": properties,
    }
    return _put_document(state, call, key, previous, document)


def get_schedule(state: State, call: Call) -> Reply:
    return Reply(200, _schedule(state, call))


def list_schedules(state: State, call: Call) -> Reply:
    workspace(state, call)
    view = call.query.get("listViewType", "EnabledOnly").lower()
    found = [
        d
        for d in state.children(f"{workspace_id(call)}/schedules")
        if view == "all" or (view == "enabledonly") == bool(_props(d).get("isEnabled"))
    ]
    return _list(found)


def delete_schedule(state: State, call: Call) -> Reply:
    workspace(state, call)
    found = state.get(schedule_id(call))
    if found is None:
        return Reply(204)
    return _delete(state, call, found)


# ---- jobs ----------------------------------------------------------------------------------------------


def job_id(call: Call) -> str:
    return f"{workspace_id(call)}/jobs/{call.groups['job']}"


def _job(state: State, call: Call) -> dict[str, Any]:
    workspace(state, call)
    found = state.get(job_id(call))
    if found is None:
        raise not_found("Job", call.groups["job"], f"workspace {call.groups['workspace']}")
    return found


def put_job(state: State, call: Call) -> Reply:
    workspace(state, call)
    key = job_id(call)
    previous = state.get(key)
    properties = _body_properties(call)
    if previous is not None:  # only a few fields of a job change after submission
        for name in ("description", "tags", "properties", "displayName"):
            if name in properties:
                _props(previous)[name] = properties[name]
        return Reply(200, previous)
    if not properties.get("jobType"):
        raise bad_request("A job needs a jobType.", target="jobType")
    properties["status"] = "NotStarted"
    properties.setdefault("experimentName", "Default")
    properties.setdefault("tags", {})
    properties.setdefault("properties", {})
    properties["services"] = {
        "Studio": {
            "jobServiceType": "Studio",
            "endpoint": f"{call.base_url}/studio/runs/{call.groups['job']}",
        }
    }
    document = {
        "id": key,
        "name": call.groups["job"],
        "type": f"{ML_PROVIDER}/workspaces/jobs",
        "properties": properties,
        "systemData": system_data(),
    }
    state.put(document)
    return Reply(201, document)


def get_job(state: State, call: Call) -> Reply:
    from .batch import advance  # batch jobs move on as time passes

    job = _job(state, call)
    advance(state, job)
    return Reply(200, job)


def list_jobs(state: State, call: Call) -> Reply:
    from .batch import advance

    workspace(state, call)
    jobs = list(state.children(f"{workspace_id(call)}/jobs"))
    for job in jobs:
        advance(state, job)
    return _list(jobs)


def cancel_job(state: State, call: Call) -> Reply:
    job = _job(state, call)
    _props(job)["status"] = "Canceled"
    operation = state.start(
        call.groups["subscription"],
        call.settings.location,
        f"{job['id']}/cancel",
        "POST",
        lambda error: None,
        lambda: None,
    )
    return _accepted(state, call, operation)


def delete_job(state: State, call: Call) -> Reply:
    workspace(state, call)
    found = state.get(job_id(call))
    if found is None:
        return Reply(204)
    return _delete(state, call, found)


# ---- operation status and results ----------------------------------------------------------------------


def _operation(state: State, call: Call) -> Operation:
    found = state.operations.get(call.groups["operation"])
    if found is None:
        raise ArmError(404, "NotFound", f"Operation {call.groups['operation']} was not found.")
    return found


def poll_delay(state: State, call: Call, operation: Operation) -> str:
    """Retry-After for a poll answer: no longer than the operation has left (in hundredths of a
    second; azure-core takes fractions on poll answers, though the generated code does not on
    the first answer), at most `retry_after_seconds`."""
    left = min(state.remaining(operation), float(call.settings.retry_after_seconds))
    return f"{max(left, 0.01):.2f}"


def operation_status(state: State, call: Call) -> Reply:
    operation = _operation(state, call)
    headers = {} if operation.done else {"Retry-After": poll_delay(state, call, operation)}
    return Reply(200, operation.document(), headers)


def operation_result(state: State, call: Call) -> Reply:
    operation = _operation(state, call)
    if not operation.done:
        return Reply(
            202,
            None,
            {
                "Location": f"{call.base_url}{call.path}?api-version={call.api_version}",
                "Retry-After": poll_delay(state, call, operation),
            },
        )
    if operation.status == "Failed" and operation.failure is not None:
        return Reply(
            400 if operation.failure.status < 500 else operation.failure.status,
            {"error": operation.failure.error()},
        )
    result = operation.result()
    return Reply(204) if result is None else Reply(200, result)
