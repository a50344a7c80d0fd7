"""The registry of resource kinds a stack may hold.

A kind names its stack-file section, its pydantic spec and the references it makes to other
resources (which become edges of the dependency graph). New kinds (batch inference, retirement)
register here; a provider says which kinds it supports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from mlops_gitops.stack import schema


@dataclass(frozen=True)
class Reference:
    """`path` (dotted, relative to the resource) names a resource of `kind` called `name`."""

    path: str
    kind: str
    name: str

    @property
    def address(self) -> str:
        return f"{self.kind}.{self.name}"


@dataclass(frozen=True)
class Kind:
    name: str
    section: str
    spec: type[BaseModel]
    references: Callable[[BaseModel], list[Reference]]


def _endpoint_refs(spec: BaseModel) -> list[Reference]:
    # Variants that deploy a registry version (`model_package`) name no model; the graph links
    # them to the models registering into that group (see stack/graph.py).
    assert isinstance(spec, schema.EndpointSpec)
    return [
        Reference(f"variants[{i}].model", "model", v.model)
        for i, v in enumerate(spec.variants)
        if v.model is not None
    ]


def _monitor_refs(spec: BaseModel) -> list[Reference]:
    assert isinstance(spec, schema.MonitorSpec)
    model = [Reference("model", "model", spec.model)] if spec.model is not None else []
    return [Reference("endpoint", "endpoint", spec.endpoint), *model]


def _schedule_refs(spec: BaseModel) -> list[Reference]:
    assert isinstance(spec, schema.ScheduleSpec)
    return [Reference(f"also_on[{i}]", "monitor", m) for i, m in enumerate(spec.also_on)]


def _batch_job_refs(spec: BaseModel) -> list[Reference]:
    assert isinstance(spec, schema.BatchJobSpec)
    model = [Reference("model", "model", spec.model)] if spec.model is not None else []
    return model + [Reference(f"also_on[{i}]", "schedule", s) for i, s in enumerate(spec.also_on)]


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("model", "models", schema.ModelSpec, lambda _s: []),
        Kind("endpoint", "endpoints", schema.EndpointSpec, _endpoint_refs),
        Kind("monitor", "monitors", schema.MonitorSpec, _monitor_refs),
        Kind("schedule", "schedules", schema.ScheduleSpec, _schedule_refs),
        Kind("batch_job", "batch_jobs", schema.BatchJobSpec, _batch_job_refs),
    )
}
SECTIONS: dict[str, Kind] = {k.section: k for k in KINDS.values()}
