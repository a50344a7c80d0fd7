"""One resource kind of the Vertex AI provider: the shape every kind module implements.

`VertexProvider` dispatches each call to the handler of the resource's kind. Like the rest of the
provider, a handler module imports no Google library at import time: clients come from
`self.api`, built on first use."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast

from pydantic import BaseModel

from mlops_gitops.errors import Diagnostic, NotSupportedError, ProviderError
from mlops_gitops.provider import ApplyContext, ResourceType
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import ResourceBase
from mlops_vertex import labels

if TYPE_CHECKING:
    from mlops_vertex.client import Clients
    from mlops_vertex.config import VertexConfig
    from mlops_vertex.provider import VertexProvider


class KindHandler(ABC):
    rtype: ClassVar[ResourceType]
    settings_model: ClassVar[type[BaseModel] | None] = None  # the resource's `vertex:` block
    noun: ClassVar[str]  # what Vertex calls the object, for messages

    def __init__(self, provider: VertexProvider) -> None:
        self.provider = provider

    @property
    def api(self) -> Clients:
        return self.provider.api

    @property
    def cfg(self) -> VertexConfig:
        return self.provider.cfg

    @property
    def stack(self) -> str:
        return self.provider.stack

    def labels(self, resource: Resource) -> dict[str, str]:
        """The resource's tags (stack tags merged in by the loader) as labels, plus ownership."""
        tags = cast(ResourceBase, resource.spec).tags
        return labels.from_tags(tags, stack=self.stack, address=resource.address)

    def name(self, collection: str, object_id: str) -> str:
        return f"{self.api.parent}/{collection}/{object_id}"

    def validate(self, resource: Resource, settings: BaseModel | None) -> list[Diagnostic]:
        return [Diagnostic(m, "tags") for m in labels.collisions(cast(ResourceBase, resource.spec).tags)]

    def notes(self, attributes: Mapping[str, Any]) -> list[str]:
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

    def must_read(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        attrs = self.read(attributes)
        if attrs is None:
            raise ProviderError(f"{self.noun} {attributes['id']!r} disappeared", code="NotFound")
        return attrs

    def import_resource(self, cloud_id: str) -> dict[str, Any]:
        attrs = self.read({"id": cloud_id})
        if attrs is None:
            raise ProviderError(f"no {self.noun} {cloud_id!r} in {self.api.parent}", code="NotFound")
        return attrs

    def import_references(self, attributes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        return []

    def rollback(
        self, current: Mapping[str, Any], target: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        raise NotSupportedError(f"the vertex provider cannot roll back {self.rtype.kind} resources")

    @abstractmethod
    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]: ...

    def already_exists(self, address: str, object_id: str) -> ProviderError:
        return ProviderError(
            f"a {self.noun} with ID {object_id!r} already exists in {self.api.parent} and is not "
            f"this stack's: import it (mlops import {address} {object_id}) or rename the resource",
            code="AlreadyExists",
        )
