"""Application Auto Scaling of an endpoint's variants: the scalable target and policy of each
variant with `autoscaling:`, which the endpoint resource owns (see endpoints.py for when they are
lifted and put back around a config switch)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, NamedTuple

from mlops_sagemaker import translate
from mlops_sagemaker.client import Clients, NotFoundError, call, collect


class VariantScaling(NamedTuple):
    """One variant's scalable target and the policies attached to it, as AWS describes them."""

    target: dict[str, Any]
    policies: list[dict[str, Any]]


def describe(aws: Clients, endpoint: str, variants: list[str]) -> dict[str, VariantScaling]:
    """The registered scalable targets (and their policies) of the given variants."""
    if not variants:
        return {}
    aas = aws.autoscaling
    ids = {translate.scaling_resource_id(endpoint, v): v for v in variants}
    targets = collect(
        aas,
        "describe_scalable_targets",
        "ScalableTargets",
        ServiceNamespace=translate.SCALING_NAMESPACE,
        ResourceIds=list(ids),
        ScalableDimension=translate.SCALABLE_DIMENSION,
    )
    out = {}
    for target in targets:
        rid = target["ResourceId"]
        if rid not in ids or target.get("ScalableDimension") != translate.SCALABLE_DIMENSION:
            continue
        policies = collect(
            aas,
            "describe_scaling_policies",
            "ScalingPolicies",
            ServiceNamespace=translate.SCALING_NAMESPACE,
            ResourceId=rid,
            ScalableDimension=translate.SCALABLE_DIMENSION,
        )
        out[ids[rid]] = VariantScaling(target, [p for p in policies if p.get("ResourceId") == rid])
    return out


def sync(aws: Clients, endpoint: str, current: dict[str, VariantScaling], desired: Mapping[str, Any]) -> None:
    """Make the variants' scaling what `desired` (endpoint attributes) asks for, given `current`
    as `describe` found it."""
    want = {v["name"]: v["autoscaling"] for v in desired["variants"] if v.get("autoscaling")}
    lift(aws, {v: s for v, s in current.items() if v not in want})
    for variant, scaling in want.items():
        have = current.get(variant)
        policy = translate.policy_name(endpoint, variant)
        if have is None or translate.autoscaling_from_aws(have.target, have.policies, policy) != scaling:
            aas = aws.autoscaling
            call(
                aas,
                "register_scalable_target",
                **translate.scalable_target_request(endpoint, variant, scaling),
            )
            call(aas, "put_scaling_policy", **translate.scaling_policy_request(endpoint, variant, scaling))


def lift(aws: Clients, scaling: dict[str, VariantScaling]) -> None:
    """Delete the policies, then deregister the targets (AWS would drop the policies with the
    target; deleting them first leaves nothing behind on any backend)."""
    aas = aws.autoscaling
    for s in scaling.values():
        key = {k: s.target[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")}
        for policy in s.policies:
            with contextlib.suppress(NotFoundError):
                call(aas, "delete_scaling_policy", PolicyName=policy["PolicyName"], **key)
        with contextlib.suppress(NotFoundError):
            call(aas, "deregister_scalable_target", **key)


def restore(aws: Clients, scaling: dict[str, VariantScaling]) -> None:
    """Put back targets and policies exactly as `describe` found them."""
    aas = aws.autoscaling
    for s in scaling.values():
        key = {k: s.target[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")}
        call(
            aas,
            "register_scalable_target",
            MinCapacity=s.target["MinCapacity"],
            MaxCapacity=s.target["MaxCapacity"],
            **key,
        )
        for p in s.policies:
            body = {k: p[k] for k in p if k.endswith("PolicyConfiguration")}
            call(
                aas,
                "put_scaling_policy",
                PolicyName=p["PolicyName"],
                PolicyType=p["PolicyType"],
                **key,
                **body,
            )
