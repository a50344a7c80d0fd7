"""Models on Vertex AI: the `model` kind.

A `model` owns one Vertex AI Model (ID `<name>-<8 hex>`) and, over time, its versions. The
version the stack describes is `version_id`; it carries the `default` alias (so a bare
`models/ID` means it) and the stack's `vertex.aliases`. A change of artifact, image or
environment uploads a NEW VERSION of the same model (`parent_model`), an in-place update: the plan
shows `version_id` as known after apply, and the endpoints serving the model roll the new
version out. Earlier versions stay in the registry (they are the model's history, and what
`mlops rollback` moves the aliases back to). Only a new encryption key replaces the model.

On Vertex the Model with its versions IS the registry, so what leaves the stack is kept:

- a model removed from the stack (not under `mlops destroy`) stays in the Model Registry with all
  its versions, aliases and labels; state forgets it, and the plan says so. Adding it back later
  adopts it again (it carries this stack's ownership labels), history included;
- `mlops destroy` deletes the Model with every version, as does a replacement (a new encryption
  key) once the new model serves: the plan's risks name the model and its version count.

Retiring the model (`retired: {reason, by}`) keeps the Model, every version and the artifact in
Cloud Storage: nothing is deleted or uploaded. The core takes its variants off their endpoints (the
traffic moves to the variants left before a deployed model is undeployed) and removes the monitors
about it; then, with `archive` (the default), the stack's version loses the aliases the stack gave
it (`vertex.aliases`) and the Model and that version lose the stack's labels (its tags) and carry
the retirement labels instead (`mlops-gitops-retired-reason`, `-by`, `-at`; see `labels.py`), beside
the ownership labels. The version keeps `default`: Vertex keeps that alias on some version at all
times, and moving it to an older version would make a bare `models/ID` mean a model the stack
never retired. With `archive: false` only the retirement labels are added. Taking the `retired:`
block out again gives the aliases and labels back (an ordinary update).

A version upload whose answer was lost, or that an interrupted apply left, is found again (a
version newer than the recorded one, with the same artifact, image and environment) rather than
uploaded twice; one the interrupted apply uploaded that nothing uses any more is deleted.

Attributes: id, display_name, version_id, artifact, image, environment, description?, aliases,
kms_key_name?, labels, version_count and latest_version (how many versions the registry holds, and
the newest: read, never drift)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from mlops_gitops.errors import Diagnostic, ProviderError
from mlops_gitops.features import ANY
from mlops_gitops.handlers import Request
from mlops_gitops.provider import IMAGE, UNKNOWN, ApplyContext, ResourceType, known
from mlops_gitops.stack.schema import FrameworkImage, ModelSpec
from mlops_vertex import images, labels, translate
from mlops_vertex.client import AlreadyExistsError, NotFoundError, to_dict
from mlops_vertex.config import ModelSettings
from mlops_vertex.kind import KindHandler

MODEL = ResourceType(
    "model",
    # `id` derives from the key, so it only changes with it; listing it keeps the plan honest.
    force_new=("id", "kms_key_name"),
    # Versions uploaded by others (a training pipeline) are no change of the stack's model.
    not_drift=("version_count", "latest_version", *labels.MARKERS.not_drift),
    create_before_destroy=True,
    id_field="id",
    supports={"retired": ANY},
    unsupported={
        "registry": "Vertex AI keeps versions inside the model: every change of artifact, image or "
        "environment uploads a new version of it. Remove registry (name versions with vertex.aliases)",
    },
)


class ModelHandler(KindHandler[ModelSpec, ModelSettings]):
    rtype: ClassVar[ResourceType] = MODEL
    settings_model: ClassVar[type[BaseModel] | None] = ModelSettings
    noun: ClassVar[str] = "Vertex AI model"

    # ---- offline ------------------------------------------------------------------------------
    def validate(self, req: Request[ModelSpec, ModelSettings]) -> list[Diagnostic]:
        spec = req.spec
        chosen = req.settings
        diags = super().validate(req)
        if not spec.artifact.startswith("gs://"):
            diags.append(
                Diagnostic("Vertex AI loads model artifacts from Cloud Storage: use a gs:// URI", "artifact")
            )
        if translate.DEFAULT_ALIAS in chosen.aliases:
            diags.append(
                Diagnostic(
                    "`default` is the registry's alias of the stack's version, set by the provider",
                    "vertex.aliases",
                )
            )
        retired = spec.retired
        count = len(req.resource.tags) + len(labels.MANAGED) + len(labels.RETIREMENT)
        if retired is not None and not retired.archive and count > labels.MAX_LABELS:
            # Archived, the model keeps no tag labels; otherwise the retirement labels come on top.
            diags.append(
                Diagnostic(
                    f"retired without archive, the model keeps its {len(req.resource.tags)} tags and "
                    f"takes {len(labels.RETIREMENT)} retirement labels beside the {len(labels.MANAGED)} "
                    f"ownership ones: {count} labels, where a Vertex AI model carries at most "
                    f"{labels.MAX_LABELS}; remove tags, or archive it",
                    "retired.archive",
                )
            )
        return diags

    def framework_image(self, image: FrameworkImage) -> str:
        return images.resolve(image, self.cfg.location)

    # ---- pure ---------------------------------------------------------------------------------
    def desired(self, req: Request[ModelSpec, ModelSettings]) -> dict[str, Any]:
        resource, prior = req.resource, req.prior
        spec = req.spec
        chosen = req.settings
        image = spec.image if isinstance(spec.image, str) else req.resolved[IMAGE]
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
        # Retired and archived: no alias but `default`, no label but ownership and retirement
        # (see the module docstring); the core put the retirement tags in the resource's tags.
        archived = spec.retired is not None and spec.retired.archive
        tags, retirement = labels.split_retirement(resource.tags)
        attrs["aliases"] = translate.model_aliases([] if archived else chosen.aliases)
        if chosen.kms_key_name:
            attrs["kms_key_name"] = chosen.kms_key_name
        attrs["labels"] = {
            **labels.from_tags({} if archived else tags, stack=self.stack, address=resource.address),
            **retirement,
        }
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
        if attrs["id"] == was.get("id"):
            attrs.update({k: was[k] for k in ("version_count", "latest_version") if k in was})
        return attrs

    def risks(
        self,
        action: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        *,
        destroying: bool,
    ) -> list[str]:
        """What happens to the registry when the stack's model goes (see the module docstring)."""
        if before is None or action not in ("delete", "replace"):
            return []
        count = before.get("version_count")
        versions = (
            f"its {count} version{'' if count == 1 else 's'}" if isinstance(count, int) else "its versions"
        )
        model_id = before.get("id", "?")
        if action == "replace":
            return [f"deletes Vertex model {model_id} with {versions} once the new model serves"]
        if destroying:
            return [f"deletes Vertex model {model_id} with {versions}"]
        return [
            f"keeps Vertex model {model_id} and {versions} in the Model Registry (state forgets it; "
            "`mlops destroy` or the console deletes it)"
        ]

    # ---- read ---------------------------------------------------------------------------------
    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        """The recorded version; the default version if that one is gone; None without the model."""
        version = attributes.get("version_id")
        found = self._get(attributes["id"], version) if version else None
        if found is None:
            found = self._get(attributes["id"], None)
        if found is None:
            return None
        return {**translate.model_from_api(found), **self._registry(attributes["id"])}

    def _registry(self, model_id: str) -> dict[str, Any]:
        """How many versions the registry holds for the model, and the newest one."""
        ids = [str(v.get("version_id", "")) for v in self._versions(model_id)]
        numbered = [int(i) for i in ids if i.isdigit()]
        out: dict[str, Any] = {"version_count": len(ids)}
        if numbered:
            out["latest_version"] = str(max(numbered))
        return out

    def _versions(self, model_id: str) -> list[dict[str, Any]]:
        return self.api.collect(
            self.api.models.list_model_versions,
            f"ListModelVersions {model_id}",
            name=self.name("models", model_id),
        )

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
        return {**translate.model_from_api(found), **self._registry(model_id)}

    # ---- create / update / delete ---------------------------------------------------------------
    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        model_id = desired["id"]
        existing = self._get(model_id, None)
        if existing is None:
            request = translate.upload_request(self.api.parent, desired, parent_model=None)
            try:
                # Under the ID we chose: a repeat after a lost answer is refused (ALREADY_EXISTS).
                operation = self.api.call(
                    self.api.models.upload_model, f"UploadModel {model_id}", idempotent=True, **request
                )
            except AlreadyExistsError:
                # An earlier attempt went through: the model shows once its upload is done.
                self.api.settle(
                    self.api.models, self.name("models", model_id), ctx, f"UploadModel {model_id}"
                )
                existing = self._get(model_id, None)
                if existing is None:
                    raise ProviderError(
                        f"UploadModel {model_id}: Vertex AI answered ALREADY_EXISTS, yet no such model "
                        "shows once its operations are done; try again",
                        code="AlreadyExists",
                        retryable=True,
                    ) from None
            else:
                # Recorded before waiting: if the upload fails half way, state names the model.
                ctx.checkpoint(known(desired))
                uploaded = self.api.wait(operation, ctx, f"uploading model {model_id}")
                return self._settle(desired, str(uploaded.model_version_id))
        # Ours only if labelled so: left by a create that died before recording it, one whose
        # answer was lost, or a model that left the stack and was kept (see the module docstring).
        if not labels.owned_by(existing.get("labels", {}), stack=self.stack, address=ctx.address):
            raise self.already_exists(ctx.address, model_id)
        return self.update(translate.model_from_api(existing), desired, ctx)

    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        current = self.read(prior)
        if current is None:
            raise ProviderError(f"{self.noun} {prior['id']!r} disappeared", code="NotFound")
        version = current["version_id"]
        # Compared with the cloud rather than trusting the plan's unknown `version_id`: a version
        # an interrupted apply (or an upload whose answer was lost) uploaded already is not
        # uploaded twice.
        if translate.version_basis(current) != translate.version_basis(desired):
            model_id = desired["id"]
            what = f"uploading a new version of model {model_id}"
            found = self._uploaded_already(desired, newer_than=version, address=ctx.address)
            if found is not None:
                ctx.progress(
                    f"model {model_id}: version {found} holds this content already, uploaded earlier"
                )
                return self._settle(desired, found)
            request = translate.upload_request(
                self.api.parent, desired, parent_model=self.name("models", model_id)
            )

            def recover() -> str | None:
                """After an upload failed in a way that may hide its success: its version."""
                self.api.settle(self.api.models, self.name("models", model_id), ctx, what)
                return self._uploaded_already(desired, newer_than=version, address=ctx.address)

            started = self.api.call(self.api.models.upload_model, what, recover=recover, **request)
            if isinstance(started, str):  # the lost upload, found
                version = started
            else:
                version = str(self.api.wait(started, ctx, what).model_version_id)
            ctx.progress(f"model {model_id}: version {version} uploaded and made the default")
        return self._settle(desired, version)

    def _uploaded_already(self, desired: Mapping[str, Any], *, newer_than: str, address: str) -> str | None:
        """The newest version of the stack's model, newer than `newer_than` (the one the stack is
        on), ours, with `desired`'s artifact, image and environment: uploaded for this stack by
        an attempt whose outcome was lost (or, after a rollback, the very content the stack moves
        forward to again). Versions older than the stack's are history, never reused by a change:
        going back to old content uploads it again, as a new version."""
        basis = translate.version_basis(desired)
        found = [
            str(v.get("version_id", ""))
            for v in self._versions(desired["id"])
            if _newer(str(v.get("version_id", "")), newer_than)
            and translate.version_basis(translate.model_from_api(v)) == basis
            and labels.owned_by(v.get("labels", {}), stack=self.stack, address=address)
        ]
        return max(found, key=int) if found else None

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
                idempotent=True,  # aliases are a set: merging twice is merging once
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
                idempotent=True,  # sets the masked fields: twice is once
                model=model,
                update_mask={"paths": ["labels", "description"]},
            )
            self.api.call(
                self.api.models.update_model,
                f"UpdateModel {model_id}@{version}",
                idempotent=True,
                model={"name": self.name("models", f"{model_id}@{version}"), "labels": desired["labels"]},
                update_mask={"paths": ["labels"]},
            )
        return self.must_read({"id": model_id, "version_id": version})

    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        """Under `mlops destroy`, and for a replaced model, every version goes with the model
        (Vertex refuses while a version is deployed, which the engine avoids by moving the
        endpoints off first). A model only removed from the stack stays in the registry."""
        model_id = prior["id"]
        if not ctx.destroying and not self._replaced(prior, ctx):
            ctx.progress(
                f"model {model_id} left the stack: kept in the Model Registry with its versions; "
                "state forgets it"
            )
            return
        with contextlib.suppress(NotFoundError):
            self.api.call_and_wait(
                self.api.models.delete_model,
                ctx,
                f"deleting model {model_id}",
                idempotent=True,  # a repeat finds it gone
                name=self.name("models", model_id),
            )

    def _replaced(self, prior: Mapping[str, Any], ctx: ApplyContext) -> bool:
        """Whether another model of this stack's resource exists: the one replacing `prior` (a
        new encryption key is a new model), created before the old one is deleted."""
        display = prior.get("display_name") or ctx.address.partition(".")[2]
        others = self.api.collect(
            self.api.models.list_models,
            "ListModels",
            parent=self.api.parent,
            filter=f'display_name="{display}"',
        )
        return any(
            translate.last_segment(m.get("name", "")) != prior["id"]
            and labels.owned_by(m.get("labels", {}), stack=self.stack, address=ctx.address)
            for m in others
        )

    def finish_interrupted(
        self, recorded: Mapping[str, Any], live: Mapping[str, Any], ctx: ApplyContext
    ) -> None:
        """Delete the versions a killed apply uploaded that nothing uses: newer than every version
        the registry held when state recorded the model before that apply (`latest_version`), not
        the live one, ours, without aliases and not deployed. What the registry held before is
        history and stays, whatever version the stack was on (after a rollback, older); so does
        anything someone gave an alias to. Without `latest_version` (state recorded before this
        provider kept it) nothing can be told apart, and nothing is deleted."""
        model_id = live.get("id")
        before = str(recorded.get("latest_version", ""))
        if not model_id or not before.isdigit() or model_id != recorded.get("id"):
            return
        for v in self._versions(model_id):
            version = str(v.get("version_id", ""))
            if (
                not _newer(version, before)
                or version == str(live.get("version_id"))
                or v.get("version_aliases")
                or v.get("deployed_models")
                or not labels.owned_by(v.get("labels", {}), stack=self.stack, address=ctx.address)
            ):
                continue
            ctx.progress(
                f"model {model_id}: deleting version {version}, uploaded by an interrupted apply and unused"
            )
            with contextlib.suppress(NotFoundError):
                self.api.call_and_wait(
                    self.api.models.delete_model_version,
                    ctx,
                    f"deleting version {version} of model {model_id}",
                    idempotent=True,
                    name=self.name("models", f"{model_id}@{version}"),
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


def _newer(version: str, than: str) -> bool:
    """Whether registry version `version` was uploaded after `than` (Vertex numbers versions 1, 2,
    3... in upload order)."""
    return version.isdigit() and than.isdigit() and int(version) > int(than)
