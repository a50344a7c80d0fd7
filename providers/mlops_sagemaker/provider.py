"""The SageMaker provider: models, real-time endpoints, monitors, retraining schedules and batch jobs.

Each kind is a handler module (`models`, `endpoints`, `monitors`, `schedules`); `HandlerProvider`
dispatches to them. This class holds what they share: the configuration, the AWS clients and the
model registry calls. Importing this module imports no AWS SDK: see `client.py`.

Retirement (`retired:`) on SageMaker. A retired model's variants leave their endpoints through
a new EndpointConfig and UpdateEndpoint (blue/green: the old fleet serves until the new one is
InService, and the variants left share all the traffic by their weights), its monitors are
deleted with their CloudWatch alarms, then the model is updated: the Model and its artifact stay,
tagged with the reason, who decided and when; a registered version is archived (approval
Rejected, so `@latest-approved` skips it; ModelLifeCycle stage Archived) and tagged the same way.
A retired endpoint is deleted (its configs and the models it made from packages with it).

    provider:
      sagemaker: {region: eu-west-1, role_arn: arn:aws:iam::123456789012:role/sagemaker}"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from pydantic import BaseModel

from mlops_gitops.handlers import HandlerProvider, KindHandler
from mlops_gitops.provider import SandboxEndpoints
from mlops_sagemaker import status
from mlops_sagemaker.batch_jobs import BatchJobHandler
from mlops_sagemaker.client import Clients
from mlops_sagemaker.config import SageMakerConfig
from mlops_sagemaker.endpoints import EndpointHandler
from mlops_sagemaker.models import ModelHandler
from mlops_sagemaker.monitors import MonitorHandler
from mlops_sagemaker.registry import Registry
from mlops_sagemaker.schedules import ScheduleHandler


class SageMakerProvider(HandlerProvider):
    name: ClassVar[str] = "sagemaker"
    config_model: ClassVar[type[BaseModel]] = SageMakerConfig
    ci_login: ClassVar[str | None] = "aws"
    ci_extra: ClassVar[str | None] = "sagemaker"
    ci_region_key: ClassVar[str | None] = "region"
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
        self._cfg = cast(SageMakerConfig, config)
        self._aws = Clients(self._cfg, sandbox)
        self._registry = Registry(self._aws)

    @property
    def aws(self) -> Clients:
        return self._aws

    @property
    def cfg(self) -> SageMakerConfig:
        return self._cfg

    def pricing_region(self) -> str | None:
        return self._cfg.region  # the region of prices.json (the plan's cost estimate)

    @property
    def registry(self) -> Registry:
        """Model registry calls: models register versions, endpoints deploy them."""
        return self._registry
