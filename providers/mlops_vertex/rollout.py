"""Changing the deployed models behind a live endpoint without dropping a request.

Vertex AI has no deployment guardrails, so the provider steps the traffic itself:

1. Variants whose deployment is unchanged keep their deployed model. Each new or changed variant
   is deployed first, as a new deployed model taking no traffic.
2. The split moves from the live one to the stack's in the rollout's steps (`traffic.steps`): one
   `trafficSplit` PATCH per step, each summing to 100 over deployed models, each followed by a
   watch of the rollback signal for the step's wait.
3. Once all traffic is on the new split, the deployed models it no longer uses are undeployed.

The rollback signal, since Vertex has no alarms to watch: a step that fails (the PATCH is
refused), a read-back showing the endpoint other than the step left it (a deployed model of the
split gone, or the split changed by someone else), the rollout's `timeout_minutes` passing, the
apply being cancelled, or the optional `health_check` hook returning a reason. On any of them the
previous split is restored with one PATCH, the new deployed models are undeployed, and the
endpoint is left serving as it was before the apply; the error says so.

A change that deploys nothing (weights only, or a variant removed) is a single PATCH.

Every deployment names its deployed model (a random 10-digit id chosen here) and carries the
split it means (the live one, or all traffic for the first model on an endpoint serving nothing):
a deploy whose answer was lost is then retried safely, since Vertex refuses the repeat with
ALREADY_EXISTS and the deployed model is found by its id.

A rollout an interrupted apply left half way (a new deployed model beside the old one of its
variant, the split between them) is resumed, not restarted: the new deployed model is kept, and
traffic moves on from the live split in the rollout's steps, with their bakes."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_gitops.errors import ProviderError
from mlops_gitops.provider import ApplyContext
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


class _Unhealthy(Exception):
    """The rollback signal fired."""


class Rollout:
    """One change of an endpoint's deployed models and split (see the module docstring)."""

    def __init__(
        self, api: Clients, endpoint_id: str, ctx: ApplyContext, health_check: HealthCheck | None
    ) -> None:
        self.api = api
        self.endpoint_id = endpoint_id
        self.name = f"{api.parent}/endpoints/{endpoint_id}"
        self.ctx = ctx
        self.health_check = health_check
        self._labels: dict[str, str] = {}  # deployed model id -> variant name, for messages

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
        fleet = match(live, desired)
        was_serving = bool(start)
        if fleet.resumed:
            shown = ", ".join(self._show_id(i) for i in fleet.resumed)
            self.ctx.progress(f"resuming the rollout of {shown} from the live split {self._show(start)}")
        new = self._deploy_all(fleet.deploy, start)
        if not was_serving and new:
            start = translate.live_split(self._get())  # the first deployment took all traffic
        ids = {**fleet.keep, **new}
        target = {ids[v["name"]]: v["traffic_percent"] for v in desired if v["traffic_percent"] > 0}
        if target != start:
            rolling = [*new.values(), *fleet.resumed]
            steps = traffic.steps(rollout) if rolling and was_serving else [traffic.Step(1.0, 0.0)]
            self._shift(start, target, steps, list(new.values()), rolling, rollout or {})
        for dm_id in fleet.retire:
            self.undeploy(dm_id)

    # ---- deploy --------------------------------------------------------------------------------
    def _deploy_all(self, variants: list[dict[str, Any]], start: Mapping[str, int]) -> dict[str, str]:
        """Deploy each variant without traffic (the first one on an endpoint serving nothing takes
        it all, as a split must sum to 100); on failure undeploy what this call deployed."""
        new: dict[str, str] = {}
        split = dict(start)
        try:
            for variant in variants:
                new[variant["name"]] = dm_id = self._deploy(variant, split)
                split = split or {dm_id: traffic.TOTAL}
        except ProviderError as exc:
            self._discard(list(new.values()))
            raise ProviderError(
                f"endpoint {self.endpoint_id}: {exc}. The deployed models made for this change were "
                "removed; the endpoint serves as before.",
                code=exc.code,
            ) from exc
        return new

    def _deploy(self, variant: Mapping[str, Any], split: Mapping[str, int]) -> str:
        """Deploy `variant` as a new deployed model beside the live ones, leaving the traffic on
        `split` (the live split; empty on an endpoint serving nothing, where the new model must
        take it all). The split is always sent: without one, what Vertex does depends on whether
        the endpoint serves anything yet, and a deploy must not depend on a read made earlier."""
        dm_id = new_deployed_model_id()
        request: dict[str, Any] = {
            "endpoint": self.name,
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
            self.api.settle(self.api.endpoints, self.name, self.ctx, what)
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
        self.ctx.progress(f"deployed variant {variant['name']} as deployed model {dm_id}, taking {taking}")
        return dm_id

    def undeploy(self, dm_id: str, split: Mapping[str, int] | None = None) -> None:
        """Undeploy a deployed model; `split` (the others') must move its traffic away if it has any."""
        request: dict[str, Any] = {"endpoint": self.name, "deployed_model_id": dm_id}
        if split is not None:
            request["traffic_split"] = dict(split)
        what = f"undeploying deployed model {dm_id} from endpoint {self.endpoint_id}"
        # Repeating an undeploy is harmless: a second one finds the deployed model gone.
        with contextlib.suppress(NotFoundError):
            self.api.call_and_wait(
                self.api.endpoints.undeploy_model, self.ctx, what, idempotent=True, **request
            )

    def _discard(self, dm_ids: list[str]) -> list[str]:
        """Undeploy `dm_ids`, best effort; the messages of those that failed. Last deployed first:
        on an endpoint that served nothing before, the first one holds the traffic and may only
        go once it is the last."""
        failures = []
        for dm_id in reversed(dm_ids):
            try:
                self.undeploy(dm_id)
            except ProviderError as exc:
                failures.append(str(exc))
        return failures

    # ---- traffic ---------------------------------------------------------------------------------
    def _shift(
        self,
        start: Mapping[str, int],
        target: Mapping[str, int],
        steps: list[traffic.Step],
        new: list[str],
        watched: list[str],
        rollout: Mapping[str, Any],
    ) -> None:
        """Step from `start` to `target`. `watched` are the deployed models being rolled out (for
        the health check); `new` those of them this apply deployed, undeployed on a rollback."""
        timeout = rollout.get("timeout_minutes")
        deadline = time.monotonic() + timeout * self.api.timing.minute if timeout else None
        current = dict(start)
        for number, step in enumerate(steps, 1):
            split = traffic.blend(start, target, step.fraction)
            try:
                if split != current:
                    self.patch(split)
                    current = split
                self.ctx.progress(f"step {number}/{len(steps)}: traffic {self._show(split)}")
                self._watch(step.wait_minutes, split, watched, deadline)
            except (ProviderError, _Unhealthy) as exc:
                self._roll_back(start, new, f"step {number} of {len(steps)}: {exc}")

    def patch(self, split: Mapping[str, int]) -> None:
        self.api.call(
            self.api.endpoints.update_endpoint,
            f"setting the traffic split of endpoint {self.endpoint_id}",
            idempotent=True,  # it sets the whole split: twice is once
            endpoint={"name": self.name, "traffic_split": dict(split)},
            update_mask={"paths": ["traffic_split"]},
        )

    def _watch(
        self, minutes: float, split: Mapping[str, int], new: list[str], deadline: float | None
    ) -> None:
        """Check the rollback signal now, then every `progress_every` seconds for `minutes`."""
        timing = self.api.timing
        end = time.monotonic() + minutes * timing.minute
        while True:
            self._check(split, new)
            if deadline is not None and time.monotonic() > deadline:
                raise _Unhealthy("the rollout took longer than its timeout_minutes")
            left = end - time.monotonic()
            if left <= 0:
                return
            if self.ctx.cancel.wait(min(left, timing.progress_every)):
                raise _Unhealthy("the apply was cancelled")
            self.ctx.progress(f"watching traffic {self._show(split)}: {max(0.0, left):.0f}s left")

    def _check(self, split: Mapping[str, int], new: list[str]) -> None:
        endpoint = self._get()
        deployed = set(translate.deployed_ids(endpoint))
        gone = [self._show_id(i) for i in split if i not in deployed]
        if gone:
            raise _Unhealthy(f"deployed model(s) {', '.join(gone)} disappeared")
        live = translate.live_split(endpoint)
        if live != dict(split):
            raise _Unhealthy(f"the traffic split changed outside this rollout, to {self._show(live)}")
        if self.health_check is not None:
            problem = self.health_check(self.endpoint_id, dict(split), list(new))
            if problem:
                raise _Unhealthy(f"health check: {problem}")

    def _roll_back(self, start: Mapping[str, int], new: list[str], reason: str) -> None:
        try:
            if translate.live_split(self._get()) != dict(start):
                self.patch(start)
        except ProviderError as exc:
            raise ProviderError(
                f"endpoint {self.endpoint_id}: the rollout failed at {reason}, and restoring the "
                f"previous traffic split ({self._show(start)}) failed too: {exc}. Run plan to see "
                "what the endpoint serves now.",
                code="RollbackFailed",
            ) from exc
        failures = self._discard(new)
        left = f" Could not undeploy: {'; '.join(failures)}." if failures else ""
        raise ProviderError(
            f"endpoint {self.endpoint_id}: the rollout was rolled back at {reason}. Traffic is back "
            f"on the previous split ({self._show(start)}) and the new deployed models were "
            f"undeployed.{left}",
            code="RolledBack",
        )

    # ---- helpers -------------------------------------------------------------------------------
    def _get(self) -> dict[str, Any]:
        return to_dict(
            self.api.call(self.api.endpoints.get_endpoint, f"GetEndpoint {self.endpoint_id}", name=self.name)
        )

    def _show_id(self, dm_id: str) -> str:
        return f"{self._labels[dm_id]}[{dm_id}]" if dm_id in self._labels else dm_id

    def _show(self, split: Mapping[str, int]) -> str:
        return ", ".join(f"{self._show_id(i)}={p}%" for i, p in split.items()) or "none"
