"""What an endpoint serves, in the stack's own terms, whatever the cloud: per variant its share of
live traffic, its mirrored share, its model and its capacity. The plan document carries it for
every endpoint change and drift, before and after (`serving`), so that what reads the plan (the
review of a pull request, the cost estimate, guard rules, the status page) needs no knowledge of
any provider's attributes.

A provider gives it through `Provider.serving(kind, attributes)`. By default that is the neutral
stack spec the provider generates for `import --generate-config` (`to_spec`), whose variants are
already in the stack's vocabulary; a provider whose `to_spec` cannot read planned attributes
overrides it. Weights become percentages here, once for every provider.

    {"variants": [{"name": "blue", "model": "fraud-v7", "traffic_percent": 90.0,
                   "mirror_percent": null, "instance_type": "Standard_DS3_v2",
                   "instance_count": 2, "min_instances": null, "max_instances": null,
                   "serverless_memory_mb": null, "serverless_max_concurrency": null}, ...]}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops_gitops.provider import UNKNOWN

# The keys of each variant, in this order.
FIELDS = (
    "name",
    "model",
    "traffic_percent",
    "mirror_percent",
    "instance_type",
    "instance_count",
    "min_instances",
    "max_instances",
    "serverless_memory_mb",
    "serverless_max_concurrency",
)


# Leaves returned as they are, told by their exact type first: every endpoint of every plan is
# read through `without_unknowns`, and an isinstance check against Mapping (an ABC) per leaf cost
# most of its time.
_LEAVES = frozenset({str, int, float, bool, type(None)})


def without_unknowns(value: Any) -> Any:
    """`value` with every UNKNOWN (known only after apply) as None, for a pure reading of it."""
    kind = type(value)
    if kind in _LEAVES:
        return value
    if value is UNKNOWN:
        return None
    if kind is dict or isinstance(value, Mapping):
        return {k: without_unknowns(v) for k, v in value.items()}
    if kind is list or isinstance(value, list):
        return [without_unknowns(v) for v in value]
    return value


def from_spec(spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """The serving view of an endpoint spec in the stack's vocabulary (a stack file's endpoint, or
    what `to_spec` generates); None when it has no variants to read."""
    variants = spec.get("variants")
    if not isinstance(variants, list) or not variants:
        return None
    default_scaling = spec.get("autoscaling") if isinstance(spec.get("autoscaling"), Mapping) else None
    weights = [_number(v.get("weight", 1)) for v in variants if isinstance(v, Mapping)]
    total = sum(w for w in weights if w is not None)
    out = []
    for v in variants:
        if not isinstance(v, Mapping):
            return None
        weight = _number(v.get("weight", 1))
        serverless = v.get("serverless") if isinstance(v.get("serverless"), Mapping) else {}
        scaling = v.get("autoscaling") if isinstance(v.get("autoscaling"), Mapping) else None
        if scaling is None and not serverless:
            scaling = default_scaling
        model = v.get("model") or v.get("model_package")
        out.append(
            {
                "name": str(v.get("name", "")),
                "model": None if model is None else str(model),
                "traffic_percent": round(100 * weight / total, 2) if weight is not None and total else 0.0,
                "mirror_percent": _number(v.get("mirror_percent")),
                "instance_type": v.get("instance_type"),
                "instance_count": v.get("instance_count"),
                "min_instances": scaling.get("min") if scaling else None,
                "max_instances": scaling.get("max") if scaling else None,
                "serverless_memory_mb": serverless.get("memory_mb"),
                "serverless_max_concurrency": serverless.get("max_concurrency"),
            }
        )
    return {"variants": out}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)

