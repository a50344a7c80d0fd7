"""The Azure Machine Learning provider: models, endpoints, monitors and schedules, through the
`azure-ai-ml` SDK (`MLClient`) and Azure Monitor's client for autoscale settings.

Each kind is a handler module (`models`, `endpoints` with `rollout` and `autoscale`, `monitors`,
`schedules`); `HandlerProvider` dispatches to them. Importing this module imports no Azure
library: see `client.py`.

    provider:
      azureml: {subscription_id: 00000000-0000-0000-0000-000000000000, resource_group: ml, workspace: prod}

Every object made carries the tags `mlops-gitops:stack` and `mlops-gitops:address`, by which a
retried create recognises what an interrupted one left; names and versions are deterministic
(see `names.py`)."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from pydantic import BaseModel

from mlops_azureml import status
from mlops_azureml.batch_jobs import BatchJobHandler
from mlops_azureml.client import Clients
from mlops_azureml.config import AzureMLConfig
from mlops_azureml.endpoints import EndpointHandler
from mlops_azureml.models import ModelHandler
from mlops_azureml.monitors import MonitorHandler
from mlops_azureml.rollout import HealthCheck
from mlops_azureml.schedules import ScheduleHandler
from mlops_gitops.handlers import HandlerProvider, KindHandler
from mlops_gitops.provider import SandboxEndpoints


class AzureMLProvider(HandlerProvider):
    name: ClassVar[str] = "azureml"
    config_model: ClassVar[type[BaseModel]] = AzureMLConfig
    ci_login: ClassVar[str | None] = "azure"
    ci_extra: ClassVar[str | None] = "azureml"
    handlers: ClassVar[tuple[type[KindHandler[Any, Any, Any]], ...]] = (
        ModelHandler,
        EndpointHandler,
        MonitorHandler,
        ScheduleHandler,
        BatchJobHandler,
    )
    console_url = status.console_url  # `mlops status`: see status.py

    def __init__(self, config: BaseModel, *, stack: str, sandbox: SandboxEndpoints | None = None):
        super().__init__(config, stack=stack, sandbox=sandbox)
        self._cfg = cast(AzureMLConfig, config)
        self._api = Clients(self._cfg, sandbox)
        # Called after every traffic step of an endpoint rollout, and during its bakes, with
        # (endpoint name, split, new deployments); a returned reason rolls the change back. Azure
        # ML has no alarms the driver could watch: an embedding program sets this to consult its
        # metrics (Application Insights, Azure Monitor).
        self.health_check: HealthCheck | None = None

    @property
    def api(self) -> Clients:
        return self._api

    @property
    def cfg(self) -> AzureMLConfig:
        return self._cfg
