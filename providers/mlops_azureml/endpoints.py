"""Online endpoints in Azure ML: the `endpoint` kind.

An `endpoint` owns one `ManagedOnlineEndpoint` (named after the resource) and one
`ManagedOnlineDeployment` per variant (`<variant>-<digest>`, see `names`), with an Azure Monitor
autoscale setting for a variant that autoscales (see `autoscale`). The plan shows it as one
resource: creating it creates the endpoint without traffic (Azure refuses traffic to deployments
that do not exist yet), the deployments, then sets the traffic.

Traffic: the variants' weights as whole percentages summing to 100, by the largest-remainder
method of the core (`mlops_gitops.rollout.percentages`: floor each share, hand the points left to
the largest fractions, ties to the earlier variant): weights 1/1/1 are 34/33/33. A shadow variant
(`mirror_percent`, weight 0) gets that share of the requests copied to it (`mirror_traffic`, at most
50% in all, as Azure allows).

Changes: a variant whose model, environment, instance type, container environment or data
collection changes gets a new deployment, and the traffic moves to it by the endpoint's `rollout:`
through the core's stepped driver (see `rollout`); instance count, request settings and probes
change in place on the deployment; description and tags on the endpoint. The instance count of an
autoscaled variant belongs to the autoscaler: never drift, never written back.

Data capture (`data_capture:`) is the deployments' data collector (`model_inputs` for input,
`model_outputs` for output, at `sample_percent`), which the SDK registers as data assets under the
destination (an `azureml://` datastore path); monitors read them.

Keys: the endpoint's keys are never read, printed or stored (no `listKeys`); callers get them
with `az ml online-endpoint get-credentials`.

Attributes: name, description?, auth_mode, public_network_access?, tags, variants (name,
deployment, model, environment, instance_type, instance_count, environment_variables,
data_collector, request_settings, liveness_probe, readiness_probe, app_insights_enabled,
traffic_percent, mirror_percent, autoscaling, provisioning_state), rollout? (how changes roll out:
never drift), scoring_uri and provisioning_state (read)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from mlops_azureml import autoscale, names, translate
from mlops_azureml.client import NotFoundError
from mlops_azureml.config import DeploymentSettings, EndpointSettings
from mlops_azureml.kind import MARKERS, KindHandler
from mlops_azureml.online import OnlineEndpoint
from mlops_azureml.rollout import EndpointRollout
from mlops_gitops.errors import Diagnostic, ProviderError
from mlops_gitops.features import ANY
from mlops_gitops.handlers import Request
from mlops_gitops.provider import UNKNOWN, ApplyContext, ResourceType, known
from mlops_gitops.rollout import percentages
from mlops_gitops.stack.schema import EndpointSpec, Variant

MAX_MIRROR = 50  # percent of the requests Azure ML mirrors to shadow deployments, in all
_COLLECTIONS = {"input": "model_inputs", "output": "model_outputs"}

ENDPOINT = ResourceType(
    "endpoint",
    computed=("scoring_uri", "provisioning_state", "variants[*].provisioning_state"),
    # The autoscaler's instance count is masked in `read` (see `_variants_from_api`).
    not_drift=("rollout", *MARKERS.not_drift),
    status_path="provisioning_state",
    failed_statuses=("Failed",),
    # The endpoint name is the resource's: a replacement adopts the same endpoint and converges it.
    create_before_destroy=True,
    serving=True,
    supports={
        "data_capture": ANY,
        "variants[*].mirror_percent": ANY,
        "rollout.strategy": ("all_at_once", "canary", "linear"),
        # A retired endpoint leaves the stack (the core plans its deletion): nothing Azure-specific.
        "retired": ANY,
    },
    unsupported={
        "variants[*].serverless": "Azure ML managed online endpoints run on dedicated instances: give "
        "instance_type (e.g. Standard_DS3_v2) and instance_count or autoscaling (pay-per-token serverless "
        "APIs are Azure AI serverless endpoints, outside this stack)",
        "variants[*].model_package": "Azure ML deploys models of this stack: name one with model (its "
        "artifact may be a registry version, azureml://registries/<registry>/models/<name>/versions/<v>)",
        "rollout.rollback_on": "Azure ML has no alarms to watch during a rollout: remove rollback_on. Each "
        "step is read back, a failed deployment restores the previous traffic, and a program embedding "
        "mlops-gitops can set AzureMLProvider.health_check",
    },
)


class EndpointHandler(KindHandler[EndpointSpec, EndpointSettings]):
    rtype: ClassVar[ResourceType] = ENDPOINT
    settings_model: ClassVar[type[BaseModel] | None] = EndpointSettings
    noun: ClassVar[str] = "Azure ML online endpoint"

    # ---- offline ------------------------------------------------------------------------------
    def validate(self, req: Request[EndpointSpec, EndpointSettings]) -> list[Diagnostic]:
        spec, chosen, name = req.spec, req.settings, req.resource.name
        diags = super().validate(req)
        if not names.ENDPOINT_RE.match(name):
            diags.append(
                Diagnostic(
                    f"Azure ML endpoint names have 3 to {names.MAX_ENDPOINT} characters (letters, digits "
                    f"and hyphens, starting with a letter): {name!r} has {len(name)}",
                    "",
                )
            )
        variants = [v.name for v in spec.variants]
        mirrored = 0
        for i, v in enumerate(spec.variants):
            if not v.name[0].isalpha():
                diags.append(
                    Diagnostic(
                        "Azure ML deployment names start with a letter: start the variant name with one",
                        f"variants[{i}].name",
                    )
                )
            if v.mirror_percent is not None:
                mirrored += v.mirror_percent
                if v.mirror_percent > MAX_MIRROR:
                    diags.append(
                        Diagnostic(
                            f"Azure ML mirrors at most {MAX_MIRROR}% of the requests to shadow deployments",
                            f"variants[{i}].mirror_percent",
                        )
                    )
        scalings = [("autoscaling", spec.autoscaling)] + [
            (f"variants[{i}].autoscaling", v.autoscaling) for i, v in enumerate(spec.variants)
        ]
        for where, scaling in scalings:
            if scaling is not None:
                for field in ("scale_in_cooldown", "scale_out_cooldown"):
                    problem = autoscale.cooldown_problem(getattr(scaling, field))
                    if problem:
                        diags.append(Diagnostic(problem, f"{where}.{field}"))
        if mirrored > MAX_MIRROR and not any(d.path.endswith("mirror_percent") for d in diags):
            diags.append(
                Diagnostic(
                    f"the variants mirror {mirrored}% of the requests; Azure ML mirrors at most "
                    f"{MAX_MIRROR}% in all",
                    "variants",
                )
            )
        for variant in chosen.variants:
            if variant not in variants:
                diags.append(
                    Diagnostic(
                        f"no variant named {variant!r} (variants: {', '.join(variants)})",
                        f"azureml.variants.{variant}",
                    )
                )
        capture = spec.data_capture
        if capture is not None and not capture.destination.startswith("azureml://"):
            diags.append(
                Diagnostic(
                    "Azure ML collects deployment data into a datastore: use an azureml://datastores/"
                    "<datastore>/paths/<path> destination",
                    "data_capture.destination",
                )
            )
        return diags

    # ---- pure ---------------------------------------------------------------------------------
    def desired(self, req: Request[EndpointSpec, EndpointSettings]) -> dict[str, Any]:
        resource, spec, chosen, refs = req.resource, req.spec, req.settings, req.refs
        shares = percentages({v.name: v.weight for v in spec.variants})
        collector = _collector(spec)
        before = {v.get("name"): v for v in (req.prior or {}).get("variants") or []}
        variants = [
            self._variant(
                v,
                shares[v.name],
                spec,
                chosen,
                refs.get(f"model.{v.model}", {}),
                collector,
                before.get(v.name),
            )
            for v in spec.variants
        ]
        attrs: dict[str, Any] = {"name": resource.name}
        if spec.description:
            attrs["description"] = spec.description
        attrs["auth_mode"] = chosen.auth_mode
        if chosen.public_network_access:
            attrs["public_network_access"] = chosen.public_network_access
        attrs["tags"] = self.tags(resource)
        attrs["variants"] = variants
        if spec.rollout is not None:
            attrs["rollout"] = spec.rollout.model_dump(exclude_none=True, exclude={"rollback_on"})
        prior = req.prior or {}
        attrs["scoring_uri"] = prior.get("scoring_uri", UNKNOWN)
        attrs["provisioning_state"] = prior.get("provisioning_state", UNKNOWN)
        return attrs

    @staticmethod
    def _variant(
        v: Variant,
        share: int,
        spec: EndpointSpec,
        chosen: EndpointSettings,
        model: Mapping[str, Any],
        collector: dict[str, Any] | None,
        prior: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        env = model.get("environment") or {}
        known_model = model.get("name") not in (None, UNKNOWN) and model.get("version") not in (None, UNKNOWN)
        known_env = env.get("name") not in (None, UNKNOWN) and env.get("version") not in (None, UNKNOWN)
        variant: dict[str, Any] = {
            "name": v.name,
            "model": translate.asset_ref(model["name"], model["version"]) if known_model else UNKNOWN,
            "environment": translate.asset_ref(env["name"], env["version"]) if known_env else UNKNOWN,
            "instance_type": v.instance_type,
            "environment_variables": dict(model.get("environment_variables") or {}),
            "data_collector": collector,
        }
        basis = translate.deployment_basis(variant)
        variant["deployment"] = names.deployment_name(v.name, basis) if known_model and known_env else UNKNOWN
        if prior is not None and prior.get("deployment") and translate.deployment_basis(prior) == basis:
            # The deployment serving this variant already, under a name of its own (one imported).
            variant["deployment"] = prior["deployment"]
        settings = _merged(chosen, chosen.variants.get(v.name))
        scaling = v.autoscaling or spec.autoscaling
        variant["instance_count"] = scaling.min if scaling is not None else v.instance_count
        variant["request_settings"] = _dump(settings.request_settings)
        variant["liveness_probe"] = _dump(settings.liveness_probe)
        variant["readiness_probe"] = _dump(settings.readiness_probe)
        variant["app_insights_enabled"] = bool(settings.app_insights_enabled)
        variant["traffic_percent"] = share
        variant["mirror_percent"] = v.mirror_percent
        variant["autoscaling"] = scaling.model_dump() if scaling is not None else None
        variant["provisioning_state"] = UNKNOWN
        return variant

    def risks(
        self,
        action: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        *,
        destroying: bool,
    ) -> list[str]:
        if before is None or action not in ("delete", "replace"):
            return []
        count = len(before.get("variants", []))
        return [
            f"deletes Azure ML endpoint {before.get('name')} with its {count} deployment"
            f"{'' if count == 1 else 's'} and their autoscale settings; its scoring URI stops answering"
        ]

    # ---- read ---------------------------------------------------------------------------------
    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        online = OnlineEndpoint(self.api, attributes["name"], None)
        endpoint = online.get()
        if endpoint is None:
            return None
        return self._from_api(online, endpoint, attributes)

    def _from_api(self, online: OnlineEndpoint, endpoint: Any, recorded: Mapping[str, Any]) -> dict[str, Any]:
        attrs: dict[str, Any] = {"name": endpoint.name}
        if endpoint.description:
            attrs["description"] = endpoint.description
        attrs["auth_mode"] = str(endpoint.auth_mode).lower()
        if recorded.get("public_network_access") and getattr(endpoint, "public_network_access", None):
            attrs["public_network_access"] = str(endpoint.public_network_access).lower()
        attrs["tags"] = dict(endpoint.tags or {})
        attrs["variants"] = self._variants_from_api(online, endpoint, recorded.get("variants") or [])
        if "rollout" in recorded:
            attrs["rollout"] = recorded["rollout"]
        attrs["scoring_uri"] = endpoint.scoring_uri
        attrs["provisioning_state"] = endpoint.provisioning_state
        return attrs

    def _variants_from_api(
        self, online: OnlineEndpoint, endpoint: Any, recorded: list[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """The deployments as variants, in the recorded order (others after, by name)."""
        traffic = translate.live_traffic(endpoint)
        mirror = translate.live_mirror(endpoint)
        wanted = {v.get("deployment"): v for v in recorded}
        deployments = sorted(
            online.deployments(),
            key=lambda d: (
                list(wanted).index(d.name) if d.name in wanted else len(wanted),
                d.name,
            ),
        )
        out = []
        for d in deployments:
            before = wanted.get(d.name)
            variant = translate.variant_from_api(d, before)
            collector = variant.get("data_collector")
            if collector and collector.get("destination") is None:
                # Not recorded (an import): where the collector's data asset lives says it.
                collector["destination"] = self._collector_destination(online, d)
            variant["traffic_percent"] = traffic.get(d.name, 0)
            variant["mirror_percent"] = mirror.get(d.name)
            scaling = online.get_autoscale(d.name) if before is None or before.get("autoscaling") else None
            variant["autoscaling"] = _full_scaling(scaling)
            if scaling is not None and before is not None:
                # The autoscaler moves the count between min and max: its count is no drift.
                variant["instance_count"] = before.get("instance_count", variant["instance_count"])
            ordered = {k: variant[k] for k in _VARIANT_KEYS if k in variant}
            out.append(ordered)
        return out

    def _collector_destination(self, online: OnlineEndpoint, deployment: Any) -> str | None:
        """The destination of a deployment's data collector: the path of its data assets, which
        the SDK and Azure put at `<destination>/<endpoint>/<deployment>/<collection>`."""
        ml = self.api.ml
        for name, collection in sorted(deployment.data_collector.collections.items()):
            ref = translate.parse_asset_ref(getattr(collection, "data", None))
            if ref is None:
                continue
            try:
                data = self.api.call(
                    lambda ref=ref: ml.data.get(ref[0], version=ref[1]),
                    f"get data asset {ref[0]}",
                    idempotent=True,
                )
            except NotFoundError:
                continue
            path = translate.short_datastore_uri(str(data.path).rstrip("/"), self.api.workspace_id) or ""
            suffix = f"/{online.name}/{deployment.name}/{name}"
            if path.endswith(suffix):
                return path.removesuffix(suffix)
        return None

    def import_references(self, attributes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        """The model version each variant serves (`NAME:VERSION`)."""
        out = []
        for i, v in enumerate(attributes.get("variants", [])):
            ref = translate.parse_asset_ref(v.get("model"))
            if ref is not None:
                out.append((f"variants[{i}].model", "model", f"{ref[0]}:{ref[1]}"))
        return out

    # ---- create / update / delete ---------------------------------------------------------------
    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        online = OnlineEndpoint(self.api, desired["name"], ctx)
        existing = online.get()
        if existing is None:
            # Without traffic: Azure gives traffic to existing deployments only.
            ml = self.api.ml
            poller = self.api.call(
                # A new entity per attempt: the SDK edits the one it sends.
                lambda: ml.online_endpoints.begin_create_or_update(
                    translate.endpoint_entity(desired, {}, {})
                ),
                f"creating endpoint {desired['name']}",
                idempotent=True,  # a PUT under our name: a repeat is the same endpoint
                cancel=ctx.cancel,
            )
            # Recorded before waiting, without variants: it serves nothing yet.
            ctx.checkpoint(known({**desired, "variants": []}))
            self.api.wait(poller, ctx, f"creating endpoint {desired['name']}")
        elif not self.owned(existing.tags, ctx.address):
            raise self.already_exists(ctx.address, desired["name"])
        return self._converge(desired, ctx, None)

    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        return self._converge(desired, ctx, desired.get("rollout"))

    def _converge(
        self, desired: Mapping[str, Any], ctx: ApplyContext, rollout: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        online = OnlineEndpoint(self.api, desired["name"], ctx)
        online.settle()
        live = online.must_get()
        tags = dict(desired["tags"])
        current = self._from_api(online, live, desired)
        own = ("description", "auth_mode", "public_network_access", "tags")
        if any(current.get(k) != desired.get(k) for k in own):
            online.put(desired, translate.live_traffic(live), translate.live_mirror(live))
            live = online.must_get()
        # Deployments kept: their in-place settings and autoscaling.
        by_deployment = {v["deployment"]: v for v in current["variants"]}
        for variant in desired["variants"]:
            now = by_deployment.get(variant["deployment"])
            if now is None or now.get("provisioning_state") not in ("Succeeded", None):
                continue
            if translate.deployment_mutable(now) != translate.deployment_mutable(variant):
                wanted = dict(variant)
                if now.get("autoscaling") and variant.get("autoscaling"):
                    # The count is the autoscaler's: the one it chose is kept.
                    wanted["instance_count"] = self._live_count(online, variant["deployment"])
                ctx.progress(
                    f"updating deployment {variant['deployment']} (variant {variant['name']}) in place"
                )
                online.put_deployment(wanted, tags)
            if now.get("autoscaling") != variant.get("autoscaling"):
                if variant.get("autoscaling"):
                    online.put_autoscale(variant["deployment"], variant["autoscaling"], tags)
                else:
                    online.delete_autoscale(variant["deployment"])
        EndpointRollout(online, desired, ctx, tags, self.provider.health_check).run(
            live, current["variants"], rollout
        )
        return self.must_read(desired)

    @staticmethod
    def _live_count(online: OnlineEndpoint, deployment: str) -> int:
        found = online.deployment(deployment)
        if found is None:
            raise ProviderError(f"deployment {online.name}/{deployment} disappeared", code="NotFound")
        return int(found.instance_count)

    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        """Delete the endpoint: Azure deletes its deployments with it. Their autoscale settings
        and collected-data assets are separate objects, deleted first."""
        online = OnlineEndpoint(self.api, prior["name"], ctx)
        if online.get() is None:
            return
        for d in online.deployments():
            online.delete_autoscale(d.name)
        deployments = [d.name for d in online.deployments()]
        online.delete()
        for name in deployments:
            online.delete_collected_data(name)

    def finish_interrupted(
        self, recorded: Mapping[str, Any], live: Mapping[str, Any], ctx: ApplyContext
    ) -> None:
        """Delete deployments an interrupted apply left beside the live variants, taking no
        traffic (a deployment with traffic is never deleted here: `update` moved it)."""
        online = OnlineEndpoint(self.api, live["name"], ctx)
        endpoint = online.get()
        if endpoint is None:
            return
        used = {v["deployment"] for v in live.get("variants", [])}
        busy = set(translate.live_traffic(endpoint)) | set(translate.live_mirror(endpoint))
        for d in online.deployments():
            if d.name not in used and d.name not in busy:
                ctx.progress(f"deleting deployment {d.name}, left without traffic by an interrupted apply")
                online.delete_deployment(d.name)

    def rollback(
        self, current: Mapping[str, Any], target: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        """Back to the target's deployments in one shift, the fastest safe way: the earlier
        deployments are provisioned again beside the current ones before traffic moves."""
        return self._converge({k: v for k, v in target.items() if k != "rollout"}, ctx, None)

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """Variants name their model by its Azure name: import those models under those names."""
        variants = []
        for v in attributes["variants"]:
            ref = translate.parse_asset_ref(v.get("model"))
            variant: dict[str, Any] = {
                "name": v["name"],
                "model": ref[0] if ref else v.get("model"),
                "weight": v["traffic_percent"],
                "instance_type": v["instance_type"],
                "instance_count": v["instance_count"],
            }
            if v.get("mirror_percent"):
                variant["mirror_percent"] = v["mirror_percent"]
            if v.get("autoscaling"):
                variant["autoscaling"] = dict(v["autoscaling"])
            variants.append(variant)
        spec: dict[str, Any] = {"variants": variants}
        if attributes.get("description"):
            spec["description"] = attributes["description"]
        collectors = [v.get("data_collector") for v in attributes["variants"] if v.get("data_collector")]
        if collectors:
            # The stack has one data capture for all variants: the first variant's.
            collector = collectors[0]
            spec["data_capture"] = {
                "destination": collector.get("destination")
                or "<azureml://datastores/...: where data is collected>",
                "sample_percent": round(float(collector.get("sampling_rate", 1.0)) * 100),
                "capture": [k for k, v in _COLLECTIONS.items() if v in collector.get("collections", [])],
            }
        user = MARKERS.user(attributes.get("tags", {}))
        if user:
            spec["tags"] = user
        if attributes.get("auth_mode", "key") != "key":
            spec["azureml"] = {"auth_mode": attributes["auth_mode"]}
        return spec


_VARIANT_KEYS = (
    "name",
    "model",
    "environment",
    "instance_type",
    "environment_variables",
    "data_collector",
    "deployment",
    "instance_count",
    "request_settings",
    "liveness_probe",
    "readiness_probe",
    "app_insights_enabled",
    "traffic_percent",
    "mirror_percent",
    "autoscaling",
    "provisioning_state",
)


def _collector(spec: EndpointSpec) -> dict[str, Any] | None:
    capture = spec.data_capture
    if capture is None or not capture.enabled:
        return None
    return {
        "collections": sorted(_COLLECTIONS[c] for c in capture.capture),
        "sampling_rate": capture.sample_percent / 100,
        "destination": capture.destination.rstrip("/"),
    }


def _merged(endpoint: EndpointSettings, variant: DeploymentSettings | None) -> DeploymentSettings:
    """A variant's deployment settings: its own, else the endpoint's."""
    base = DeploymentSettings(**{k: getattr(endpoint, k) for k in DeploymentSettings.model_fields})
    if variant is None:
        return base
    chosen = {
        k: getattr(variant, k) for k in DeploymentSettings.model_fields if getattr(variant, k) is not None
    }
    return base.model_copy(update=chosen)


def _dump(model: BaseModel | None) -> dict[str, Any] | None:
    if model is None:
        return None
    dumped = model.model_dump(exclude_none=True)
    return dumped or None


def _full_scaling(scaling: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if scaling is None:
        return None
    return {
        "min": scaling["min"],
        "max": scaling["max"],
        "target_invocations_per_instance": scaling.get("target_invocations_per_instance"),
        "scale_in_cooldown": scaling.get("scale_in_cooldown"),
        "scale_out_cooldown": scaling.get("scale_out_cooldown"),
    }
