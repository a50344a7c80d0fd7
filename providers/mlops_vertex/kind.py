"""What the Vertex AI provider's kind handlers share (see `mlops_gitops.handlers`).

Each kind is a module with a `KindHandler` subclass (models, endpoints, monitors, schedules),
listed in `VertexProvider.handlers`. Like the rest of the provider, a handler module imports no
Google library at import time: clients come from `self.api`, built on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from mlops_gitops import handlers
from mlops_gitops.errors import Diagnostic, ProviderError
from mlops_gitops.handlers import Request, S, T
from mlops_gitops.stack.model import Resource
from mlops_vertex import labels

if TYPE_CHECKING:
    from mlops_vertex.client import Clients
    from mlops_vertex.config import VertexConfig
    from mlops_vertex.provider import VertexProvider  # noqa: F401 (quoted in the base class below)


MAX_DISPLAY_NAME = 128  # characters in the display name of any Vertex AI resource


def display_name_problems(name: str, path: str) -> list[Diagnostic]:
    if len(name) <= MAX_DISPLAY_NAME:
        return []
    return [
        Diagnostic(
            f"{name[:20]}... is {len(name)} characters; Vertex AI display names have at most "
            f"{MAX_DISPLAY_NAME}",
            path,
        )
    ]


class KindHandler(handlers.KindHandler["VertexProvider", S, T]):
    noun: ClassVar[str]  # what Vertex calls the object, for messages

    @property
    def api(self) -> Clients:
        return self.provider.api

    @property
    def cfg(self) -> VertexConfig:
        return self.provider.cfg

    def labels(self, resource: Resource) -> dict[str, str]:
        """The resource's tags (stack tags merged in by the loader) as labels, plus ownership."""
        tags = resource.tags
        return labels.from_tags(tags, stack=self.stack, address=resource.address)

    def name(self, collection: str, object_id: str) -> str:
        return f"{self.api.parent}/{collection}/{object_id}"

    def validate(self, req: Request[S, T]) -> list[Diagnostic]:
        """What every kind shares: its labels, and its display name (the resource's name)."""
        resource = req.resource
        tags = resource.tags
        diags = [Diagnostic(m, "tags") for m in labels.collisions(tags)]
        diags += [
            Diagnostic(m, path) for m, path in labels.limits(tags, stack=self.stack, address=resource.address)
        ]
        diags += display_name_problems(resource.name, "")
        return diags

    def not_found(self, cloud_id: str) -> ProviderError:
        return ProviderError(f"no {self.noun} {cloud_id!r} in {self.api.parent}", code="NotFound")

    def already_exists(self, address: str, object_id: str) -> ProviderError:
        return ProviderError(
            f"a {self.noun} with ID {object_id!r} already exists in {self.api.parent} and is not "
            f"this stack's: import it (mlops import {address} {object_id}) or rename the resource",
            code="AlreadyExists",
        )
