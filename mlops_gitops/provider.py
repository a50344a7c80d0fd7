"""The provider contract: what a cloud plugin implements, and the values that cross the boundary.

Shaped after Terraform's provider protocol (ReadResource / PlanResourceChange /
ApplyResourceChange / ImportResourceState): the engine hands a provider plain attribute dicts and
gets plain attribute dicts back. Attributes are JSON-like values (dict/list/str/int/float/bool/
None) plus the UNKNOWN marker for values only the cloud can tell (ARNs, URLs) before apply.

Providers are found through the `mlops_gitops.providers` entry-point group, so a third party can
ship one. Importing a provider module must not import its cloud SDK: `mlops validate` loads
providers to check their per-resource settings and must stay fast. `handlers.py` builds a provider
from one handler class per kind."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel

from mlops_gitops.errors import Diagnostic
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import FrameworkImage

if TYPE_CHECKING:
    from mlops_gitops.cost.prices import PriceTable


class _Unknown:
    """A value the cloud assigns on apply: shown as `(known after apply)`."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
# The key of `resolved` that holds a framework image's URI (`Provider.framework_image`).
IMAGE = "image"


def known(value: Any) -> Any:
    """`value` without UNKNOWN entries: what may be recorded in state before apply finishes."""
    if isinstance(value, Mapping):
        return {k: known(v) for k, v in value.items() if v is not UNKNOWN}
    if isinstance(value, list):
        return [known(v) for v in value if v is not UNKNOWN]
    return value


# Tag keys every provider writes on what it creates, so a console user can tell who owns what.
TAG_STACK = "mlops-gitops:stack"
TAG_ADDRESS = "mlops-gitops:address"
# Attribute paths of those tags. A provider lists them as `not_drift`: they are written with
# every change, but their absence alone (an imported object) is no reason to plan one.
OWNERSHIP_TAG_PATHS = (f'tags["{TAG_STACK}"]', f'tags["{TAG_ADDRESS}"]')


@dataclass(frozen=True)
class ResourceType:
    """How the engine should treat one kind's attributes. Paths use the diff's notation:
    `artifact`, `variants[*].instance_count`, `tags.team`; a path also covers what lies below it."""

    kind: str
    force_new: tuple[str, ...] = ()  # a change here replaces the resource
    computed: tuple[str, ...] = ()  # assigned by the cloud; unknown until created
    not_drift: tuple[str, ...] = ()  # owned by someone else (e.g. the autoscaler): never diffed
    create_before_destroy: bool = True  # replacements create the new object first
    id_field: str = "name"  # the attribute naming the cloud object (two records, one object)
    # Where a read puts the cloud's own status of the object (e.g. "status" = EndpointStatus),
    # and which values of it mean the object is broken beyond repair in place: the plan then
    # replaces it, whatever the stack says. Both computed by the cloud, never diffed.
    status_path: str | None = None
    failed_statuses: tuple[str, ...] = ()
    # The kind serves live traffic (an endpoint): destroying or replacing one in place is a
    # risk the plan names, and a destroy-then-create replacement needs --allow-downtime.
    serving: bool = False
    # The optional parts of the neutral spec (`mlops_gitops.features.FEATURES`) this provider
    # supports for the kind, each with the values it accepts (None: any). A stack using any other
    # is refused at validate time; `unsupported` may say why, and what to write instead.
    supports: Mapping[str, tuple[Any, ...] | None] = field(default_factory=dict)
    unsupported: Mapping[str, str] = field(default_factory=dict)

    def failed(self, attributes: Mapping[str, Any] | None) -> str | None:
        """The cloud's status when `attributes` (as read) describe a failed object, else None."""
        if not attributes or self.status_path is None:
            return None
        status = attributes.get(self.status_path)
        return status if isinstance(status, str) and status in self.failed_statuses else None


class ApplyContext(Protocol):
    """Handed to create/update/delete. `checkpoint` records partial progress so that a failure
    half way leaves state naming exactly the cloud objects that exist."""

    stack: str
    address: str
    # Set when the user interrupts the apply: stop waiting (the cloud carries on) and return.
    # Another resource's failure does not set it: work in flight finishes and is recorded.
    cancel: threading.Event
    # True under `mlops destroy` (or `plan --destroy`): the whole stack goes. A resource only
    # removed from the stack is deleted with `destroying` False, so a provider may keep an
    # archive (registry versions) then, and say so in `risks`.
    destroying: bool

    def checkpoint(self, attributes: Mapping[str, Any]) -> None: ...

    def progress(self, message: str) -> None: ...


@dataclass
class SandboxEndpoints:
    """Where the sandbox emulators listen, keyed by provider name (e.g. {"sagemaker": url}).
    The emulators themselves are no part of a provider: see `mlops_gitops.sandbox.emulator`."""

    urls: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


class Provider(ABC):
    name: ClassVar[str]
    kinds: ClassVar[dict[str, ResourceType]]  # the kinds this provider can apply
    config_model: ClassVar[type[BaseModel]]  # the stack's `provider: {<name>: {...}}` block
    settings_models: ClassVar[dict[str, type[BaseModel]]] = {}  # kind -> `<name>:` block model

    # For generated CI workflows (`mlops init ci`): the identity federation the jobs log in to for
    # this provider's cloud (a credentials step of the templates: "aws", "google" or "azure"; None:
    # the workflow logs in to nothing for it), the package extra that installs the provider, and
    # the key of its config holding the region, if one.
    ci_login: ClassVar[str | None] = None
    ci_extra: ClassVar[str | None] = None
    ci_region_key: ClassVar[str | None] = None

    def __init__(self, config: BaseModel, *, stack: str, sandbox: SandboxEndpoints | None = None):
        """No I/O here: clients are built lazily on first use."""
        self.config = config
        self.stack = stack
        self.sandbox = sandbox

    # ---- offline (validate time) ---------------------------------------------------------
    def validate(self, resource: Resource, settings: BaseModel | None) -> list[Diagnostic]:
        """Provider-specific checks of a resource that need no cloud call."""
        return []

    def framework_image(self, kind: str, image: FrameworkImage) -> str:
        """The image URI of a framework image (`image: {framework: xgboost, version: "1.7-1"}`)
        in this cloud: called by the core when the stack is validated, so an image the cloud has
        not is an error with its position before any plan. The URI reaches `desired` as
        `resolved["image"]` and is recorded in the plan. Raise `framework_images.ImageError`
        (see that module for the messages) when there is none."""
        from mlops_gitops.framework_images import unsupported

        raise unsupported(
            f"provider {self.name}", "image", image.framework, "it resolves no framework images"
        )

    # ---- plan time -------------------------------------------------------------------------
    def resolve(
        self,
        resource: Resource,
        settings: BaseModel | None,
        refs: Mapping[str, Mapping[str, Any]],
        prior: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """The lookups `desired` needs beyond the stack and state, done once when the plan is
        made (I/O allowed): e.g. which version `group@latest-approved` names in a registry. The
        result (JSON values; UNKNOWN where it depends on what this apply creates) is recorded
        in the plan, shown to the reviewer, and handed to `desired` as `resolved`, so that a
        saved plan applies exactly what was shown. Raise StackError for a lookup that finds
        nothing usable. The engine calls `resolve` again at apply time only for a resource
        whose recorded result holds UNKNOWN."""
        return {}

    # ---- pure --------------------------------------------------------------------------------
    @abstractmethod
    def desired(
        self,
        resource: Resource,
        settings: BaseModel | None,
        refs: Mapping[str, Mapping[str, Any]],
        prior: Mapping[str, Any] | None,
        resolved: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The attributes the cloud should hold for `resource`. `refs` maps each dependency's
        address to its planned attributes (values may be UNKNOWN); `prior` is the refreshed
        state, if any, so stable computed values (ids, generated names) can be carried over;
        `resolved` is what `resolve` found. Pure: no cloud call."""

    def notes(self, kind: str, attributes: Mapping[str, Any]) -> list[str]:
        """Lines the plan shows under a resource about to change (e.g. a schedule's next runs).
        Pure: computed from the planned attributes, no cloud call."""
        return []

    def risks(
        self,
        kind: str,
        action: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        *,
        destroying: bool,
    ) -> list[str]:
        """What a reviewer must not miss about this change, in the cloud's terms (e.g. "deletes
        model package group fraud with 7 versions"). Pure. The core adds the kind-neutral ones
        (a serving endpoint destroyed or replaced, prevent_destroy)."""
        return []

    def serving(self, kind: str, attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """What an object of a serving kind serves, in the stack's terms (see `mlops_gitops.serving`):
        recorded in the plan for every endpoint change, before and after. Pure. By default read
        from `to_spec` (with values known only after apply as None); None when that cannot read it.
        Override it if `to_spec` does not take planned attributes."""
        from mlops_gitops import serving

        if attributes is None or not self.kinds[kind].serving:
            return None
        try:
            spec = self.to_spec(kind, serving.without_unknowns(attributes))
        except Exception:  # a spec it cannot generate (or attributes it cannot read) has no view
            return None
        return serving.from_spec(spec)

    def prices(self) -> PriceTable | None:
        """The price table the plan's cost estimate uses (see `mlops_gitops.cost`): by default
        the `prices.json` shipped beside the provider's module (package data), None if it has
        none (every variant is then "unpriced"). Pure: no cloud call."""
        from mlops_gitops.cost.prices import shipped

        return shipped(type(self).__module__.rpartition(".")[0] or type(self).__module__)

    def pricing_region(self) -> str | None:
        """The region whose prices apply (a key of the table's `regions`), from the provider's
        config; None when the config does not say (the table's `default_region` is assumed,
        unless the stack sets `cost.region`)."""
        return None

    def default_tags(self, address: str) -> dict[str, str]:
        return {TAG_STACK: self.stack, TAG_ADDRESS: address}

    def console_url(self, kind: str, attributes: Mapping[str, Any], base: str | None = None) -> str | None:
        """A deep link to the object in the cloud's console, for `mlops status`, or None. `base`
        replaces the console's default origin (`https://...`, without a trailing slash) when given:
        console URLs move (see `mlops_gitops.status.console_base`). Pure: no cloud call."""
        return None

    def live_status(self, kind: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """How the object runs now, for `mlops status`, given its attributes as `read` returned
        them (I/O allowed). Every key is optional:

            {"state": "InService", "health": "ok" | "progressing" | "degraded" | "failed" | "paused",
             "message": "why it failed", "variants": {variant: {"current_instance_count": 2,
             "desired_instance_count": 2}}, "last_run": {"time": iso, "status": "Completed",
             "ok": True, "violations": 0, "message": None, "run": id}, "next_run": iso}

        By default the cloud's status word at the kind's `status_path`, and nothing else."""
        rtype = self.kinds.get(kind)
        value = attributes.get(rtype.status_path) if rtype is not None and rtype.status_path else None
        if not isinstance(value, str):
            return {}
        return {"state": value, "health": "failed" if value in rtype.failed_statuses else None}

    # ---- I/O ---------------------------------------------------------------------------------
    @abstractmethod
    def read(self, kind: str, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        """The resource as it is in the cloud now, or None if it no longer exists."""

    @abstractmethod
    def create(self, kind: str, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        """Create and wait until usable; return the full attributes (computed values filled)."""

    @abstractmethod
    def update(
        self, kind: str, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        """Change in place without downtime; return the new attributes."""

    @abstractmethod
    def delete(self, kind: str, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        """Delete every cloud object the resource owns. Deleting what is gone is not an error."""

    def finish_interrupted(
        self, kind: str, recorded: Mapping[str, Any], live: Mapping[str, Any], ctx: ApplyContext
    ) -> None:
        """An apply was killed while it changed this resource. `recorded` is what state held
        before that change began, `live` what the cloud holds now (after `update`, if the change
        still had to be finished). Delete what the interrupted change made or replaced that the
        live object no longer uses (old configs, superseded sub-objects), as a completed change
        would have. Deleting what is gone is not an error."""
        return None  # a provider whose changes leave nothing behind needs no cleanup

    @abstractmethod
    def import_resource(self, kind: str, cloud_id: str) -> dict[str, Any]:
        """Read an existing cloud object by its id/name into attributes (ProviderError if absent)."""

    def import_references(self, kind: str, attributes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        """The cloud objects an imported resource refers to, as (path in its spec, kind, cloud
        id): importing an endpoint brings the models it serves along."""
        return []

    def files(self, kind: str, attributes: Mapping[str, Any]) -> dict[str, str]:
        """Files (path relative to the stack -> content) that `to_spec`'s YAML refers to, e.g. a
        pipeline definition, for `import --generate-config` to write beside it."""
        return {}

    def rollback(
        self, kind: str, current: Mapping[str, Any], target: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        """Put a resource back on `target`, attributes it had after an earlier apply (from state
        history), the fastest safe way the cloud allows. Returns the read-back attributes."""
        from mlops_gitops.errors import NotSupportedError

        raise NotSupportedError(f"provider {self.name} cannot roll back {kind} resources")

    def run(
        self, kind: str, attributes: Mapping[str, Any], ctx: ApplyContext, *, wait: bool = True
    ) -> dict[str, Any]:
        """`mlops run`: start the resource's work now (a batch job's predictions, a schedule's
        pipeline) and, with `wait`, follow it to its end, saying how it goes through
        `ctx.progress` and stopping the wait (not the run) when `ctx.cancel` is set. Returns
        {"id": the run's id, "status": its last status, "output": where it wrote, if it says}
        and may add "message". Raises ProviderError with the cloud's reason when the run fails,
        and never starts a second run for one call: a retried start names the same run."""
        from mlops_gitops.errors import NotSupportedError

        raise NotSupportedError(f"provider {self.name} cannot run {kind} resources")

    def to_spec(self, kind: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """Stack-file YAML (as a dict) that would plan with no changes against `attributes`."""
        raise NotImplementedError(f"provider {self.name} cannot generate config for {kind}")
