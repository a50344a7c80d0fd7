"""Providers made of one handler per resource kind.

A cloud's kinds have little in common beyond the `Provider` contract: a SageMaker model and a
SageMaker endpoint share clients and tags, not logic. So a `HandlerProvider` holds the cloud's
configuration and clients, and each kind is a `KindHandler` subclass, usually a module of its own,
that implements the `Provider` methods for that kind alone (the same methods, without the `kind`
argument). The provider lists its handlers; its `kinds` and `settings_models` follow from that
list, and every `Provider` method goes to the handler of the kind it is called for. A handler is
typed by its provider, the kind's spec and its settings block, so `validate`, `resolve` and
`desired` receive one typed `Request` instead of loose arguments:

    class ModelHandler(KindHandler["AcmeProvider", ModelSpec, ModelSettings]):
        rtype = ResourceType("model", force_new=("artifact",))
        settings_model = ModelSettings  # the resource's `acme:` block, if it has one

        def desired(self, req: Request[ModelSpec, ModelSettings]) -> dict[str, Any]:
            return {"name": req.resource.name, "uri": req.spec.artifact, **req.settings.extra}

    class AcmeProvider(HandlerProvider):
        name = "acme"
        config_model = AcmeConfig
        handlers = (ModelHandler, EndpointHandler)

Handler modules follow the provider's rule: importing one imports no cloud SDK."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel

from mlops_gitops.errors import Diagnostic, NotSupportedError, ProviderError
from mlops_gitops.provider import IMAGE, ApplyContext, Provider, ResourceType, SandboxEndpoints
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import FrameworkImage

P = TypeVar("P", bound="HandlerProvider")
S = TypeVar("S", bound=BaseModel)  # the kind's spec (`mlops_gitops.stack.schema`)
T = TypeVar("T", bound=BaseModel | None)  # the handler's settings block model (None: it has none)


@dataclass(frozen=True)
class Request(Generic[S, T]):
    """One resource as a handler's `validate`, `resolve` and `desired` see it.

    `settings` is the resource's `<provider>:` block, validated (an empty block when the resource
    has none: the model's defaults); `refs` maps each dependency's address to its planned
    attributes (values may be UNKNOWN); `prior` is the refreshed state, if any; `resolved` is
    what `resolve` returned for this resource when the plan was made (empty in `validate` and
    `resolve` themselves)."""

    resource: Resource
    settings: T
    refs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    prior: Mapping[str, Any] | None = None
    resolved: Mapping[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> S:
        return cast(S, self.resource.spec)


class KindHandler(ABC, Generic[P, S, T]):
    """One kind of a `HandlerProvider`, parameterised by that provider's class so that
    `self.provider` is typed with its clients and configuration. See `Provider` for what each
    method promises; the optional ones default as they do there, and `import_resource` reads the
    object by its id attribute."""

    rtype: ClassVar[ResourceType]
    settings_model: ClassVar[type[BaseModel] | None] = None  # the resource's `<provider>:` block

    def __init__(self, provider: P) -> None:
        # Called from the provider's __init__, before a subclass of it has built its clients:
        # a handler reaches them through `provider` when called, never here.
        self.provider = provider

    @property
    def stack(self) -> str:
        return self.provider.stack

    # ---- offline / pure ----------------------------------------------------------------------
    def validate(self, req: Request[S, T]) -> list[Diagnostic]:
        return []

    def resolve(self, req: Request[S, T]) -> dict[str, Any]:
        """Plan-time lookups (I/O allowed): see `Provider.resolve`."""
        return {}

    def framework_image(self, image: FrameworkImage) -> str:
        """See `Provider.framework_image`."""
        return Provider.framework_image(self.provider, self.rtype.kind, image)

    def notes(self, attributes: Mapping[str, Any]) -> list[str]:
        return []

    def risks(
        self,
        action: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        *,
        destroying: bool,
    ) -> list[str]:
        return []

    @abstractmethod
    def desired(self, req: Request[S, T]) -> dict[str, Any]:
        """Pure: see `Provider.desired`."""

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError(
            f"provider {self.provider.name} cannot generate config for {self.rtype.kind}"
        )

    # ---- I/O ---------------------------------------------------------------------------------
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

    def finish_interrupted(
        self, recorded: Mapping[str, Any], live: Mapping[str, Any], ctx: ApplyContext
    ) -> None:
        return None

    def import_resource(self, cloud_id: str) -> dict[str, Any]:
        """Read the object whose id attribute (`rtype.id_field`) is `cloud_id`."""
        attrs = self.read({self.rtype.id_field: cloud_id})
        if attrs is None:
            raise self.not_found(cloud_id)
        return attrs

    def must_read(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """`read` of an object that must exist (just created or changed): an error if it is gone."""
        attrs = self.read(attributes)
        if attrs is None:
            what = getattr(self, "noun", "") or f"{self.provider.name} {self.rtype.kind}"
            raise ProviderError(
                f"{what} {attributes.get(self.rtype.id_field)!r} disappeared", code="NotFound"
            )
        return attrs

    def not_found(self, cloud_id: str) -> ProviderError:
        """The error of an import whose `cloud_id` names nothing: a provider says where it looked."""
        return ProviderError(
            f"provider {self.provider.name} found no {self.rtype.kind} {cloud_id!r}", code="NotFound"
        )

    def import_references(self, attributes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        return []

    def files(self, attributes: Mapping[str, Any]) -> dict[str, str]:
        return {}

    def rollback(
        self, current: Mapping[str, Any], target: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        raise NotSupportedError(f"provider {self.provider.name} cannot roll back {self.rtype.kind} resources")

    def run(self, attributes: Mapping[str, Any], ctx: ApplyContext, *, wait: bool = True) -> dict[str, Any]:
        """See `Provider.run`."""
        raise NotSupportedError(f"provider {self.provider.name} cannot run {self.rtype.kind} resources")


class HandlerProvider(Provider):
    """A `Provider` whose kinds are the `handlers` a subclass lists. `kinds` and
    `settings_models` are derived from that list when the subclass is defined (the engine and
    `mlops validate` read them from the class, before any provider is made)."""

    handlers: ClassVar[tuple[type[KindHandler[Any, Any, Any]], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kinds = [h.rtype.kind for h in cls.handlers]
        repeated = sorted({k for k in kinds if kinds.count(k) > 1})
        if repeated:
            raise TypeError(f"{cls.__name__} lists more than one handler for {', '.join(repeated)}")
        cls.kinds = {h.rtype.kind: h.rtype for h in cls.handlers}
        cls.settings_models = {
            h.rtype.kind: h.settings_model for h in cls.handlers if h.settings_model is not None
        }

    def __init__(self, config: BaseModel, *, stack: str, sandbox: SandboxEndpoints | None = None):
        super().__init__(config, stack=stack, sandbox=sandbox)
        self._handlers: dict[str, KindHandler[Any, Any, Any]] = {
            h.rtype.kind: h(self) for h in self.handlers
        }

    def _handler(self, kind: str) -> KindHandler[Any, Any, Any]:
        try:
            return self._handlers[kind]
        except KeyError:
            raise NotSupportedError(f"the {self.name} provider does not manage {kind} resources") from None

    # ---- offline / pure ----------------------------------------------------------------------
    def _request(
        self,
        resource: Resource,
        settings: BaseModel | None,
        refs: Mapping[str, Mapping[str, Any]] | None = None,
        prior: Mapping[str, Any] | None = None,
        resolved: Mapping[str, Any] | None = None,
    ) -> Request[Any, Any]:
        handler = self._handler(resource.kind)
        if settings is None and handler.settings_model is not None:
            settings = handler.settings_model()  # as the engine validates an absent block
        return Request(resource, settings, refs or {}, prior, resolved or {})

    def validate(self, resource: Resource, settings: BaseModel | None) -> list[Diagnostic]:
        return self._handler(resource.kind).validate(self._request(resource, settings))

    def resolve(
        self,
        resource: Resource,
        settings: BaseModel | None,
        refs: Mapping[str, Mapping[str, Any]],
        prior: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        return self._handler(resource.kind).resolve(self._request(resource, settings, refs, prior))

    def framework_image(self, kind: str, image: FrameworkImage) -> str:
        return self._handler(kind).framework_image(image)

    def desired(
        self,
        resource: Resource,
        settings: BaseModel | None,
        refs: Mapping[str, Mapping[str, Any]],
        prior: Mapping[str, Any] | None,
        resolved: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        if resolved is None:  # a direct caller; the engine always passes what the plan resolved
            resolved = self.resolve(resource, settings, refs, prior)
            image = getattr(resource.spec, "image", None)
            if isinstance(image, FrameworkImage):
                resolved = {**resolved, IMAGE: self.framework_image(resource.kind, image)}
        return self._handler(resource.kind).desired(self._request(resource, settings, refs, prior, resolved))

    def notes(self, kind: str, attributes: Mapping[str, Any]) -> list[str]:
        return self._handler(kind).notes(attributes)

    def risks(
        self,
        kind: str,
        action: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        *,
        destroying: bool,
    ) -> list[str]:
        return self._handler(kind).risks(action, before, after, destroying=destroying)

    def to_spec(self, kind: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
        return self._handler(kind).to_spec(attributes)

    # ---- I/O ---------------------------------------------------------------------------------
    def read(self, kind: str, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        return self._handler(kind).read(attributes)

    def create(self, kind: str, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        return self._handler(kind).create(desired, ctx)

    def update(
        self, kind: str, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        return self._handler(kind).update(prior, desired, ctx)

    def delete(self, kind: str, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        self._handler(kind).delete(prior, ctx)

    def finish_interrupted(
        self, kind: str, recorded: Mapping[str, Any], live: Mapping[str, Any], ctx: ApplyContext
    ) -> None:
        self._handler(kind).finish_interrupted(recorded, live, ctx)

    def import_resource(self, kind: str, cloud_id: str) -> dict[str, Any]:
        return self._handler(kind).import_resource(cloud_id)

    def import_references(self, kind: str, attributes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        return self._handler(kind).import_references(attributes)

    def files(self, kind: str, attributes: Mapping[str, Any]) -> dict[str, str]:
        return self._handler(kind).files(attributes)

    def rollback(
        self, kind: str, current: Mapping[str, Any], target: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        return self._handler(kind).rollback(current, target, ctx)

    def run(
        self, kind: str, attributes: Mapping[str, Any], ctx: ApplyContext, *, wait: bool = True
    ) -> dict[str, Any]:
        return self._handler(kind).run(attributes, ctx, wait=wait)
