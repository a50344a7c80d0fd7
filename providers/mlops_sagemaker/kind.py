"""One resource kind of the SageMaker provider: the shape every kind module implements.

`SageMakerProvider` dispatches each call to the handler of the resource's kind, so a new kind
(monitors, schedules, ...) is a new module with a `KindHandler` subclass, listed in
`handlers.py`. Like the rest of the provider, a handler module imports no AWS SDK at import
time: clients come from `self.aws`, built on first use."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast

from pydantic import BaseModel

from mlops_gitops.errors import Diagnostic, ProviderError
from mlops_gitops.provider import ApplyContext, ResourceType
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import ResourceBase

if TYPE_CHECKING:
    from mlops_sagemaker.client import Clients
    from mlops_sagemaker.config import SageMakerConfig
    from mlops_sagemaker.provider import SageMakerProvider


class KindHandler(ABC):
    rtype: ClassVar[ResourceType]
    settings_model: ClassVar[type[BaseModel] | None] = None  # the resource's `sagemaker:` block

    def __init__(self, provider: SageMakerProvider) -> None:
        self.provider = provider

    @property
    def aws(self) -> Clients:
        return self.provider.aws

    @property
    def cfg(self) -> SageMakerConfig:
        return self.provider.cfg

    def tags(self, resource: Resource) -> dict[str, str]:
        """The resource's tags (stack tags merged in by the loader) plus the ownership tags."""
        return {**cast(ResourceBase, resource.spec).tags, **self.provider.default_tags(resource.address)}

    def validate(self, resource: Resource, settings: BaseModel | None) -> list[Diagnostic]:
        return []

    def notes(self, attributes: Mapping[str, Any]) -> list[str]:
        """Lines the plan shows under this resource (e.g. a schedule's next run times)."""
        return []

    @abstractmethod
    def desired(
        self,
        resource: Resource,
        settings: BaseModel | None,
        refs: Mapping[str, Mapping[str, Any]],
        prior: Mapping[str, Any] | None,
    ) -> dict[str, Any]: ...

    @abstractmethod
    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None: ...

    @abstractmethod
    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]: ...

    @abstractmethod
    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]: ...

    @abstractmethod
    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None: ...

    def import_resource(self, cloud_id: str) -> dict[str, Any]:
        attrs = self.read({"name": cloud_id})
        if attrs is None:
            raise ProviderError(
                f"no SageMaker {self.rtype.kind} named {cloud_id!r} in {self.cfg.region}", code="NotFound"
            )
        return attrs

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError(f"the sagemaker provider cannot generate config for {self.rtype.kind}")
