"""The SageMaker provider: models and real-time endpoints.

A `model` owns one SageMaker Model. Models are immutable, so any change but tags makes a new one
under a new name (`<logical>-<8 hex>`), created before the old one is deleted, and the endpoints
using it move over in between.

An `endpoint` owns an Endpoint, the EndpointConfigs it runs on (`<endpoint>-<12 hex>`, one per
change, tagged with the resource's address) and the Application Auto Scaling target and policy
of each variant that has autoscaling. Changes never recreate the Endpoint: weights and counts
go through UpdateEndpointWeightsAndCapacities, anything else through a new EndpointConfig and
UpdateEndpoint, which SageMaker rolls out blue/green without dropping traffic.

Importing this module imports no AWS SDK: see `client.py`."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple, cast

from pydantic import BaseModel

from mlops_gitops.errors import Diagnostic, NotSupportedError, ProviderError, StackError
from mlops_gitops.provider import (
    TAG_ADDRESS,
    UNKNOWN,
    ApplyContext,
    Emulator,
    Provider,
    ResourceType,
    SandboxEndpoints,
)
from mlops_gitops.stack.model import Resource
from mlops_gitops.stack.schema import EndpointSpec, ModelSpec, ResourceBase
from mlops_sagemaker import images, translate
from mlops_sagemaker.client import Clients, NotFoundError, call, collect
from mlops_sagemaker.config import EndpointSettings, ModelSettings, SageMakerConfig
from mlops_sagemaker.handlers import HANDLERS

MODEL = ResourceType(
    "model",
    # `name` is derived from the others, so it only changes with them; listing it keeps the plan
    # honest about why the model is replaced.
    force_new=("name", *translate.MODEL_FORCE_NEW),
    computed=("arn",),
    create_before_destroy=True,
)
ENDPOINT = ResourceType(
    "endpoint", force_new=(), computed=("arn", "endpoint_config_name"), create_before_destroy=False
)
_IN_FLIGHT = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
_MAX_VARIANTS = 10  # SageMaker's limit of production variants per endpoint config


class _Scaling(NamedTuple):
    """One variant's scalable target and the policies attached to it, as AWS describes them."""

    target: dict[str, Any]
    policies: list[dict[str, Any]]


class SageMakerProvider(Provider):
    name: ClassVar[str] = "sagemaker"
    kinds: ClassVar[dict[str, ResourceType]] = {
        "model": MODEL,
        "endpoint": ENDPOINT,
        **{h.rtype.kind: h.rtype for h in HANDLERS},
    }
    config_model: ClassVar[type[BaseModel]] = SageMakerConfig
    settings_models: ClassVar[dict[str, type[BaseModel]]] = {
        "model": ModelSettings,
        "endpoint": EndpointSettings,
        **{h.rtype.kind: h.settings_model for h in HANDLERS if h.settings_model is not None},
    }
    sdk_hint: ClassVar[str] = "pip install 'mlops-gitops[sagemaker]'"

    def __init__(self, config: BaseModel, *, stack: str, sandbox: SandboxEndpoints | None = None):
        super().__init__(config, stack=stack, sandbox=sandbox)
        self._cfg = cast(SageMakerConfig, config)
        self._aws = Clients(self._cfg, sandbox)
        self._handlers = {h.rtype.kind: h(self) for h in HANDLERS}

    @property
    def aws(self) -> Clients:
        return self._aws

    @property
    def cfg(self) -> SageMakerConfig:
        return self._cfg

    @classmethod
    def emulator(cls, settings: Mapping[str, Any]) -> Emulator | None:
        from mlops_sagemaker.emulator import SageMakerEmulator

        return SageMakerEmulator(settings)

    # ---- offline ------------------------------------------------------------------------------
    def validate(self, resource: Resource, settings: BaseModel | None) -> list[Diagnostic]:
        if resource.kind in self._handlers:
            return self._handlers[resource.kind].validate(resource, settings)
        if resource.kind == "model":
            return self._validate_model(cast(ModelSpec, resource.spec), cast(ModelSettings | None, settings))
        if resource.kind == "endpoint":
            return self._validate_endpoint(cast(EndpointSpec, resource.spec))
        return []

    def _validate_model(self, spec: ModelSpec, settings: ModelSettings | None) -> list[Diagnostic]:
        diags = []
        if not ((settings and settings.execution_role_arn) or self._cfg.role_arn):
            diags.append(
                Diagnostic(
                    "SageMaker needs an execution role: set role_arn in the sagemaker provider block, "
                    "or execution_role_arn here",
                    "sagemaker.execution_role_arn",
                )
            )
        if not spec.artifact.startswith(("s3://", "https://")):
            diags.append(Diagnostic("SageMaker loads model artifacts from S3: use an s3:// URI", "artifact"))
        if spec.registry is not None:
            diags.append(
                Diagnostic("the sagemaker provider does not support the model registry yet", "registry")
            )
        return diags

    def _validate_endpoint(self, spec: EndpointSpec) -> list[Diagnostic]:
        diags = []
        if len(spec.variants) > _MAX_VARIANTS:
            diags.append(
                Diagnostic(f"SageMaker allows at most {_MAX_VARIANTS} variants per endpoint", "variants")
            )
        if spec.data_capture is not None and not spec.data_capture.destination.startswith("s3://"):
            diags.append(
                Diagnostic(
                    "SageMaker writes captured data to S3: use an s3:// URI", "data_capture.destination"
                )
            )
        # Refusing is safer than accepting guardrails that would silently not be applied.
        if spec.rollout is not None and spec.rollout.strategy != "all_at_once":
            diags.append(
                Diagnostic(
                    f"the sagemaker provider does not support the {spec.rollout.strategy} rollout "
                    "strategy yet (updates shift all traffic once the new fleet is healthy)",
                    "rollout.strategy",
                )
            )
        if spec.rollout is not None and spec.rollout.rollback_on:
            diags.append(
                Diagnostic(
                    "the sagemaker provider does not support rollback alarms yet", "rollout.rollback_on"
                )
            )
        return diags

    # ---- pure (framework images aside, which resolve from tables shipped with the SDK) ------
    def desired(
        self,
        resource: Resource,
        settings: BaseModel | None,
        refs: Mapping[str, Mapping[str, Any]],
        prior: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        if resource.kind in self._handlers:
            return self._handlers[resource.kind].desired(resource, settings, refs, prior)
        if resource.kind == "model":
            return self._desired_model(
                resource, cast(ModelSettings | None, settings) or ModelSettings(), prior
            )
        if resource.kind == "endpoint":
            return self._desired_endpoint(
                resource, cast(EndpointSettings | None, settings) or EndpointSettings(), refs, prior
            )
        raise NotSupportedError(f"the sagemaker provider does not manage {resource.kind} resources")

    def notes(self, kind: str, attributes: Mapping[str, Any]) -> list[str]:
        return self._handlers[kind].notes(attributes) if kind in self._handlers else []

    def _tags(self, resource: Resource) -> dict[str, str]:
        return {**cast(ResourceBase, resource.spec).tags, **self.default_tags(resource.address)}

    def _desired_model(
        self, resource: Resource, settings: ModelSettings, prior: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        spec = cast(ModelSpec, resource.spec)
        if isinstance(spec.image, str):
            image = spec.image
        else:
            try:
                image = images.resolve(spec.image, self._cfg.region)
            except images.ImageError as exc:
                raise StackError.of(
                    [Diagnostic(str(exc), f"models.{resource.name}.image", resource.position)]
                ) from exc
        body = translate.model_attributes(
            spec,
            settings,
            image=image,
            execution_role_arn=settings.execution_role_arn or self._cfg.role_arn or "",
            tags=self._tags(resource),
        )
        # Keep the current name while nothing forces a replacement, so an imported model (named
        # by someone else) is not replaced just to rename it.
        if prior is not None and translate.replacement_basis(prior) == translate.replacement_basis(body):
            return {"name": prior["name"], "arn": prior.get("arn", UNKNOWN), **body}
        return {"name": translate.model_name(self.stack, resource.name, body), "arn": UNKNOWN, **body}

    def _desired_endpoint(
        self,
        resource: Resource,
        settings: EndpointSettings,
        refs: Mapping[str, Mapping[str, Any]],
        prior: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        spec = cast(EndpointSpec, resource.spec)
        models = {v.model: refs.get(f"model.{v.model}", {}).get("name", UNKNOWN) for v in spec.variants}
        body = translate.endpoint_attributes(spec, settings, model_names=models, tags=self._tags(resource))
        return {
            "name": resource.name,
            "arn": (prior or {}).get("arn", UNKNOWN),
            "endpoint_config_name": (prior or {}).get("endpoint_config_name", UNKNOWN),
            **body,
        }

    # ---- I/O: dispatch ----------------------------------------------------------------------
    def read(self, kind: str, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        if kind in self._handlers:
            return self._handlers[kind].read(attributes)
        if kind == "model":
            return self._read_model(attributes["name"])
        if kind == "endpoint":
            return self._read_endpoint(attributes["name"], attributes)
        raise NotSupportedError(f"the sagemaker provider does not manage {kind} resources")

    def create(self, kind: str, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        if kind in self._handlers:
            return self._handlers[kind].create(desired, ctx)
        if kind == "model":
            return self._create_model(desired)
        if kind == "endpoint":
            return self._create_endpoint(desired, ctx)
        raise NotSupportedError(f"the sagemaker provider does not manage {kind} resources")

    def update(
        self, kind: str, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        if kind in self._handlers:
            return self._handlers[kind].update(prior, desired, ctx)
        if kind == "model":
            return self._update_model(prior, desired)
        if kind == "endpoint":
            return self._update_endpoint(prior, desired, ctx)
        raise NotSupportedError(f"the sagemaker provider does not manage {kind} resources")

    def delete(self, kind: str, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        if kind in self._handlers:
            self._handlers[kind].delete(prior, ctx)
        elif kind == "model":
            with contextlib.suppress(NotFoundError):
                call(self._aws.sagemaker, "delete_model", ModelName=prior["name"])
        elif kind == "endpoint":
            self._delete_endpoint(prior, ctx)
        else:
            raise NotSupportedError(f"the sagemaker provider does not manage {kind} resources")

    def import_resource(self, kind: str, cloud_id: str) -> dict[str, Any]:
        if kind in self._handlers:
            return self._handlers[kind].import_resource(cloud_id)
        attrs = self.read(kind, {"name": cloud_id})
        if attrs is None:
            raise ProviderError(
                f"no SageMaker {kind} named {cloud_id!r} in {self._cfg.region}", code="NotFound"
            )
        return attrs

    def to_spec(self, kind: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
        if kind in self._handlers:
            return self._handlers[kind].to_spec(attributes)
        if kind == "model":
            return translate.model_spec(attributes, self._cfg.role_arn)
        if kind == "endpoint":
            return translate.endpoint_spec(attributes)
        return super().to_spec(kind, attributes)

    # ---- models -------------------------------------------------------------------------------
    def _read_model(self, name: str) -> dict[str, Any] | None:
        try:
            desc = call(self._aws.sagemaker, "describe_model", ModelName=name)
        except NotFoundError:
            return None
        return translate.model_from_describe(desc, self._list_tags(desc["ModelArn"]))

    def _create_model(self, desired: Mapping[str, Any]) -> dict[str, Any]:
        name = desired["name"]
        try:
            call(self._aws.sagemaker, "create_model", **translate.create_model_request(desired))
        except ProviderError as exc:
            if exc.code != "ValidationException" or "already exist" not in str(exc):
                raise
            # A retry after a lost reply, or a second apply racing this one: same name means same
            # content by construction, but check before adopting it.
            current = self._read_model(name)
            if current is None or translate.replacement_basis(current) != translate.replacement_basis(
                desired
            ):
                raise ProviderError(
                    f"a different SageMaker model named {name!r} already exists", code=exc.code
                ) from exc
            self._sync_tags(current["arn"], current["tags"], desired["tags"])
        return self._must_read_model(name)

    def _update_model(self, prior: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
        immutable = [k for k in MODEL.force_new if prior.get(k) != desired.get(k)]
        if immutable:
            raise ProviderError(
                f"model {desired['name']}: {', '.join(immutable)} cannot change in place "
                "(SageMaker models are immutable): it must be replaced"
            )
        current = self._must_read_model(desired["name"])
        self._sync_tags(current["arn"], current["tags"], desired["tags"])
        return self._must_read_model(desired["name"])

    def _must_read_model(self, name: str) -> dict[str, Any]:
        attrs = self._read_model(name)
        if attrs is None:
            raise ProviderError(f"SageMaker model {name!r} does not exist", code="NotFound")
        return attrs

    # ---- endpoints: read ----------------------------------------------------------------------
    def _describe_endpoint(self, name: str) -> dict[str, Any] | None:
        try:
            return call(self._aws.sagemaker, "describe_endpoint", EndpointName=name)
        except NotFoundError:
            return None

    def _read_endpoint(self, name: str, prior: Mapping[str, Any] | None) -> dict[str, Any] | None:
        desc = self._describe_endpoint(name)
        if desc is None:
            return None
        try:
            config = call(
                self._aws.sagemaker, "describe_endpoint_config", EndpointConfigName=desc["EndpointConfigName"]
            )
        except NotFoundError:
            # Deleted behind our back: no variants are known, so the plan restores them through a
            # new config.
            config = {}
        variants = [v["VariantName"] for v in config.get("ProductionVariants", [])]
        scaling = {
            variant: translate.autoscaling_from_aws(
                s.target, s.policies, translate.policy_name(name, variant)
            )
            for variant, s in self._scaling(name, variants).items()
        }
        return translate.endpoint_from_describe(
            desc, config, self._list_tags(desc["EndpointArn"]), scaling, prior
        )

    def _must_read_endpoint(self, name: str, prior: Mapping[str, Any]) -> dict[str, Any]:
        attrs = self._read_endpoint(name, prior)
        if attrs is None:
            raise ProviderError(f"SageMaker endpoint {name!r} does not exist", code="NotFound")
        return attrs

    # ---- endpoints: create / update / delete ---------------------------------------------------
    def _create_endpoint(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        name = desired["name"]
        sm = self._aws.sagemaker
        # Checked before anything is made or recorded: a checkpoint naming an endpoint that is
        # not ours would have the next plan replace, i.e. delete, someone else's endpoint.
        if self._describe_endpoint(name) is not None:
            raise ProviderError(
                f"a SageMaker endpoint named {name!r} already exists: import it "
                f"(mlops import endpoint.{name} {name}) or choose another name",
                code="AlreadyExists",
            )
        config = translate.config_name(name, secrets.token_hex(6))
        call(sm, "create_endpoint_config", **translate.endpoint_config_request(desired, config))
        # Recorded before CreateEndpoint, so a failure from here on leaves state naming the config.
        ctx.checkpoint(translate.known({**desired, "endpoint_config_name": config}))
        created = call(
            sm,
            "create_endpoint",
            EndpointName=name,
            EndpointConfigName=config,
            Tags=translate.tag_list(desired["tags"]),
        )
        ctx.checkpoint(
            translate.known({**desired, "arn": created["EndpointArn"], "endpoint_config_name": config})
        )
        self._expect_in_service(self._wait(ctx, name, "Creating"), name, "CreateEndpoint")
        self._sync_scaling(name, {}, desired)
        # Configs left by earlier failed attempts at this endpoint.
        self._delete_old_configs(name, ctx.address, keep=config, recorded=set())
        return self._must_read_endpoint(name, desired)

    def _update_endpoint(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        name = desired["name"]
        desc = self._wait(ctx, name, "Waiting for the operation in progress")
        if desc is None:
            raise ProviderError(f"SageMaker endpoint {name!r} does not exist", code="NotFound")
        self._sync_tags(desc["EndpointArn"], self._list_tags(desc["EndpointArn"]), desired["tags"])
        scaling = self._scaling(name, [v["VariantName"] for v in desc.get("ProductionVariants", [])])
        if translate.needs_new_config(prior, desired):
            new = self._switch_config(ctx, desc, desired, scaling)
            scaling = {}  # lifted for the switch; registered again below
            old = {desc["EndpointConfigName"], prior.get("endpoint_config_name") or ""}
            self._delete_old_configs(name, ctx.address, keep=new, recorded=old)
        elif translate.capacity_changed(prior, desired):
            call(
                self._aws.sagemaker,
                "update_endpoint_weights_and_capacities",
                EndpointName=name,
                DesiredWeightsAndCapacities=translate.weights_and_capacities(prior, desired),
            )
            self._expect_in_service(
                self._wait(ctx, name, "Updating"), name, "UpdateEndpointWeightsAndCapacities"
            )
        self._sync_scaling(name, scaling, desired)
        return self._must_read_endpoint(name, desired)

    def _switch_config(
        self,
        ctx: ApplyContext,
        desc: Mapping[str, Any],
        desired: Mapping[str, Any],
        scaling: dict[str, _Scaling],
    ) -> str:
        """Move the endpoint to a new EndpointConfig built from `desired`; returns its name.

        SageMaker refuses to update variants that have scaling policies, so they are lifted
        first; the new config starts those variants at their live counts, so capacity holds
        while autoscaling is off. On failure the old config still serves, and its scaling is put
        back."""
        name = desired["name"]
        sm = self._aws.sagemaker
        live = {
            v["VariantName"]: v.get("DesiredInstanceCount", v.get("CurrentInstanceCount"))
            for v in desc.get("ProductionVariants", [])
            if v["VariantName"] in scaling
        }
        counts = translate.carried_counts(desired, {k: c for k, c in live.items() if c is not None})
        new = translate.config_name(name, secrets.token_hex(6))
        call(sm, "create_endpoint_config", **translate.endpoint_config_request(desired, new, counts))
        self._lift_scaling(scaling)
        try:
            call(sm, "update_endpoint", EndpointName=name, EndpointConfigName=new)
        except ProviderError:
            self._abandon_config(new, scaling)
            raise
        done = self._wait(ctx, name, "Updating")
        if done is not None and done["EndpointStatus"] == "InService" and done["EndpointConfigName"] == new:
            return new
        if done is not None and done["EndpointStatus"] == "InService":  # rolled back to the old config
            self._abandon_config(new, scaling)
        status = done["EndpointStatus"] if done else "deleted"
        reason = (done or {}).get("FailureReason") or "no reason given"
        raise ProviderError(
            f"UpdateEndpoint: endpoint {name} did not move to {new} (now {status}): {reason}",
            code="UpdateFailed",
        )

    def _abandon_config(self, config: str, scaling: dict[str, _Scaling]) -> None:
        self._restore_scaling(scaling)
        with contextlib.suppress(NotFoundError):
            call(self._aws.sagemaker, "delete_endpoint_config", EndpointConfigName=config)

    def _delete_endpoint(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        name = prior["name"]
        desc = self._wait(ctx, name, "Waiting for the operation in progress")
        variants = {v["name"] for v in prior.get("variants", [])}
        variants |= {v["VariantName"] for v in (desc or {}).get("ProductionVariants", [])}
        self._lift_scaling(self._scaling(name, sorted(variants)))
        recorded = {prior.get("endpoint_config_name") or "", (desc or {}).get("EndpointConfigName", "")}
        if desc is not None:
            with contextlib.suppress(NotFoundError):
                call(self._aws.sagemaker, "delete_endpoint", EndpointName=name)
            left = self._wait(ctx, name, "Deleting")
            if left is not None:
                raise ProviderError(
                    f"DeleteEndpoint: endpoint {name} is still there ({left['EndpointStatus']}): "
                    f"{left.get('FailureReason') or 'no reason given'}"
                )
        self._delete_old_configs(name, ctx.address, keep=None, recorded=recorded)

    def _delete_old_configs(
        self, endpoint: str, address: str, *, keep: str | None, recorded: set[str]
    ) -> None:
        """Delete the configs this endpoint owns, except `keep` (the one it runs on). Owned means
        named `<endpoint>-…` and either tagged with this address or recorded in state; a config
        someone else named is left alone, since another endpoint may use it."""
        sm = self._aws.sagemaker
        prefix = translate.config_prefix(endpoint)
        for item in collect(sm, "list_endpoint_configs", "EndpointConfigs", NameContains=prefix):
            config = item["EndpointConfigName"]
            if config == keep or not config.startswith(prefix):
                continue
            if config not in recorded:
                try:
                    owner = self._list_tags(item["EndpointConfigArn"]).get(TAG_ADDRESS)
                except NotFoundError:
                    continue
                if owner != address:
                    continue
            with contextlib.suppress(NotFoundError):
                call(sm, "delete_endpoint_config", EndpointConfigName=config)

    def _wait(self, ctx: ApplyContext, name: str, doing: str) -> dict[str, Any] | None:
        """Poll until the endpoint leaves an in-flight status; its description, or None once it
        is gone. Cancellation is honoured between polls only, and raises: the operation goes on
        in SageMaker, and the next plan reads how it ended."""
        started = time.monotonic()
        for delay in self._aws.polling.delays():
            desc = self._describe_endpoint(name)
            status = desc["EndpointStatus"] if desc else None
            if status not in _IN_FLIGHT:
                return desc
            ctx.progress(f"{doing}… status={status} ({time.monotonic() - started:.0f}s elapsed)")
            if ctx.cancel.wait(delay):
                raise ProviderError(
                    f"stopped waiting for endpoint {name} ({status}): the apply was cancelled; "
                    "SageMaker carries on and the next plan shows the outcome",
                    code="Cancelled",
                )
        raise AssertionError("unreachable: Polling.delays() never ends")

    @staticmethod
    def _expect_in_service(desc: Mapping[str, Any] | None, name: str, operation: str) -> None:
        if desc is None:
            raise ProviderError(f"{operation}: endpoint {name} disappeared", code="NotFound")
        if desc["EndpointStatus"] != "InService":
            reason = desc.get("FailureReason") or "no reason given"
            raise ProviderError(
                f"{operation}: endpoint {name} is {desc['EndpointStatus']}: {reason}", code="EndpointFailed"
            )

    # ---- autoscaling --------------------------------------------------------------------------
    def _scaling(self, endpoint: str, variants: list[str]) -> dict[str, _Scaling]:
        """The registered scalable targets (and their policies) of the given variants."""
        if not variants:
            return {}
        aas = self._aws.autoscaling
        ids = {translate.scaling_resource_id(endpoint, v): v for v in variants}
        targets = collect(
            aas,
            "describe_scalable_targets",
            "ScalableTargets",
            ServiceNamespace=translate.SCALING_NAMESPACE,
            ResourceIds=list(ids),
            ScalableDimension=translate.SCALABLE_DIMENSION,
        )
        out = {}
        for target in targets:
            rid = target["ResourceId"]
            if rid not in ids or target.get("ScalableDimension") != translate.SCALABLE_DIMENSION:
                continue
            policies = collect(
                aas,
                "describe_scaling_policies",
                "ScalingPolicies",
                ServiceNamespace=translate.SCALING_NAMESPACE,
                ResourceId=rid,
                ScalableDimension=translate.SCALABLE_DIMENSION,
            )
            out[ids[rid]] = _Scaling(target, [p for p in policies if p.get("ResourceId") == rid])
        return out

    def _sync_scaling(self, endpoint: str, current: dict[str, _Scaling], desired: Mapping[str, Any]) -> None:
        want = {v["name"]: v["autoscaling"] for v in desired["variants"] if v.get("autoscaling")}
        self._lift_scaling({v: s for v, s in current.items() if v not in want})
        for variant, scaling in want.items():
            have = current.get(variant)
            policy = translate.policy_name(endpoint, variant)
            if have is None or translate.autoscaling_from_aws(have.target, have.policies, policy) != scaling:
                aas = self._aws.autoscaling
                call(
                    aas,
                    "register_scalable_target",
                    **translate.scalable_target_request(endpoint, variant, scaling),
                )
                call(
                    aas, "put_scaling_policy", **translate.scaling_policy_request(endpoint, variant, scaling)
                )

    def _lift_scaling(self, scaling: dict[str, _Scaling]) -> None:
        """Delete the policies, then deregister the targets (AWS would drop the policies with the
        target; deleting them first leaves nothing behind on any backend)."""
        aas = self._aws.autoscaling
        for s in scaling.values():
            key = {k: s.target[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")}
            for policy in s.policies:
                with contextlib.suppress(NotFoundError):
                    call(aas, "delete_scaling_policy", PolicyName=policy["PolicyName"], **key)
            with contextlib.suppress(NotFoundError):
                call(aas, "deregister_scalable_target", **key)

    def _restore_scaling(self, scaling: dict[str, _Scaling]) -> None:
        """Put back targets and policies exactly as `_scaling` described them."""
        aas = self._aws.autoscaling
        for s in scaling.values():
            key = {k: s.target[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")}
            call(
                aas,
                "register_scalable_target",
                MinCapacity=s.target["MinCapacity"],
                MaxCapacity=s.target["MaxCapacity"],
                **key,
            )
            for p in s.policies:
                body = {k: p[k] for k in p if k.endswith("PolicyConfiguration")}
                call(
                    aas,
                    "put_scaling_policy",
                    PolicyName=p["PolicyName"],
                    PolicyType=p["PolicyType"],
                    **key,
                    **body,
                )

    # ---- tags ---------------------------------------------------------------------------------
    def _list_tags(self, arn: str) -> dict[str, str]:
        return translate.tag_dict(collect(self._aws.sagemaker, "list_tags", "Tags", ResourceArn=arn))

    def _sync_tags(self, arn: str, current: Mapping[str, str], wanted: Mapping[str, str]) -> None:
        add, remove = translate.tag_changes(current, wanted)
        if remove:
            call(self._aws.sagemaker, "delete_tags", ResourceArn=arn, TagKeys=remove)
        if add:
            call(self._aws.sagemaker, "add_tags", ResourceArn=arn, Tags=translate.tag_list(add))
