"""Pure translation between the provider's attributes and `azure.ai.ml` entities: models,
environments, online endpoints and deployments. No I/O; the SDK is imported inside the functions
that build or read its entities (tests call them directly, `mlops validate` never does).

Read-back compares what the stack says with what Azure holds, never what Azure adds: server-filled
fields (provisioning state, scoring URI, `systemData`) are read into computed attributes or left
out, and the `properties` Azure echoes back (createdBy, createdAt...) are not read at all."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mlops_azureml import names

ASSET_PREFIX = "azureml:"


# ---------------------------------------------------------------------------------- models
def model_basis(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """What a model version is made of: a change of these is a new version."""
    return {"artifact": attrs["artifact"], "type": attrs["type"]}


def environment_basis(image: str, conda_sha256: str | None) -> dict[str, Any]:
    return {"image": image, "conda_sha256": conda_sha256}


def model_entity(attrs: Mapping[str, Any]) -> Any:
    from azure.ai.ml.entities import Model

    return Model(
        name=attrs["name"],
        version=attrs["version"],
        path=attrs["artifact"],
        type=attrs["type"],
        description=attrs.get("description"),
        tags=dict(attrs.get("tags", {})),
    )


def environment_entity(
    env: Mapping[str, Any], conda: Mapping[str, Any] | None, tags: Mapping[str, str]
) -> Any:
    from azure.ai.ml.entities import Environment

    return Environment(
        name=env["name"],
        version=env["version"],
        image=env["image"],
        conda_file=dict(conda) if conda is not None else None,
        tags=dict(tags),
    )


_LONG_DATASTORE = re.compile(
    r"^azureml://subscriptions/(?P<s>[^/]+)/resourcegroups/(?P<g>[^/]+)/workspaces/(?P<w>[^/]+)"
    r"/datastores/(?P<rest>.+)$",
    re.IGNORECASE,
)


def short_datastore_uri(uri: str | None, workspace_id: str) -> str | None:
    """`azureml://subscriptions/S/resourcegroups/G/workspaces/W/datastores/...` as the stack writes
    it, `azureml://datastores/...`, when S/G/W is the provider's workspace: the SDK expands the
    short form to the long one before sending it, and Azure keeps the long one."""
    m = _LONG_DATASTORE.match(uri or "")
    if m is None:
        return uri
    parts = workspace_id.strip("/").split("/")  # subscriptions/S/resourceGroups/G/providers/.../workspaces/W
    ours = (parts[1].lower(), parts[3].lower(), parts[-1].lower())
    if (m["s"].lower(), m["g"].lower(), m["w"].lower()) != ours:
        return uri
    return f"azureml://datastores/{m['rest']}"


def model_from_api(model: Any, environment: Any | None, environment_name: str) -> dict[str, Any]:
    """Attributes of a model version and its serving environment (None: the environment is gone,
    which the diff shows as a change of `environment`)."""
    attrs: dict[str, Any] = {
        "name": model.name,
        "version": str(model.version),
        "artifact": model.path,
        "type": model.type or "custom_model",
    }
    if model.description:
        attrs["description"] = model.description
    if environment is not None:
        conda = environment.conda_file
        attrs["environment"] = {
            "name": environment.name,
            "version": str(environment.version),
            "image": environment.image,
            "conda_sha256": names.content_digest(conda) if conda else None,
        }
    else:
        attrs["environment"] = {"name": environment_name}
    attrs["tags"] = dict(model.tags or {})
    attrs["archived"] = bool(getattr(model, "stage", None) == "Archived")
    return attrs


def asset_ref(name: str, version: str) -> str:
    """How a deployment names a workspace asset: `azureml:<name>:<version>`."""
    return f"{ASSET_PREFIX}{name}:{version}"


def parse_asset_ref(reference: str | None) -> tuple[str, str] | None:
    """(name, version) of `azureml:<name>:<version>` or of an asset's ARM id; None otherwise."""
    if not reference:
        return None
    if reference.startswith("/subscriptions/"):
        parts = reference.strip("/").split("/")
        if "versions" in parts:
            i = parts.index("versions")
            return parts[i - 1], parts[i + 1]
        return None
    if reference.startswith(ASSET_PREFIX):
        name, _, version = reference[len(ASSET_PREFIX) :].partition(":")
        return (name, version) if version else None
    return None


# ---------------------------------------------------------------------------------- endpoints
# What makes a deployment: a change of any of these is a new deployment (blue/green), the rest
# (instance count, request settings, probes) is updated in place on the deployment.
DEPLOYMENT_BASIS = ("model", "environment", "instance_type", "environment_variables", "data_collector")
DEPLOYMENT_MUTABLE = (
    "instance_count",
    "request_settings",
    "liveness_probe",
    "readiness_probe",
    "app_insights_enabled",
)


def deployment_basis(variant: Mapping[str, Any]) -> dict[str, Any]:
    return {k: variant.get(k) for k in DEPLOYMENT_BASIS}


def deployment_mutable(variant: Mapping[str, Any]) -> dict[str, Any]:
    return {k: variant.get(k) for k in DEPLOYMENT_MUTABLE}


def endpoint_entity(attrs: Mapping[str, Any], traffic: Mapping[str, int], mirror: Mapping[str, int]) -> Any:
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    kwargs: dict[str, Any] = {}
    if attrs.get("public_network_access"):
        kwargs["public_network_access"] = attrs["public_network_access"]
    return ManagedOnlineEndpoint(
        name=attrs["name"],
        description=attrs.get("description"),
        auth_mode=attrs["auth_mode"],
        tags=dict(attrs.get("tags", {})),
        traffic=dict(traffic),
        mirror_traffic=dict(mirror),
        **kwargs,
    )


def _probe(settings: Mapping[str, Any] | None) -> Any:
    from azure.ai.ml.entities import ProbeSettings

    return ProbeSettings(**settings) if settings else None


def deployment_entity(endpoint: str, variant: Mapping[str, Any], tags: Mapping[str, str]) -> Any:
    """The ManagedOnlineDeployment of a variant's attributes."""
    from azure.ai.ml.entities import (
        DataAsset,
        DataCollector,
        DeploymentCollection,
        ManagedOnlineDeployment,
        OnlineRequestSettings,
    )

    collector = None
    capture = variant.get("data_collector")
    if capture:
        deployment = variant["deployment"]
        collections = {
            # Azure ML's collection names: the deployment's inputs and outputs, which monitors read.
            # The SDK registers each as a data asset `<endpoint>-<deployment>-<collection>` at this path.
            name: DeploymentCollection(
                enabled="true",
                data=DataAsset(path=f"{capture['destination']}/{endpoint}/{deployment}/{name}"),
            )
            for name in capture["collections"]
        }
        collector = DataCollector(collections, sampling_rate=capture["sampling_rate"])
    request = variant.get("request_settings")
    return ManagedOnlineDeployment(
        name=variant["deployment"],
        endpoint_name=endpoint,
        model=variant["model"],
        environment=variant["environment"],
        instance_type=variant["instance_type"],
        instance_count=variant["instance_count"],
        environment_variables=dict(variant.get("environment_variables") or {}),
        request_settings=OnlineRequestSettings(**request) if request else None,
        liveness_probe=_probe(variant.get("liveness_probe")),
        readiness_probe=_probe(variant.get("readiness_probe")),
        app_insights_enabled=bool(variant.get("app_insights_enabled")),
        data_collector=collector,
        tags=dict(tags),
    )


def _probe_from_api(probe: Any, wanted: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A probe as read, restricted to the fields the stack sets: Azure fills in its defaults for
    the rest, which are no drift."""
    if not wanted or probe is None:
        return None
    return {k: getattr(probe, k, None) for k in wanted}


def _request_from_api(request: Any, wanted: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not wanted or request is None:
        return None
    return {k: getattr(request, k, None) for k in wanted}


def _collector_from_api(collector: Any, wanted: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if collector is None or not getattr(collector, "collections", None):
        return None
    enabled = sorted(
        name
        for name, c in collector.collections.items()
        if str(getattr(c, "enabled", "")).lower() in ("true", "enabled")
    )
    if not enabled:
        return None
    rate = collector.sampling_rate
    out: dict[str, Any] = {"collections": enabled, "sampling_rate": float(rate) if rate is not None else 1.0}
    # The destination is the path of the data assets the collections name, not a field of the
    # deployment: it is kept as recorded (reading it would take one data asset GET per collection).
    out["destination"] = (wanted or {}).get("destination")
    return out


def variant_from_api(deployment: Any, wanted: Mapping[str, Any] | None) -> dict[str, Any]:
    """A deployment as a variant's attributes (without its traffic). `wanted` (the variant as
    desired or recorded, if any) says which probe and request fields the stack sets."""
    wanted = wanted or {}
    model = parse_asset_ref(deployment.model if isinstance(deployment.model, str) else None)
    env = parse_asset_ref(deployment.environment if isinstance(deployment.environment, str) else None)
    out: dict[str, Any] = {
        "name": wanted.get("name") or names.variant_of(deployment.name),
        "deployment": deployment.name,
        "model": asset_ref(*model) if model else deployment.model,
        "environment": asset_ref(*env) if env else deployment.environment,
        "instance_type": deployment.instance_type,
        "instance_count": deployment.instance_count,
        "environment_variables": dict(deployment.environment_variables or {}),
        "data_collector": _collector_from_api(deployment.data_collector, wanted.get("data_collector")),
        "request_settings": _request_from_api(deployment.request_settings, wanted.get("request_settings")),
        "liveness_probe": _probe_from_api(deployment.liveness_probe, wanted.get("liveness_probe")),
        "readiness_probe": _probe_from_api(deployment.readiness_probe, wanted.get("readiness_probe")),
        "app_insights_enabled": bool(deployment.app_insights_enabled),
        "provisioning_state": deployment.provisioning_state,
    }
    return out


def live_traffic(endpoint: Any) -> dict[str, int]:
    """The endpoint's live split, without zero entries (as the core's traffic driver wants it)."""
    return {k: int(v) for k, v in (endpoint.traffic or {}).items() if int(v) > 0}


def live_mirror(endpoint: Any) -> dict[str, int]:
    return {k: int(v) for k, v in (getattr(endpoint, "mirror_traffic", None) or {}).items() if int(v) > 0}
