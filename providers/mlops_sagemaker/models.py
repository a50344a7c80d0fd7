"""Models on SageMaker: the `model` kind.

A `model` owns one SageMaker Model. Models are immutable, so any change but tags (and the
registry's approval) makes a new one under a new name (`<logical>-<8 hex>`), created before the
old one is deleted, and the endpoints using it move over in between. A model with `registry:`
also registers Model Package versions, and creates the group if absent (see registry.py). The
registry is the archive: removing the model from the stack deletes the Model and keeps its
versions; only `mlops destroy` deletes them (and the group, if the stack created it).

Retiring (`retired:`). The core takes the model's variants off their endpoints and deletes its
monitors first; then the model is updated in place, never deleted: the Model and its artifact
stay, and it gets the three retirement tags (`mlops-gitops:retired-reason`, `-by`, `-at`). A
registered model's version is archived too (unless `archive: false`): Rejected, stage Archived,
and tagged the same way (see registry.py). An unregistered model gets the tags only: a SageMaker
Model has no notion of being archived. Removing the `retired:` block is an ordinary update: the
tags go, the version gets the stack's approval back."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from mlops_gitops.errors import Diagnostic, ProviderError
from mlops_gitops.features import ANY
from mlops_gitops.handlers import Request
from mlops_gitops.ownership import TAGS
from mlops_gitops.provider import IMAGE, UNKNOWN, ApplyContext, ResourceType
from mlops_gitops.stack.schema import FrameworkImage, ModelSpec
from mlops_sagemaker import images, registry, translate
from mlops_sagemaker.client import NotFoundError, call
from mlops_sagemaker.config import ModelSettings
from mlops_sagemaker.kind import KindHandler, already_exists

MODEL = ResourceType(
    "model",
    # `name` is derived from the others, so it only changes with them; listing it keeps the plan
    # honest about why the model is replaced.
    force_new=("name", *translate.MODEL_FORCE_NEW),
    computed=("arn", "package_arn", "package_version", "package_group_owned"),
    # A version's description is fixed when it is registered; a new one goes with the next.
    not_drift=("package_description", *TAGS.not_drift),
    create_before_destroy=True,
    supports={
        "registry": ANY,
        "registry.approval": ("Approved", "PendingManualApproval", "Rejected"),
        "retired": ANY,
    },
)
# `<model>-<8 hex>` names the SageMaker Model: of SageMaker's 63 characters, 54 are left.
_MAX_MODEL_NAME = translate.MAX_NAME - 9


class ModelHandler(KindHandler[ModelSpec, ModelSettings]):
    rtype: ClassVar[ResourceType] = MODEL
    settings_model: ClassVar[type[BaseModel] | None] = ModelSettings

    # ---- offline ------------------------------------------------------------------------------
    def validate(self, req: Request[ModelSpec, ModelSettings]) -> list[Diagnostic]:
        resource = req.resource
        spec = req.spec
        chosen = req.settings
        diags = self.tag_problems(resource)
        if len(resource.name) > _MAX_MODEL_NAME:
            diags.append(
                Diagnostic(
                    f"SageMaker names are at most {translate.MAX_NAME} characters and the model is "
                    f"named <model>-<8 hex>: the model name can have at most {_MAX_MODEL_NAME} "
                    f"({len(resource.name)} here)",
                    "",
                )
            )
        if not ((chosen and chosen.execution_role_arn) or self.cfg.role_arn):
            diags.append(
                Diagnostic(
                    "SageMaker needs an execution role: set role_arn in the sagemaker provider block, "
                    "or execution_role_arn here",
                    "sagemaker.execution_role_arn",
                )
            )
        if not spec.artifact.startswith(("s3://", "https://")):
            diags.append(Diagnostic("SageMaker loads model artifacts from S3: use an s3:// URI", "artifact"))
        return diags

    def framework_image(self, image: FrameworkImage) -> str:
        # From the tables shipped with the SDK (cached on disk): called once, at validate time.
        return images.resolve(image, self.cfg.region)

    # ---- pure ---------------------------------------------------------------------------------
    def desired(self, req: Request[ModelSpec, ModelSettings]) -> dict[str, Any]:
        resource, prior = req.resource, req.prior
        spec = req.spec
        chosen = req.settings
        image = spec.image if isinstance(spec.image, str) else req.resolved[IMAGE]
        body = translate.model_attributes(
            spec,
            chosen,
            image=image,
            execution_role_arn=chosen.execution_role_arn or self.cfg.role_arn or "",
            tags=self.tags(resource),
        )
        # Keep the current name while nothing forces a replacement, so an imported model (named
        # by someone else) is not replaced just to rename it.
        if prior is not None and translate.replacement_basis(prior) == translate.replacement_basis(body):
            name, arn, kept = prior["name"], prior.get("arn", UNKNOWN), prior
        else:
            name, arn, kept = translate.model_name(self.stack, resource.name, body), UNKNOWN, None
        if spec.registry is not None:
            archived = spec.retired is not None and spec.retired.archive
            body.update(registry.model_attributes(spec.registry, kept, archived=archived))
        return {"name": name, "arn": arn, **body}

    def risks(
        self,
        action: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        *,
        destroying: bool,
    ) -> list[str]:
        """What happens to the registry: removing a model (or its `registry:`, or moving it to
        another group) keeps its versions, the archive; `mlops destroy` deletes them."""
        if (
            not before
            or not before.get("package_group")
            or not isinstance(before.get("package_version"), int)
        ):
            return []
        group, version = before["package_group"], before["package_version"]
        package = f"{group}/{version}"
        if action == "delete" and destroying:
            if before.get("package_group_owned") is True:
                return [
                    f"deletes model package group {group} and its versions (registry history): "
                    f"{package} and the earlier versions this model registered, and the group "
                    "unless versions registered by others remain"
                ]
            return [
                f"deletes model package {package} and the earlier versions this model registered "
                f"(registry history); the group {group}, not created by this stack, stays"
            ]
        if action == "delete":
            return [f"keeps model package {package} in the registry (the archive)"]
        if action == "update" and (after or {}).get("package_group") != group:
            return [f"keeps model package {package} in the registry (the archive); the model leaves {group}"]
        return []

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        return translate.model_spec(attributes, self.cfg.role_arn)

    # ---- I/O ----------------------------------------------------------------------------------
    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        return self._read(attributes["name"], attributes.get("package_arn"))

    def _read(self, name: str, package_arn: str | None) -> dict[str, Any] | None:
        """The model, and its registration if it has one (`package_arn`, as recorded)."""
        try:
            desc = call(self.aws.sagemaker, "describe_model", ModelName=name)
        except NotFoundError:
            return None
        attrs = translate.model_from_describe(desc, self.list_tags(desc["ModelArn"]))
        if package_arn:
            attrs.update(self.registry.read(package_arn, attrs["tags"]))
        return attrs

    def _must_read(self, name: str, package_arn: str | None) -> dict[str, Any]:
        attrs = self._read(name, package_arn)
        if attrs is None:
            raise ProviderError(f"SageMaker model {name!r} does not exist", code="NotFound")
        return attrs

    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        name = desired["name"]
        adopted = False
        try:
            call(self.aws.sagemaker, "create_model", **translate.create_model_request(desired))
        except ProviderError as exc:
            if not already_exists(exc):
                raise
            # This call's own model, its reply lost and the call retried, or left by an apply that
            # stopped before recording it: it carries this address and the same content (which
            # the name, a digest of it, promises; checked all the same).
            current = self._read(name, None)
            if (
                current is None
                or not TAGS.owned_by(current["tags"], address=ctx.address)
                or translate.replacement_basis(current) != translate.replacement_basis(desired)
            ):
                raise ProviderError(
                    f"a different SageMaker model named {name!r} already exists", code=exc.code
                ) from exc
            self.sync_tags(current["arn"], current["tags"], desired["tags"])
            adopted = True
        # Registered after the model exists: a failure here leaves a model that the retry adopts
        # (above), never a registered version whose model was not made. An adopted model may have
        # been registered too before its apply stopped: that version is the one.
        package_arn = None
        if desired.get("package_group"):
            package_arn = (adopted and self.registry.registered(desired)) or self.registry.register(desired)
        return self._must_read(name, package_arn)

    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        immutable = [k for k in MODEL.force_new if prior.get(k) != desired.get(k)]
        if immutable:
            raise ProviderError(
                f"model {desired['name']}: {', '.join(immutable)} cannot change in place "
                "(SageMaker models are immutable): it must be replaced"
            )
        package_arn = prior.get("package_arn")
        current = self._must_read(desired["name"], package_arn)
        self.sync_tags(current["arn"], current["tags"], desired["tags"])
        group = desired.get("package_group")
        if group != prior.get("package_group") or (group and not package_arn):
            # Registered in another group, newly registered, or no longer (or the version was
            # deleted outside mlops). The old group keeps its versions: the registry is the archive.
            package_arn = self.registry.register(desired) if group else None
        elif group:
            # Approval, stage (archived or not) and tags, from the version as read just now.
            self.registry.update(package_arn, current, desired)
        return self._must_read(desired["name"], package_arn)

    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        """The Model goes; its registry versions go only with the whole stack (`mlops destroy`):
        removed from the stack, or replaced, the model leaves them in the registry, the archive."""
        with contextlib.suppress(NotFoundError):
            call(self.aws.sagemaker, "delete_model", ModelName=prior["name"])
        if ctx.destroying:
            self.registry.unregister(prior)
