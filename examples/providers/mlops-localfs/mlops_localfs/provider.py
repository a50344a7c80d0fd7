"""The localfs provider: models and endpoints as JSON files below `root` (see README.md).

Built only on the provider protocol (`docs/providers.md` of mlops-gitops): a config model, one
handler per kind with its settings block and the optional features it supports, and the core's
retry policy and ownership markers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, cast

from pydantic import BaseModel, ConfigDict, Field

from mlops_gitops.errors import Diagnostic, ProviderError
from mlops_gitops.handlers import HandlerProvider, KindHandler, Request
from mlops_gitops.ownership import Markers
from mlops_gitops.provider import ApplyContext, ResourceType, SandboxEndpoints
from mlops_gitops.stack.schema import EndpointSpec, ModelSpec
from mlops_localfs.store import Store

MARKERS = Markers()  # tags as they are: a file has no spelling rules
READY, CREATING = "ready", "creating"


class LocalFsConfig(BaseModel):
    """`provider: {localfs: {root: ...}}`."""

    model_config = ConfigDict(extra="forbid")
    root: str = Field(description="the directory that plays the cloud (relative: to the current directory)")


class FileSettings(BaseModel):
    """`localfs:` inside a model or an endpoint."""

    model_config = ConfigDict(extra="forbid")
    file_mode: str = Field(
        "0644", pattern=r"^0?[0-7]{3}$", description="permission bits of the object's file"
    )

    @property
    def mode(self) -> str:
        return self.file_mode.rjust(4, "0")


class _Kind(KindHandler["LocalFsProvider", Any, FileSettings]):
    collection: ClassVar[str]
    settings_model: ClassVar[type[BaseModel] | None] = FileSettings

    @property
    def store(self) -> Store:
        return self.provider.store

    def tags(self, req: Request[Any, FileSettings]) -> dict[str, str]:
        return MARKERS.add(req.spec.tags, stack=self.stack, address=req.resource.address)

    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        return self.store.get(self.collection, attributes["name"])

    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        self.store.delete(self.collection, prior["name"])  # deleting what is gone is no error


# ------------------------------------------------------------------------------------ models
class ModelHandler(_Kind):
    collection = "models"
    rtype: ClassVar[ResourceType] = ResourceType(
        "model",
        # The file is named after what it holds, so a new artifact is a new file: created first,
        # then the old one deleted, as a cloud's immutable model versions are.
        force_new=("name", "artifact", "image", "environment"),
        not_drift=MARKERS.not_drift,
        create_before_destroy=True,
    )

    def validate(self, req: Request[ModelSpec, FileSettings]) -> list[Diagnostic]:
        if not isinstance(req.spec.image, str):
            return [Diagnostic("localfs serves images by name: give image as a string", "image")]
        return []

    def desired(self, req: Request[ModelSpec, FileSettings]) -> dict[str, Any]:
        spec = req.spec
        content = {"artifact": spec.artifact, "image": spec.image, "environment": dict(spec.environment)}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:8]
        return {
            "name": f"{req.resource.name}-{digest}",
            **content,
            "tags": self.tags(req),
            "file_mode": req.settings.mode,
        }

    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        self.store.put(self.collection, desired["name"], dict(desired), desired["file_mode"])
        return self._read_back(desired["name"])

    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        # Only tags and the file mode change in place (the rest forces a new name).
        self.store.put(self.collection, prior["name"], dict(desired), desired["file_mode"])
        return self._read_back(prior["name"])

    def _read_back(self, name: str) -> dict[str, Any]:
        got = self.store.get(self.collection, name)
        if got is None:
            raise ProviderError(f"model {name} vanished while it was written", code="NotFound")
        return got

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "artifact": attributes["artifact"],
            "image": attributes["image"],
            "environment": dict(attributes.get("environment", {})),
            "tags": MARKERS.user(attributes.get("tags", {})),
            "localfs": {"file_mode": attributes["file_mode"]},
        }


# --------------------------------------------------------------------------------- endpoints
class EndpointHandler(_Kind):
    collection = "endpoints"
    rtype: ClassVar[ResourceType] = ResourceType(
        "endpoint",
        computed=("status",),
        not_drift=MARKERS.not_drift,
        create_before_destroy=False,  # one file per endpoint name
        serving=True,
        # No serverless variants, registry versions, data capture or rollout alarms here: a
        # stack asking for one is refused by `mlops validate`, with its position.
        supports={"rollout.strategy": ("all_at_once",)},
        unsupported={"variants[*].serverless": "localfs runs variants on named instance types only"},
    )

    def validate(self, req: Request[EndpointSpec, FileSettings]) -> list[Diagnostic]:
        spec = req.spec
        scaled = [i for i, v in enumerate(spec.variants) if v.autoscaling is not None]
        out = [
            Diagnostic("localfs does not autoscale: give instance_count", f"variants[{i}].autoscaling")
            for i in scaled
        ]
        if spec.autoscaling is not None:
            out.append(Diagnostic("localfs does not autoscale: give instance_count", "autoscaling"))
        return out

    def desired(self, req: Request[EndpointSpec, FileSettings]) -> dict[str, Any]:
        from mlops_gitops.provider import UNKNOWN

        prior = req.prior or {}
        variants = [
            {
                "name": v.name,
                "model": req.refs.get(f"model.{v.model}", {}).get("name", UNKNOWN),
                "weight": v.weight,
                "instance_type": v.instance_type,
                "instance_count": v.instance_count,
            }
            for v in req.spec.variants
        ]
        return {
            # Named when created: a resource moved to another address keeps its file.
            "name": prior.get("name") or req.resource.name,
            "variants": variants,
            "tags": self.tags(req),
            "file_mode": req.settings.mode,
            "status": prior.get("status", UNKNOWN),
        }

    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        name = desired["name"]
        self.store.put(self.collection, name, {**desired, "status": CREATING}, desired["file_mode"])
        # The object exists from here on: state must name it even if the rest fails.
        ctx.checkpoint({**desired, "status": CREATING})
        if self.store.fail_after_checkpoint(ctx.address):
            raise ProviderError(
                f"endpoint {name}: injected failure after its file was written", code="Injected"
            )
        return self._ready(name, desired)

    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        return self._ready(prior["name"], desired)

    def finish_interrupted(
        self, recorded: Mapping[str, Any], live: Mapping[str, Any], ctx: ApplyContext
    ) -> None:
        # A create that died after writing its file: finish it, as the create would have.
        if live.get("status") != READY:
            self._ready(live["name"], live)

    def _ready(self, name: str, desired: Mapping[str, Any]) -> dict[str, Any]:
        self.store.put(self.collection, name, {**desired, "status": READY}, desired["file_mode"])
        got = self.store.get(self.collection, name)
        if got is None:
            raise ProviderError(f"endpoint {name} vanished while it was written", code="NotFound")
        return got

    def import_references(self, attributes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        return [(f"variants[{i}].model", "model", v["model"]) for i, v in enumerate(attributes["variants"])]

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "variants": [
                {k: v for k, v in variant.items() if v is not None} for variant in attributes["variants"]
            ],
            "tags": MARKERS.user(attributes.get("tags", {})),
            "localfs": {"file_mode": attributes["file_mode"]},
        }


class LocalFsProvider(HandlerProvider):
    name: ClassVar[str] = "localfs"
    config_model: ClassVar[type[BaseModel]] = LocalFsConfig
    handlers: ClassVar[tuple[type[KindHandler[Any, Any, Any]], ...]] = (ModelHandler, EndpointHandler)

    def __init__(self, config: BaseModel, *, stack: str, sandbox: SandboxEndpoints | None = None):
        super().__init__(config, stack=stack, sandbox=sandbox)
        self.store = Store(Path(cast(LocalFsConfig, config).root))
