"""Pure translation between the neutral attributes the engine diffs and SageMaker's API shapes.

No I/O and no SDK import here: request payloads are plain dicts in the shape boto3 takes, and
describe responses come in as the plain dicts boto3 returns. Attribute dicts omit absent optional
blocks (never `None`), because the engine diffs them key by key."""

from __future__ import annotations

import copy
import hashlib
import json
import unicodedata
from collections.abc import Mapping
from typing import Any

from mlops_gitops.ownership import TAGS
from mlops_gitops.provider import UNKNOWN
from mlops_gitops.stack.schema import Autoscaling, DataCapture, EndpointSpec, ModelSpec
from mlops_sagemaker.config import EndpointSettings, ModelSettings

MODEL_FORCE_NEW = (
    "artifact",
    "image",
    "environment",
    "execution_role_arn",
    "enable_network_isolation",
    "vpc",
)
SCALING_NAMESPACE = "sagemaker"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
INVOCATIONS_METRIC = "SageMakerVariantInvocationsPerInstance"
MAX_NAME = 63  # SageMaker's limit for model, endpoint and endpoint-config names
# SageMaker's tag limits (the API reference's Tag and TagList); CloudWatch, SNS and EventBridge have
# the same ones for the objects a monitor or a schedule tags.
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
_TAG_PUNCTUATION = frozenset("_.:/=+-@")
_CAPTURE_MODES = {"input": "Input", "output": "Output"}
# The variant keys that say which registry version a variant deploys (see registry.py).
PACKAGE_KEYS = ("model_package", "model_package_arn", "model_package_version", "allow_unapproved")


# ------------------------------------------------------------------------------------- general
def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_dict(tags: list[Mapping[str, str]]) -> dict[str, str]:
    # Later entries win: some backends repeat a key after AddTags instead of overwriting it.
    return {t["Key"]: t["Value"] for t in tags}


def tag_changes(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """(tags to add or overwrite, keys to delete) to turn `before` into `after`."""
    add = {k: v for k, v in after.items() if before.get(k) != v}
    remove = [k for k in before if k not in after]
    return add, remove


def tag_problems(user: Mapping[str, str], managed: int) -> list[tuple[str, str]]:
    """(path, message) for each tag of `user` SageMaker would refuse, counting the `managed`
    ownership tags written beside them: at most 50 in all, keys of 1-128 and values of up to 256
    letters, digits, spaces and `_.:/=+-@`, and no key starting with `aws:` (AWS's own)."""
    problems = []
    if len(user) + managed > MAX_TAGS:
        problems.append(
            (
                "tags",
                f"SageMaker allows {MAX_TAGS} tags per resource, and {managed} of them are the "
                f"ownership tags mlops adds: at most {MAX_TAGS - managed} here ({len(user)} given)",
            )
        )
    for key, value in user.items():
        path = f"tags.{key}"
        if not 1 <= len(key) <= MAX_TAG_KEY:
            problems.append((path, f"a tag key has 1 to {MAX_TAG_KEY} characters ({len(key)} here)"))
        if len(value) > MAX_TAG_VALUE:
            problems.append((path, f"a tag value has at most {MAX_TAG_VALUE} characters ({len(value)} here)"))
        if key.lower().startswith("aws:"):
            problems.append((path, "tag keys starting with aws: are reserved for AWS"))
        bad = sorted({c for c in key + value if not _tag_character(c)})
        if bad:
            shown = ", ".join(repr(c) for c in bad)
            problems.append(
                (path, f"tags hold letters, digits, spaces and _ . : / = + - @ only, not {shown}")
            )
    return problems


def _tag_character(c: str) -> bool:
    # The API's pattern: Unicode letters (L), separators (Z) and numbers (N), and a few marks.
    return c in _TAG_PUNCTUATION or unicodedata.category(c)[0] in "LZN"


def user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    return TAGS.user(tags)


def _number(value: float) -> int | float:
    """AWS returns some integers as floats (TargetValue); the stack file holds them as ints."""
    return int(value) if float(value).is_integer() else value


# -------------------------------------------------------------------------------------- models
def model_attributes(
    spec: ModelSpec,
    settings: ModelSettings,
    *,
    image: str,
    execution_role_arn: str,
    tags: Mapping[str, str],
) -> dict[str, Any]:
    """A model's desired attributes, without `name` (see `model_name`) and the computed `arn`."""
    attrs: dict[str, Any] = {
        "artifact": spec.artifact,
        "image": image,
        "environment": dict(spec.environment),
        "execution_role_arn": execution_role_arn,
        "enable_network_isolation": settings.enable_network_isolation,
    }
    if settings.vpc is not None:
        attrs["vpc"] = {
            "subnets": list(settings.vpc.subnets),
            "security_groups": list(settings.vpc.security_groups),
        }
    attrs["tags"] = dict(tags)
    return attrs


def replacement_basis(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The values whose change replaces a model (SageMaker models are immutable)."""
    return {k: attrs.get(k) for k in MODEL_FORCE_NEW}


def model_name(stack: str, logical: str, attrs: Mapping[str, Any]) -> str:
    """`<logical>-<8 hex>`: deterministic, so the plan can show it, and new whenever the model is
    replaced, so the new model can exist beside the old one while endpoints move over."""
    basis = json.dumps({"stack": stack, "name": logical, **replacement_basis(attrs)}, sort_keys=True)
    digest = hashlib.sha256(basis.encode()).hexdigest()[:8]
    return f"{logical[: MAX_NAME - 9]}-{digest}"


def create_model_request(attrs: Mapping[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = {"Image": attrs["image"], "ModelDataUrl": attrs["artifact"]}
    if attrs.get("environment"):
        container["Environment"] = dict(attrs["environment"])
    request: dict[str, Any] = {
        "ModelName": attrs["name"],
        "PrimaryContainer": container,
        "ExecutionRoleArn": attrs["execution_role_arn"],
        "EnableNetworkIsolation": bool(attrs.get("enable_network_isolation")),
        "Tags": tag_list(attrs.get("tags", {})),
    }
    if attrs.get("vpc"):
        request["VpcConfig"] = {
            "Subnets": list(attrs["vpc"]["subnets"]),
            "SecurityGroupIds": list(attrs["vpc"]["security_groups"]),
        }
    return request


def model_from_describe(desc: Mapping[str, Any], tags: Mapping[str, str]) -> dict[str, Any]:
    """DescribeModel (+ ListTags) -> attributes. Only the first container is managed."""
    container = desc.get("PrimaryContainer") or next(iter(desc.get("Containers") or []), {})
    artifact = container.get("ModelDataUrl") or (
        container.get("ModelDataSource", {}).get("S3DataSource", {}).get("S3Uri", "")
    )
    attrs: dict[str, Any] = {
        "name": desc["ModelName"],
        "arn": desc["ModelArn"],
        "artifact": artifact,
        "image": container.get("Image", ""),
        "environment": dict(container.get("Environment") or {}),
        "execution_role_arn": desc.get("ExecutionRoleArn", ""),
        "enable_network_isolation": bool(desc.get("EnableNetworkIsolation", False)),
    }
    vpc = desc.get("VpcConfig")
    if vpc:
        attrs["vpc"] = {
            "subnets": list(vpc.get("Subnets", [])),
            "security_groups": list(vpc.get("SecurityGroupIds", [])),
        }
    attrs["tags"] = dict(tags)
    return attrs


def model_spec(attrs: Mapping[str, Any], default_role: str | None) -> dict[str, Any]:
    """Stack YAML for a model that plans with no changes against `attrs`."""
    spec: dict[str, Any] = {"artifact": attrs["artifact"], "image": attrs["image"]}
    if attrs.get("environment"):
        spec["environment"] = dict(attrs["environment"])
    if user_tags(attrs.get("tags", {})):
        spec["tags"] = user_tags(attrs["tags"])
    settings: dict[str, Any] = {}
    if attrs.get("execution_role_arn") and attrs["execution_role_arn"] != default_role:
        settings["execution_role_arn"] = attrs["execution_role_arn"]
    if attrs.get("enable_network_isolation"):
        settings["enable_network_isolation"] = True
    if attrs.get("vpc"):
        settings["vpc"] = dict(attrs["vpc"])
    if settings:
        spec["sagemaker"] = settings
    return spec


# ----------------------------------------------------------------------------------- endpoints
def _autoscaling_attrs(a: Autoscaling) -> dict[str, int]:
    return {
        "min": a.min,
        "max": a.max,
        "target_invocations_per_instance": a.target_invocations_per_instance,
        "scale_in_cooldown": a.scale_in_cooldown,
        "scale_out_cooldown": a.scale_out_cooldown,
    }


def _capture_attrs(dc: DataCapture) -> dict[str, Any]:
    return {
        "destination": dc.destination,
        "sample_percent": dc.sample_percent,
        # One canonical order, so `[output, input]` in the stack is not a perpetual diff.
        "capture": [m for m in _CAPTURE_MODES if m in dc.capture],
        "enabled": dc.enabled,
    }


def endpoint_attributes(
    spec: EndpointSpec,
    settings: EndpointSettings,
    *,
    model_names: Mapping[str, Any],
    packages: Mapping[str, Mapping[str, Any]] | None = None,
    tags: Mapping[str, str],
) -> dict[str, Any]:
    """An endpoint's desired attributes, without `name`, the computed `arn` and
    `endpoint_config_name`, and `rollout`.
    `model_names` maps a variant's logical model to its physical name (possibly UNKNOWN);
    `packages` maps the name of a variant that deploys a registry version to the attributes
    saying which (see `registry.variant_source`)."""
    variants = []
    for v in spec.variants:
        source = (packages or {}).get(v.name) or {"model": model_names.get(v.model or "", UNKNOWN)}
        variant: dict[str, Any] = {"name": v.name, **source, "weight": float(v.weight)}
        if v.serverless is not None:
            variant["serverless"] = {
                "memory_mb": v.serverless.memory_mb,
                "max_concurrency": v.serverless.max_concurrency,
            }
        else:
            variant["instance_type"] = v.instance_type
            variant["instance_count"] = v.instance_count
            scaling = v.autoscaling or spec.autoscaling
            if scaling is not None:
                variant["autoscaling"] = _autoscaling_attrs(scaling)
        variants.append(variant)
    attrs: dict[str, Any] = {"variants": variants}
    if spec.data_capture is not None:
        attrs["data_capture"] = _capture_attrs(spec.data_capture)
    if settings.kms_key_id:
        attrs["kms_key_id"] = settings.kms_key_id
    attrs["tags"] = dict(tags)
    return attrs


def config_name(endpoint: str, token: str) -> str:
    """`<endpoint>-<12 hex>`; `token` is fresh per change, so each change gets its own config."""
    return f"{config_prefix(endpoint)}{token}"


def config_prefix(endpoint: str) -> str:
    return f"{endpoint[: MAX_NAME - 13]}-"


def carried_counts(desired: Mapping[str, Any], live: Mapping[str, int]) -> dict[str, int]:
    """Initial instance counts for a new config: a variant the autoscaler manages keeps its live
    count (clamped to the new min/max), so an update does not shrink a fleet that scaled out."""
    out = {}
    for v in desired["variants"]:
        scaling = v.get("autoscaling")
        if scaling and v["name"] in live:
            out[v["name"]] = max(scaling["min"], min(scaling["max"], live[v["name"]]))
    return out


def endpoint_config_request(
    attrs: Mapping[str, Any], name: str, counts: Mapping[str, int] | None = None
) -> dict[str, Any]:
    counts = counts or {}
    variants = []
    for v in attrs["variants"]:
        pv: dict[str, Any] = {
            "VariantName": v["name"],
            "ModelName": v["model"],
            "InitialVariantWeight": float(v["weight"]),
        }
        if "serverless" in v:
            pv["ServerlessConfig"] = {
                "MemorySizeInMB": v["serverless"]["memory_mb"],
                "MaxConcurrency": v["serverless"]["max_concurrency"],
            }
        else:
            pv["InstanceType"] = v["instance_type"]
            pv["InitialInstanceCount"] = counts.get(v["name"], v["instance_count"])
        variants.append(pv)
    request: dict[str, Any] = {"EndpointConfigName": name, "ProductionVariants": variants}
    capture = attrs.get("data_capture")
    if capture:
        request["DataCaptureConfig"] = {
            "EnableCapture": capture["enabled"],
            "InitialSamplingPercentage": capture["sample_percent"],
            "DestinationS3Uri": capture["destination"],
            "CaptureOptions": [{"CaptureMode": _CAPTURE_MODES[m]} for m in capture["capture"]],
        }
    if attrs.get("kms_key_id"):
        request["KmsKeyId"] = attrs["kms_key_id"]
    request["Tags"] = tag_list(attrs.get("tags", {}))
    return request


def config_content(config: Mapping[str, Any]) -> dict[str, Any]:
    """What a CreateEndpointConfig request (or a DescribeEndpointConfig, its echo) asks for, in
    one form, so an existing config can be recognised as the one a request would have made."""
    variant_keys = (
        "VariantName",
        "ModelName",
        "InstanceType",
        "InitialInstanceCount",
        "ServerlessConfig",
    )
    variants = [
        {
            **{k: pv[k] for k in variant_keys if pv.get(k) is not None},
            "InitialVariantWeight": float(pv.get("InitialVariantWeight", 1.0)),
        }
        for pv in config.get("ProductionVariants") or []
    ]
    capture = config.get("DataCaptureConfig") or {}
    capture_keys = ("EnableCapture", "InitialSamplingPercentage", "DestinationS3Uri")
    return {
        "variants": variants,
        "capture": {
            **{k: capture[k] for k in capture_keys if k in capture},
            "modes": sorted(o.get("CaptureMode", "") for o in capture.get("CaptureOptions") or []),
        }
        if capture
        else None,
        "kms": config.get("KmsKeyId"),
    }


def _capture_from_aws(dcc: Mapping[str, Any]) -> dict[str, Any]:
    modes = {o.get("CaptureMode") for o in dcc.get("CaptureOptions", [])}
    if "InputAndOutput" in modes:
        modes |= {"Input", "Output"}
    return {
        "destination": dcc.get("DestinationS3Uri", ""),
        "sample_percent": dcc.get("InitialSamplingPercentage", 100),
        "capture": [m for m, aws in _CAPTURE_MODES.items() if aws in modes],
        "enabled": bool(dcc.get("EnableCapture", True)),
    }


def endpoint_from_describe(
    endpoint: Mapping[str, Any],
    config: Mapping[str, Any],
    tags: Mapping[str, str],
    scaling: Mapping[str, Mapping[str, Any]],
    prior: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """DescribeEndpoint + DescribeEndpointConfig (+ ListTags, + the variants' autoscaling, in
    attribute form) -> attributes.

    Weights and counts come from the endpoint, not the config: UpdateEndpointWeightsAndCapacities
    changes them without a new config. A variant with autoscaling reports the count recorded in
    `prior`, because its live count belongs to the autoscaler and is not drift."""
    live = {v["VariantName"]: v for v in endpoint.get("ProductionVariants", [])}
    recorded = {v.get("name"): v for v in (prior or {}).get("variants", [])}
    variants = []
    for pv in config.get("ProductionVariants", []):
        name = pv["VariantName"]
        now = live.get(name, {})
        weight = next(
            (
                w
                for w in (now.get("DesiredWeight"), now.get("CurrentWeight"), pv.get("InitialVariantWeight"))
                if w is not None
            ),
            1.0,
        )
        variant: dict[str, Any] = {"name": name, "model": pv.get("ModelName", "")}
        # Which registry version a variant deploys is not in the config, only in its model's name
        # (derived from the package): while the model is the recorded one, so is the version.
        before = recorded.get(name, {})
        if before.get("model_package_arn") and before.get("model") == variant["model"]:
            variant.update({k: before[k] for k in PACKAGE_KEYS if k in before})
        variant["weight"] = float(weight)
        if pv.get("ServerlessConfig"):
            sc = pv["ServerlessConfig"]
            variant["serverless"] = {
                "memory_mb": sc.get("MemorySizeInMB"),
                "max_concurrency": sc.get("MaxConcurrency"),
            }
        else:
            variant["instance_type"] = pv.get("InstanceType", "")
            count = next(
                (
                    c
                    for c in (
                        now.get("DesiredInstanceCount"),
                        now.get("CurrentInstanceCount"),
                        pv.get("InitialInstanceCount"),
                    )
                    if c is not None
                ),
                None,
            )
            if name in scaling and recorded.get(name, {}).get("instance_count") is not None:
                count = recorded[name]["instance_count"]
            variant["instance_count"] = count
            if name in scaling:
                variant["autoscaling"] = dict(scaling[name])
        variants.append(variant)
    attrs: dict[str, Any] = {
        "name": endpoint["EndpointName"],
        "arn": endpoint["EndpointArn"],
        "endpoint_config_name": endpoint["EndpointConfigName"],
        "status": endpoint.get("EndpointStatus", ""),
        "variants": variants,
    }
    if config.get("DataCaptureConfig"):
        attrs["data_capture"] = _capture_from_aws(config["DataCaptureConfig"])
    if config.get("KmsKeyId"):
        attrs["kms_key_id"] = config["KmsKeyId"]
    attrs["tags"] = dict(tags)
    # How the next change rolls out is the stack's choice, not something the cloud holds.
    if prior and "rollout" in prior:
        attrs["rollout"] = copy.deepcopy(prior["rollout"])
    return attrs


def _config_shape(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """What only a new EndpointConfig can change: everything but weights, counts, autoscaling
    and tags. How a variant names its registry version (`@latest-approved` or `@7`) changes
    nothing while it resolves to the same package: the package is in the model's name."""
    ignored = ("weight", "instance_count", "autoscaling", "model_package", "allow_unapproved")
    variants = [
        {k: v for k, v in variant.items() if k not in ignored} for variant in attrs.get("variants", [])
    ]
    return {
        "variants": variants,
        "data_capture": attrs.get("data_capture"),
        "kms_key_id": attrs.get("kms_key_id"),
    }


def needs_new_config(prior: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    return _config_shape(prior) != _config_shape(desired)


def capacity_changed(prior: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether any variant's weight or instance count differs (variants matched by name)."""
    before = {v["name"]: (v.get("weight"), v.get("instance_count")) for v in prior.get("variants", [])}
    return any(
        before.get(v["name"]) != (v.get("weight"), v.get("instance_count")) for v in desired["variants"]
    )


def weights_and_capacities(prior: Mapping[str, Any], desired: Mapping[str, Any]) -> list[dict[str, Any]]:
    """UpdateEndpointWeightsAndCapacities' DesiredWeightsAndCapacities for every variant. The
    count of a variant with autoscaling is sent only when the stack changed it: otherwise the
    autoscaler's current count stands."""
    before = {v["name"]: v.get("instance_count") for v in prior.get("variants", [])}
    out = []
    for v in desired["variants"]:
        item: dict[str, Any] = {"VariantName": v["name"], "DesiredWeight": float(v["weight"])}
        if "serverless" not in v and (
            not v.get("autoscaling") or before.get(v["name"]) != v["instance_count"]
        ):
            item["DesiredInstanceCount"] = v["instance_count"]
        out.append(item)
    return out


# ---------------------------------------------------------------------------------- autoscaling
def scaling_resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def policy_name(endpoint: str, variant: str) -> str:
    return f"{endpoint}-{variant}-invocations"


def scalable_target_request(endpoint: str, variant: str, scaling: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "ServiceNamespace": SCALING_NAMESPACE,
        "ResourceId": scaling_resource_id(endpoint, variant),
        "ScalableDimension": SCALABLE_DIMENSION,
        "MinCapacity": scaling["min"],
        "MaxCapacity": scaling["max"],
    }


def scaling_policy_request(endpoint: str, variant: str, scaling: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "PolicyName": policy_name(endpoint, variant),
        "ServiceNamespace": SCALING_NAMESPACE,
        "ResourceId": scaling_resource_id(endpoint, variant),
        "ScalableDimension": SCALABLE_DIMENSION,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": float(scaling["target_invocations_per_instance"]),
            "PredefinedMetricSpecification": {"PredefinedMetricType": INVOCATIONS_METRIC},
            "ScaleInCooldown": scaling["scale_in_cooldown"],
            "ScaleOutCooldown": scaling["scale_out_cooldown"],
        },
    }


def autoscaling_from_aws(
    target: Mapping[str, Any], policies: list[Mapping[str, Any]], preferred_policy: str
) -> dict[str, Any]:
    """A scalable target and its policies -> the `autoscaling` attribute. The invocations
    target-tracking policy we name is preferred; another one on the same metric is accepted (one
    made in the console). Without such a policy only min/max are reported, so the plan shows the
    policy fields as missing and the next apply restores the policy."""
    out: dict[str, Any] = {"min": target["MinCapacity"], "max": target["MaxCapacity"]}
    tracking = [
        p
        for p in policies
        if p.get("PolicyType") == "TargetTrackingScaling"
        and p.get("TargetTrackingScalingPolicyConfiguration", {})
        .get("PredefinedMetricSpecification", {})
        .get("PredefinedMetricType")
        == INVOCATIONS_METRIC
    ]
    tracking.sort(key=lambda p: p.get("PolicyName") != preferred_policy)
    if tracking:
        cfg = tracking[0]["TargetTrackingScalingPolicyConfiguration"]
        out["target_invocations_per_instance"] = _number(cfg["TargetValue"])
        if "ScaleInCooldown" in cfg:
            out["scale_in_cooldown"] = cfg["ScaleInCooldown"]
        if "ScaleOutCooldown" in cfg:
            out["scale_out_cooldown"] = cfg["ScaleOutCooldown"]
    return out


def endpoint_spec(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Stack YAML for an endpoint that plans with no changes against `attrs`. Variants name their
    model by its SageMaker name (import those models under the same names), or the registry
    version their model was made from."""
    variants = []
    for v in attrs["variants"]:
        variant: dict[str, Any] = {"name": v["name"]}
        if v.get("model_package"):
            variant["model_package"] = v["model_package"]
            if v.get("allow_unapproved"):
                variant["allow_unapproved"] = True
        else:
            variant["model"] = v["model"]
        variant["weight"] = v["weight"]
        if "serverless" in v:
            variant["serverless"] = dict(v["serverless"])
        else:
            variant["instance_type"] = v["instance_type"]
            variant["instance_count"] = v["instance_count"]
        if v.get("autoscaling"):
            variant["autoscaling"] = dict(v["autoscaling"])
        variants.append(variant)
    spec: dict[str, Any] = {"variants": variants}
    if attrs.get("data_capture"):
        spec["data_capture"] = dict(attrs["data_capture"])
    if user_tags(attrs.get("tags", {})):
        spec["tags"] = user_tags(attrs["tags"])
    if attrs.get("kms_key_id"):
        spec["sagemaker"] = {"kms_key_id": attrs["kms_key_id"]}
    return spec
