"""Endpoints on Vertex AI: the `endpoint` kind.

An `endpoint` owns one Vertex AI Endpoint (ID `<name>-<8 hex>`) and the deployed models on it,
one per variant, each named by its variant (`displayName`). A variant's traffic is its weight
normalised to whole percentages summing to 100 (`traffic.percentages`). Changes never recreate
the Endpoint: endpoint-level fields are PATCHed, and variants change through `rollout.Rollout`
(deploy the new, step the split, undeploy the old). Only a new encryption key replaces it.

Variants run on the machine types Vertex serves predictions on, with the accelerators each can
carry (`machines`), checked at validate time. Before changing an endpoint the provider waits for
operations still running on it (a deployment an interrupted apply started), so that what they
deploy is seen; a rollout such an apply left half way is resumed (see `rollout`), and what it left
beside the live variants without traffic is undeployed by `finish_interrupted`.

Attributes: id, display_name, description?, kms_key_name?, variants (name, model, model_version,
machine_type, min_replicas, max_replicas, accelerator_type?, accelerator_count?, traffic_percent,
deployed_model_id), request_logging? (from data_capture), rollout? (how changes roll out; not a
property of the endpoint, so never drift), labels."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from mlops_gitops.errors import Diagnostic, ProviderError
from mlops_gitops.features import ANY
from mlops_gitops.handlers import Request
from mlops_gitops.provider import UNKNOWN, ApplyContext, ResourceType, known
from mlops_gitops.stack.schema import EndpointSpec
from mlops_vertex import labels, machines, traffic, translate
from mlops_vertex.client import AlreadyExistsError, NotFoundError, to_dict
from mlops_vertex.config import EndpointSettings
from mlops_vertex.kind import KindHandler
from mlops_vertex.rollout import Rollout

# Neutral autoscaling fields with no Vertex equivalent.
_IGNORED_SCALING = frozenset({"target_invocations_per_instance", "scale_in_cooldown", "scale_out_cooldown"})
# No `status_path`: a Vertex endpoint has no state of its own that could mark it broken (its
# deployed models fail to deploy, and then are not there).
ENDPOINT = ResourceType(
    "endpoint",
    force_new=("id", "kms_key_name"),
    not_drift=("rollout", *labels.MARKERS.not_drift),
    create_before_destroy=True,
    id_field="id",
    serving=True,
    # A retired endpoint leaves the stack: the core deletes it, as any endpoint removed.
    supports={"data_capture": ANY, "rollout.strategy": ("all_at_once", "canary", "linear"), "retired": ANY},
    unsupported={
        "variants[*].serverless": "Vertex AI has no serverless deployments: give instance_type (a "
        "machine type such as n1-standard-4) and instance_count or autoscaling",
        "variants[*].model_package": "Vertex AI deploys versions of the models in this stack: name one "
        "with model (its versions follow the model's artifact, image and environment)",
        "rollout.rollback_on": "Vertex AI has no alarms to watch during a rollout: remove rollback_on. "
        "Each step is verified by reading the endpoint back, and a failed step restores the previous "
        "traffic split",
    },
)


class EndpointHandler(KindHandler[EndpointSpec, EndpointSettings]):
    rtype: ClassVar[ResourceType] = ENDPOINT
    settings_model: ClassVar[type[BaseModel] | None] = EndpointSettings
    noun: ClassVar[str] = "Vertex AI endpoint"

    # ---- offline ------------------------------------------------------------------------------
    def validate(self, req: Request[EndpointSpec, EndpointSettings]) -> list[Diagnostic]:
        spec = req.spec
        chosen = req.settings
        diags = super().validate(req)
        names = [v.name for v in spec.variants]
        for i, v in enumerate(spec.variants):
            where = f"variants[{i}]"
            if v.instance_type:
                diags += self._machine_problems(v.name, v.instance_type, chosen, where)
        scalings = [("autoscaling", spec.autoscaling)] + [
            (f"variants[{i}].autoscaling", v.autoscaling) for i, v in enumerate(spec.variants)
        ]
        for where, scaling in scalings:
            if scaling is not None and _IGNORED_SCALING & scaling.model_fields_set:
                diags.append(
                    Diagnostic(
                        "Vertex AI scales deployed models on CPU (or accelerator) utilisation between "
                        "min and max replicas: target_invocations_per_instance and the cooldowns "
                        "are ignored",
                        where,
                        severity="warning",
                    )
                )
        for variant in chosen.accelerators:
            if variant not in names:
                diags.append(
                    Diagnostic(
                        f"no variant named {variant!r} (variants: {', '.join(names)})",
                        f"vertex.accelerators.{variant}",
                    )
                )
        capture = spec.data_capture
        if capture is not None:
            if not capture.destination.startswith("bq://"):
                diags.append(
                    Diagnostic(
                        "Vertex AI logs requests and responses to BigQuery: use a "
                        "bq://project.dataset.table destination",
                        "data_capture.destination",
                    )
                )
            if set(capture.capture) != {"input", "output"}:
                diags.append(
                    Diagnostic(
                        "Vertex AI logs requests and responses together: capture both input and output",
                        "data_capture.capture",
                    )
                )
        return diags

    @staticmethod
    def _machine_problems(
        variant: str, machine_type: str, settings: EndpointSettings, where: str
    ) -> list[Diagnostic]:
        """A machine type Vertex serves predictions on, with accelerators it can carry."""
        problem = machines.machine_problem(machine_type)
        if problem is not None:
            return [Diagnostic(problem, f"{where}.instance_type")]
        accelerator = settings.accelerators.get(variant)
        problem = machines.accelerator_problem(
            machine_type,
            accelerator.type if accelerator is not None else None,
            accelerator.count if accelerator is not None else 0,
        )
        if problem is None:
            return []
        if accelerator is None:
            return [Diagnostic(f"{problem} in vertex.accelerators.{variant}", f"{where}.instance_type")]
        return [Diagnostic(problem, f"vertex.accelerators.{variant}")]

    # ---- pure ---------------------------------------------------------------------------------
    def desired(self, req: Request[EndpointSpec, EndpointSettings]) -> dict[str, Any]:
        resource, refs, prior = req.resource, req.refs, req.prior
        spec = req.spec
        chosen = req.settings
        shares = traffic.percentages({v.name: v.weight for v in spec.variants})
        was = {v["name"]: v for v in (prior or {}).get("variants", [])}
        variants = []
        for v in spec.variants:
            model = refs.get(f"model.{v.model}", {})
            scaling = v.autoscaling or spec.autoscaling
            variant: dict[str, Any] = {
                "name": v.name,
                "model": model.get("id", UNKNOWN),
                "model_version": model.get("version_id", UNKNOWN),
                "machine_type": v.instance_type,
                "min_replicas": scaling.min if scaling else v.instance_count,
                "max_replicas": scaling.max if scaling else v.instance_count,
            }
            accelerator = chosen.accelerators.get(v.name)
            if accelerator is not None:
                variant["accelerator_type"] = accelerator.type
                variant["accelerator_count"] = accelerator.count
            variant["traffic_percent"] = shares[v.name]
            # The deployed model stays while the variant's deployment does not change.
            before = was.get(v.name)
            same = before is not None and translate.deploy_basis(before) == translate.deploy_basis(variant)
            variant["deployed_model_id"] = before.get("deployed_model_id", UNKNOWN) if same else UNKNOWN  # type: ignore[union-attr]
            variants.append(variant)
        # The display name is chosen when the endpoint is created: a resource moved to another
        # address (`moved:`, `state mv`) keeps it, so a rename is no change.
        display = (prior or {}).get("display_name") or resource.name
        attrs: dict[str, Any] = {"id": UNKNOWN, "display_name": display}
        if spec.description:
            attrs["description"] = spec.description
        if chosen.kms_key_name:
            attrs["kms_key_name"] = chosen.kms_key_name
        attrs["variants"] = variants
        if spec.data_capture is not None:
            attrs["request_logging"] = {
                "destination": spec.data_capture.destination,
                "sample_percent": spec.data_capture.sample_percent,
                "enabled": spec.data_capture.enabled,
            }
        if spec.rollout is not None:
            attrs["rollout"] = spec.rollout.model_dump(exclude_none=True, exclude={"rollback_on"})
        attrs["labels"] = self.labels(resource)
        if prior is not None and prior.get("kms_key_name") == attrs.get("kms_key_name"):
            attrs["id"] = prior["id"]
        else:
            attrs["id"] = translate.object_id(
                self.stack, resource.name, {"kms_key_name": attrs.get("kms_key_name")}
            )
        return attrs

    # ---- read ---------------------------------------------------------------------------------
    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        found = self._get(attributes["id"])
        return translate.endpoint_from_api(found, attributes) if found is not None else None

    def _get(self, endpoint_id: str) -> dict[str, Any] | None:
        name = self.name("endpoints", endpoint_id)
        try:
            return to_dict(
                self.api.call(self.api.endpoints.get_endpoint, f"GetEndpoint {endpoint_id}", name=name)
            )
        except NotFoundError:
            return None

    def import_references(self, attributes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        """The model version each variant serves (`ID@VERSION`, so the import is that version)."""
        return [
            (f"variants[{i}].model", "model", f"{v['model']}@{v['model_version']}")
            for i, v in enumerate(attributes.get("variants", []))
        ]

    # ---- create / update / delete ---------------------------------------------------------------
    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        endpoint_id = desired["id"]
        existing = self._get(endpoint_id)
        if existing is None:
            try:
                # Under the ID we chose, so a create repeated after a lost answer is refused
                # (ALREADY_EXISTS) rather than made twice.
                operation = self.api.call(
                    self.api.endpoints.create_endpoint,
                    f"CreateEndpoint {endpoint_id}",
                    idempotent=True,
                    parent=self.api.parent,
                    endpoint=translate.endpoint_body(desired),
                    endpoint_id=endpoint_id,
                )
            except AlreadyExistsError:
                # An earlier attempt went through (or someone else's create is under way): its
                # endpoint shows once its operation is done.
                self.api.settle(
                    self.api.endpoints, self.name("endpoints", endpoint_id), ctx, "CreateEndpoint"
                )
                existing = self._get(endpoint_id)
                if existing is None:
                    raise ProviderError(
                        f"CreateEndpoint {endpoint_id}: Vertex AI answered ALREADY_EXISTS, yet no such "
                        "endpoint shows once its operations are done; try again",
                        code="AlreadyExists",
                        retryable=True,
                    ) from None
            else:
                # Recorded before waiting, without variants: it serves nothing yet.
                ctx.checkpoint(known({**desired, "variants": []}))
                self.api.wait(operation, ctx, f"creating endpoint {endpoint_id}")
        # Ours only if labelled so: left by a create that died before recording it, or whose
        # answer was lost.
        if existing is not None and not labels.owned_by(
            existing.get("labels", {}), stack=self.stack, address=ctx.address
        ):
            raise self.already_exists(ctx.address, endpoint_id)
        return self._converge(desired, ctx, None)

    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        return self._converge(desired, ctx, desired.get("rollout"))

    def _converge(
        self, desired: Mapping[str, Any], ctx: ApplyContext, rollout: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        endpoint_id = desired["id"]
        # A deployment an interrupted apply started may still be running: what it deploys must
        # be seen before deciding what to deploy, or it would be deployed twice.
        self.api.settle(
            self.api.endpoints, self.name("endpoints", endpoint_id), ctx, f"endpoint {endpoint_id}"
        )
        endpoint = self._get(endpoint_id)
        if endpoint is None:
            raise ProviderError(f"{self.noun} {endpoint_id!r} disappeared", code="NotFound")
        body, mask = translate.endpoint_patch(translate.endpoint_from_api(endpoint, desired), desired)
        if mask:
            self.api.call(
                self.api.endpoints.update_endpoint,
                f"UpdateEndpoint {endpoint_id}",
                idempotent=True,  # sets the masked fields: twice is once
                endpoint={"name": self.name("endpoints", endpoint_id), **body},
                update_mask={"paths": mask},
            )
        Rollout(self.api, endpoint_id, ctx, self.provider.health_check).run(
            endpoint, desired["variants"], rollout
        )
        return self.must_read(desired)

    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        """Undeploy every deployed model (Vertex refuses to delete an endpoint that has any), the
        idle ones first, moving each busy one's traffic onto those left; then delete it."""
        endpoint_id = prior["id"]
        if self._get(endpoint_id) is None:
            return
        # A deployment in flight would make Vertex refuse the delete: let it land, then undeploy it.
        self.api.settle(
            self.api.endpoints, self.name("endpoints", endpoint_id), ctx, f"endpoint {endpoint_id}"
        )
        endpoint = self._get(endpoint_id)
        if endpoint is None:
            return
        split = translate.live_split(endpoint)
        rollout = Rollout(self.api, endpoint_id, ctx, None)
        remaining = sorted(translate.deployed_ids(endpoint), key=lambda i: split.get(i, 0))
        while remaining:
            dm_id = remaining.pop(0)
            if split.get(dm_id) and remaining:
                weights = {i: split.get(i, 0) for i in remaining}
                if not any(weights.values()):
                    weights = dict.fromkeys(remaining, 1)
                split = traffic.percentages(weights)
                rollout.undeploy(dm_id, split)
            else:
                rollout.undeploy(dm_id)
        with contextlib.suppress(NotFoundError):
            self.api.call_and_wait(
                self.api.endpoints.delete_endpoint,
                ctx,
                f"deleting endpoint {endpoint_id}",
                idempotent=True,  # a repeat finds it gone
                name=self.name("endpoints", endpoint_id),
            )

    def finish_interrupted(
        self, recorded: Mapping[str, Any], live: Mapping[str, Any], ctx: ApplyContext
    ) -> None:
        """Undeploy what a killed rollout left beside the endpoint's live variants: deployed
        models taking no traffic that `live` does not list (deployed by it after `live` was read:
        its deployment was still running), or that a serving deployed model of the same variant
        superseded. A deployed model with traffic is never undeployed here: `update` moves
        traffic, and it already converged the endpoint when `live` differed from the stack."""
        endpoint_id = live["id"]
        name = self.name("endpoints", endpoint_id)
        self.api.settle(self.api.endpoints, name, ctx, f"endpoint {endpoint_id}")
        endpoint = self._get(endpoint_id)
        if endpoint is None:
            return
        split = translate.live_split(endpoint)
        deployed = [translate.variant_from_api(dm, split) for dm in endpoint.get("deployed_models", [])]
        listed = {v.get("deployed_model_id") for v in live.get("variants", [])}
        serving_names = {d["name"] for d in deployed if d["traffic_percent"] > 0}
        rollout = Rollout(self.api, endpoint_id, ctx, None)
        for d in deployed:
            if d["traffic_percent"] > 0:
                continue
            superseded = d["name"] in serving_names and sum(x["name"] == d["name"] for x in deployed) > 1
            if d["deployed_model_id"] not in listed or superseded:
                ctx.progress(
                    f"undeploying deployed model {d['deployed_model_id']} ({d['name']}), left without "
                    "traffic by an interrupted apply"
                )
                rollout.undeploy(d["deployed_model_id"])

    def rollback(
        self, current: Mapping[str, Any], target: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        """Back to the target's variants in one shift: the fastest safe way (the old versions are
        deployed beside the current ones before traffic moves)."""
        return self._converge({k: v for k, v in target.items() if k != "rollout"}, ctx, None)

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """Variants name their model by its Vertex ID: import those models under those names."""
        variants = []
        accelerators = {}
        for v in attributes["variants"]:
            variant: dict[str, Any] = {
                "name": v["name"],
                "model": v["model"],
                "weight": v["traffic_percent"],
                "instance_type": v["machine_type"],
                "instance_count": v["min_replicas"],
            }
            if v["max_replicas"] != v["min_replicas"]:
                variant["autoscaling"] = {"min": v["min_replicas"], "max": v["max_replicas"]}
            if v.get("accelerator_type"):
                accelerators[v["name"]] = {"type": v["accelerator_type"], "count": v["accelerator_count"]}
            variants.append(variant)
        spec: dict[str, Any] = {"variants": variants}
        if attributes.get("description"):
            spec["description"] = attributes["description"]
        if attributes.get("request_logging"):
            spec["data_capture"] = dict(attributes["request_logging"])
        if labels.user_labels(attributes.get("labels", {})):
            spec["tags"] = labels.user_labels(attributes["labels"])
        settings: dict[str, Any] = {}
        if accelerators:
            settings["accelerators"] = accelerators
        if attributes.get("kms_key_name"):
            settings["kms_key_name"] = attributes["kms_key_name"]
        if settings:
            spec["vertex"] = settings
        return spec
