"""Vertex AI models (with versions and aliases) and endpoints (with deployed models and their
traffic split) for the emulator: the handlers of `ModelService` and `EndpointService` routes.

Vertex semantics kept because a provider depends on them:

* a model is a set of versions; one carries the `default` alias at all times, and `models/ID`
  means that version. Display name, description and "model labels" belong to the model; the rest
  (artifact, container, version description, "version labels") to a version; a read merges both
  label sets. An upload's labels become the model's labels for a new model, the version's for a
  new version (`parentModel`).
* an endpoint's `trafficSplit` names deployed model ids and adds up to 100, or is empty. In a
  deployModel request, key "0" stands for the model being deployed; without a split, the first
  model deployed takes all the traffic and later ones none.
* a model that still has traffic cannot be undeployed (unless the request's split moves it, or it
  is the last one); an endpoint with deployed models (or a monitoring job) cannot be deleted; a
  model deployed, or being deployed, cannot be deleted.
* deploy, undeploy, mutate and deletions are long-running: their effect shows when the operation
  is done, and is checked again then.
* models deploy on the machine types Vertex serves predictions on, with the accelerators each
  takes (`mlops_vertex.machines`: the one catalogue, which the provider's offline checks read
  too; accelerator-optimized types need theirs); anything else is INVALID_ARGUMENT. A deployed
  model id given by the caller is taken from the moment its deployment starts: a repeat is
  ALREADY_EXISTS, as is a repeated create under an ID in flight.
* names carry the project number (see `core.canonical_name`); references to other
  resources in a request (a model to deploy, a parent model) may use the project ID."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from mlops_vertex import machines

from .core import (
    EMPTY,
    ApiError,
    Call,
    Enum,
    EnumSpec,
    State,
    apply_mask,
    canonical_enums,
    canonical_name,
    check_etag,
    check_labels,
    drop,
    etag,
    get_int,
    get_list,
    get_object,
    get_string,
    invalid,
    list_page,
    mask_paths,
    not_found,
    now,
    precondition,
    resource_id,
    set_or_drop,
    timestamp,
)

DEPLOYMENT_RESOURCES_TYPE = Enum(
    "google.cloud.aiplatform.v1.Model.DeploymentResourcesType",
    {
        "DEPLOYMENT_RESOURCES_TYPE_UNSPECIFIED": 0,
        "DEDICATED_RESOURCES": 1,
        "AUTOMATIC_RESOURCES": 2,
        "SHARED_RESOURCES": 3,
    },
)
ACCELERATOR_TYPE = Enum(
    "google.cloud.aiplatform.v1.AcceleratorType",
    {
        "ACCELERATOR_TYPE_UNSPECIFIED": 0,
        "NVIDIA_TESLA_K80": 1,
        "NVIDIA_TESLA_P100": 2,
        "NVIDIA_TESLA_V100": 3,
        "NVIDIA_TESLA_P4": 4,
        "NVIDIA_TESLA_T4": 5,
        "NVIDIA_TESLA_A100": 8,
        "NVIDIA_A100_80GB": 9,
        "NVIDIA_L4": 11,
        "NVIDIA_H100_80GB": 13,
        "NVIDIA_H100_MEGA_80GB": 14,
        "NVIDIA_H200_141GB": 15,
        "NVIDIA_B200": 16,
        "NVIDIA_GB200": 17,
        "NVIDIA_RTX_PRO_6000": 18,
        "TPU_V2": 6,
        "TPU_V3": 7,
        "TPU_V4_POD": 10,
        "TPU_V5_LITEPOD": 12,
    },
)
RESERVATION_AFFINITY_TYPE = Enum(
    "google.cloud.aiplatform.v1.ReservationAffinity.Type",
    {"TYPE_UNSPECIFIED": 0, "NO_RESERVATION": 1, "ANY_RESERVATION": 2, "SPECIFIC_RESERVATION": 3},
)

MODEL_SPEC: EnumSpec = {"supportedDeploymentResourcesTypes": DEPLOYMENT_RESOURCES_TYPE}
DEPLOYED_MODEL_SPEC: EnumSpec = {
    "dedicatedResources": {
        "machineSpec": {
            "acceleratorType": ACCELERATOR_TYPE,
            "reservationAffinity": {"reservationAffinityType": RESERVATION_AFFINITY_TYPE},
        }
    }
}
ENDPOINT_SPEC: EnumSpec = {"deployedModels": DEPLOYED_MODEL_SPEC}

# Fields Vertex computes: ignored when a request carries them.
_MODEL_OUTPUT_ONLY = frozenset(
    {
        "name", "versionId", "versionCreateTime", "versionUpdateTime", "createTime", "updateTime",
        "deployedModels", "etag", "supportedExportFormats", "supportedDeploymentResourcesTypes",
        "supportedInputStorageFormats", "supportedOutputStorageFormats", "trainingPipeline",
        "modelSourceInfo", "originalModelInfo", "metadataArtifact", "satisfiesPzs", "satisfiesPzi",
        "checkpoints",
    }
)  # fmt: skip
_MODEL_LEVEL = ("displayName", "description")
_ENDPOINT_OUTPUT_ONLY = frozenset(
    {
        "name", "deployedModels", "etag", "createTime", "updateTime", "modelDeploymentMonitoringJob",
        "dedicatedEndpointDns", "satisfiesPzs", "satisfiesPzi",
    }
)  # fmt: skip
_DEPLOYED_MODEL_OUTPUT_ONLY = frozenset({"createTime", "modelVersionId", "privateEndpoints", "status"})

# Custom-container models are served on dedicated machines or a shared resource pool.
_SUPPORTED_RESOURCES = ["DEDICATED_RESOURCES", "SHARED_RESOURCES"]

_MODEL_ID = re.compile(r"[a-z_][a-z0-9_-]{0,62}")
_ENDPOINT_ID = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?|[1-9][0-9]{0,8}")
_DEPLOYED_MODEL_ID = re.compile(r"[0-9]{1,10}")
_ALIAS = re.compile(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9-]")
_MODEL_REF = re.compile(r"(projects/[^/]+/locations/[^/]+/models/[^/@:]+)(?:@([^/:]+))?")

_MODEL_UPDATABLE = frozenset({"displayName", "description", "labels"})
_VERSION_UPDATABLE = frozenset({"versionDescription", "labels"})
_ENDPOINT_UPDATABLE = frozenset(
    {
        "displayName", "description", "labels", "trafficSplit", "predictRequestResponseLoggingConfig",
        "clientConnectionConfig",
    }
)  # fmt: skip
_MUTABLE_DEPLOYED_MODEL = frozenset(
    {
        "dedicatedResources.minReplicaCount", "dedicatedResources.maxReplicaCount",
        "dedicatedResources.requiredReplicaCount", "dedicatedResources.autoscalingMetricSpecs",
        "disableContainerLogging",
    }
)  # fmt: skip


# ---- models --------------------------------------------------------------------------------------


@dataclass
class ModelRecord:
    name: str
    fields: dict[str, Any]  # model-level: displayName, description, labels, createTime, updateTime
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)  # versionId -> version fields
    next_version: int = 1

    def default_version(self) -> str:
        return next(v for v, doc in self.versions.items() if "default" in doc.get("versionAliases", []))

    def resolve(self, version: str | None) -> str:
        """`None`/`-` (the default version), a version id or an alias -> the version id."""
        if version in (None, "-"):
            return self.default_version()
        if version in self.versions:
            return version
        for version_id, doc in self.versions.items():
            if version in doc.get("versionAliases", []):
                return version_id
        raise not_found(f"Model {self.name}@{version} is not found.")


def _split_model_ref(ref: str, where: str) -> tuple[str, str | None]:
    match = _MODEL_REF.fullmatch(canonical_name(ref))
    if match is None:
        raise invalid(f"Invalid value at '{where}': {ref!r} is not a model resource name.")
    return match.group(1), match.group(2)


def _model(state: State, name: str) -> ModelRecord:
    record = state.models.get(name)
    if record is None:
        raise not_found(f"Model {name} is not found.")
    return record


def _model_of_call(state: State, call: Call) -> tuple[ModelRecord, str | None]:
    return _model(state, f"{call.parent}/models/{call.groups['model']}"), call.groups.get("version")


def deployed_refs(state: State, model: str, version_id: str | None = None) -> list[dict[str, str]]:
    """Where a model (one version, or any) is deployed: DeployedModelRefs."""
    return [
        {"endpoint": endpoint["name"], "deployedModelId": deployed["id"]}
        for endpoint in state.endpoints.values()
        for deployed in endpoint.get("deployedModels", [])
        if deployed["model"] == model and version_id in (None, deployed["modelVersionId"])
    ]


def model_document(state: State, record: ModelRecord, version_id: str) -> dict[str, Any]:
    version = record.versions[version_id]
    doc: dict[str, Any] = {"name": record.name}
    doc.update(drop(record.fields, frozenset({"labels"})))
    doc.update(drop(version, frozenset({"labels"})))
    set_or_drop(doc, "labels", {**record.fields.get("labels", {}), **version.get("labels", {})})
    doc["supportedDeploymentResourcesTypes"] = list(_SUPPORTED_RESOURCES)
    set_or_drop(doc, "deployedModels", deployed_refs(state, record.name, version_id))
    doc["etag"] = etag(doc)
    return doc


def _check_aliases(aliases: list[Any], where: str, removals: bool = False) -> None:
    for alias in aliases:
        bare = alias[1:] if removals and isinstance(alias, str) and alias.startswith("-") else alias
        if not isinstance(bare, str) or not _ALIAS.fullmatch(bare):
            raise invalid(
                f"Invalid value at '{where}': version alias {alias!r} must match "
                "[a-z][a-zA-Z0-9-]{0,126}[a-z-0-9]."
            )


def _give_aliases(record: ModelRecord, version_id: str, aliases: list[str]) -> None:
    """Aliases are unique within a model: giving one to a version takes it from any other."""
    for other_id, other in record.versions.items():
        if other_id != version_id:
            set_or_drop(
                other, "versionAliases", [a for a in other.get("versionAliases", []) if a not in aliases]
            )
    version = record.versions[version_id]
    current = version.get("versionAliases", [])
    set_or_drop(version, "versionAliases", list(dict.fromkeys([*current, *aliases])))


def upload_model(state: State, call: Call) -> dict[str, Any]:
    model = copy.deepcopy(get_object(call.body, "model", required=True))
    canonical_enums(model, MODEL_SPEC, "model")
    model = drop(model, _MODEL_OUTPUT_ONLY)
    get_string(model, "displayName", "model", required=True)
    check_labels(model.get("labels", {}), "model.labels")
    aliases = get_list(model, "versionAliases", "model")
    _check_aliases(aliases, "model.version_aliases")
    if len(set(aliases)) != len(aliases):
        raise invalid("model.version_aliases must not repeat an alias.")
    container = get_object(model, "containerSpec", "model")
    if container:
        get_string(container, "imageUri", "model.container_spec", required=True)
    parent_model = get_string(call.body, "parentModel")
    model_id = get_string(call.body, "modelId")

    if parent_model:
        name, version = _split_model_ref(parent_model, "parent_model")
        if version is not None or not name.startswith(f"{call.parent}/"):
            raise invalid(
                f"parent_model {parent_model!r} must be a model of {call.parent}, without a version."
            )
        if model_id and model_id != resource_id(name):
            raise invalid("model_id and parent_model name different models.")
        _model(state, name)
    else:
        if model_id and not _MODEL_ID.fullmatch(model_id):
            raise invalid(
                f"model_id {model_id!r} is invalid: up to 63 characters in [a-z0-9_-], not starting "
                "with a digit or '-'."
            )
        name = f"{call.parent}/models/{model_id or state.new_id(state.models, f'{call.parent}/models/')}"
        if name in state.models or state.held(name):
            raise ApiError("ALREADY_EXISTS", f"Model {name} already exists.")

    def complete() -> dict[str, Any]:
        moment = timestamp(now())
        record = state.models.get(name)
        if parent_model and record is None:
            raise not_found(f"Model {name} is not found.")
        if record is None:
            fields = {key: model[key] for key in _MODEL_LEVEL if key in model}
            set_or_drop(fields, "labels", model.get("labels"))
            record = state.models[name] = ModelRecord(name, {**fields, "createTime": moment})
        version_id = str(record.next_version)
        record.next_version += 1
        version = {key: value for key, value in model.items() if key not in _MODEL_LEVEL}
        if not parent_model:
            version.pop("labels", None)  # they are the model's labels
        version.update(versionId=version_id, versionCreateTime=moment, versionUpdateTime=moment)
        version.pop("versionAliases", None)
        record.versions[version_id] = version
        _give_aliases(record, version_id, ["default", *aliases] if len(record.versions) == 1 else aliases)
        record.fields["updateTime"] = moment
        return {"model": name, "modelVersionId": version_id}

    # A new model's name is taken from now on, so that two uploads cannot both create it.
    holds = frozenset() if parent_model else frozenset({name})
    return state.start_operation(
        call, name, "UploadModelOperationMetadata", "UploadModelResponse", complete, holds=holds
    )


def get_model(state: State, call: Call) -> dict[str, Any]:
    record, version = _model_of_call(state, call)
    return call.reply(model_document(state, record, record.resolve(version)), MODEL_SPEC)


def list_models(state: State, call: Call) -> dict[str, Any]:
    prefix = f"{call.parent}/models/"
    docs = [
        model_document(state, record, record.default_version())
        for name, record in state.models.items()
        if name.startswith(prefix)
    ]
    return call.reply(list_page(call.query, docs, "models", call.path), {"models": MODEL_SPEC})


def list_model_versions(state: State, call: Call) -> dict[str, Any]:
    record, _ = _model_of_call(state, call)
    docs = [model_document(state, record, version_id) for version_id in record.versions]
    return call.reply(list_page(call.query, docs, "models", call.path), {"models": MODEL_SPEC})


def update_model(state: State, call: Call) -> dict[str, Any]:
    """Model-level fields through `models/ID` (or `@-`), version-level ones through `models/ID@V`."""
    record, version = _model_of_call(state, call)
    version_level = version not in (None, "-")
    version_id = record.resolve(version)
    allowed, other = (
        (_VERSION_UPDATABLE, _MODEL_UPDATABLE) if version_level else (_MODEL_UPDATABLE, _VERSION_UPDATABLE)
    )
    paths = mask_paths(call.query.get("updateMask"), allowed | other, "Model")
    mismatched = [path for path in paths if path.split(".")[0] not in allowed]
    if mismatched:
        level = (
            "a model version" if version_level else "the model (name it with @VERSION to update a version)"
        )
        raise precondition(f"Field(s) {mismatched} cannot be updated through {level}.")
    check_etag(call.body, model_document(state, record, version_id)["etag"], record.name)
    target = record.versions[version_id] if version_level else record.fields
    candidate = copy.deepcopy(target)
    apply_mask(candidate, call.body, paths)
    check_labels(candidate.get("labels", {}), "model.labels")
    if not version_level:
        get_string(candidate, "displayName", "model", required=True)
    target.clear()
    target.update(candidate)
    moment = timestamp(now())
    record.fields["updateTime"] = moment
    if version_level:
        target["versionUpdateTime"] = moment
    return call.reply(model_document(state, record, version_id), MODEL_SPEC)


def merge_version_aliases(state: State, call: Call) -> dict[str, Any]:
    record, version = _model_of_call(state, call)
    if version is None:
        raise invalid("The model name must include a version: models/ID@VERSION.")
    version_id = record.resolve(version)
    requested = get_list(call.body, "versionAliases")
    if not requested:
        raise invalid("version_aliases is required.")
    _check_aliases(requested, "version_aliases", removals=True)
    added = [alias for alias in requested if not alias.startswith("-")]
    removed = {alias[1:] for alias in requested if alias.startswith("-")}
    if "default" in removed:
        raise precondition(
            "The default alias cannot be removed: a model has a default version at all times. "
            "Give the alias to another version instead."
        )
    # Adding and removing the same alias cancel out, as Vertex documents.
    cancelled = set(added) & removed
    _give_aliases(record, version_id, [alias for alias in added if alias not in cancelled])
    target = record.versions[version_id]
    remaining = [a for a in target.get("versionAliases", []) if a not in removed - cancelled]
    set_or_drop(target, "versionAliases", remaining)
    moment = timestamp(now())
    target["versionUpdateTime"] = record.fields["updateTime"] = moment
    return call.reply(model_document(state, record, version_id), MODEL_SPEC)


def _refuse_if_deployed(state: State, record: ModelRecord, version_id: str | None = None) -> None:
    refs = deployed_refs(state, record.name, version_id)
    if refs or state.held(record.name if version_id is None else f"{record.name}@{version_id}"):
        endpoints = sorted({ref["endpoint"] for ref in refs}) or ["(a deployment in progress)"]
        what = f"{record.name}@{version_id}" if version_id else record.name
        raise precondition(
            f'The Model "{what}" is deployed or being deployed at the following Endpoint(s): '
            f"{', '.join(endpoints)}."
        )


def delete_model(state: State, call: Call) -> dict[str, Any]:
    record, version = _model_of_call(state, call)
    if version not in (None, "-"):
        return delete_model_version(state, call)
    _refuse_if_deployed(state, record)

    def complete() -> dict[str, Any]:
        current = _model(state, record.name)
        _refuse_if_deployed(state, current)
        del state.models[record.name]
        return {}

    return state.start_operation(call, record.name, "DeleteOperationMetadata", EMPTY, complete)


def delete_model_version(state: State, call: Call) -> dict[str, Any]:
    record, version = _model_of_call(state, call)
    if version in (None, "-"):
        raise invalid("The model name must include a version: models/ID@VERSION.")
    version_id = record.resolve(version)

    def check(current: ModelRecord) -> None:
        if len(current.versions) == 1:
            raise precondition(
                "Deleting the only version of a model is not allowed: delete the model instead."
            )
        if "default" in current.versions[version_id].get("versionAliases", []):
            raise precondition(
                f"Version {version_id} is the default version of {current.name}: give the default "
                "alias to another version before deleting it."
            )
        _refuse_if_deployed(state, current, version_id)

    check(record)

    def complete() -> dict[str, Any]:
        current = _model(state, record.name)
        current.resolve(version_id)
        check(current)
        del current.versions[version_id]
        current.fields["updateTime"] = timestamp(now())
        return {}

    return state.start_operation(call, record.name, "DeleteOperationMetadata", EMPTY, complete)


# ---- endpoints -----------------------------------------------------------------------------------


def _endpoint(state: State, call: Call) -> dict[str, Any]:
    name = f"{call.parent}/endpoints/{call.groups['endpoint']}"
    endpoint = state.endpoints.get(name)
    if endpoint is None:
        raise not_found(f"Endpoint {name} is not found.")
    return endpoint


def _current_endpoint(state: State, name: str) -> dict[str, Any]:
    endpoint = state.endpoints.get(name)
    if endpoint is None:
        raise not_found(f"Endpoint {name} is not found.")
    return endpoint


def endpoint_document(endpoint: dict[str, Any]) -> dict[str, Any]:
    return {**endpoint, "etag": etag(endpoint)}


def _deployed_ids(endpoint: dict[str, Any]) -> list[str]:
    return [deployed["id"] for deployed in endpoint.get("deployedModels", [])]


def _check_split(split: Any, known: set[str], where: str) -> dict[str, int]:
    """A traffic split: percentages of known deployed models adding up to 100, or nothing."""
    if not isinstance(split, dict):
        raise invalid(f"Invalid value at '{where}': expected a map of deployed model ids to percentages.")
    for key, value in split.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            raise invalid(f"{where}: the traffic of DeployedModel {key} must be a percentage, got {value!r}.")
    unknown = sorted(set(split) - known)
    if unknown:
        raise invalid(f"The following DeployedModel ID(s) [{', '.join(unknown)}] do not exist.")
    total = sum(split.values())
    if split and total != 100:
        raise invalid(f"{where}: the traffic percentages must add up to 100, got {total}.")
    return dict(split)


def create_endpoint(state: State, call: Call) -> dict[str, Any]:
    body = drop(copy.deepcopy(call.body), _ENDPOINT_OUTPUT_ONLY)
    get_string(body, "displayName", "endpoint", required=True)
    check_labels(body.get("labels", {}), "endpoint.labels")
    _check_split(body.get("trafficSplit", {}), set(), "endpoint.traffic_split")
    endpoint_id = call.query.get("endpointId", "")
    if endpoint_id and not _ENDPOINT_ID.fullmatch(endpoint_id):
        raise invalid(
            f"endpoint_id {endpoint_id!r} is invalid: up to 63 characters in [a-z0-9-] starting with a "
            "letter, or a number of up to 9 digits without leading zeros."
        )
    prefix = f"{call.parent}/endpoints/"
    name = prefix + (endpoint_id or state.new_id(state.endpoints, prefix))
    if name in state.endpoints or state.held(name):
        raise ApiError("ALREADY_EXISTS", f"Endpoint {name} already exists.")

    def complete() -> dict[str, Any]:
        if name in state.endpoints:
            raise ApiError("ALREADY_EXISTS", f"Endpoint {name} already exists.")
        moment = timestamp(now())
        endpoint = {"name": name, **body, "createTime": moment, "updateTime": moment}
        state.endpoints[name] = endpoint
        return endpoint_document(endpoint)

    return state.start_operation(
        call,
        name,
        "CreateEndpointOperationMetadata",
        "Endpoint",
        complete,
        response_spec=ENDPOINT_SPEC,
        holds=frozenset({name}),
    )


def get_endpoint(state: State, call: Call) -> dict[str, Any]:
    return call.reply(endpoint_document(_endpoint(state, call)), ENDPOINT_SPEC)


def list_endpoints(state: State, call: Call) -> dict[str, Any]:
    prefix = f"{call.parent}/endpoints/"
    docs = [endpoint_document(e) for name, e in state.endpoints.items() if name.startswith(prefix)]
    return call.reply(list_page(call.query, docs, "endpoints", call.path), {"endpoints": ENDPOINT_SPEC})


def update_endpoint(state: State, call: Call) -> dict[str, Any]:
    """PATCH: not a long-running operation; the traffic split changes at once."""
    endpoint = _endpoint(state, call)
    paths = mask_paths(call.query.get("updateMask"), _ENDPOINT_UPDATABLE, "Endpoint")
    check_etag(call.body, endpoint_document(endpoint)["etag"], endpoint["name"])
    candidate = copy.deepcopy(endpoint)
    apply_mask(candidate, call.body, paths)
    get_string(candidate, "displayName", "endpoint", required=True)
    check_labels(candidate.get("labels", {}), "endpoint.labels")
    _check_split(candidate.get("trafficSplit", {}), set(_deployed_ids(endpoint)), "endpoint.traffic_split")
    candidate["updateTime"] = timestamp(now())
    endpoint.clear()
    endpoint.update(candidate)
    return call.reply(endpoint_document(endpoint), ENDPOINT_SPEC)


def delete_endpoint(state: State, call: Call) -> dict[str, Any]:
    endpoint = _endpoint(state, call)
    name = endpoint["name"]

    def check(current: dict[str, Any]) -> None:
        if current.get("deployedModels") or state.held(name):
            raise precondition(
                f"Endpoint {name} has deployed models (or a deployment in progress): undeploy them "
                "before deleting it."
            )
        if current.get("modelDeploymentMonitoringJob"):
            raise precondition(
                f"Endpoint {name} is monitored by {current['modelDeploymentMonitoringJob']}: delete "
                "the monitoring job first."
            )

    check(endpoint)

    def complete() -> dict[str, Any]:
        check(_current_endpoint(state, name))
        del state.endpoints[name]
        return {}

    return state.start_operation(call, name, "DeleteOperationMetadata", EMPTY, complete)


def _check_resources(deployed: dict[str, Any], where: str) -> None:
    """Custom-container models deploy on dedicated machines; fills maxReplicaCount as Vertex does."""
    if deployed.get("automaticResources") or deployed.get("sharedResources"):
        raise invalid(
            f"{where}: this model supports dedicated_resources only ({', '.join(_SUPPORTED_RESOURCES)})."
        )
    resources = get_object(deployed, "dedicatedResources", where, required=True)
    place = f"{where}.dedicated_resources"
    machine = get_object(resources, "machineSpec", place, required=True)
    machine_type = get_string(machine, "machineType", f"{place}.machine_spec", required=True)
    count = get_int(machine, "acceleratorCount", f"{place}.machine_spec", minimum=0)
    accelerator = machine.get("acceleratorType", "ACCELERATOR_TYPE_UNSPECIFIED")
    if (accelerator == "ACCELERATOR_TYPE_UNSPECIFIED") != (count == 0):
        raise invalid(f"{place}.machine_spec: accelerator_type and accelerator_count go together.")
    _check_machine(machine_type, None if count == 0 else accelerator, count, f"{place}.machine_spec")
    low = get_int(resources, "minReplicaCount", place, minimum=1)
    high = get_int(resources, "maxReplicaCount", place, minimum=0)
    if high == 0:
        resources["maxReplicaCount"] = low
    elif high < low:
        raise invalid(f"{place}: max_replica_count ({high}) must not be less than min_replica_count ({low}).")


def _check_machine(machine_type: str, accelerator: str | None, count: int, where: str) -> None:
    """Vertex serves predictions on its list of machine types only, each with the accelerators
    (and counts) it can carry; accelerator-optimized types (a2, a3, g2) need theirs."""
    spec = machines.MACHINE_TYPES.get(machine_type)
    if spec is None:
        raise invalid(f'{where}.machine_type: Machine type "{machine_type}" is not supported for prediction.')
    if accelerator is None:
        if spec.required:
            wanted, (n,) = next(iter(spec.counts.items()))
            raise invalid(
                f'{where}: Machine type "{machine_type}" requires accelerator_type "{wanted}" with '
                f"accelerator_count {n}."
            )
        return
    if accelerator not in spec.counts:
        raise invalid(
            f'{where}.accelerator_type: Accelerator "{accelerator}" is not supported for machine type '
            f'"{machine_type}".'
        )
    if count not in spec.counts[accelerator]:
        raise invalid(
            f'{where}.accelerator_count: {count} accelerators of type "{accelerator}" are not supported '
            f'for machine type "{machine_type}" (supported: {", ".join(map(str, spec.counts[accelerator]))}).'
        )


def deploy_model(state: State, call: Call) -> dict[str, Any]:
    endpoint = _endpoint(state, call)
    name = endpoint["name"]
    deployed = drop(
        copy.deepcopy(get_object(call.body, "deployedModel", required=True)), _DEPLOYED_MODEL_OUTPUT_ONLY
    )
    canonical_enums(deployed, DEPLOYED_MODEL_SPEC, "deployed_model")
    model_name, version = _split_model_ref(
        get_string(deployed, "model", "deployed_model", required=True), "deployed_model.model"
    )
    if not model_name.startswith(f"{call.parent}/"):
        raise invalid(
            f"Model {model_name} is not in {call.parent}: deploy models of the endpoint's location."
        )
    record = _model(state, model_name)
    version_id = record.resolve(version)
    _check_resources(deployed, "deployed_model")
    deployed_id = get_string(deployed, "id", "deployed_model")
    if deployed_id and not _DEPLOYED_MODEL_ID.fullmatch(deployed_id):
        raise invalid(f"deployed_model.id {deployed_id!r} must be 1 to 10 digits.")
    # An id being deployed is taken too: a retried deploy whose first answer was lost must not
    # make a second deployed model.
    if deployed_id in _deployed_ids(endpoint) or state.held(f"{name}/deployedModels/{deployed_id}"):
        raise ApiError("ALREADY_EXISTS", f"DeployedModel {deployed_id} already exists in {name}.")
    deployed_id = deployed_id or state.new_id()
    requested_split = call.body.get("trafficSplit", {})
    _check_split(requested_split, {*_deployed_ids(endpoint), "0"}, "traffic_split")
    deployed.update(
        id=deployed_id,
        model=model_name,
        modelVersionId=version_id,
        displayName=deployed.get("displayName") or record.fields.get("displayName", ""),
    )

    def complete() -> dict[str, Any]:
        current = _current_endpoint(state, name)
        _model(state, model_name).resolve(version_id)
        existing = _deployed_ids(current)
        if deployed_id in existing:
            raise ApiError("ALREADY_EXISTS", f"DeployedModel {deployed_id} already exists in {name}.")
        _check_split(requested_split, {*existing, "0"}, "traffic_split")
        moment = timestamp(now())
        created = {**deployed, "createTime": moment}
        current["deployedModels"] = [*current.get("deployedModels", []), created]
        if requested_split:
            split = {(deployed_id if key == "0" else key): value for key, value in requested_split.items()}
            current["trafficSplit"] = split
        elif not existing:
            current["trafficSplit"] = {deployed_id: 100}
        current["updateTime"] = moment
        return {"deployedModel": copy.deepcopy(created)}

    return state.start_operation(
        call,
        name,
        "DeployModelOperationMetadata",
        "DeployModelResponse",
        complete,
        response_spec={"deployedModel": DEPLOYED_MODEL_SPEC},
        # The model (and version) being deployed cannot be deleted; neither can the endpoint.
        holds=frozenset(
            {model_name, f"{model_name}@{version_id}", name, f"{name}/deployedModels/{deployed_id}"}
        ),
        staged=True,
    )


def _split_after_undeploy(
    endpoint: dict[str, Any], deployed_id: str, requested: dict[str, int]
) -> dict[str, int]:
    """The split an endpoint keeps once `deployed_id` is undeployed, or FAILED_PRECONDITION if that
    would drop traffic still going to it."""
    remaining = [other for other in _deployed_ids(endpoint) if other != deployed_id]
    if not remaining:
        return {}
    split = requested or endpoint.get("trafficSplit", {})
    if split.get(deployed_id, 0) > 0:
        raise precondition(
            f"DeployedModel {deployed_id} still receives {split[deployed_id]}% of the traffic of "
            f"{endpoint['name']}: move its traffic to other deployed models first, or pass a "
            "traffic_split that does."
        )
    return {key: value for key, value in split.items() if key != deployed_id}


def undeploy_model(state: State, call: Call) -> dict[str, Any]:
    endpoint = _endpoint(state, call)
    name = endpoint["name"]
    deployed_id = get_string(call.body, "deployedModelId", required=True)
    if deployed_id not in _deployed_ids(endpoint):
        raise not_found(f"DeployedModel {deployed_id} is not found in {name}.")
    requested = call.body.get("trafficSplit", {})
    if requested and len(_deployed_ids(endpoint)) == 1:
        raise invalid("traffic_split must be empty when the last deployed model is undeployed.")
    _check_split(requested, set(_deployed_ids(endpoint)), "traffic_split")
    _split_after_undeploy(endpoint, deployed_id, requested)

    def complete() -> dict[str, Any]:
        current = _current_endpoint(state, name)
        if deployed_id not in _deployed_ids(current):
            raise not_found(f"DeployedModel {deployed_id} is not found in {name}.")
        _check_split(requested, set(_deployed_ids(current)), "traffic_split")
        split = _split_after_undeploy(current, deployed_id, requested)
        models = [deployed for deployed in current["deployedModels"] if deployed["id"] != deployed_id]
        set_or_drop(current, "deployedModels", models)
        set_or_drop(current, "trafficSplit", split)
        current["updateTime"] = timestamp(now())
        return {}

    return state.start_operation(
        call, name, "UndeployModelOperationMetadata", "UndeployModelResponse", complete
    )


def mutate_deployed_model(state: State, call: Call) -> dict[str, Any]:
    endpoint = _endpoint(state, call)
    name = endpoint["name"]
    changes = copy.deepcopy(get_object(call.body, "deployedModel", required=True))
    canonical_enums(changes, DEPLOYED_MODEL_SPEC, "deployed_model")
    deployed_id = get_string(changes, "id", "deployed_model", required=True)
    paths = mask_paths(call.body.get("updateMask"), _MUTABLE_DEPLOYED_MODEL, "DeployedModel")

    def mutated(current: dict[str, Any]) -> dict[str, Any]:
        for deployed in current.get("deployedModels", []):
            if deployed["id"] == deployed_id:
                candidate = copy.deepcopy(deployed)
                apply_mask(candidate, changes, paths)
                _check_resources(candidate, "deployed_model")
                return candidate
        raise not_found(f"DeployedModel {deployed_id} is not found in {name}.")

    mutated(endpoint)

    def complete() -> dict[str, Any]:
        current = _current_endpoint(state, name)
        candidate = mutated(current)
        current["deployedModels"] = [
            candidate if deployed["id"] == deployed_id else deployed for deployed in current["deployedModels"]
        ]
        current["updateTime"] = timestamp(now())
        return {"deployedModel": copy.deepcopy(candidate)}

    return state.start_operation(
        call,
        name,
        "MutateDeployedModelOperationMetadata",
        "MutateDeployedModelResponse",
        complete,
        response_spec={"deployedModel": DEPLOYED_MODEL_SPEC},
    )
