"""What the Azure ML provider's kind handlers share (see `mlops_gitops.handlers`).

Each kind is a module with a `KindHandler` subclass (models, endpoints, monitors, schedules),
listed in `AzureMLProvider.handlers`. A handler module imports no Azure library at import time:
clients come from `self.api`, built on first use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from mlops_gitops import handlers
from mlops_gitops.errors import Diagnostic, ProviderError
from mlops_gitops.handlers import Request, S, T
from mlops_gitops.ownership import TAGS
from mlops_gitops.stack.model import Resource

if TYPE_CHECKING:
    from mlops_azureml.client import Clients
    from mlops_azureml.config import AzureMLConfig
    from mlops_azureml.provider import AzureMLProvider  # noqa: F401 (quoted in the base class below)

# Azure Resource Manager's tag rules: these characters are refused in names, at most 50 tags.
_TAG_NAME_FORBIDDEN = set("<>%&\\?/")
MAX_TAGS = 50
MAX_TAG_NAME, MAX_TAG_VALUE = 512, 256
# Azure keeps tags as written; the ownership markers go as the core spells them.
MARKERS = TAGS


class KindHandler(handlers.KindHandler["AzureMLProvider", S, T]):
    noun: ClassVar[str]  # what Azure ML calls the object, for messages

    @property
    def api(self) -> Clients:
        return self.provider.api

    @property
    def cfg(self) -> AzureMLConfig:
        return self.provider.cfg

    def tags(self, resource: Resource) -> dict[str, str]:
        """The resource's tags (stack tags merged in by the loader), plus the ownership markers."""
        return MARKERS.add(resource.tags, stack=self.stack, address=resource.address)

    def owned(self, tags: Mapping[str, str] | None, address: str) -> bool:
        return MARKERS.owned_by(dict(tags or {}), address=address, stack=self.stack)

    def validate(self, req: Request[S, T]) -> list[Diagnostic]:
        """What every kind shares: tags Azure accepts."""
        tags = req.resource.tags
        diags: list[Diagnostic] = []
        if len(tags) + len(MARKERS.keys) > MAX_TAGS:
            diags.append(
                Diagnostic(
                    f"{len(tags)} tags and the 2 ownership tags exceed Azure's {MAX_TAGS} per object", "tags"
                )
            )
        for key, value in tags.items():
            bad = sorted(set(key) & _TAG_NAME_FORBIDDEN)
            if bad:
                diags.append(Diagnostic(f"Azure tag names may not contain {' '.join(bad)}", f'tags["{key}"]'))
            elif len(key) > MAX_TAG_NAME:
                diags.append(Diagnostic(f"Azure tag names have at most {MAX_TAG_NAME} characters", "tags"))
            if len(value) > MAX_TAG_VALUE:
                diags.append(
                    Diagnostic(f"Azure tag values have at most {MAX_TAG_VALUE} characters", f'tags["{key}"]')
                )
        return diags

    def not_found(self, cloud_id: str) -> ProviderError:
        return ProviderError(
            f"no {self.noun} {cloud_id!r} in workspace {self.cfg.workspace}", code="NotFound"
        )

    def already_exists(self, address: str, name: str) -> ProviderError:
        return ProviderError(
            f"{self.noun} {name!r} already exists in workspace {self.cfg.workspace} and is not this "
            f"stack's: import it (mlops import {address} {name}) or rename the resource",
            code="AlreadyExists",
        )
