"""The Vertex AI provider: models, endpoints, monitors and schedules, through the low-level
`google.cloud.aiplatform_v1` clients over REST.

Each kind is a handler module (`models`, `endpoints` with `rollout`, `monitors`, `schedules`);
this class dispatches to them. Importing this module imports no Google library: see `client.py`.

    provider:
      vertex: {project: my-project, location: europe-west4, staging_bucket: gs://my-bucket}

Every object made carries the labels `mlops-gitops-stack` and `mlops-gitops-address` (see
`labels.py`), by which a retried create recognises what an interrupted one left."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, cast

from pydantic import BaseModel

from mlops_gitops.errors import Diagnostic, NotSupportedError
from mlops_gitops.provider import ApplyContext, Emulator, Provider, ResourceType, SandboxEndpoints
from mlops_gitops.stack.model import Resource
from mlops_vertex.client import Clients
from mlops_vertex.config import VertexConfig
from mlops_vertex.endpoints import EndpointHandler
from mlops_vertex.kind import KindHandler
from mlops_vertex.models import ModelHandler
from mlops_vertex.monitors import MonitorHandler
from mlops_vertex.rollout import HealthCheck
from mlops_vertex.schedules import ScheduleHandler

HANDLERS: tuple[type[KindHandler], ...] = (ModelHandler, EndpointHandler, MonitorHandler, ScheduleHandler)


class VertexProvider(Provider):
    name: ClassVar[str] = "vertex"
    kinds: ClassVar[dict[str, ResourceType]] = {h.rtype.kind: h.rtype for h in HANDLERS}
    config_model: ClassVar[type[BaseModel]] = VertexConfig
    settings_models: ClassVar[dict[str, type[BaseModel]]] = {
        h.rtype.kind: h.settings_model for h in HANDLERS if h.settings_model is not None
    }
    sdk_hint: ClassVar[str] = "pip install 'mlops-gitops[vertex]'"

    def __init__(self, config: BaseModel, *, stack: str, sandbox: SandboxEndpoints | None = None):
        super().__init__(config, stack=stack, sandbox=sandbox)
        self._cfg = cast(VertexConfig, config)
        self._api = Clients(self._cfg, sandbox)
        self._handlers = {h.rtype.kind: h(self) for h in HANDLERS}
        # Called after every traffic step of an endpoint rollout, and during its waits, with
        # (endpoint id, split, new deployed model ids); a returned reason rolls the change back.
        # Vertex has no alarms of its own: an embedding program sets this to consult its metrics.
        self.health_check: HealthCheck | None = None

    @property
    def api(self) -> Clients:
        return self._api

    @property
    def cfg(self) -> VertexConfig:
        return self._cfg

    @classmethod
    def emulator(cls, settings: Mapping[str, Any]) -> Emulator | None:
        from mlops_vertex.emulator import VertexEmulator

        return VertexEmulator(settings)

    def _handler(self, kind: str) -> KindHandler:
        try:
            return self._handlers[kind]
        except KeyError:
            raise NotSupportedError(f"the vertex provider does not manage {kind} resources") from None

    # ---- offline / pure ----------------------------------------------------------------------------
    def validate(self, resource: Resource, settings: BaseModel | None) -> list[Diagnostic]:
        return self._handler(resource.kind).validate(resource, settings)

    def desired(
        self,
        resource: Resource,
        settings: BaseModel | None,
        refs: Mapping[str, Mapping[str, Any]],
        prior: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        return self._handler(resource.kind).desired(resource, settings, refs, prior)

    def notes(self, kind: str, attributes: Mapping[str, Any]) -> list[str]:
        return self._handler(kind).notes(attributes)

    def to_spec(self, kind: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
        return self._handler(kind).to_spec(attributes)

    # ---- I/O ---------------------------------------------------------------------------------------
    def read(self, kind: str, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        return self._handler(kind).read(attributes)

    def create(self, kind: str, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        return self._handler(kind).create(desired, ctx)

    def update(
        self, kind: str, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        return self._handler(kind).update(prior, desired, ctx)

    def delete(self, kind: str, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        self._handler(kind).delete(prior, ctx)

    def import_resource(self, kind: str, cloud_id: str) -> dict[str, Any]:
        return self._handler(kind).import_resource(cloud_id)

    def import_references(self, kind: str, attributes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        return self._handler(kind).import_references(attributes)

    def rollback(
        self, kind: str, current: Mapping[str, Any], target: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        return self._handler(kind).rollback(current, target, ctx)
