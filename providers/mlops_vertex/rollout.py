"""Changing the deployed models behind a live endpoint without dropping a request.

Vertex AI has no deployment guardrails: the core traffic driver (`mlops_gitops.rollout`) steps
the split, bakes each step while watching the rollback signal, restores the previous split on a
failure and retires what the change deployed (its module docstring says how). `Rollout` is an
endpoint seen as the driver's `TrafficTarget`, with what only Vertex needs:

1. Variants whose deployment is unchanged keep their deployed model (`match`). Each new or
   changed variant is deployed first, as a new deployed model taking no traffic.
2. The split moves from the live one to the stack's in the rollout's steps: one `trafficSplit`
   PATCH per step, each summing to 100 over deployed models. A step's read-back is a GetEndpoint:
   a deployed model of the split that was undeployed leaves the split with it.
3. Once all traffic is on the new split, the deployed models it no longer uses are undeployed.

The rollback signal has no alarms to watch on Vertex: besides the driver's checks, the optional
`health_check` hook (set on the provider by an embedding program) gives a reason to roll back.

Every deployment names its deployed model (a random 10-digit id chosen here) and carries the
split it means (the live one, or all traffic for the first model on an endpoint serving nothing,
since a Vertex split must sum to 100): a deploy whose answer was lost is then retried safely, as
Vertex refuses the repeat with ALREADY_EXISTS and the deployed model is found by its id.

A rollout an interrupted apply left half way (a new deployed model beside the old one of its
variant, the split between them) is resumed, not restarted: `match` tells the new side apart, the
new deployed model is kept, and traffic moves on from the live split in the rollout's steps."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops_gitops.errors import ProviderError
from mlops_gitops.provider import ApplyContext
from mlops_gitops.rollout import Change, TrafficDriver, TrafficTarget
from mlops_vertex import traffic, translate
from mlops_vertex.client import AlreadyExistsError, Clients, NotFoundError, to_dict

# (endpoint id, the split just set, the new deployed model ids) -> a reason to roll back, or None.
HealthCheck = Callable[[str, Mapping[str, int], list[str]], str | None]


@dataclass
class Fleet:
    """How the live deployed models relate to the variants the stack wants."""

    keep: dict[str, str] = field(default_factory=dict)  # variant -> its unchanged deployed model
    deploy: list[dict[str, Any]] = field(default_factory=list)  # variants needing a new one
    retire: list[str] = field(default_factory=list)  # deployed models no variant keeps
    # Kept deployed models below their share while a retiring one of the same variant still
    # serves: the new side of a rollout an interrupted apply left half way.
    resumed: list[str] = field(default_factory=list)


def match(live: list[Mapping[str, Any]], desired: list[Mapping[str, Any]]) -> Fleet:
    """Pair each desired variant with a live deployed model of the same name and deployment (the
    busiest, if an interrupted apply left several)."""
    fleet = Fleet()
    used: set[str] = set()
    for variant in desired:
        same = [
            d
            for d in live
            if d["name"] == variant["name"]
            and d["deployed_model_id"] not in used
            and translate.deploy_basis(d) == translate.deploy_basis(variant)
        ]
        if same:
            chosen = max(same, key=lambda d: d["traffic_percent"])
            fleet.keep[variant["name"]] = chosen["deployed_model_id"]
            used.add(chosen["deployed_model_id"])
        else:
            fleet.deploy.append(dict(variant))
    fleet.retire = [d["deployed_model_id"] for d in live if d["deployed_model_id"] not in used]
    share = {v["name"]: v["traffic_percent"] for v in desired}
    by_id = {d["deployed_model_id"]: d for d in live}
    for name, dm_id in fleet.keep.items():
        old_serving = any(by_id[r]["name"] == name and by_id[r]["traffic_percent"] > 0 for r in fleet.retire)
        if old_serving and by_id[dm_id]["traffic_percent"] < share[name]:
            fleet.resumed.append(dm_id)
    return fleet


def new_deployed_model_id() -> str:
    """An id for a deployed model we are about to deploy: 10 digits, as Vertex allows for ids
    chosen by the caller (its own are longer, so they never collide with these)."""
    return str(10**9 + secrets.randbelow(9 * 10**9))


class Rollout(TrafficTarget[Mapping[str, Any]]):
    """One change of an endpoint's deployed models and split (see the module docstring); also
    the undeploys of `EndpointHandler.delete` and `finish_interrupted`."""

    units = "deployed models"

    def __init__(
        self, api: Clients, endpoint_id: str, ctx: ApplyContext, health_check: HealthCheck | None
    ) -> None:
        self.api = api
        self.endpoint_id = endpoint_id
        self.name = f"endpoint {endpoint_id}"
        self.resource = f"{api.parent}/endpoints/{endpoint_id}"
        self.ctx = ctx
        self.health_check = health_check
        self._labels: dict[str, str] = {}  # deployed model id -> variant name, for messages
        self._serving: dict[str, int] = {}  # the split the next deploy must leave in place

    def run(
        self,
        endpoint: Mapping[str, Any],
        desired: list[Mapping[str, Any]],
        rollout: Mapping[str, Any] | None,
    ) -> None:
        """Take `endpoint` (as read) to the `desired` variants, following `rollout`."""
        start = translate.live_split(endpoint)
        live = [translate.variant_from_api(dm, start) for dm in endpoint.get("deployed_models", [])]
        self._labels = {v["deployed_model_id"]: v["name"] for v in live}
        self._serving = dict(start)
        fleet = match(live, desired)

        def goal(new: Mapping[str, str]) -> dict[str, int]:
            ids = {**fleet.keep, **new}
            return {ids[v["name"]]: v["traffic_percent"] for v in desired if v["traffic_percent"] > 0}

        timing = self.api.timing
        TrafficDriver(self, self.ctx, rollout, minute=timing.minute, report_every=timing.progress_every).run(
            Change(
                start=start,
                goal=goal,
                deploy={v["name"]: v for v in fleet.deploy},
                retire=fleet.retire,
                resuming=fleet.resumed,
            )
        )

    # ---- the driver's target ---------------------------------------------------------------------
    def deploy(self, key: str, unit: Mapping[str, Any]) -> str:
        """Deploy `unit` (a variant's desired attributes) as a new deployed model beside the live
        ones, leaving the traffic where it is (on an endpoint serving nothing the new model must
        take it all). The split is always sent: without one, what Vertex does depends on whether
        the endpoint serves anything yet, and a deploy must not depend on a read made earlier."""
        variant, split = unit, self._serving
        dm_id = new_deployed_model_id()
        request: dict[str, Any] = {
            "endpoint": self.resource,
            "deployed_model": translate.deployed_model(self.api.parent, variant, dm_id),
            # "0": the model being deployed
            "traffic_split": dict(split) if split else {"0": traffic.TOTAL},
        }
        what = (
            f"deploying variant {variant['name']} ({variant['model']}@{variant['model_version']}) "
            f"to endpoint {self.endpoint_id}"
        )
        try:
            self.api.call_and_wait(
                self.api.endpoints.deploy_model, self.ctx, what, idempotent=True, **request
            )
        except AlreadyExistsError:
            # Our id is taken: an earlier attempt of this deploy went through and its answer was
            # lost. Once it has finished, the deployed model is there (or it failed).
            self.api.settle(self.api.endpoints, self.resource, self.ctx, what)
            found = next(
                (dm for dm in self._get().get("deployed_models", []) if str(dm.get("id")) == dm_id), None
            )
            if found is None or translate.deploy_basis(translate.variant_from_api(found, {})) != (
                translate.deploy_basis(variant)
            ):
                raise ProviderError(
                    f"{what}: an earlier attempt whose answer was lost did not deploy it", code="DeployFailed"
                ) from None
        self._labels[dm_id] = f"{variant['name']} (new)"
        taking = "all traffic" if not split else "no traffic"
        self._serving = split or {dm_id: traffic.TOTAL}
        self.ctx.progress(f"deployed variant {variant['name']} as deployed model {dm_id}, taking {taking}")
        return dm_id

    def retire(self, unit_id: str) -> None:
        self.undeploy(unit_id)

    def set_split(self, split: Mapping[str, int]) -> None:
        self.api.call(
            self.api.endpoints.update_endpoint,
            f"setting the traffic split of endpoint {self.endpoint_id}",
            idempotent=True,  # it sets the whole split: twice is once
            endpoint={"name": self.resource, "traffic_split": dict(split)},
            update_mask={"paths": ["traffic_split"]},
        )

    def read_split(self) -> dict[str, int]:
        return translate.live_split(self._get())

    def health(self, split: Mapping[str, int], rolling: Sequence[str]) -> str | None:
        if self.health_check is None:
            return None
        return self.health_check(self.endpoint_id, dict(split), list(rolling))

    def label(self, unit_id: str) -> str:
        return f"{self._labels[unit_id]}[{unit_id}]" if unit_id in self._labels else unit_id

    # ---- undeploy ------------------------------------------------------------------------------
    def undeploy(self, dm_id: str, split: Mapping[str, int] | None = None) -> None:
        """Undeploy a deployed model; `split` (the others') must move its traffic away if it has any."""
        request: dict[str, Any] = {"endpoint": self.resource, "deployed_model_id": dm_id}
        if split is not None:
            request["traffic_split"] = dict(split)
        what = f"undeploying deployed model {dm_id} from endpoint {self.endpoint_id}"
        # Repeating an undeploy is harmless: a second one finds the deployed model gone.
        with contextlib.suppress(NotFoundError):
            self.api.call_and_wait(
                self.api.endpoints.undeploy_model, self.ctx, what, idempotent=True, **request
            )

    def _get(self) -> dict[str, Any]:
        return to_dict(
            self.api.call(
                self.api.endpoints.get_endpoint, f"GetEndpoint {self.endpoint_id}", name=self.resource
            )
        )
