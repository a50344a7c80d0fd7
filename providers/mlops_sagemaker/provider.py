"""The SageMaker provider: models and real-time endpoints.

A `model` owns one SageMaker Model. Models are immutable, so any change but tags (and the
registry's approval) makes a new one under a new name (`<logical>-<8 hex>`), created before the
old one is deleted, and the endpoints using it move over in between. A model with `registry:`
also owns its Model Package version(s), and the group if it created it (see registry.py).

An `endpoint` owns an Endpoint, the EndpointConfigs it runs on (`<endpoint>-<12 hex>`, one per
change, tagged with the resource's address), the SageMaker Models it makes for variants that
deploy a registry version, and the Application Auto Scaling target and policy of each variant
that has autoscaling. Changes never recreate the Endpoint: weights and counts go through
UpdateEndpointWeightsAndCapacities, anything else through a new EndpointConfig and
UpdateEndpoint, which SageMaker rolls out blue/green without dropping traffic, with the
guardrails of the endpoint's `rollout:` (see rollout.py).

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
    OWNERSHIP_TAG_PATHS,
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
from mlops_sagemaker import images, registry, rollout, translate
from mlops_sagemaker.client import Clients, NotFoundError, call, collect
from mlops_sagemaker.config import EndpointSettings, ModelSettings, SageMakerConfig
from mlops_sagemaker.handlers import HANDLERS
from mlops_sagemaker.registry import PackageRef, Registry, ResolveError

MODEL = ResourceType(
    "model",
    # `name` is derived from the others, so it only changes with them; listing it keeps the plan
    # honest about why the model is replaced.
    force_new=("name", *translate.MODEL_FORCE_NEW),
    computed=("arn", "package_arn", "package_version", "package_group_owned"),
    # A version's description is fixed when it is registered; a new one goes with the next.
    not_drift=("package_description", *OWNERSHIP_TAG_PATHS),
    create_before_destroy=True,
)
ENDPOINT = ResourceType(
    "endpoint",
    force_new=(),
    computed=("arn", "endpoint_config_name"),
    # Not cloud state: how the next change rolls out, how a variant names its registry version
    # (what it resolves to is diffed: `model_package_arn`), and a deployment permission.
    not_drift=("rollout", "variants[*].model_package", "variants[*].allow_unapproved", *OWNERSHIP_TAG_PATHS),
    create_before_destroy=False,
)
_IN_FLIGHT = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
_MAX_VARIANTS = 10  # SageMaker's limit of production variants per endpoint config


class _Scaling(NamedTuple):
    """One variant's scalable target and the policies attached to it, as AWS describes them."""

    target: dict[str, Any]
    policies: list[dict[str, Any]]


class _Abandon(NamedTuple):
    """What an endpoint update made that is deleted again if the endpoint stays where it was:
    the new config (None when reusing one that existed) and the package models made for it."""

    config: str | None
    models: list[str]


def _models(attrs: Mapping[str, Any]) -> set[str]:
    return {v["model"] for v in attrs.get("variants", []) if v.get("model")}


def _package_models(attrs: Mapping[str, Any]) -> set[str]:
    """The models an endpoint made from registry versions (it owns them)."""
    return {v["model"] for v in attrs.get("variants", []) if v.get("model_package_arn") and v.get("model")}


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
        self._registry = Registry(self._aws)
        self._handlers = {h.rtype.kind: h(self) for h in HANDLERS}

    @property
    def aws(self) -> Clients:
        return self._aws

    @property
    def cfg(self) -> SageMakerConfig:
        return self._cfg

    @property
    def _role(self) -> str:
        """The role of the models endpoints make from registry versions (validate() requires it)."""
        return self._cfg.role_arn or ""

    @classmethod
    def emulator(cls, settings: Mapping[str, Any]) -> Emulator | None:
        from mlops_sagemaker.emulator import SageMakerEmulator

        return SageMakerEmulator(settings)

    @classmethod
    def sandbox_settings(cls, *, operation_delay: float | None, latency_ms: float | None) -> dict[str, Any]:
        # The SageMaker emulator's long operations are endpoint creates and updates.
        settings = {"endpoint_delay_seconds": operation_delay, "latency_ms": latency_ms}
        return {k: v for k, v in settings.items() if v is not None}

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
        for i, v in enumerate(spec.variants):
            if v.model_package is not None and not self._cfg.role_arn:
                diags.append(
                    Diagnostic(
                        "SageMaker needs an execution role to deploy a registry version: set role_arn "
                        "in the sagemaker provider block",
                        f"variants[{i}].model_package",
                    )
                )
        if spec.rollout is not None:
            diags += rollout.problems(spec.rollout)
            variants = [v.model_dump(exclude_none=True) for v in spec.variants]
            reason = rollout.fallback_reason(variants)
            if reason and rollout.guarded(spec.rollout.model_dump()):
                diags.append(rollout.fallback_warning(reason))
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
        if kind in self._handlers:
            return self._handlers[kind].notes(attributes)
        if kind != "endpoint":
            return []
        lines = []
        for v in attributes.get("variants", []):
            ref, version = v.get("model_package"), v.get("model_package_version")
            if not ref:
                continue
            if version is UNKNOWN:
                lines.append(
                    f"model_package {ref} resolves after apply: a model of this stack registers "
                    "the version it names"
                )
            elif not ref.endswith(f"@{version}"):  # `group@7` needs no saying
                lines.append(f"model_package {ref} resolves to version {version}")
        # A new endpoint has nothing to roll out from; its first config simply comes up.
        if attributes.get("rollout") and attributes.get("endpoint_config_name") not in (None, UNKNOWN):
            lines.append(f"a new endpoint configuration rolls out {rollout.describe(attributes['rollout'])}")
        return lines

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
            name, arn, kept = prior["name"], prior.get("arn", UNKNOWN), prior
        else:
            name, arn, kept = translate.model_name(self.stack, resource.name, body), UNKNOWN, None
        if spec.registry is not None:
            body.update(registry.model_attributes(spec.registry, kept))
        return {"name": name, "arn": arn, **body}

    def _desired_endpoint(
        self,
        resource: Resource,
        settings: EndpointSettings,
        refs: Mapping[str, Mapping[str, Any]],
        prior: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        spec = cast(EndpointSpec, resource.spec)
        models = {
            v.model: refs.get(f"model.{v.model}", {}).get("name", UNKNOWN) for v in spec.variants if v.model
        }
        body = translate.endpoint_attributes(
            spec,
            settings,
            model_names=models,
            packages=self._package_variants(resource, spec, refs),
            tags=self._tags(resource),
        )
        if spec.rollout is not None:
            previous = prior.get("variants") if prior is not None else None
            body["rollout"] = rollout.attributes(spec.rollout, body["variants"], previous)
        return {
            "name": resource.name,
            "arn": (prior or {}).get("arn", UNKNOWN),
            "endpoint_config_name": (prior or {}).get("endpoint_config_name", UNKNOWN),
            **body,
        }

    def _package_variants(
        self, resource: Resource, spec: EndpointSpec, refs: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """What each `model_package` variant deploys, resolved against the registry as this
        apply leaves it (the stack's own registrations and approvals included). A reference that
        names no version, or a version that may not be deployed, stops the plan here."""
        out: dict[str, dict[str, Any]] = {}
        listed: dict[str, list[registry.PackageVersion]] = {}
        for i, v in enumerate(spec.variants):
            if v.model_package is None:
                continue
            ref = PackageRef.parse(v.model_package)
            if ref.group not in listed:
                listed[ref.group] = self._registry.versions(ref.group)
            path = f"endpoints.{resource.name}.variants[{i}].model_package"
            try:
                found = registry.resolve(ref, listed[ref.group], registry.planned_versions(ref.group, refs))
            except ResolveError as exc:
                raise StackError.of([Diagnostic(str(exc), path, resource.position)]) from exc
            problem = registry.refusal(ref, found, v.allow_unapproved) if found else None
            if problem:
                raise StackError.of([Diagnostic(problem, path, resource.position)])
            out[v.name] = registry.variant_source(v, resource.name, found, self._role)
        return out

    # ---- I/O: dispatch ----------------------------------------------------------------------
    def read(self, kind: str, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        if kind in self._handlers:
            return self._handlers[kind].read(attributes)
        if kind == "model":
            return self._read_model(attributes["name"], attributes.get("package_arn"))
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
            self._registry.unregister(prior)
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

    def import_references(self, kind: str, attributes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        if kind != "endpoint":
            return []
        # Variants served from a registry version use a model the endpoint owns: not a reference.
        return [
            (f"variants[{i}].model", "model", v["model"])
            for i, v in enumerate(attributes.get("variants", []))
            if not v.get("model_package_arn")
        ]

    def files(self, kind: str, attributes: Mapping[str, Any]) -> dict[str, str]:
        handler = self._handlers.get(kind)
        files = getattr(handler, "files", None)
        return files(attributes) if files is not None else {}

    def rollback(
        self, kind: str, current: Mapping[str, Any], target: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        if kind == "endpoint":
            return self.rollback_endpoint(current, target, ctx)
        return super().rollback(kind, current, target, ctx)

    def to_spec(self, kind: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
        if kind in self._handlers:
            return self._handlers[kind].to_spec(attributes)
        if kind == "model":
            return translate.model_spec(attributes, self._cfg.role_arn)
        if kind == "endpoint":
            return translate.endpoint_spec(attributes)
        return super().to_spec(kind, attributes)

    # ---- models -------------------------------------------------------------------------------
    def _read_model(self, name: str, package_arn: str | None) -> dict[str, Any] | None:
        """The model, and its registration if it has one (`package_arn`, as recorded)."""
        try:
            desc = call(self._aws.sagemaker, "describe_model", ModelName=name)
        except NotFoundError:
            return None
        attrs = translate.model_from_describe(desc, self._list_tags(desc["ModelArn"]))
        if package_arn:
            attrs.update(self._registry.read(package_arn, attrs["tags"]))
        return attrs

    def _create_model(self, desired: Mapping[str, Any]) -> dict[str, Any]:
        name = desired["name"]
        try:
            call(self._aws.sagemaker, "create_model", **translate.create_model_request(desired))
        except ProviderError as exc:
            if exc.code != "ValidationException" or "already exist" not in str(exc):
                raise
            # A retry after a lost reply, or a second apply racing this one: same name means same
            # content by construction, but check before adopting it.
            current = self._read_model(name, None)
            if current is None or translate.replacement_basis(current) != translate.replacement_basis(
                desired
            ):
                raise ProviderError(
                    f"a different SageMaker model named {name!r} already exists", code=exc.code
                ) from exc
            self._sync_tags(current["arn"], current["tags"], desired["tags"])
        # Registered after the model exists: a failure here leaves a model that the retry adopts
        # (above), never a registered version whose model was not made.
        package_arn = self._registry.register(desired) if desired.get("package_group") else None
        return self._must_read_model(name, package_arn)

    def _update_model(self, prior: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
        immutable = [k for k in MODEL.force_new if prior.get(k) != desired.get(k)]
        if immutable:
            raise ProviderError(
                f"model {desired['name']}: {', '.join(immutable)} cannot change in place "
                "(SageMaker models are immutable): it must be replaced"
            )
        package_arn = prior.get("package_arn")
        current = self._must_read_model(desired["name"], package_arn)
        self._sync_tags(current["arn"], current["tags"], desired["tags"])
        group = desired.get("package_group")
        if group != prior.get("package_group") or (group and not package_arn):
            # Registered in another group, newly registered, or no longer (or the version was
            # deleted outside mlops): leave the old group as if the model left, then register.
            self._registry.unregister(prior)
            package_arn = self._registry.register(desired) if group else None
        elif group and desired["approval"] != prior.get("approval"):
            self._registry.set_approval(package_arn, desired["approval"])
        return self._must_read_model(desired["name"], package_arn)

    def _must_read_model(self, name: str, package_arn: str | None) -> dict[str, Any]:
        attrs = self._read_model(name, package_arn)
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
        attrs = translate.endpoint_from_describe(
            desc, config, self._list_tags(desc["EndpointArn"]), scaling, prior
        )
        self._find_packages(attrs, prior)
        return attrs

    def _find_packages(self, attrs: dict[str, Any], prior: Mapping[str, Any] | None) -> None:
        """Name the registry version of variants whose model is not the recorded one (an
        import, or a change outside mlops): their model may have been made from a package."""
        recorded = {v.get("name"): v.get("model") for v in (prior or {}).get("variants", [])}
        for v in attrs["variants"]:
            if "model_package_arn" in v or not v["model"] or recorded.get(v["name"]) == v["model"]:
                continue
            arn = self._registry.package_of_model(v["model"])
            source = registry.variant_from_arn(arn) if arn else None
            if source:
                v.update(source)

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
        made = self._registry.create_package_models(desired["variants"], self._role, desired["tags"])
        config = translate.config_name(name, secrets.token_hex(6))
        try:
            call(sm, "create_endpoint_config", **translate.endpoint_config_request(desired, config))
        except ProviderError:
            self._registry.delete_models(made)
            raise
        # Recorded before CreateEndpoint, so a failure from here on leaves state naming the config
        # (and the models made for it, in its variants).
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
        # Configs and package models left by earlier failed attempts at this endpoint.
        self._delete_old_configs(name, ctx.address, keep=config, recorded=set())
        self._registry.sweep_package_models(name, ctx.address, keep=_models(desired), recorded=set())
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
            self._registry.sweep_package_models(
                name, ctx.address, keep=_models(desired), recorded=_package_models(prior)
            )
        elif translate.capacity_changed(prior, desired):
            # Weights and counts change on the running fleet: no blue/green deployment, so no
            # guardrail of the rollout applies to this call.
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
        """Move the endpoint to a new EndpointConfig built from `desired`, with the guardrails of
        its rollout; returns the config's name.

        SageMaker refuses to update variants that have scaling policies, so they are lifted
        first; the new config starts those variants at their live counts, so capacity holds
        while autoscaling is off. On failure the old config still serves, and its scaling is put
        back."""
        name = desired["name"]
        sm = self._aws.sagemaker
        deployment = rollout.deployment_config(desired.get("rollout"))
        self._check_alarms(rollout.alarm_names(deployment))
        live = {
            v["VariantName"]: v.get("DesiredInstanceCount", v.get("CurrentInstanceCount"))
            for v in desc.get("ProductionVariants", [])
            if v["VariantName"] in scaling
        }
        counts = translate.carried_counts(desired, {k: c for k, c in live.items() if c is not None})
        made = self._registry.create_package_models(desired["variants"], self._role, desired["tags"])
        new = translate.config_name(name, secrets.token_hex(6))
        try:
            call(sm, "create_endpoint_config", **translate.endpoint_config_request(desired, new, counts))
        except ProviderError:
            self._registry.delete_models(made)
            raise
        self._lift_scaling(scaling)
        self._move(ctx, name, new, scaling, deployment, _Abandon(new, made))
        return new

    def _move(
        self,
        ctx: ApplyContext,
        name: str,
        config: str,
        scaling: dict[str, _Scaling],
        deployment: Mapping[str, Any] | None,
        abandon: _Abandon,
    ) -> None:
        """UpdateEndpoint to `config` and wait for the outcome. If SageMaker kept (or rolled back
        to) the old config, what was made for the new one (`abandon`) is deleted and the lifted
        `scaling` put back, so the endpoint is exactly as before and a read says so. Otherwise
        (cancelled, or the endpoint failed) nothing is deleted: the next plan reads what is."""
        request: dict[str, Any] = {"EndpointName": name, "EndpointConfigName": config}
        if deployment:
            request["DeploymentConfig"] = dict(deployment)
        try:
            call(self._aws.sagemaker, "update_endpoint", **request)
        except ProviderError:
            self._abandon(abandon, scaling)
            raise
        done = self._wait(ctx, name, "Updating")
        if (
            done is not None
            and done["EndpointStatus"] == "InService"
            and done["EndpointConfigName"] == config
        ):
            return
        if done is not None and done["EndpointStatus"] == "InService":
            self._abandon(abandon, scaling)
        raise self._update_failure(name, config, done, rollout.alarm_names(deployment))

    def _abandon(self, abandon: _Abandon, scaling: dict[str, _Scaling]) -> None:
        self._restore_scaling(scaling)
        if abandon.config:
            with contextlib.suppress(NotFoundError):
                call(self._aws.sagemaker, "delete_endpoint_config", EndpointConfigName=abandon.config)
        self._registry.delete_models(abandon.models)

    def _update_failure(
        self, name: str, config: str, done: Mapping[str, Any] | None, alarms: list[str]
    ) -> ProviderError:
        status = done["EndpointStatus"] if done else "deleted"
        reason = (done or {}).get("FailureReason") or "no reason given"
        if done is not None and status == "InService" and alarms:
            # SageMaker's FailureReason names the alarm; should it not, ask CloudWatch which of
            # the rollout's alarms is firing.
            fired = rollout.alarms_named(reason, alarms) or self._alarms_firing(alarms)
            if fired:
                which = f"alarm {fired[0]}" if len(fired) == 1 else f"alarms {', '.join(fired)}"
                return ProviderError(
                    f"UpdateEndpoint: endpoint {name} was rolled back to {done['EndpointConfigName']}: "
                    f"{which} went to ALARM while {config} was rolling out ({reason})",
                    code="RolledBack",
                )
        return ProviderError(
            f"UpdateEndpoint: endpoint {name} did not move to {config} (now {status}): {reason}",
            code="UpdateFailed",
        )

    def _alarm_states(self, alarms: list[str]) -> dict[str, str]:
        found = call(self._aws.client("cloudwatch"), "describe_alarms", AlarmNames=alarms)
        return {
            a["AlarmName"]: a.get("StateValue", "")
            for a in [*found.get("MetricAlarms", []), *found.get("CompositeAlarms", [])]
        }

    def _alarms_firing(self, alarms: list[str]) -> list[str]:
        try:
            states = self._alarm_states(alarms)
        except ProviderError:
            return []  # the update's own failure is the error to report
        return [a for a in alarms if states.get(a) == "ALARM"]

    def _check_alarms(self, alarms: list[str]) -> None:
        """Refuse a rollout whose rollback alarms do not exist before anything is made: it could
        not roll back."""
        if not alarms:
            return
        missing = [a for a in alarms if a not in self._alarm_states(alarms)]
        if missing:
            raise ProviderError(
                f"rollout.rollback_on: no CloudWatch alarm named {', '.join(missing)} in "
                f"{self._cfg.region}: create it, or remove it from rollback_on",
                code="AlarmNotFound",
            )

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
        self._registry.sweep_package_models(name, ctx.address, keep=set(), recorded=_package_models(prior))

    # ---- endpoints: rollback ----------------------------------------------------------------
    def rollback_endpoint(
        self, prior_attributes: Mapping[str, Any], target_attributes: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        """Put an endpoint back on an earlier recorded configuration and return its attributes
        as read back. `prior_attributes`: the endpoint as recorded now; `target_attributes`: as
        recorded after an earlier apply (from the resource's history in state).

        The recorded EndpointConfig is reused if it still exists, else made again from the
        recorded variants, whose models must still exist (those made from registry versions are
        made again). The switch shifts all traffic at once, without the rollout's guardrails: a
        rollback is the way out of a bad deployment, not a new one to bake. Weights and counts
        changed after that config was made, and autoscaling, are restored as recorded."""
        name = prior_attributes["name"]
        target = {**target_attributes, "name": name}
        sm = self._aws.sagemaker
        desc = self._wait(ctx, name, "Waiting for the operation in progress")
        if desc is None:
            raise ProviderError(f"SageMaker endpoint {name!r} does not exist", code="NotFound")
        scaling = self._scaling(name, [v["VariantName"] for v in desc.get("ProductionVariants", [])])
        config = target.get("endpoint_config_name") or ""
        if config != desc["EndpointConfigName"]:
            gone = [
                m
                for m in sorted(_models(target) - _package_models(target))
                if self._read_model(m, None) is None
            ]
            if gone:
                raise ProviderError(
                    f"cannot roll endpoint {name} back to {config or 'its recorded configuration'}: "
                    f"model {', '.join(gone)} no longer exists (a replaced model is deleted once "
                    "no endpoint uses it); revert the stack and apply instead",
                    code="NotFound",
                )
            made = self._registry.create_package_models(
                target["variants"], self._role, target.get("tags", {})
            )
            abandon = _Abandon(None, made)
            try:
                call(sm, "describe_endpoint_config", EndpointConfigName=config)
            except NotFoundError:
                config = translate.config_name(name, secrets.token_hex(6))
                try:
                    call(sm, "create_endpoint_config", **translate.endpoint_config_request(target, config))
                except ProviderError:
                    self._registry.delete_models(made)
                    raise
                abandon = _Abandon(config, made)
            self._lift_scaling(scaling)
            self._move(ctx, name, config, scaling, None, abandon)
            scaling = {}  # lifted for the switch; registered again below
        now = self._must_read_endpoint(name, target)
        if translate.capacity_changed(now, target):
            call(
                sm,
                "update_endpoint_weights_and_capacities",
                EndpointName=name,
                DesiredWeightsAndCapacities=translate.weights_and_capacities(now, target),
            )
            self._expect_in_service(
                self._wait(ctx, name, "Updating"), name, "UpdateEndpointWeightsAndCapacities"
            )
        self._sync_scaling(name, scaling, target)
        old = {desc["EndpointConfigName"], prior_attributes.get("endpoint_config_name") or ""}
        self._delete_old_configs(name, ctx.address, keep=config, recorded=old - {config})
        self._registry.sweep_package_models(
            name, ctx.address, keep=_models(target), recorded=_package_models(prior_attributes)
        )
        return self._must_read_endpoint(name, target)

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
