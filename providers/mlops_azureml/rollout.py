"""Changing the deployments behind a live Azure ML endpoint without dropping a request.

Azure ML sets an endpoint's `traffic` (deployment -> whole percentage, summing to 100) but does
not step it: the core traffic driver (`mlops_gitops.rollout`) does, with a rollback check between
steps and the previous split restored on failure. `EndpointRollout` is the endpoint as the
driver's `TrafficTarget`, its units the deployments (ids: their names):

1. Variants whose deployment is unchanged keep it (same deterministic name, provisioned). Each new
   or changed variant gets a new deployment beside the old one, taking no traffic: created, then
   its autoscale setting, if any.
2. The traffic moves from the live split to the stack's in the rollout's steps: one endpoint PUT
   per step, with the whole split (every deployment it names exists: they were provisioned before
   the first step) and the mirror split unchanged.
3. Once all traffic is on the new split, the deployments it no longer uses are deleted (a
   deployment still receiving mirrored traffic is first taken out of the mirror split).

Traffic can only be given to a deployment that exists, so an endpoint is always created without
traffic and its first split set once its deployments are up. Azure has no alarms for the driver
to watch: the optional `health_check` hook (set on the provider by an embedding program) gives a
reason to roll back.

A rollout an interrupted apply left half way (a new deployment beside the old one of its variant,
the traffic between them) is resumed: the new deployment has the same name again, is kept, and the
traffic moves on from the live split."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops_azureml import translate
from mlops_azureml.online import OnlineEndpoint
from mlops_gitops.errors import ProviderError
from mlops_gitops.provider import ApplyContext
from mlops_gitops.rollout import Change, TrafficDriver, TrafficTarget

# (endpoint name, the split just set, the new deployments) -> a reason to roll back, or None.
HealthCheck = Callable[[str, Mapping[str, int], list[str]], str | None]


@dataclass
class Fleet:
    """How the live deployments relate to the variants the stack wants."""

    keep: dict[str, str] = field(default_factory=dict)  # variant -> its unchanged deployment
    deploy: list[dict[str, Any]] = field(default_factory=list)  # variants needing a new deployment
    retire: list[str] = field(default_factory=list)  # deployments no variant keeps
    resumed: list[str] = field(default_factory=list)  # kept deployments a half-done rollout fed


def match(
    live: Sequence[Mapping[str, Any]], desired: Sequence[Mapping[str, Any]], split: Mapping[str, int]
) -> Fleet:
    """Pair each desired variant with the live deployment of its name; a failed one is made again."""
    fleet = Fleet()
    by_name = {d["deployment"]: d for d in live}
    for variant in desired:
        found = by_name.get(variant["deployment"])
        if found is not None and found.get("provisioning_state") in ("Succeeded", None):
            fleet.keep[variant["name"]] = variant["deployment"]
        else:
            fleet.deploy.append(dict(variant))
    wanted = {v["deployment"] for v in desired}
    fleet.retire = [d["deployment"] for d in live if d["deployment"] not in wanted]
    share = {v["deployment"]: v["traffic_percent"] for v in desired}
    retiring_serving = {by_name[r]["name"] for r in fleet.retire if split.get(r, 0) > 0}
    for variant_name, deployment in fleet.keep.items():
        if variant_name in retiring_serving and split.get(deployment, 0) < share[deployment]:
            fleet.resumed.append(deployment)
    return fleet


class EndpointRollout(TrafficTarget[Mapping[str, Any]]):
    units = "deployments"

    def __init__(
        self,
        online: OnlineEndpoint,
        endpoint: Mapping[str, Any],
        ctx: ApplyContext,
        tags: Mapping[str, str],
        health_check: HealthCheck | None,
    ) -> None:
        self.online = online
        self.endpoint = endpoint  # the desired endpoint attributes (its own fields, for each PUT)
        self.ctx = ctx
        self.tags = tags
        self.health_check = health_check
        self.name = f"endpoint {online.name}"
        self.mirror: dict[str, int] = {}  # the mirror split in force, kept by every PUT
        self._labels: dict[str, str] = {}

    def run(self, live: Any, deployments: list[dict[str, Any]], rollout: Mapping[str, Any] | None) -> None:
        """Take the endpoint (`live`, as read, with `deployments` as variant attributes) to the
        desired variants, following `rollout`."""
        desired = self.endpoint["variants"]
        start = translate.live_traffic(live)
        self.mirror = translate.live_mirror(live)
        self._labels = {d["deployment"]: d["name"] for d in deployments}
        fleet = match(deployments, desired, start)
        goal = {v["deployment"]: v["traffic_percent"] for v in desired if v["traffic_percent"] > 0}
        timing = self.online.api.timing
        TrafficDriver(self, self.ctx, rollout, minute=timing.minute, report_every=timing.progress_every).run(
            Change(
                start=start,
                goal=goal,
                deploy={v["name"]: v for v in fleet.deploy},
                retire=fleet.retire,
                resuming=fleet.resumed,
            )
        )
        wanted_mirror = {v["deployment"]: v["mirror_percent"] for v in desired if v.get("mirror_percent")}
        if wanted_mirror != self.mirror:
            self.online.put(self.endpoint, goal, wanted_mirror)
            self.mirror = wanted_mirror

    # ---- the driver's target ---------------------------------------------------------------------
    def deploy(self, key: str, unit: Mapping[str, Any]) -> str:
        name = unit["deployment"]
        self._labels[name] = f"{unit['name']} (new)"
        existing = self.online.deployment(name)
        if existing is not None and existing.provisioning_state not in ("Succeeded",):
            # A failed attempt (or one an interrupted apply left): made again from scratch.
            self.online.delete_deployment(name)
        try:
            self.online.put_deployment(unit, self.tags)
            if unit.get("autoscaling"):
                self.online.put_autoscale(name, unit["autoscaling"], self.tags)
        except ProviderError:
            # The driver retires the units whose deploy returned; this one did not: what Azure
            # made of it (a Failed deployment) goes now, so the endpoint holds what it held.
            with contextlib.suppress(ProviderError):
                self.online.delete_deployment(name)
            raise
        self.ctx.progress(f"deployed variant {unit['name']} as deployment {name}, taking no traffic")
        return str(name)

    def retire(self, unit_id: str) -> None:
        if unit_id in self.mirror:
            # Azure refuses to delete a deployment that receives mirrored traffic.
            self.mirror = {k: v for k, v in self.mirror.items() if k != unit_id}
            self.online.put(self.endpoint, self.read_split(), self.mirror)
        self.ctx.progress(f"deleting deployment {self.label(unit_id)}")
        self.online.delete_deployment(unit_id)

    def set_split(self, split: Mapping[str, int]) -> None:
        self.online.put(self.endpoint, split, {k: v for k, v in self.mirror.items() if k not in split})

    def read_split(self) -> dict[str, int]:
        return translate.live_traffic(self.online.must_get())

    def health(self, split: Mapping[str, int], rolling: Sequence[str]) -> str | None:
        if self.health_check is None:
            return None
        return self.health_check(self.online.name, dict(split), list(rolling))

    def label(self, unit_id: str) -> str:
        return f"{self._labels[unit_id]}[{unit_id}]" if unit_id in self._labels else unit_id
