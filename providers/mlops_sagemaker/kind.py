"""What the SageMaker provider's kind handlers share (see `mlops_gitops.handlers`).

Each kind is a module with a `KindHandler` subclass (models, endpoints, monitors, schedules),
listed in `SageMakerProvider.handlers`. Like the rest of the provider, a handler module imports
no AWS SDK at import time: clients come from `self.aws`, built on first use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from mlops_gitops import handlers
from mlops_gitops.errors import Diagnostic, ProviderError
from mlops_gitops.handlers import S, T
from mlops_gitops.ownership import TAGS
from mlops_gitops.stack.model import Resource
from mlops_sagemaker import translate
from mlops_sagemaker.client import NotFoundError, call, collect

if TYPE_CHECKING:
    from mlops_sagemaker.client import Clients
    from mlops_sagemaker.config import SageMakerConfig
    from mlops_sagemaker.provider import SageMakerProvider  # noqa: F401 (quoted in the base class below)
    from mlops_sagemaker.registry import Registry


class KindHandler(handlers.KindHandler["SageMakerProvider", S, T]):
    @property
    def aws(self) -> Clients:
        return self.provider.aws

    @property
    def cfg(self) -> SageMakerConfig:
        return self.provider.cfg

    @property
    def registry(self) -> Registry:
        return self.provider.registry

    def tags(self, resource: Resource) -> dict[str, str]:
        """The resource's tags (stack tags merged in by the loader) plus the ownership tags."""
        return {**resource.tags, **self.provider.default_tags(resource.address)}

    def tag_problems(self, resource: Resource) -> list[Diagnostic]:
        """What SageMaker (and CloudWatch, SNS, EventBridge: the same limits) would refuse in the
        resource's tags, with the ownership tags counted in."""
        managed = self.provider.default_tags(resource.address)
        user = {k: v for k, v in resource.tags.items() if k not in managed}
        return [Diagnostic(message, path) for path, message in translate.tag_problems(user, len(managed))]

    def owner(self, arn: str) -> str | None:
        """The address in an object's ownership tag, None if it has none (or is gone)."""
        try:
            return TAGS.owner(self.list_tags(arn))
        except NotFoundError:
            return None

    def not_found(self, cloud_id: str) -> ProviderError:
        return ProviderError(
            f"no SageMaker {self.rtype.kind} named {cloud_id!r} in {self.cfg.region}", code="NotFound"
        )

    # ---- tags of SageMaker objects (models, endpoints, endpoint configs) ---------------------
    def list_tags(self, arn: str) -> dict[str, str]:
        return translate.tag_dict(collect(self.aws.sagemaker, "list_tags", "Tags", ResourceArn=arn))

    def sync_tags(self, arn: str, current: Mapping[str, str], wanted: Mapping[str, str]) -> None:
        add, remove = translate.tag_changes(current, wanted)
        if remove:
            call(self.aws.sagemaker, "delete_tags", ResourceArn=arn, TagKeys=remove)
        if add:
            call(self.aws.sagemaker, "add_tags", ResourceArn=arn, Tags=translate.tag_list(add))


def already_exists(exc: ProviderError) -> bool:
    """A create refused because the name is taken ("Cannot create already existing ...", or
    ResourceInUse): after a lost reply, possibly by the very call being retried."""
    return exc.code == "ResourceInUse" or (exc.code == "ValidationException" and "already exist" in str(exc))
