"""The Vertex AI provider: models, endpoints, monitors and schedules, through the low-level
`google.cloud.aiplatform_v1` clients over REST.

Each kind is a handler module (`models`, `endpoints` with `rollout`, `monitors`, `schedules`);
`HandlerProvider` dispatches to them. Importing this module imports no Google library: see
`client.py`.

    provider:
      vertex: {project: my-project, location: europe-west4, staging_bucket: gs://my-bucket}

Every object made carries the labels `mlops-gitops-stack` and `mlops-gitops-address` (see
`labels.py`), by which a retried create recognises what an interrupted one left."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from pydantic import BaseModel

from mlops_gitops.handlers import HandlerProvider, KindHandler
from mlops_gitops.provider import SandboxEndpoints
from mlops_vertex import status
from mlops_vertex.batch_jobs import BatchJobHandler
from mlops_vertex.client import Clients
from mlops_vertex.config import VertexConfig
from mlops_vertex.endpoints import EndpointHandler
from mlops_vertex.models import ModelHandler
from mlops_vertex.monitors import MonitorHandler
from mlops_vertex.rollout import HealthCheck
from mlops_vertex.schedules import ScheduleHandler


class VertexProvider(HandlerProvider):
    name: ClassVar[str] = "vertex"
    config_model: ClassVar[type[BaseModel]] = VertexConfig
    ci_login: ClassVar[str | None] = "google"
    ci_extra: ClassVar[str | None] = "vertex"
    handlers: ClassVar[tuple[type[KindHandler[Any, Any, Any]], ...]] = (
        ModelHandler,
        EndpointHandler,
        MonitorHandler,
        ScheduleHandler,
        BatchJobHandler,
    )
    live_status = status.live_status  # `mlops status`: see status.py
    console_url = status.console_url

    def __init__(self, config: BaseModel, *, stack: str, sandbox: SandboxEndpoints | None = None):
        super().__init__(config, stack=stack, sandbox=sandbox)
        self._cfg = cast(VertexConfig, config)
        self._api = Clients(self._cfg, sandbox)
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

    def pricing_region(self) -> str | None:
        return self._cfg.location  # the region of prices.json (the plan's cost estimate)
