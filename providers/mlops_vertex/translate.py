"""Pure translation between the attributes the engine diffs and Vertex AI's model and endpoint
resources.

No I/O and no SDK import: requests are plain dicts with the API's snake_case field names (the
proto-plus clients accept them), and resources come back as the plain dicts
`client.to_dict` makes. Attribute dicts omit absent optional values (never `None`), because the
engine diffs them key by key.

Cloud objects are named by their IDs only (`churn-xgb-1a2b3c4d`, not
`projects/…/models/churn-xgb-1a2b3c4d`): Vertex answers with the project *number* in resource
names where requests used the project ID, so full names would never compare equal."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

DEFAULT_ALIAS = "default"  # the registry's alias of a model's default version
# What makes a new model version: everything the serving container sees.
VERSION_BASIS = ("artifact", "image", "environment")
# What makes a new deployed model: everything but the variant's name, traffic and id.
DEPLOY_BASIS = (
    "model",
    "model_version",
    "machine_type",
    "accelerator_type",
    "accelerator_count",
    "min_replicas",
    "max_replicas",
)
_MAX_ID = 63


# ------------------------------------------------------------------------------------- general
def last_segment(name: str) -> str:
    """`projects/P/locations/L/models/ID@2` -> `ID`."""
    return name.rsplit("/", 1)[-1].split("@", 1)[0]


def object_id(stack: str, logical: str, basis: Mapping[str, Any]) -> str:
    """`<logical>-<8 hex>`: deterministic, so the plan can show it and a retried create finds
    what an earlier attempt made; unique per stack, so two stacks in a project never collide;
    and new whenever `basis` (what Vertex cannot change in place) changes, so the replacement can
    exist beside the object it replaces."""
    text = json.dumps({"stack": stack, "name": logical, **basis}, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{logical[: _MAX_ID - 9]}-{digest}"


def _encryption(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {"encryption_spec": {"kms_key_name": attrs["kms_key_name"]}} if attrs.get("kms_key_name") else {}


# -------------------------------------------------------------------------------------- models
def version_basis(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: attrs.get(k) for k in VERSION_BASIS}


def model_aliases(user_aliases: list[str]) -> list[str]:
    """The aliases the stack's version carries: the user's, and `default`, since the stack's
    version is the one a bare `models/ID` means."""
    return sorted({DEFAULT_ALIAS, *user_aliases})


def upload_request(parent: str, attrs: Mapping[str, Any], *, parent_model: str | None) -> dict[str, Any]:
    """UploadModel: the first version (`model_id`), or a new version of `parent_model`. The
    version takes the stack's aliases, `default` among them, from whichever version held them."""
    container: dict[str, Any] = {"image_uri": attrs["image"]}
    if attrs.get("environment"):
        container["env"] = [{"name": k, "value": v} for k, v in attrs["environment"].items()]
    model: dict[str, Any] = {
        "display_name": attrs["display_name"],
        "artifact_uri": attrs["artifact"],
        "container_spec": container,
        "labels": dict(attrs.get("labels", {})),
        "version_aliases": list(attrs["aliases"]),
        **_encryption(attrs),
    }
    if attrs.get("description"):
        model["description"] = attrs["description"]
    request: dict[str, Any] = {"parent": parent, "model": model}
    if parent_model:
        request["parent_model"] = parent_model
    else:
        request["model_id"] = attrs["id"]
    return request


def model_from_api(model: Mapping[str, Any]) -> dict[str, Any]:
    """A Model (one version of it) -> attributes."""
    container = model.get("container_spec") or {}
    attrs: dict[str, Any] = {
        "id": last_segment(model["name"]),
        "display_name": model.get("display_name", ""),
        "version_id": str(model.get("version_id", "")),
        "artifact": model.get("artifact_uri", ""),
        "image": container.get("image_uri", ""),
        "environment": {e["name"]: e.get("value", "") for e in container.get("env", [])},
        "aliases": sorted(model.get("version_aliases", [])),
    }
    if model.get("description"):
        attrs["description"] = model["description"]
    kms = (model.get("encryption_spec") or {}).get("kms_key_name")
    if kms:
        attrs["kms_key_name"] = kms
    attrs["labels"] = dict(model.get("labels", {}))
    return attrs


def alias_changes(current: list[str], wanted: list[str]) -> list[str]:
    """MergeVersionAliases' argument turning `current` into `wanted` (`-x` removes `x`)."""
    return [a for a in wanted if a not in current] + [f"-{a}" for a in current if a not in wanted]


# ----------------------------------------------------------------------------------- endpoints
def deploy_basis(variant: Mapping[str, Any]) -> dict[str, Any]:
    return {k: variant.get(k) for k in DEPLOY_BASIS}


def model_resource(parent: str, model_id: str, version: str) -> str:
    return f"{parent}/models/{model_id}@{version}"


def deployed_model(parent: str, variant: Mapping[str, Any], deployed_model_id: str = "") -> dict[str, Any]:
    """The DeployedModel of a variant (DeployModel's `deployed_model`), with the id to give it
    (empty: Vertex chooses)."""
    machine: dict[str, Any] = {"machine_type": variant["machine_type"]}
    if variant.get("accelerator_type"):
        machine["accelerator_type"] = variant["accelerator_type"]
        machine["accelerator_count"] = variant["accelerator_count"]
    ids = {"id": deployed_model_id} if deployed_model_id else {}
    return {
        **ids,
        "model": model_resource(parent, variant["model"], variant["model_version"]),
        "display_name": variant["name"],
        "dedicated_resources": {
            "machine_spec": machine,
            "min_replica_count": variant["min_replicas"],
            "max_replica_count": variant["max_replicas"],
        },
    }


def _logging_config(attrs: Mapping[str, Any]) -> dict[str, Any]:
    logging = attrs.get("request_logging")
    if not logging:
        return {}
    return {
        "predict_request_response_logging_config": {
            "enabled": logging["enabled"],
            "sampling_rate": logging["sample_percent"] / 100,
            "bigquery_destination": {"output_uri": logging["destination"]},
        }
    }


def endpoint_body(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The Endpoint of CreateEndpoint, without deployed models (those are deployed one by one)."""
    body: dict[str, Any] = {"display_name": attrs["display_name"]}
    if attrs.get("description"):
        body["description"] = attrs["description"]
    return {**body, **_logging_config(attrs), **_encryption(attrs), "labels": dict(attrs.get("labels", {}))}


# Endpoint attributes an UpdateEndpoint can change, and the Endpoint fields they live in.
_ENDPOINT_MUTABLE = {
    "display_name": "display_name",
    "description": "description",
    "request_logging": "predict_request_response_logging_config",
    "labels": "labels",
}


def endpoint_patch(prior: Mapping[str, Any], desired: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(Endpoint, update mask) for the endpoint-level fields that differ. A field in the mask but
    not in the Endpoint (a description removed from the stack) is cleared."""
    fields = [field for key, field in _ENDPOINT_MUTABLE.items() if prior.get(key) != desired.get(key)]
    body = endpoint_body(desired)
    return {f: body[f] for f in fields if f in body}, fields


def variant_from_api(dm: Mapping[str, Any], split: Mapping[str, int]) -> dict[str, Any]:
    """A DeployedModel -> a variant's attributes (the variant is its display name)."""
    resources = dm.get("dedicated_resources") or {}
    machine = resources.get("machine_spec") or {}
    automatic = dm.get("automatic_resources") or {}
    model = str(dm.get("model", ""))
    version = dm.get("model_version_id") or (model.split("@", 1)[1] if "@" in model else "")
    variant: dict[str, Any] = {
        "name": dm.get("display_name", ""),
        "model": last_segment(model),
        "model_version": str(version),
        "machine_type": machine.get("machine_type", ""),
        "min_replicas": int(resources.get("min_replica_count", automatic.get("min_replica_count", 0))),
        "max_replicas": int(resources.get("max_replica_count", automatic.get("max_replica_count", 0))),
    }
    if machine.get("accelerator_type"):
        variant["accelerator_type"] = machine["accelerator_type"]
        variant["accelerator_count"] = int(machine.get("accelerator_count", 0))
    variant["traffic_percent"] = int(split.get(str(dm.get("id", "")), 0))
    variant["deployed_model_id"] = str(dm.get("id", ""))
    return variant


def endpoint_from_api(endpoint: Mapping[str, Any], prior: Mapping[str, Any] | None) -> dict[str, Any]:
    """An Endpoint -> attributes. Variants come in the order `prior` lists them (the stack's
    order), then any others in Vertex's order, so a read of an unchanged endpoint compares equal
    position by position. `rollout` says how to change the endpoint, not what it is: it is
    carried over from `prior`."""
    split = {str(k): int(v) for k, v in (endpoint.get("traffic_split") or {}).items()}
    variants = [variant_from_api(dm, split) for dm in endpoint.get("deployed_models", [])]
    order = [v.get("name") for v in (prior or {}).get("variants", [])]
    variants.sort(key=lambda v: order.index(v["name"]) if v["name"] in order else len(order))
    attrs: dict[str, Any] = {
        "id": last_segment(endpoint["name"]),
        "display_name": endpoint.get("display_name", ""),
    }
    if endpoint.get("description"):
        attrs["description"] = endpoint["description"]
    kms = (endpoint.get("encryption_spec") or {}).get("kms_key_name")
    if kms:
        attrs["kms_key_name"] = kms
    attrs["variants"] = variants
    logging = endpoint.get("predict_request_response_logging_config") or {}
    if logging.get("bigquery_destination", {}).get("output_uri"):
        attrs["request_logging"] = {
            "destination": logging["bigquery_destination"]["output_uri"],
            "sample_percent": round(float(logging.get("sampling_rate", 0)) * 100),
            "enabled": bool(logging.get("enabled", False)),
        }
    if (prior or {}).get("rollout"):
        attrs["rollout"] = dict(prior["rollout"])  # type: ignore[index]
    attrs["labels"] = dict(endpoint.get("labels", {}))
    return attrs


def live_split(endpoint: Mapping[str, Any]) -> dict[str, int]:
    """The endpoint's traffic split, deployed model id -> percent, without zero entries."""
    return {str(k): int(v) for k, v in (endpoint.get("traffic_split") or {}).items() if int(v) > 0}


def deployed_ids(endpoint: Mapping[str, Any]) -> list[str]:
    return [str(dm["id"]) for dm in endpoint.get("deployed_models", [])]
