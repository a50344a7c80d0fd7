"""Optional parts of the neutral stack format, and the check that the stack's provider supports
the ones a resource uses.

The stack format is one vocabulary for every cloud, but not every cloud has every feature (a
serverless variant, a model registry with approval, alarms watched during a rollout) or accepts
every value (a serverless memory size). The core lists those optional parts here, per kind, by
attribute path; a provider declares in each kind's `ResourceType.supports` which it supports and,
for an enumerated one, which values; `mlops validate` reports any other use with its file, line
and column, before a cloud is called. A provider can explain why it lacks a feature (and what to
do instead) in `ResourceType.unsupported`, and that text is shown with the error.

    ResourceType(
        "endpoint",
        supports={
            "variants[*].serverless": ANY,
            "variants[*].serverless.memory_mb": (1024, 2048, 4096),
            "rollout.strategy": ("all_at_once", "canary"),
        },
        unsupported={"data_capture": "capture requests with the gateway's logs instead"},
    )
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_gitops import paths
from mlops_gitops.errors import Diagnostic
from mlops_gitops.stack.suggest import shown

if TYPE_CHECKING:
    from mlops_gitops.provider import ResourceType
    from mlops_gitops.stack.model import Resource
    from mlops_gitops.stack.yamlpos import Positions

# A supported feature whose values are not restricted.
ANY: None = None
Support = tuple[Any, ...] | None  # the values a provider accepts, or ANY


@dataclass(frozen=True)
class Feature:
    """An optional part of a kind's spec. `path` is a pattern (`[*]` for any index). A feature
    is used when its value is set and not empty; `value` maps what is written to what a provider
    lists (e.g. a monitor's `every` to hourly, daily or cron)."""

    path: str
    description: str
    value: Callable[[Any], Any] = lambda v: v


def _every(value: Any) -> str:
    return value if value in ("hourly", "daily") else "cron"


FEATURES: dict[str, tuple[Feature, ...]] = {
    "model": (
        Feature("registry", "registering versions in a model registry"),
        Feature("registry.approval", "the approval status of a registered version"),
        Feature("retired", "retiring a model (archived, its record kept)"),
    ),
    "endpoint": (
        Feature("variants[*].serverless", "serverless variants"),
        Feature("variants[*].serverless.memory_mb", "a serverless variant's memory size"),
        Feature("variants[*].model_package", "variants deploying a model registry version"),
        Feature("variants[*].mirror_percent", "shadow variants that receive a copy of the requests"),
        Feature("data_capture", "capturing requests and responses"),
        Feature("rollout.strategy", "a rollout strategy"),
        Feature("rollout.rollback_on", "alarms that roll a rollout back"),
        Feature("retired", "retiring an endpoint (deleted, its record kept)"),
    ),
    "monitor": (
        Feature("type", "a monitor type"),
        Feature("every", "a monitoring interval (hourly, daily, or cron for a cron expression)", _every),
    ),
    "schedule": (),
    "batch_job": (
        Feature("model_package", "batch jobs of a model registry version"),
        Feature("replicas", "a batch job's compute scaled within a range"),
        Feature("also_on", "batch jobs started after a retraining schedule's runs"),
        Feature("max_payload_mb", "the largest request of a batch job"),
        Feature("mini_batch_size", "records per request of a batch job"),
        Feature("max_concurrency", "requests in flight per instance of a batch job"),
        Feature("retries", "retries of a batch job's failed requests"),
    ),
}


def _present(value: Any) -> bool:
    return value is not None and value != [] and value != {} and value is not False


def used(kind: str, spec: Mapping[str, Any]) -> Iterator[tuple[Feature, str, Any]]:
    """(feature, concrete path, value as the provider lists it) for each optional part that
    `spec` (a resource's spec as JSON) uses."""
    for feature in FEATURES.get(kind, ()):
        for path, value in _expand(spec, paths.split(feature.path)):
            if _present(value):
                yield feature, path, feature.value(value)


def _expand(doc: Any, segments: tuple[paths.Segment, ...], done: tuple[paths.Segment, ...] = ()) -> Iterator[
    tuple[str, Any]
]:
    if not segments:
        yield paths.join(list(done)), doc
        return
    head, rest = segments[0], segments[1:]
    if head == "*" and isinstance(doc, list):
        for i, item in enumerate(doc):
            yield from _expand(item, rest, (*done, i))
    elif isinstance(head, str) and isinstance(doc, Mapping) and head in doc:
        yield from _expand(doc[head], rest, (*done, head))


def problems(
    res: Resource, rtype: ResourceType, provider: str, section: str, positions: Positions
) -> list[Diagnostic]:
    """A diagnostic for each optional part `res` uses that provider `provider` does not support,
    or supports with other values."""
    out: list[Diagnostic] = []
    spec = res.spec.model_dump(mode="json", exclude_none=True)
    refused: list[str] = []
    for feature, path, value in used(res.kind, spec):
        if any(path.startswith((f"{r}.", f"{r}[")) for r in refused):
            continue  # a part of a feature already refused: one problem, one message
        full = f"{section}.{res.name}.{path}"
        why = rtype.unsupported.get(feature.path)
        if feature.path not in rtype.supports:
            message = why or f"provider {provider} does not support {feature.description}"
        else:
            allowed = rtype.supports[feature.path]
            if allowed is None or value in allowed:
                continue
            secret = any(path == p or path.startswith((f"{p}.", f"{p}[")) for p in res.sensitive_paths)
            message = f"{why}; accepts" if why else f"provider {provider} accepts"
            message += " " + ", ".join(str(a) for a in allowed)
            message += "" if secret else f", not {shown(value)}"
        refused.append(path)
        out.append(Diagnostic(message, full, positions.value(full)))
    return out
