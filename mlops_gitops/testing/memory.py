"""An in-memory provider, to test the engine (or code built on it) without a cloud or emulator.

`MemoryProvider` is a `HandlerProvider` for the kinds (model, endpoint, monitor, schedule,
batch_job) whose "cloud" is a `MemoryCloud`: a dict of objects by kind and id, a log of the calls made, and
faults to inject. It behaves like the real providers where the engine relies on it:

- create checkpoints the object as soon as it exists (before waiting on it), adopts an identical
  object a lost reply left under the same id, and refuses a different one;
- an object cannot be created or updated to use one that does not exist (an endpoint its
  models, a monitor its endpoint, a schedule the monitors it starts on), nor deleted while
  another holds it (a model while an endpoint serves it, an endpoint while a monitor watches
  it), so an apply in the wrong order fails as on a cloud;
- a value still UNKNOWN when create or update is called is an error: the engine must have
  resolved every reference by then;
- deleting what is gone succeeds; throttled calls (`MemoryCloud.throttle`) are retried;
- a batch job runs (`Provider.run`) by taking its delay and recording the run in `runs`; a "run"
  fault fails the run with the fault's message.

Faults (see `MemoryCloud.fail`): fail the Nth create/update/delete/read of a kind or object;
fail one half way (the object made and checkpointed, then the call fails); drift an object or
delete it outside mlops; give it a failed status; slow a call down (`delays`) to test
parallelism and interrupts; have the cloud silently drop updates (`ignore_updates`).

    cloud = MemoryCloud()
    provider = MemoryProvider(cloud=cloud)
    ws = provider.workspace(memory_stack({"models": {...}}, tmp_path))
    cloud.fail("create", kind="endpoint", nth=2, half_way="made", status="Failed")

For code that builds providers from a class (the engine's `open_workspace`, `StackHarness`, the
contract suite), `MemoryProvider.on(cloud)` is a class whose every instance shares `cloud`.

Attributes are the resource's spec as JSON (lifecycle excluded), with references replaced by the
referenced object's name, plus an id and the values the cloud assigns (`arn`; an endpoint's
`status`; a schedule's `id`). Importing this module imports neither pytest nor a cloud SDK."""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from mlops_gitops import paths
from mlops_gitops.cron import next_runs_note
from mlops_gitops.errors import Diagnostic, ProviderError, StackError
from mlops_gitops.handlers import HandlerProvider, KindHandler, Request
from mlops_gitops.kinds import KINDS
from mlops_gitops.provider import UNKNOWN, ApplyContext, ResourceType, SandboxEndpoints, known
from mlops_gitops.stack.model import Resource, Stack

if TYPE_CHECKING:
    from mlops_gitops.workspace import Workspace

T = TypeVar("T")
Op = Literal["create", "update", "delete", "read", "run", "*"]
HalfWay = Literal["made", "recorded"]
# How many times a throttled call is tried before the error is the caller's.
ATTEMPTS = 5


@dataclass
class Fault:
    """A failure the cloud injects into matching calls. See `MemoryCloud.fail`."""

    op: Op
    kind: str | None = None  # None: any kind
    name: str | None = None  # the object's name or id; None: any object
    nth: int = 1  # the first matching call that fails (earlier ones go through)
    times: int | None = 1  # how many calls fail from the nth on; None: every one
    message: str = "failed: injected by the memory cloud"
    code: str = "InjectedFailure"
    retryable: bool = False
    # create/update only. None: the call is refused, nothing changes. "made": the object is made
    # (or changed) and checkpointed, then the call fails, leaving it in `status` if given (for a
    # kind with a status). "recorded": the object about to be made (or its change) is
    # checkpointed, then the call fails before anything exists or changes.
    half_way: HalfWay | None = None
    status: str | None = None
    matched: int = field(default=0, init=False)  # matching calls seen
    fired: int = field(default=0, init=False)  # calls failed

    def __post_init__(self) -> None:
        if self.nth < 1 or (self.times is not None and self.times < 1):
            raise ValueError("nth and times count calls from 1")
        if self.half_way is not None and self.op not in ("create", "update"):
            raise ValueError(f"only a create or an update can fail half way, not {self.op}")
        if self.status is not None and self.half_way != "made":
            raise ValueError("status is what a half-made object is left in: give half_way='made'")

    @property
    def spent(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def _fires(self, op: str, kind: str, names: tuple[Any, ...]) -> bool:
        if self.spent or self.op not in ("*", op) or self.kind not in (None, kind):
            return False
        if self.name is not None and self.name not in names:
            return False
        self.matched += 1
        if self.matched < self.nth:
            return False
        self.fired += 1
        return True

    def error(self, op: str, kind: str, name: Any) -> ProviderError:
        return ProviderError(f"{op} {kind} {name}: {self.message}", code=self.code, retryable=self.retryable)


@dataclass(frozen=True)
class Call:
    """A create, update or delete the cloud was asked for (reads are only counted)."""

    op: str
    kind: str
    name: str
    start: float  # time.monotonic()
    end: float
    error: str | None = None  # the failure's message, if the call failed


class MemoryCloud:
    """The objects a `MemoryProvider` manages, what was asked of it, and the faults to inject.
    Thread-safe: the engine calls it from parallel workers."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.objects: dict[str, dict[str, dict[str, Any]]] = {}  # kind -> id -> attributes
        self.calls: list[Call] = []
        self.reads = 0
        self.faults: list[Fault] = []
        self.delays: dict[str, float] = {}  # object name -> seconds a create/update/delete takes
        self.ignore_updates: set[str] = set()  # names whose updates the cloud accepts and drops
        self.finished: list[tuple[str, dict[str, Any], dict[str, Any]]] = []  # finish_interrupted
        # Appended to every model's name: stands for a provider whose `desired` says something
        # else at apply time than it did when the plan was made (the plan no longer holds).
        self.model_suffix = ""
        self._uses: dict[tuple[str, str], set[tuple[str, str]]] = {}  # object -> objects it uses
        self._seq = 0
        self.runs: list[dict[str, Any]] = []  # `mlops run`s of batch jobs: {"id", "job", "output"}

    def reset(self) -> None:
        """Forget every object, call and fault, as a new cloud would."""
        with self._lock:
            for container in (self.objects, self.calls, self.faults, self.delays, self.ignore_updates):
                container.clear()
            self.finished.clear()
            self.runs.clear()
            self._uses.clear()
            self.reads = 0
            self.model_suffix = ""
            self._seq = 0

    # ---- faults ---------------------------------------------------------------------------------
    def fail(
        self,
        op: Op,
        *,
        kind: str | None = None,
        name: str | None = None,
        nth: int = 1,
        times: int | None = 1,
        message: str = "failed: injected by the memory cloud",
        code: str = "InjectedFailure",
        retryable: bool = False,
        half_way: HalfWay | None = None,
        status: str | None = None,
    ) -> Fault:
        """Fail matching calls ("*": any op): the `nth` one and `times` in all (None: all from
        the nth). Returns the fault, whose `fired` counts the calls it failed."""
        fault = Fault(op, kind, name, nth, times, message, code, retryable, half_way, status)
        with self._lock:
            self.faults.append(fault)
        return fault

    def throttle(self, times: int) -> None:
        """The next `times` calls, of any kind, are throttled (and retried by the provider)."""
        self.fail("*", times=times, message="Rate exceeded", code="ThrottlingException", retryable=True)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    # ---- what the cloud holds, and changes made outside mlops -----------------------------------
    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self.objects.get(kind, {}).get(name)
            return copy.deepcopy(obj) if obj is not None else None

    def names(self, kind: str) -> list[str]:
        with self._lock:
            return list(self.objects.get(kind, {}))

    def inventory(self) -> list[str]:
        """Every object, as `kind/id`: what a contract case's `leftovers` lists."""
        with self._lock:
            return [f"{kind}/{name}" for kind, objs in self.objects.items() for name in objs]

    def put(self, kind: str, name: str, attributes: Mapping[str, Any]) -> None:
        """Place an object as someone else made it (e.g. to import it)."""
        with self._lock:
            self.objects.setdefault(kind, {})[name] = copy.deepcopy(dict(attributes))

    def drift(self, kind: str, name: str, path: str, value: Any) -> None:
        """Change one attribute (`variants[0].instance_count`) as a console user would."""
        with self._lock:
            obj = self.objects[kind][name]
            if not paths.set_(obj, path, copy.deepcopy(value)):
                raise KeyError(f"{kind} {name} has no {path}")

    def set_status(self, kind: str, name: str, status: str) -> None:
        """Put an object in a status (`Failed`), as the cloud may on its own."""
        self.drift(kind, name, "status", status)

    def delete_outside(self, kind: str, name: str) -> None:
        """Delete an object as someone else would: no check of what uses it."""
        with self._lock:
            del self.objects[kind][name]
            self._uses.pop((kind, name), None)

    # ---- the API the provider calls -------------------------------------------------------------
    def read(self, rtype: ResourceType, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        key = attributes.get(rtype.id_field)
        with self._lock:
            self.reads += 1
            self._refuse("read", rtype.kind, attributes)
            if not isinstance(key, str):
                return None
            obj = self.objects.get(rtype.kind, {}).get(key)
            return copy.deepcopy(obj) if obj is not None else None

    def create(
        self,
        rtype: ResourceType,
        desired: Mapping[str, Any],
        uses: list[tuple[str, str]],
        ctx: ApplyContext,
        *,
        holds: bool = True,
    ) -> dict[str, Any]:
        """`uses`: the (kind, name) of the objects it needs; with `holds`, they cannot be
        deleted while it exists."""
        kind = rtype.kind
        with self._call("create", kind, desired) as fault:
            _all_known(kind, desired, rtype.computed)
            with self._lock:
                self._check_uses(kind, desired, uses)
                made, adopted = self._make(rtype, desired)
            if fault is not None and fault.half_way == "recorded":
                ctx.checkpoint(copy.deepcopy(known(desired)))
                raise fault.error("create", kind, desired.get("name"))
            if not adopted:
                with self._lock:
                    self.objects.setdefault(kind, {})[made[rtype.id_field]] = copy.deepcopy(made)
                    self._uses[(kind, made[rtype.id_field])] = set(uses) if holds else set()
            # Named in state the moment it exists: a failure (or an interrupt) while waiting on
            # it must not leave an object state does not know.
            ctx.checkpoint(made)
            self._wait(made.get("name", made[rtype.id_field]), ctx)
            if fault is not None:  # half way, "made"
                if fault.status is not None and rtype.status_path is not None:
                    self.drift(kind, made[rtype.id_field], rtype.status_path, fault.status)
                raise fault.error("create", kind, made.get("name"))
            return self.get(kind, made[rtype.id_field]) or made

    def update(
        self,
        rtype: ResourceType,
        prior: Mapping[str, Any],
        desired: Mapping[str, Any],
        uses: list[tuple[str, str]],
        ctx: ApplyContext,
        *,
        holds: bool = True,
    ) -> dict[str, Any]:
        kind, key = rtype.kind, prior.get(rtype.id_field)
        with self._call("update", kind, desired) as fault:
            _all_known(kind, desired, rtype.computed)
            self._wait(str(desired.get("name", key)), ctx)
            with self._lock:
                current = self.objects.get(kind, {}).get(key)  # type: ignore[arg-type]
                if current is None:
                    raise ProviderError(f"{kind} {key} does not exist", code="NotFound")
                self._check_uses(kind, desired, uses)
                if (fault is None or fault.half_way == "made") and key not in self.ignore_updates:
                    # Values the engine left UNKNOWN (computed ones) keep what the cloud has.
                    new = {
                        k: current.get(k) if v is UNKNOWN else copy.deepcopy(v) for k, v in desired.items()
                    }
                    if rtype.status_path is not None:
                        left = fault.status if fault is not None else None
                        new[rtype.status_path] = left or "InService"
                    self.objects[kind][key] = new  # type: ignore[index]
                    self._uses[(kind, key)] = set(uses) if holds else set()  # type: ignore[index]
                now = copy.deepcopy(self.objects[kind][key])  # type: ignore[index]
            if fault is None:
                return now
            # Half way: what the change did (or was about to do) is checkpointed, then it fails.
            ctx.checkpoint(now if fault.half_way == "made" else copy.deepcopy(known(desired)))
            raise fault.error("update", kind, key)

    def delete(self, rtype: ResourceType, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        kind, key = rtype.kind, prior.get(rtype.id_field)
        with self._call("delete", kind, prior):
            with self._lock:
                if not isinstance(key, str) or key not in self.objects.get(kind, {}):
                    return  # gone already: deleting it again is no error
                users = sorted(
                    f"{k}/{n}"
                    for (k, n), used in self._uses.items()
                    if (kind, key) in used and n in self.objects.get(k, {})
                )
                if users:
                    raise ProviderError(f"{kind} {key} is in use by {', '.join(users)}", code="InUse")
            self._wait(str(prior.get("name", key)), ctx)
            with self._lock:
                self.objects[kind].pop(key, None)
                self._uses.pop((kind, key), None)

    # ---- internals ------------------------------------------------------------------------------
    def _refuse(self, op: str, kind: str, attributes: Mapping[str, Any]) -> Fault | None:
        """Raise the error of the first fault that fires for this call, unless it is one that
        fails half way: that one is returned, for the caller to carry out."""
        names = (attributes.get("name"), attributes.get("id"))
        with self._lock:
            for fault in self.faults:
                if fault._fires(op, kind, names):
                    if fault.half_way is None:
                        raise fault.error(op, kind, attributes.get("name", attributes.get("id")))
                    return fault
        return None

    def run(self, kind: str, attributes: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        """A run of the batch job `attributes` names: it exists, takes its delay, and writes its
        output; a "run" fault fails it with the fault's message (the cloud's reason)."""
        name = str(attributes.get("name"))
        with self._call("run", kind, attributes):
            with self._lock:
                if name not in self.objects.get(kind, {}):
                    raise ProviderError(f"{kind} {name} does not exist", code="NotFound")
                self._seq += 1
                output = attributes["output"]["uri"]
                run = {"id": f"{name}-run-{self._seq:06d}", "job": name, "output": output}
            ctx.progress(f"run {run['id']}: InProgress")
            self._wait(name, ctx)
            with self._lock:
                self.runs.append(run)
            return {**run, "status": "Completed"}

    def _call(self, op: str, kind: str, attributes: Mapping[str, Any]) -> _Logged:
        return _Logged(self, op, kind, str(attributes.get("name", attributes.get("id", "?"))), attributes)

    def _check_uses(self, kind: str, attrs: Mapping[str, Any], uses: list[tuple[str, str]]) -> None:
        missing = [f"{k}/{n}" for k, n in uses if n not in self.objects.get(k, {})]
        if missing:
            raise ProviderError(
                f"{kind} {attrs.get('name')} uses {', '.join(missing)}, which does not exist", code="NotFound"
            )

    def _make(self, rtype: ResourceType, desired: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """The object a create makes, and whether it is one already there (adopted)."""
        kind = rtype.kind
        key = desired.get(rtype.id_field)
        if key is UNKNOWN or key is None:
            self._seq += 1
            key = f"{kind}-{self._seq:06d}"  # the cloud chooses the id
        made = copy.deepcopy(dict(desired))
        made[rtype.id_field] = key
        for attr, value in desired.items():
            if value is not UNKNOWN or attr == rtype.id_field:
                continue
            self._seq += 1
            made[attr] = "InService" if attr == rtype.status_path else f"memory:{kind}/{key}/{self._seq}"
        existing = self.objects.get(kind, {}).get(key)
        if existing is None:
            return made, False
        # A create sent again after its reply was lost finds its own object: that is success.
        if _owned(existing, rtype) == _owned(made, rtype):
            return copy.deepcopy(existing), True
        raise ProviderError(f"{kind} {key} already exists", code="AlreadyExists")

    def _wait(self, name: str, ctx: ApplyContext) -> None:
        # As a real provider waits: an interrupted apply stops waiting (the cloud carries on).
        if ctx.cancel.wait(self.delays.get(name, 0.0)):
            raise ProviderError(f"stopped waiting for {name}: the apply was cancelled", code="Cancelled")


class _Logged:
    """Runs one create/update/delete: refuses it if a fault says so, yields a half-way fault to
    carry out, and logs the call whatever happens."""

    def __init__(self, cloud: MemoryCloud, op: str, kind: str, name: str, attrs: Mapping[str, Any]) -> None:
        self.cloud, self.op, self.kind, self.name, self.attrs = cloud, op, kind, name, attrs
        self.start = 0.0

    def __enter__(self) -> Fault | None:
        self.start = time.monotonic()
        try:
            return self.cloud._refuse(self.op, self.kind, self.attrs)
        except ProviderError as exc:
            self._log(str(exc))
            raise

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._log(str(exc) if exc is not None else None)

    def _log(self, error: str | None) -> None:
        with self.cloud._lock:
            self.cloud.calls.append(Call(self.op, self.kind, self.name, self.start, time.monotonic(), error))


def _owned(attrs: Mapping[str, Any], rtype: ResourceType) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if k not in rtype.computed}


def _all_known(kind: str, attrs: Mapping[str, Any], computed: tuple[str, ...]) -> None:
    """The engine resolves every reference before it calls create or update: an UNKNOWN left
    anywhere but in a top-level computed value is its bug, and a cloud would refuse it."""
    unknown = [p for p, v in paths.leaves(dict(attrs)) if v is UNKNOWN and p not in computed]
    if unknown:
        raise ProviderError(f"{kind} {attrs.get('name')}: {', '.join(unknown)} not known at apply time")


# ================================================================================ the provider
class MemoryConfig(BaseModel):
    """The stack's `provider: {memory: {}}` block: nothing to configure."""

    model_config = ConfigDict(extra="forbid")


class _Handler(KindHandler["MemoryProvider", BaseModel, None]):
    """The behaviour every memory kind shares; a kind says how it names its object."""

    # Attributes the cloud assigns on create, UNKNOWN until then.
    assigned: ClassVar[tuple[str, ...]] = ("arn",)
    # Whether the objects it uses cannot be deleted while it exists.
    holds: ClassVar[bool] = True

    @property
    def cloud(self) -> MemoryCloud:
        return self.provider.cloud

    def desired(self, req: Request[BaseModel, None]) -> dict[str, Any]:
        # Only unpacks what the engine passes: the attributes come from `attributes`.
        return self.attributes(req.resource, req.refs, req.prior or {})

    def attributes(
        self, resource: Resource, refs: Mapping[str, Mapping[str, Any]], prior: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The spec as JSON, each reference replaced by the referenced object's name (UNKNOWN
        until it has one), under the object's identity and the values the cloud assigns."""
        body = resource.spec.model_dump(mode="json", exclude_none=True, exclude={"lifecycle"})
        for ref in KINDS[resource.kind].references(resource.spec):
            paths.set_(body, ref.path, refs.get(ref.address, {}).get("name", UNKNOWN))
        return {**self.identity(resource, body, prior), **dict.fromkeys(self.assigned, UNKNOWN), **body}

    @abstractmethod
    def identity(
        self, resource: Resource, body: Mapping[str, Any], prior: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The attributes that name the object: its `rtype.id_field`, unless the cloud assigns it."""

    def uses(self, attrs: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The objects (kind, name) this one uses: they must exist when it is made or changed."""
        return []

    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        return self.provider.retrying(lambda: self.cloud.read(self.rtype, attributes))

    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        return self.provider.retrying(
            lambda: self.cloud.create(self.rtype, desired, self.uses(desired), ctx, holds=self.holds)
        )

    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        return self.provider.retrying(
            lambda: self.cloud.update(self.rtype, prior, desired, self.uses(desired), ctx, holds=self.holds)
        )

    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        self.provider.retrying(lambda: self.cloud.delete(self.rtype, prior, ctx))

    def finish_interrupted(
        self, recorded: Mapping[str, Any], live: Mapping[str, Any], ctx: ApplyContext
    ) -> None:
        # Nothing is left behind by an interrupted change here; recorded so a test can see that
        # the engine asked, and with what.
        with self.cloud._lock:
            self.cloud.finished.append(
                (self.rtype.kind, copy.deepcopy(dict(recorded)), copy.deepcopy(dict(live)))
            )


class ModelHandler(_Handler):
    rtype = ResourceType(
        "model", force_new=("artifact", "image", "environment"), computed=("arn",), supports={"retired": None}
    )

    def identity(
        self, resource: Resource, body: Mapping[str, Any], prior: Mapping[str, Any]
    ) -> dict[str, Any]:
        # Derived from what forces a new model, so a replacement (created before the old one is
        # deleted) gets a name of its own.
        content = json.dumps([body.get(k) for k in self.rtype.force_new], sort_keys=True)
        digest = hashlib.sha256(content.encode()).hexdigest()[:8]
        return {"name": f"{resource.name}-{digest}{self.cloud.model_suffix}"}


class EndpointHandler(_Handler):
    rtype = ResourceType(
        "endpoint",
        computed=("arn", "status"),
        not_drift=("status",),
        # Its name is fixed: the old endpoint must go before a new one can take it.
        create_before_destroy=False,
        status_path="status",
        failed_statuses=("Failed",),
        serving=True,
        supports={
            "data_capture": None,
            "variants[*].serverless": None,
            "variants[*].serverless.memory_mb": None,
            "retired": None,
        },
    )
    assigned = ("arn", "status")

    def identity(
        self, resource: Resource, body: Mapping[str, Any], prior: Mapping[str, Any]
    ) -> dict[str, Any]:
        # Chosen once: a resource moved to another address keeps its endpoint.
        return {"name": prior.get("name", resource.name)}

    def uses(self, attrs: Mapping[str, Any]) -> list[tuple[str, str]]:
        return [("model", v["model"]) for v in attrs.get("variants", []) if isinstance(v.get("model"), str)]

    def import_references(self, attributes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        return [(f"variants[{i}].model", "model", v["model"]) for i, v in enumerate(attributes["variants"])]

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        # The attributes are the spec, under the object's name and what the cloud assigns.
        return {k: v for k, v in attributes.items() if k not in ("name", *self.assigned)}


class BatchJobHandler(_Handler):
    rtype = ResourceType(
        "batch_job",
        force_new=("model",),
        computed=("arn",),
        create_before_destroy=False,
        supports={
            "replicas": None,
            "also_on": None,
            "max_payload_mb": None,
            "mini_batch_size": None,
            "max_concurrency": None,
            "retries": None,
        },
    )

    def identity(
        self, resource: Resource, body: Mapping[str, Any], prior: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"name": prior.get("name", resource.name)}

    def uses(self, attrs: Mapping[str, Any]) -> list[tuple[str, str]]:
        model = attrs.get("model")
        return [("model", model)] if isinstance(model, str) else []

    def notes(self, attributes: Mapping[str, Any]) -> list[str]:
        cron = attributes.get("cron")
        if not cron or not attributes.get("enabled", True):
            return []
        return [next_runs_note(cron, attributes.get("timezone", "UTC"))]

    def run(self, attributes: Mapping[str, Any], ctx: ApplyContext, *, wait: bool = True) -> dict[str, Any]:
        return self.cloud.run(self.rtype.kind, attributes, ctx)


class MonitorHandler(_Handler):
    rtype = ResourceType(
        "monitor",
        force_new=("endpoint", "type"),
        computed=("arn",),
        create_before_destroy=False,
        supports={"type": None, "every": None},
    )

    def identity(
        self, resource: Resource, body: Mapping[str, Any], prior: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"name": prior.get("name", resource.name)}

    def uses(self, attrs: Mapping[str, Any]) -> list[tuple[str, str]]:
        endpoint = attrs.get("endpoint")
        return [("endpoint", endpoint)] if isinstance(endpoint, str) else []


class ScheduleHandler(_Handler):
    # Identified by an id the cloud assigns (as on Vertex AI), not by its name: two schedules of
    # one name can exist, so a replacement is made before the old one goes.
    rtype = ResourceType("schedule", force_new=("pipeline",), computed=("id",), id_field="id")
    assigned = ("id",)
    # It starts on its monitors' alerts by name: a monitor can be replaced under it.
    holds = False

    def identity(
        self, resource: Resource, body: Mapping[str, Any], prior: Mapping[str, Any]
    ) -> dict[str, Any]:
        # The id is assigned (UNKNOWN here): the engine keeps the recorded one unless the
        # schedule is replaced, and a replacement gets a new one.
        return {"name": resource.name}

    def uses(self, attrs: Mapping[str, Any]) -> list[tuple[str, str]]:
        return [("monitor", m) for m in attrs.get("also_on", []) if isinstance(m, str)]


class MemoryProvider(HandlerProvider):
    """See the module docstring. `MemoryProvider()` works on a cloud of its own, in
    `provider.cloud`; `MemoryProvider(cloud=...)` or `MemoryProvider.on(cloud)` on a given one."""

    name = "memory"
    config_model = MemoryConfig
    handlers = (ModelHandler, EndpointHandler, MonitorHandler, ScheduleHandler, BatchJobHandler)
    shared_cloud: ClassVar[MemoryCloud | None] = None  # set by `on`

    def __init__(
        self,
        config: BaseModel | None = None,
        *,
        stack: str = "test",
        sandbox: SandboxEndpoints | None = None,
        cloud: MemoryCloud | None = None,
    ) -> None:
        super().__init__(config if config is not None else MemoryConfig(), stack=stack, sandbox=sandbox)
        if cloud is None:
            cloud = self.shared_cloud if self.shared_cloud is not None else MemoryCloud()
        self.cloud = cloud

    @classmethod
    def on(cls, cloud: MemoryCloud) -> type[MemoryProvider]:
        """A provider class whose instances all work on `cloud`: for code that makes its own
        providers from a class (the engine makes one per workspace)."""
        return type(cls.__name__, (cls,), {"shared_cloud": cloud, "__module__": cls.__module__})

    def retrying(self, call: Callable[[], T]) -> T:
        """Run `call`, again when the cloud answers with a retryable error (throttling)."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return call()
            except ProviderError as exc:
                if not exc.retryable or attempt == ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def workspace(self, stack: Stack) -> Workspace:
        """`stack` bound to this provider instance, refused (StackError) as `open_workspace`
        would refuse it if it uses a feature the memory provider does not support."""
        from mlops_gitops import features
        from mlops_gitops.workspace import Workspace, unsupported_kind

        diags: list[Diagnostic] = []
        for res in stack.resources.values():
            section = KINDS[res.kind].section
            if res.kind not in self.kinds:
                diags.append(unsupported_kind(res, self.name))
                continue
            diags += features.problems(res, self.kinds[res.kind], self.name, section, stack.positions)
        if diags:
            raise StackError.of(diags)
        from mlops_gitops.cost.plan import override_table

        return Workspace(
            stack,
            self,
            dict.fromkeys(stack.resources),
            warnings=list(stack.warnings),
            price_override=override_table(stack),
        )


def memory_stack(document: str | Mapping[str, Any], directory: Path, *, file: str = "stack.yaml") -> Stack:
    """Write a stack file to `directory` and load it as `mlops` does (variables, references,
    dependency order, moved blocks...). A mapping is written as YAML, `apiVersion`, `name`
    ("test") and `provider` (memory) filled in when it has none."""
    import yaml

    from mlops_gitops.stack.loader import load_stack

    if not isinstance(document, str):
        document = yaml.safe_dump(
            {"apiVersion": "mlops-gitops/v1", "name": "test", "provider": {"memory": {}}, **document},
            sort_keys=False,
        )
    path = Path(directory) / file
    path.write_text(document)
    return load_stack(path, environ={})
