"""Models on Vertex AI: the `model` kind.

A `model` owns one Vertex AI Model (ID `<name>-<8 hex>`) and, over time, its versions. The
version the stack describes is `version_id`; it carries the `default` alias (so a bare
`models/ID` means it) and the stack's `vertex.aliases`. A change of artifact, image or
environment uploads a NEW VERSION of the same model (`parent_model`), an in-place update: the plan
shows `version_id` as known after apply, and the endpoints serving the model roll the new
version out. Earlier versions stay in the registry (they are the model's history, and what
`mlops rollback` moves the aliases back to). Only a new encryption key replaces the model.

Attributes: id, display_name, version_id, artifact, image, environment, description?, aliases,
kms_key_name?, labels."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, ClassVar, cast

from pydantic import BaseModel

from mlops_gitops.errors import Diagnostic, ProviderError, StackError
from mlops_gitops.provider import UNKNOWN, ApplyContext, ResourceType
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import ModelSpec
from mlops_vertex import images, labels, translate
from mlops_vertex.client import NotFoundError, to_dict
from mlops_vertex.config import ModelSettings
from mlops_vertex.kind import KindHandler

MODEL = ResourceType(
    "model",
    # `id` derives from the key, so it only changes with it; listing it keeps the plan honest.
    force_new=("id", "kms_key_name"),
    create_before_destroy=True,
    id_field="id",
)


class ModelHandler(KindHandler):
    rtype: ClassVar[ResourceType] = MODEL
    settings_model: ClassVar[type[BaseModel] | None] = ModelSettings
    noun: ClassVar[str] = "Vertex AI model"

    # ---- offline ------------------------------------------------------------------------------
    def validate(self, resource: Resource, settings: BaseModel | None) -> list[Diagnostic]:
        spec = cast(ModelSpec, resource.spec)
        chosen = cast(ModelSettings | None, settings) or ModelSettings()
        diags = super().validate(resource, settings)
        if not spec.artifact.startswith("gs://"):
            diags.append(
                Diagnostic("Vertex AI loads model artifacts from Cloud Storage: use a gs:// URI", "artifact")
            )
        if spec.registry is not None:
            diags.append(
                Diagnostic(
                    "Vertex AI keeps versions inside the model: every change of artifact, image or "
                    "environment uploads a new version of it. Remove registry (name versions with "
                    "vertex.aliases)",
                    "registry",
                )
            )
        if not isinstance(spec.image, str):
            try:
                images.resolve(spec.image, self.cfg.location)
            except images.ImageError as exc:
                diags.append(Diagnostic(str(exc), "image"))
        if translate.DEFAULT_ALIAS in chosen.aliases:
            diags.append(
                Diagnostic(
                    "`default` is the registry's alias of the stack's version, set by the provider",
                    "vertex.aliases",
                )
            )
        return diags

    # ---- pure ---------------------------------------------------------------------------------
    def desired(
        self,
        resource: Resource,
        settings: BaseModel | None,
        refs: Mapping[str, Mapping[str, Any]],
        prior: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        spec = cast(ModelSpec, resource.spec)
        chosen = cast(ModelSettings | None, settings) or ModelSettings()
        if isinstance(spec.image, str):
            image = spec.image
        else:
            try:
                image = images.resolve(spec.image, self.cfg.location)
            except images.ImageError as exc:
                raise StackError.of(
                    [Diagnostic(str(exc), f"models.{resource.name}.image", resource.position)]
                ) from exc
        attrs: dict[str, Any] = {
            "id": UNKNOWN,
            "display_name": resource.name,
            "version_id": UNKNOWN,
            "artifact": spec.artifact,
            "image": image,
            "environment": dict(spec.environment),
        }
        if spec.description:
            attrs["description"] = spec.description
        attrs["aliases"] = translate.model_aliases(chosen.aliases)
        if chosen.kms_key_name:
            attrs["kms_key_name"] = chosen.kms_key_name
        attrs["labels"] = self.labels(resource)
        was = prior or {}
        # The current ID and version carry over while nothing forces a new model or version, so
        # an imported model (named by someone else) keeps its ID.
        if prior is not None and was.get("kms_key_name") == attrs.get("kms_key_name"):
            attrs["id"] = was["id"]
            if translate.version_basis(was) == translate.version_basis(attrs):
                attrs["version_id"] = was.get("version_id", UNKNOWN)
        else:
            attrs["id"] = translate.object_id(
                self.stack, resource.name, {"kms_key_name": attrs.get("kms_key_name")}
            )
        return attrs

    # ---- read ---------------------------------------------------------------------------------
    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        """The recorded version; the default version if that one is gone; None without the model."""
        version = attributes.get("version_id")
        found = self._get(attributes["id"], version) if version else None
        if found is None:
            found = self._get(attributes["id"], None)
        return translate.model_from_api(found) if found is not None else None

    def _get(self, model_id: str, version: str | None) -> dict[str, Any] | None:
        name = self.name("models", model_id) + (f"@{version}" if version else "")
        try:
            return to_dict(self.api.call(self.api.models.get_model, f"GetModel {name}", name=name))
        except NotFoundError:
            return None

    def import_resource(self, cloud_id: str) -> dict[str, Any]:
        """`ID` (its default version) or `ID@VERSION`."""
        model_id, _, version = cloud_id.partition("@")
        found = self._get(model_id, version or None)
        if found is None:
            raise self.not_found(cloud_id)
        return translate.model_from_api(found)

    # ---- create / update / delete ---------------------------------------------------------------
    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        existing = self._get(desired["id"], None)
        if existing is not None:
            # Ours only if labelled so: left by a create that died before recording it.
            if not labels.owned_by(existing.get("labels", {}), stack=self.stack, address=ctx.address):
                raise self.already_exists(ctx.address, desired["id"])
            return self.update(translate.model_from_api(existing), desired, ctx)
        request = translate.upload_request(self.api.parent, desired, parent_model=None)
        operation = self.api.call(self.api.models.upload_model, f"UploadModel {desired['id']}", **request)
        # Recorded before waiting: if the upload fails half way, state names the model.
        ctx.checkpoint(translate.known(desired))
        uploaded = self.api.wait(operation, ctx, f"uploading model {desired['id']}")
        return self._settle(desired, str(uploaded.model_version_id))

    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        current = self.read(prior)
        if current is None:
            raise ProviderError(f"{self.noun} {prior['id']!r} disappeared", code="NotFound")
        version = current["version_id"]
        # Compared with the cloud rather than trusting the plan's unknown `version_id`: a version
        # an interrupted apply uploaded already is not uploaded twice.
        if translate.version_basis(current) != translate.version_basis(desired):
            parent_model = self.name("models", desired["id"])
            request = translate.upload_request(self.api.parent, desired, parent_model=parent_model)
            what = f"uploading a new version of model {desired['id']}"
            uploaded = self.api.call_and_wait(self.api.models.upload_model, ctx, what, **request)
            version = str(uploaded.model_version_id)
            ctx.progress(f"model {desired['id']}: version {version} uploaded and made the default")
        return self._settle(desired, version)

    def _settle(self, desired: Mapping[str, Any], version: str) -> dict[str, Any]:
        """Give `version` the stack's aliases, labels and description; return it read back."""
        model_id = desired["id"]
        now = self.must_read({"id": model_id, "version_id": version})
        changes = translate.alias_changes(now["aliases"], desired["aliases"])
        if changes:
            # Giving an alias (`default` included) to a version takes it from any other: the
            # registry keeps each alias on one version.
            self.api.call(
                self.api.models.merge_version_aliases,
                f"MergeVersionAliases {model_id}@{version}",
                name=self.name("models", f"{model_id}@{version}"),
                version_aliases=changes,
            )
        if now["labels"] != desired["labels"] or now.get("description") != desired.get("description"):
            # Vertex keeps labels on the model and on each version (a read merges both), and the
            # description on the model: set both levels so the merged labels are the stack's.
            model = {"name": self.name("models", model_id), "labels": desired["labels"]}
            if desired.get("description"):
                model["description"] = desired["description"]
            self.api.call(
                self.api.models.update_model,
                f"UpdateModel {model_id}",
                model=model,
                update_mask={"paths": ["labels", "description"]},
            )
            self.api.call(
                self.api.models.update_model,
                f"UpdateModel {model_id}@{version}",
                model={"name": self.name("models", f"{model_id}@{version}"), "labels": desired["labels"]},
                update_mask={"paths": ["labels"]},
            )
        return self.must_read({"id": model_id, "version_id": version})

    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        """Every version goes with the model. Vertex refuses while a version is deployed, which
        the engine avoids by moving the endpoints off first."""
        name = self.name("models", prior["id"])
        with contextlib.suppress(NotFoundError):
            self.api.call_and_wait(
                self.api.models.delete_model, ctx, f"deleting model {prior['id']}", name=name
            )

    def rollback(
        self, current: Mapping[str, Any], target: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        """Move the aliases (and labels) back to the target's version, which is still in the
        registry; only if it was deleted since is it uploaded again."""
        back = self._get(target["id"], target["version_id"])
        if back is not None and translate.version_basis(translate.model_from_api(back)) == (
            translate.version_basis(target)
        ):
            return self._settle(target, target["version_id"])
        return self.update(current, {**target, "version_id": UNKNOWN}, ctx)

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        spec: dict[str, Any] = {"artifact": attributes["artifact"], "image": attributes["image"]}
        if attributes.get("environment"):
            spec["environment"] = dict(attributes["environment"])
        if attributes.get("description"):
            spec["description"] = attributes["description"]
        if labels.user_labels(attributes.get("labels", {})):
            spec["tags"] = labels.user_labels(attributes["labels"])
        settings: dict[str, Any] = {}
        aliases = [a for a in attributes.get("aliases", []) if a != translate.DEFAULT_ALIAS]
        if aliases:
            settings["aliases"] = aliases
        if attributes.get("kms_key_name"):
            settings["kms_key_name"] = attributes["kms_key_name"]
        if settings:
            spec["vertex"] = settings
        return spec
