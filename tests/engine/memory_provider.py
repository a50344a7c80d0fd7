"""An in-memory provider for engine tests: the engine's ordering, parallelism, checkpointing and
failure handling are what is under test here, not a cloud (providers are tested through their
real SDKs against emulators elsewhere)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from mlops_gitops.errors import ProviderError
from mlops_gitops.provider import UNKNOWN, ApplyContext, Provider, ResourceType
from mlops_gitops.stack import schema
from mlops_gitops.stack.model import Resource, Stack
from mlops_gitops.workspace import Workspace


class MemoryConfig(BaseModel):
    pass


class MemoryProvider(Provider):
    name = "memory"
    config_model = MemoryConfig
    kinds = {
        "model": ResourceType("model", force_new=("artifact",), computed=("arn",)),
        "endpoint": ResourceType(
            "endpoint",
            computed=("arn", "status"),
            not_drift=("status",),
            create_before_destroy=False,
            status_path="status",
            failed_statuses=("Failed",),
            serving=True,
        ),
    }

    def __init__(self) -> None:
        super().__init__(MemoryConfig(), stack="test")
        self.objects: dict[str, dict[str, Any]] = {}  # physical name -> attributes
        self.log: list[tuple[str, str, float, float]] = []  # (op, name, start, end)
        self.fail: dict[str, str] = {}  # "op:name" -> message
        self.delay: dict[str, float] = {}  # name -> seconds per create/update
        self.checkpoint_before_fail: set[str] = set()
        self.ignore_updates: set[str] = set()  # names whose updates the "cloud" silently drops
        self.finished: list[tuple[str, dict[str, Any], dict[str, Any]]] = []  # finish_interrupted calls
        self.model_suffix = ""  # stands for a lookup (e.g. latest-approved) that can move on
        self._lock = threading.Lock()
        self._seq = 0

    def desired(
        self,
        resource: Resource,
        settings: Any,
        refs: Mapping[str, Mapping[str, Any]],
        prior: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        spec = resource.spec
        if resource.kind == "model":
            assert isinstance(spec, schema.ModelSpec)
            name = f"{resource.name}-{abs(hash(spec.artifact)) % 10_000}{self.model_suffix}"
            return {"name": name, "arn": UNKNOWN, "artifact": spec.artifact, "tags": dict(spec.tags)}
        assert isinstance(spec, schema.EndpointSpec)
        return {
            # The physical name is chosen once: a resource moved to another address keeps it.
            "name": (prior or {}).get("name", resource.name),
            "arn": UNKNOWN,
            "status": (prior or {}).get("status", UNKNOWN),
            "variants": [
                {
                    "name": v.name,
                    "model": refs.get(f"model.{v.model}", {}).get("name", UNKNOWN),
                    "count": v.instance_count,
                    "weight": v.weight,
                }
                for v in spec.variants
            ],
            "tags": dict(spec.tags),
        }

    def _op(self, op: str, attrs: Mapping[str, Any], ctx: ApplyContext | None) -> None:
        name = attrs["name"]
        start = time.monotonic()
        delay = self.delay.get(name, 0.0)
        # Waits as a real provider does: an interrupted apply stops waiting (the cloud goes on).
        if ctx is not None and ctx.cancel.wait(delay):
            self.log.append((op, name, start, time.monotonic()))
            raise ProviderError(f"stopped waiting for {name}: the apply was cancelled", code="Cancelled")
        if ctx is None:
            time.sleep(delay)
        if f"{op}:{name}" in self.fail:
            if ctx is not None and name in self.checkpoint_before_fail:
                known = {k: v for k, v in attrs.items() if v is not UNKNOWN}
                ctx.checkpoint({**known, "arn": f"arn:partial:{name}"})
            self.log.append((op, name, start, time.monotonic()))
            raise ProviderError(f"{op} {name}: {self.fail[f'{op}:{name}']}")
        self.log.append((op, name, start, time.monotonic()))

    def read(self, kind: str, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        with self._lock:
            obj = self.objects.get(attributes["name"])
            return dict(obj) if obj else None

    def create(self, kind: str, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        for v in desired.get("variants", []):
            if v["model"] not in self.objects:
                raise ProviderError(f"model {v['model']} does not exist")
        self._op("create", desired, ctx)
        with self._lock:
            existing = self.objects.get(desired["name"])
            if existing is not None:
                # Like the real providers: a retried create adopts an identical object.
                if {k: v for k, v in existing.items() if k != "arn"} == {
                    k: v for k, v in desired.items() if k != "arn"
                }:
                    return dict(existing)
                raise ProviderError(f"{desired['name']} already exists")
            self._seq += 1
            made = {**desired, "arn": f"arn:{desired['name']}:{self._seq}"}
            if kind == "endpoint":
                made["status"] = "InService"
            self.objects[desired["name"]] = made
            return dict(self.objects[desired["name"]])

    def update(
        self, kind: str, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        self._op("update", desired, ctx)
        with self._lock:
            if desired["name"] not in self.ignore_updates:
                self.objects[desired["name"]] = {**desired, "arn": prior["arn"]}
                if kind == "endpoint":
                    self.objects[desired["name"]]["status"] = "InService"
            return dict(self.objects[desired["name"]])

    def delete(self, kind: str, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        in_use = [
            o["name"]
            for o in self.objects.values()
            for v in o.get("variants", [])
            if v["model"] == prior["name"]
        ]
        if in_use:
            raise ProviderError(f"{prior['name']} is in use by {in_use}")
        self._op("delete", prior, ctx)
        with self._lock:
            self.objects.pop(prior["name"], None)

    def finish_interrupted(
        self, kind: str, recorded: Mapping[str, Any], live: Mapping[str, Any], ctx: ApplyContext
    ) -> None:
        self.finished.append((kind, dict(recorded), dict(live)))

    def import_resource(self, kind: str, cloud_id: str) -> dict[str, Any]:
        obj = self.read(kind, {"name": cloud_id})
        if obj is None:
            raise ProviderError(f"no {kind} named {cloud_id}")
        return obj


def make_stack(models: dict[str, str], endpoints: dict[str, list[tuple[str, str, int]]]) -> Stack:
    """models: name -> artifact; endpoints: name -> [(variant, model, count)]."""
    resources: dict[str, Resource] = {}
    for name, artifact in models.items():
        r = Resource("model", name, schema.ModelSpec(artifact=artifact, image="img"))
        resources[r.address] = r
    for name, variants in endpoints.items():
        spec = schema.EndpointSpec(
            variants=[
                schema.Variant(name=v, model=m, instance_type="t", instance_count=c) for v, m, c in variants
            ]
        )
        r = Resource("endpoint", name, spec, depends_on=sorted({f"model.{m}" for _, m, _ in variants}))
        resources[r.address] = r
    order = [a for a in resources if a.startswith("model.")] + [
        a for a in resources if a.startswith("endpoint.")
    ]
    return Stack(
        name="test",
        path="stack.yaml",
        digest="d",
        provider="memory",
        provider_config={},
        backend=schema.Backend(local=schema.LocalBackend()),
        resources=resources,
        order=order,
    )


def workspace(stack: Stack, provider: MemoryProvider) -> Workspace:
    return Workspace(stack, provider, {a: None for a in stack.resources})
