"""Models in Azure ML: the `model` kind.

A `model` is a registered model version (`Model`, named after the resource) and the serving
environment its deployments run in (`Environment` `<model>-env`): the image (a URI, or a framework
image resolved to an Azure ML curated inference image, see `images`) and an optional conda/pip file
from the repository (`azureml: {conda_file: envs/serve.yaml}`). Both versions are content-addressed
(`names`): an unchanged model is no change, a changed artifact registers a new version of the same
model (an update in place: endpoints serving it roll the new version out), and a re-run finds the
version an interrupted run registered. The container `environment:` of the stack is set on the
deployments that serve the model.

Artifacts are `azureml://` (datastore paths, `azureml://registries/<r>/models/<m>/versions/<v>`)
or `https://` blob URIs: local paths, which the SDK would upload, have no place in a stack file.

What leaves the stack: `mlops destroy` deletes the versions this stack registered (model and
environment); a model that only leaves the stack has its version archived instead (kept in the
workspace's registry, hidden from lists, restorable), as are versions superseded by an update.

Retirement (`retired: {reason, by, archive}`): the model version stays registered where it is, its
artifact untouched, and is archived (`models.archive`: `isArchived` set on the version, which
hides it from the workspace's model lists and from new deployments, while `get` by version still
reads it and deployments can be restored). Its tags carry the retirement (the core's
`mlops-gitops:retired-reason`, `-by`, `-at`): an asset version is immutable but for its tags,
description and archived state, which is all a retirement changes. The environment version stays
as it was (its tags carry no retirement: other versions of the model may run in it). With
`archive: false` only the tags change. Taking the `retired:` block out restores the version
(`models.restore`) and drops the tags. The core takes the variants serving the model off their
endpoints and removes the monitors about it before the model is archived.

Attributes: id, name, version, artifact, type, description?, environment {name, version, image,
conda_sha256}, environment_variables, tags, archived (the version's `isArchived`: true when the
model is retired with `archive`, false otherwise; a version archived or restored in the console
is drift)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from mlops_azureml import files, images, names, sdk_private, translate
from mlops_azureml.client import NotFoundError
from mlops_azureml.config import ModelSettings
from mlops_azureml.kind import MARKERS, KindHandler
from mlops_gitops.errors import Diagnostic, ProviderError, StackError
from mlops_gitops.features import ANY
from mlops_gitops.handlers import Request
from mlops_gitops.provider import IMAGE, ApplyContext, ResourceType
from mlops_gitops.stack import retire
from mlops_gitops.stack.schema import FrameworkImage, ModelSpec

ARTIFACT_SCHEMES = ("azureml://", "https://")
# What `to_spec` writes when the serving image cannot be read back.
NO_IMAGE = "<image URI: no environment of this workspace serves this model version; write its image>"
# The tag by which a model version names its environment version (for import).
ENV_TAG = "mlops-gitops:environment-version"
# The retirement's tags are the model version's: its environment may serve other versions.
RETIREMENT_TAGS = (retire.TAG_REASON, retire.TAG_BY, retire.TAG_AT)

MODEL = ResourceType(
    "model",
    computed=("id",),
    not_drift=MARKERS.not_drift,
    create_before_destroy=True,
    supports={"retired": ANY},
    unsupported={
        "registry": "every Azure ML model version is registered in the workspace's model registry under "
        "the model's name: remove registry (to deploy a version shared through an Azure ML registry, "
        "give its azureml://registries/<registry>/models/<model>/versions/<version> URI as artifact)",
    },
)


class ModelHandler(KindHandler[ModelSpec, ModelSettings]):
    rtype: ClassVar[ResourceType] = MODEL
    settings_model: ClassVar[type[BaseModel] | None] = ModelSettings
    noun: ClassVar[str] = "Azure ML model"

    def __init__(self, provider: Any) -> None:
        super().__init__(provider)
        self._conda: dict[str, dict[str, Any]] = {}  # sha256 -> conda file, filled by desired()

    # ---- offline ------------------------------------------------------------------------------
    def validate(self, req: Request[ModelSpec, ModelSettings]) -> list[Diagnostic]:
        diags = super().validate(req)
        if not req.spec.artifact.startswith(ARTIFACT_SCHEMES):
            diags.append(
                Diagnostic(
                    "Azure ML registers model artifacts from azureml:// (a datastore path or "
                    "azureml://registries/...) or https:// (a blob URL): use one of those",
                    "artifact",
                )
            )
        if isinstance(req.spec.image, str) and req.spec.image.startswith("<"):
            # The placeholder `mlops import --generate-config` writes when it cannot read the image.
            diags.append(Diagnostic(f"write the serving image's URI here: {req.spec.image}", "image"))
        if req.settings.conda_file:
            try:
                files.load_conda(req.resource.base_dir, req.settings.conda_file)
            except files.FileProblem as exc:
                diags.append(Diagnostic(str(exc), "azureml.conda_file"))
        return diags

    def framework_image(self, image: FrameworkImage) -> str:
        return images.resolve(image)

    # ---- pure ---------------------------------------------------------------------------------
    def desired(self, req: Request[ModelSpec, ModelSettings]) -> dict[str, Any]:
        resource, spec, chosen = req.resource, req.spec, req.settings
        image = spec.image if isinstance(spec.image, str) else req.resolved[IMAGE]
        conda_sha = None
        if chosen.conda_file:
            try:
                conda = files.load_conda(resource.base_dir, chosen.conda_file)
            except files.FileProblem as exc:
                path = f"models.{resource.name}.azureml.conda_file"
                raise StackError.of([Diagnostic(str(exc), path, resource.position)]) from exc
            conda_sha = names.content_digest(conda)
            self._conda[conda_sha] = conda
        name = chosen.name or resource.name
        attrs: dict[str, Any] = {
            "name": name,
            "artifact": spec.artifact,
            "type": chosen.type,
        }
        # What this resource registered before, if it is still the same Azure model.
        prior = req.prior if req.prior is not None and req.prior.get("name") == name else {}
        attrs["version"] = names.model_version(translate.model_basis(attrs))
        if prior.get("version") and translate.model_basis(prior) == translate.model_basis(attrs):
            # The same content under a version of its own (one imported): kept, not registered again.
            attrs["version"] = prior["version"]
        attrs["id"] = f"{self.api.workspace_id}/models/{name}/versions/{attrs['version']}"
        if spec.description:
            attrs["description"] = spec.description
        attrs["environment"] = {
            "name": names.environment_name(name),
            "version": names.environment_version(translate.environment_basis(image, conda_sha)),
            "image": image,
            "conda_sha256": conda_sha,
        }
        before = prior.get("environment") or {}
        if before.get("version") and (before.get("image"), before.get("conda_sha256")) == (image, conda_sha):
            # Likewise an environment of the same image (the one its deployments ran, imported).
            attrs["environment"].update(name=before["name"], version=before["version"])
        attrs["environment_variables"] = dict(spec.environment)
        attrs["tags"] = self.tags(resource)  # with the retirement's tags, when it is retired
        retired = spec.retired
        attrs["archived"] = bool(retired is not None and retired.archive)
        return attrs

    def risks(
        self,
        action: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        *,
        destroying: bool,
    ) -> list[str]:
        what = f"Azure ML model {(before or {}).get('name')} version {(before or {}).get('version')}"
        if before is not None and after is not None and after.get("archived") and not before.get("archived"):
            return [f"archives {what} (kept in the workspace registry with its artifact, restorable)"]
        if before is None or action not in ("delete", "replace"):
            return []
        if destroying:
            return [f"deletes {what} and its environment versions"]
        return [f"archives {what} (kept in the workspace registry, restorable; state forgets it)"]

    # ---- read ---------------------------------------------------------------------------------
    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        name, version = attributes["name"], attributes.get("version")
        model = self._get_model(name, version)
        if model is None:
            return None
        env = attributes.get("environment") or {}
        env_name = env.get("name") or names.environment_name(name)
        environment = self._get_environment(env_name, env["version"]) if env.get("version") else None
        return self._attributes(model, environment, env_name, attributes)

    def _attributes(
        self, model: Any, environment: Any | None, env_name: str, recorded: Mapping[str, Any]
    ) -> dict[str, Any]:
        attrs = translate.model_from_api(model, environment, env_name)
        attrs["archived"] = attrs["archived"] or self._archived(model.name, str(model.version))
        attrs["artifact"] = translate.short_datastore_uri(attrs["artifact"], self.api.workspace_id)
        attrs["id"] = f"{self.api.workspace_id}/models/{attrs['name']}/versions/{attrs['version']}"
        # The container environment is a property of the deployments (read with the endpoint),
        # kept here as recorded so that the model's own read does not show it as drift.
        attrs["environment_variables"] = dict(recorded.get("environment_variables", {}))
        attrs["tags"].pop(ENV_TAG, None)
        return attrs

    def _get_model(self, name: str, version: str | None) -> Any | None:
        ml = self.api.ml
        try:
            if version:
                return self.api.call(
                    lambda: ml.models.get(name, version=version),
                    f"get model {name}:{version}",
                    idempotent=True,
                )
            return self._latest(name)
        except NotFoundError:
            return None

    def _latest(self, name: str) -> Any | None:
        """The newest active version of the model, else its newest archived one (a retired
        model): Azure's `latest` label and its lists see active versions only."""
        from azure.ai.ml.constants import ListViewType

        ml = self.api.ml
        for view in (ListViewType.ACTIVE_ONLY, ListViewType.ARCHIVED_ONLY):
            found = self.api.call(
                lambda view=view: list(ml.models.list(name=name, list_view_type=view)),
                f"listing versions of model {name}",
                idempotent=True,
            )
            if found:
                return max(found, key=lambda m: str(getattr(m.creation_context, "created_at", "") or ""))
        return None

    def _archived(self, name: str, version: str) -> bool:
        """Whether the version is archived: the SDK's `Model` does not carry `isArchived`, but
        Azure lists archived versions apart (`ArchivedOnly`), which the public call asks for."""
        from azure.ai.ml.constants import ListViewType

        ml = self.api.ml
        try:
            archived = self.api.call(
                lambda: list(ml.models.list(name=name, list_view_type=ListViewType.ARCHIVED_ONLY)),
                f"listing archived versions of model {name}",
                idempotent=True,
            )
        except NotFoundError:
            return False
        return any(str(m.version) == version for m in archived)

    def _get_environment(self, name: str, version: str) -> Any | None:
        ml = self.api.ml
        try:
            return self.api.call(
                lambda: ml.environments.get(name, version=version),
                f"get environment {name}:{version}",
                idempotent=True,
            )
        except NotFoundError:
            return None

    def import_resource(self, cloud_id: str) -> dict[str, Any]:
        """`NAME` (its latest version) or `NAME:VERSION`; the environment is the one of the
        version's tags if this stack registered it, else none (the stack then names one)."""
        name, _, version = cloud_id.partition(":")
        model = self._get_model(name, version or None)
        if model is None:
            raise self.not_found(cloud_id)
        env_name = names.environment_name(name)
        env_version = (model.tags or {}).get(ENV_TAG)
        environment = self._get_environment(env_name, env_version) if env_version else None
        if environment is None:
            environment = self._served_environment(model.name, str(model.version))
            if environment is not None:
                env_name = environment.name
        return self._attributes(model, environment, env_name, {})

    def _served_environment(self, name: str, version: str) -> Any | None:
        """The environment the workspace's deployments serve this model version in, when they
        agree on one (import of a model made outside the stack: Azure links no environment to a
        model, only deployments do). One list per endpoint: import time only."""
        ml = self.api.ml
        found: set[tuple[str, str]] = set()
        endpoints = self.api.call(lambda: list(ml.online_endpoints.list()), "list endpoints", idempotent=True)
        for e in endpoints:
            try:
                deployments = self.api.call(
                    lambda e=e: list(ml.online_deployments.list(e.name)),
                    f"list deployments of endpoint {e.name}",
                    idempotent=True,
                )
            except NotFoundError:
                continue
            for d in deployments:
                model = translate.parse_asset_ref(d.model if isinstance(d.model, str) else None)
                env = translate.parse_asset_ref(d.environment if isinstance(d.environment, str) else None)
                if model == (name, version) and env is not None:
                    found.add(env)
        if len(found) != 1:
            return None
        ((env_name, env_version),) = found
        return self._get_environment(env_name, env_version)

    # ---- create / update / delete ---------------------------------------------------------------
    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        existing = self._get_model(desired["name"], desired["version"])
        if existing is not None and not self.owned(existing.tags, ctx.address):
            raise self.already_exists(ctx.address, f"{desired['name']}:{desired['version']}")
        return self._register(desired, ctx, existing)

    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        existing = self._get_model(desired["name"], desired["version"])
        attrs = self._register(desired, ctx, existing)
        if prior.get("version") and prior["version"] != desired["version"]:
            # The superseded version stays in the registry (history, rollback), archived.
            self.archive(prior["name"], prior["version"], ctx)
        return attrs

    def _register(
        self, desired: Mapping[str, Any], ctx: ApplyContext, existing: Any | None
    ) -> dict[str, Any]:
        ml = self.api.ml
        env = desired["environment"]
        tags = dict(desired["tags"])
        env_tags = {k: v for k, v in tags.items() if k not in RETIREMENT_TAGS}
        environment = self._get_environment(env["name"], env["version"])
        if environment is None or dict(environment.tags or {}) != env_tags:
            conda = self._conda.get(env["conda_sha256"]) if env.get("conda_sha256") else None
            if env.get("conda_sha256") and conda is None:
                raise ProviderError(f"model {desired['name']}: the conda file was not loaded")  # a bug
            entity = translate.environment_entity(env, conda, env_tags)
            # Named and versioned by us: a PUT repeated is the same version.
            self.api.call(
                lambda: ml.environments.create_or_update(entity),
                f"registering environment {env['name']}:{env['version']}",
                idempotent=True,
                cancel=ctx.cancel,
            )
        # The model version's tags name its environment, so an import finds it again.
        model_tags = {**tags, ENV_TAG: env["version"]}
        wanted = {**desired, "tags": model_tags}
        if (
            existing is None
            or translate.model_from_api(existing, None, "")["tags"] != model_tags
            or ((existing.description or None) != desired.get("description"))
        ):
            # Registering a version again sends it unarchived (the SDK's Model has no archived
            # state): the archived state is set after, below.
            entity = translate.model_entity(wanted)
            self.api.call(
                lambda: ml.models.create_or_update(entity),
                f"registering model {desired['name']}:{desired['version']}",
                idempotent=True,
                cancel=ctx.cancel,
            )
        ctx.checkpoint(dict(desired))
        attrs = self.must_read(desired)
        if bool(desired.get("archived")) != attrs["archived"]:
            if desired.get("archived"):
                self.archive(desired["name"], desired["version"], ctx)
            else:
                self.restore(desired["name"], desired["version"], ctx)
            attrs = self.must_read(desired)
        return attrs

    def archive(self, name: str, version: str, ctx: ApplyContext | None = None) -> None:
        """Archive a model version (hidden from lists, restorable): for retirement."""
        ml = self.api.ml
        with contextlib.suppress(NotFoundError):
            self.api.call(
                lambda: ml.models.archive(name, version=version),
                f"archiving model {name}:{version}",
                idempotent=True,
                cancel=ctx.cancel if ctx is not None else None,
            )

    def restore(self, name: str, version: str, ctx: ApplyContext) -> None:
        """Restore an archived version: a retirement taken back."""
        ml = self.api.ml
        self.api.call(
            lambda: ml.models.restore(name, version=version),
            f"restoring model {name}:{version}",
            idempotent=True,
            cancel=ctx.cancel,
        )

    def _archive_environment(self, name: str, version: str, ctx: ApplyContext) -> None:
        ml = self.api.ml
        with contextlib.suppress(NotFoundError):
            self.api.call(
                lambda: ml.environments.archive(name, version=version),
                f"archiving environment {name}:{version}",
                idempotent=True,
                cancel=ctx.cancel,
            )

    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        name, version = prior["name"], prior.get("version")
        if not version:
            return
        env = prior.get("environment") or {}
        if not ctx.destroying:
            self.archive(name, version, ctx)
            if env.get("version"):
                self._archive_environment(env["name"], env["version"], ctx)
            return
        ml = self.api.ml
        group, workspace = self.cfg.resource_group, self.cfg.workspace
        # Every version this resource registered (superseded ones are archived, listed too).
        for v in self._own_versions(name, ctx.address) or [version]:
            with contextlib.suppress(NotFoundError):
                self.api.call(
                    lambda v=v: sdk_private.delete_model_version(ml, group, workspace, name, v),
                    f"deleting model {name}:{v}",
                    idempotent=True,
                    cancel=ctx.cancel,
                )
        if env.get("version"):
            with contextlib.suppress(NotFoundError):
                self.api.call(
                    lambda: sdk_private.delete_environment_version(
                        ml, group, workspace, env["name"], env["version"]
                    ),
                    f"deleting environment {env['name']}:{env['version']}",
                    idempotent=True,
                    cancel=ctx.cancel,
                )

    def _own_versions(self, name: str, address: str) -> list[str]:
        from azure.ai.ml.constants import ListViewType

        ml = self.api.ml
        try:
            found = self.api.call(
                lambda: list(ml.models.list(name=name, list_view_type=ListViewType.ALL)),
                f"listing versions of model {name}",
                idempotent=True,
            )
        except NotFoundError:
            return []
        return [str(m.version) for m in found if self.owned(m.tags, address)]

    def rollback(
        self, current: Mapping[str, Any], target: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        """Back to an earlier version: it is still registered (archived versions are restored by
        registering them again, tags and all), so this only makes it current in state."""
        return self._register(target, ctx, self._get_model(target["name"], target["version"]))

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        env = attributes.get("environment") or {}
        if env.get("conda_sha256"):
            raise ProviderError(
                f"model {attributes['name']}: its environment has a conda file, which the stack reads from "
                "the repository: write that file and set azureml.conda_file by hand",
                code="NotSupported",
            )
        spec: dict[str, Any] = {
            "artifact": attributes["artifact"],
            # Unknown when no deployment serves the version in an environment of the workspace
            # (a curated environment of the azureml registry, say): the user writes the image.
            "image": env.get("image") or NO_IMAGE,
        }
        if attributes.get("description"):
            spec["description"] = attributes["description"]
        if attributes.get("environment_variables"):
            spec["environment"] = dict(attributes["environment_variables"])
        user = MARKERS.user(attributes.get("tags", {}))
        if user:
            spec["tags"] = user
        settings: dict[str, Any] = {}
        if attributes.get("type", "custom_model") != "custom_model":
            settings["type"] = attributes["type"]
        # Always said: the stack's key for the model may be another name (an endpoint's import
        # names the models it serves after their `NAME:VERSION` id).
        settings["name"] = attributes["name"]
        if settings:
            spec["azureml"] = settings
        return spec
