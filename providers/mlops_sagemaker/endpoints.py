"""Real-time endpoints on SageMaker: the `endpoint` kind.

An `endpoint` owns an Endpoint, the EndpointConfigs it runs on (`<endpoint>-<12 hex>`, one per
change, tagged with the resource's address), the SageMaker Models it makes for variants that
deploy a registry version, and the Application Auto Scaling target and policy of each variant
that has autoscaling (see endpoint_scaling.py). Changes never recreate the Endpoint: weights and
counts go through UpdateEndpointWeightsAndCapacities, anything else through a new EndpointConfig
and UpdateEndpoint, which SageMaker rolls out blue/green without dropping traffic, with the
guardrails of the endpoint's `rollout:` (see rollout.py).

Statuses. A read records SageMaker's EndpointStatus as `status`. `Failed` is beyond repair: the
only call SageMaker accepts is DeleteEndpoint, so the plan replaces the endpoint (delete, then
create) and `update` refuses it. `SystemUpdating` and `RollingBack` (SageMaker's own work) and
`Creating` / `Updating` / `Deleting` are waited out before anything is changed. `OutOfService`
is changed like `InService`: a new configuration is how it is repaired. An endpoint being deleted
reads as gone, and a create waits for it to go (its name is taken until then).

Crash safety. Every object is recorded before the operation that waits on it: a create
checkpoints the config (and its package models) before CreateEndpoint, an update checkpoints the
new config as `pending_config` (not as the endpoint's config: it does not run it yet) before
UpdateEndpoint. An apply killed meanwhile leaves state naming them; the next one calls
`finish_interrupted`, which deletes whichever of the old and the pending config the endpoint does
not run, as the finished update would have. Configs and package models also carry the resource's
address, so those made in the instant between their creation and the checkpoint are found too."""

from __future__ import annotations

import contextlib
import copy
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple

from pydantic import BaseModel

from mlops_gitops.errors import Diagnostic, ProviderError, StackError
from mlops_gitops.features import ANY
from mlops_gitops.handlers import Request
from mlops_gitops.ownership import TAGS
from mlops_gitops.provider import UNKNOWN, ApplyContext, ResourceType, known
from mlops_gitops.stack.schema import EndpointSpec
from mlops_sagemaker import endpoint_scaling, registry, rollout, translate
from mlops_sagemaker.client import NotFoundError, call, collect
from mlops_sagemaker.config import EndpointSettings
from mlops_sagemaker.endpoint_scaling import VariantScaling
from mlops_sagemaker.kind import KindHandler, already_exists
from mlops_sagemaker.registry import PackageRef, ResolveError

ENDPOINT = ResourceType(
    "endpoint",
    force_new=(),
    computed=("arn", "endpoint_config_name", "status", "pending_config"),
    # Not cloud state: how the next change rolls out, how a variant names its registry version
    # (what it resolves to is diffed: `model_package_arn`), and a deployment permission. Nor are
    # the endpoint's status and a config an interrupted update left: SageMaker's, not the stack's.
    not_drift=(
        "rollout",
        "variants[*].model_package",
        "variants[*].allow_unapproved",
        "status",
        "pending_config",
        *TAGS.not_drift,
    ),
    create_before_destroy=False,
    status_path="status",
    failed_statuses=("Failed",),
    serving=True,
    supports={
        "variants[*].serverless": ANY,
        "variants[*].serverless.memory_mb": (1024, 2048, 3072, 4096, 5120, 6144),
        "variants[*].model_package": ANY,
        "data_capture": ANY,
        "rollout.strategy": ("all_at_once", "canary", "linear"),
        "rollout.rollback_on": ANY,
        "retired": ANY,  # the core deletes a retired endpoint: nothing of its own to do here
    },
)
_IN_FLIGHT = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
_MAX_VARIANTS = 10  # SageMaker's limit of production variants per endpoint config
# `<endpoint>-<12 hex>` names its configs: of SageMaker's 63 characters, 50 are left.
_MAX_ENDPOINT_NAME = translate.MAX_NAME - 13


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


# Endpoint attributes that come from the EndpointConfig as a whole, not from its variants.
_CONFIG_LEVEL = ("data_capture", "kms_key_id")


def _recorded_config(prior: Mapping[str, Any] | None, desc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The variants of the EndpointConfig the endpoint runs, in DescribeEndpointConfig's form, as
    an earlier read recorded them in `prior`; None if that read was not of this config (or saw
    none, or `prior` is a record made before any read: a read always records `status`). The
    config-level attributes (`_CONFIG_LEVEL`) are left out: the caller copies them over."""
    if (
        prior is None
        or not isinstance(prior.get("status"), str)
        or prior.get("endpoint_config_name") != desc["EndpointConfigName"]
        or not prior.get("variants")
    ):
        return None
    variants = []
    for v in prior["variants"]:
        if not isinstance(v, Mapping) or not v.get("name"):
            return None
        pv: dict[str, Any] = {"VariantName": v["name"], "ModelName": v.get("model", "")}
        # What the config started with: the read takes the live weights and counts from the
        # endpoint, and these only where it has none yet.
        if v.get("weight") is not None:
            pv["InitialVariantWeight"] = v["weight"]
        serverless = v.get("serverless")
        if isinstance(serverless, Mapping):
            pv["ServerlessConfig"] = {
                "MemorySizeInMB": serverless.get("memory_mb"),
                "MaxConcurrency": serverless.get("max_concurrency"),
            }
        else:
            pv["InstanceType"] = v.get("instance_type", "")
            if v.get("instance_count") is not None:
                pv["InitialInstanceCount"] = v["instance_count"]
        variants.append(pv)
    return {"EndpointConfigName": desc["EndpointConfigName"], "ProductionVariants": variants}


def _pending_name(attrs: Mapping[str, Any]) -> str:
    """The config an update made and recorded before switching to it, or ""."""
    pending = attrs.get("pending_config")
    return str(pending.get("name") or "") if isinstance(pending, Mapping) else ""


def _pending_models(attrs: Mapping[str, Any]) -> list[str]:
    """The package models an update made for its pending config."""
    pending = attrs.get("pending_config")
    return [str(m) for m in pending.get("models") or []] if isinstance(pending, Mapping) else []


class EndpointHandler(KindHandler[EndpointSpec, EndpointSettings]):
    rtype: ClassVar[ResourceType] = ENDPOINT
    settings_model: ClassVar[type[BaseModel] | None] = EndpointSettings

    @property
    def _role(self) -> str:
        """The role of the models endpoints make from registry versions (validate() requires it)."""
        return self.cfg.role_arn or ""

    # ---- offline ------------------------------------------------------------------------------
    def validate(self, req: Request[EndpointSpec, EndpointSettings]) -> list[Diagnostic]:
        resource = req.resource
        spec = req.spec
        diags = self.tag_problems(resource)
        if len(resource.name) > _MAX_ENDPOINT_NAME:
            diags.append(
                Diagnostic(
                    f"SageMaker names are at most {translate.MAX_NAME} characters and this endpoint's "
                    f"configurations are named <endpoint>-<12 hex>: the endpoint name can have at most "
                    f"{_MAX_ENDPOINT_NAME} ({len(resource.name)} here)",
                    "",
                )
            )
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
            if v.model_package is not None and not self.cfg.role_arn:
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

    def notes(self, attributes: Mapping[str, Any]) -> list[str]:
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

    # ---- plan time: which registry version each `model_package` variant names -----------------
    def resolve(self, req: Request[EndpointSpec, EndpointSettings]) -> dict[str, Any]:
        """What each `model_package` variant deploys, resolved against the registry as this
        apply leaves it (the stack's own registrations and approvals included): recorded in the
        plan, so a saved plan deploys the version its reviewer saw. A reference that names no
        version, or a version that may not be deployed, stops the plan here."""
        resource, spec = req.resource, req.spec
        out: dict[str, dict[str, Any]] = {}
        listed: dict[str, list[registry.PackageVersion]] = {}
        for i, v in enumerate(spec.variants):
            if v.model_package is None:
                continue
            ref = PackageRef.parse(v.model_package)
            if ref.group not in listed:
                listed[ref.group] = self.registry.versions(ref.group)
            path = f"endpoints.{resource.name}.variants[{i}].model_package"
            try:
                planned = registry.planned_versions(ref.group, req.refs)
                found = registry.resolve(ref, listed[ref.group], planned)
            except ResolveError as exc:
                raise StackError.of([Diagnostic(str(exc), path, resource.position)]) from exc
            problem = registry.refusal(ref, found, v.allow_unapproved) if found else None
            if problem:
                raise StackError.of([Diagnostic(problem, path, resource.position)])
            out[v.name] = registry.variant_source(v, resource.name, found, self._role)
        return {"packages": out} if out else {}

    # ---- pure ---------------------------------------------------------------------------------
    def desired(self, req: Request[EndpointSpec, EndpointSettings]) -> dict[str, Any]:
        resource, refs, prior, spec = req.resource, req.refs, req.prior, req.spec
        models = {
            v.model: refs.get(f"model.{v.model}", {}).get("name", UNKNOWN) for v in spec.variants if v.model
        }
        body = translate.endpoint_attributes(
            spec,
            req.settings,
            model_names=models,
            packages=dict(req.resolved.get("packages", {})),
            tags=self.tags(resource),
        )
        if spec.rollout is not None:
            previous = prior.get("variants") if prior is not None else None
            body["rollout"] = rollout.attributes(spec.rollout, body["variants"], previous)
        return {
            # The endpoint's name is chosen when it is created: a resource moved to another
            # address (`moved:`, `state mv`) keeps serving under the name clients call.
            "name": (prior or {}).get("name") or resource.name,
            "arn": (prior or {}).get("arn", UNKNOWN),
            "endpoint_config_name": (prior or {}).get("endpoint_config_name", UNKNOWN),
            "status": (prior or {}).get("status", UNKNOWN),
            **body,
        }

    def to_spec(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        return translate.endpoint_spec(attributes)

    def import_references(self, attributes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        # Variants served from a registry version use a model the endpoint owns: not a reference.
        return [
            (f"variants[{i}].model", "model", v["model"])
            for i, v in enumerate(attributes.get("variants", []))
            if not v.get("model_package_arn")
        ]

    # ---- read ---------------------------------------------------------------------------------
    def read(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        # `attributes` are as state recorded them, i.e. as an earlier read found them: what
        # that read learnt of the immutable config it saw need not be asked again (see `_read`).
        return self._read(attributes["name"], attributes, recorded=True)

    def _describe(self, name: str) -> dict[str, Any] | None:
        try:
            return call(self.aws.sagemaker, "describe_endpoint", EndpointName=name)
        except NotFoundError:
            return None

    def _read(
        self, name: str, prior: Mapping[str, Any] | None, *, recorded: bool = False
    ) -> dict[str, Any] | None:
        """The endpoint as it is. `recorded`: `prior` is the state of an earlier read (a refresh)
        rather than what an apply asked for, which cuts the calls of a read from four to two:

        * EndpointConfigs are immutable in SageMaker, so while the endpoint runs the config that
          read saw, the config's part of the attributes (variants' models, instance types,
          serverless, data capture, KMS key) is as recorded and is not described again. A config
          deleted out of band while the endpoint runs it goes unnoticed until the endpoint moves
          to another one; it changes nothing the endpoint serves.
        * Autoscaling is read for the variants the record gives autoscaling, only: like
          Terraform, a refresh reads what the stack manages. A target deregistered outside mlops
          shows as drift; one registered in the console on a variant without `autoscaling:` does
          not (an update of the endpoint lifts it all the same: it reads every variant's).

        Reads during an apply (`recorded` false) describe everything: they are its read-back."""
        desc = self._describe(name)
        if desc is None or desc["EndpointStatus"] == "Deleting":
            return None  # going away: nothing to keep, and a create waits for the name
        known_config = _recorded_config(prior, desc) if recorded else None
        config = known_config if known_config is not None else self._describe_config(desc)
        variants = [v["VariantName"] for v in config.get("ProductionVariants", [])]
        if recorded and prior is not None:
            managed = {v.get("name") for v in prior.get("variants", []) if v.get("autoscaling")}
            variants = [v for v in variants if v in managed]
        scaling = {
            variant: translate.autoscaling_from_aws(
                s.target, s.policies, translate.policy_name(name, variant)
            )
            for variant, s in endpoint_scaling.describe(self.aws, name, variants).items()
        }
        attrs = translate.endpoint_from_describe(
            desc, config, self.list_tags(desc["EndpointArn"]), scaling, prior
        )
        if known_config is not None and prior is not None:
            # Not in the stand-in config `_recorded_config` builds: kept as recorded.
            attrs.update({k: copy.deepcopy(prior[k]) for k in _CONFIG_LEVEL if k in prior})
        self._find_packages(attrs, prior)
        pending = self._pending_config(desc, prior)
        if pending is not None:
            attrs["pending_config"] = pending
        return attrs

    def _describe_config(self, desc: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return call(
                self.aws.sagemaker, "describe_endpoint_config", EndpointConfigName=desc["EndpointConfigName"]
            )
        except NotFoundError:
            # Deleted behind our back: no variants are known, so the plan restores them through a
            # new config.
            return {}

    def _pending_config(
        self, desc: Mapping[str, Any], prior: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        """The recorded `pending_config` while it is still pending: the config exists and the
        endpoint does not run it. Once it runs, it is the endpoint's config; once deleted, gone."""
        pending = (prior or {}).get("pending_config")
        if not isinstance(pending, Mapping) or not pending.get("name"):
            return None
        if pending["name"] == desc["EndpointConfigName"]:
            return None
        try:
            call(self.aws.sagemaker, "describe_endpoint_config", EndpointConfigName=pending["name"])
        except NotFoundError:
            return None
        return {"name": pending["name"], "models": list(pending.get("models") or [])}

    def _find_packages(self, attrs: dict[str, Any], prior: Mapping[str, Any] | None) -> None:
        """Name the registry version of variants whose model is not the recorded one (an
        import, or a change outside mlops): their model may have been made from a package."""
        recorded = {v.get("name"): v.get("model") for v in (prior or {}).get("variants", [])}
        for v in attrs["variants"]:
            if "model_package_arn" in v or not v["model"] or recorded.get(v["name"]) == v["model"]:
                continue
            arn = self.registry.package_of_model(v["model"])
            source = registry.variant_from_arn(arn) if arn else None
            if source:
                v.update(source)

    def _must_read(self, name: str, prior: Mapping[str, Any]) -> dict[str, Any]:
        attrs = self._read(name, prior)
        if attrs is None:
            raise ProviderError(f"SageMaker endpoint {name!r} does not exist", code="NotFound")
        return attrs

    # ---- create / update / delete -------------------------------------------------------------
    def create(self, desired: Mapping[str, Any], ctx: ApplyContext) -> dict[str, Any]:
        name = desired["name"]
        existing = self._describe(name)
        if existing is not None and existing["EndpointStatus"] == "Deleting":
            # The name is taken until the old endpoint is gone (a replacement deletes it first).
            existing = self._wait(ctx, name, f"Waiting for the endpoint {name} being deleted to go")
        # Checked before anything is made or recorded: a checkpoint naming an endpoint that is
        # not ours would have the next plan replace, i.e. delete, someone else's endpoint.
        if existing is not None:
            raise ProviderError(
                f"a SageMaker endpoint named {name!r} already exists: import it "
                f"(mlops import endpoint.{name} {name}) or choose another name",
                code="AlreadyExists",
            )
        made = self.registry.create_package_models(desired["variants"], self._role, desired["tags"])
        config = translate.config_name(name, secrets.token_hex(6))
        try:
            self._create_config(translate.endpoint_config_request(desired, config), ctx.address)
        except ProviderError:
            self.registry.delete_models(made)
            raise
        # Recorded before CreateEndpoint, so a failure from here on leaves state naming the config
        # (and the models made for it, in its variants).
        ctx.checkpoint(known({**desired, "endpoint_config_name": config}))
        arn = self._create_endpoint(name, config, desired["tags"], ctx.address)
        ctx.checkpoint(known({**desired, "arn": arn, "endpoint_config_name": config}))
        self._expect_in_service(self._wait(ctx, name, "Creating"), name, "CreateEndpoint")
        endpoint_scaling.sync(self.aws, name, {}, desired)
        # Configs and package models left by earlier attempts at this endpoint, wherever they
        # stopped: each carries this address from the moment it exists.
        self._delete_old_configs(name, ctx.address, keep=config, recorded=set())
        self.registry.sweep_package_models(name, ctx.address, keep=_models(desired), recorded=set())
        return self._must_read(name, desired)

    def _create_config(self, request: Mapping[str, Any], address: str) -> None:
        """CreateEndpointConfig. A config of that name that carries this address and holds what
        the request asks for is the one this request made, its reply lost and the call retried:
        that is success. (Config names end in a fresh token, so no one else picks them.)"""
        sm = self.aws.sagemaker
        name = request["EndpointConfigName"]
        try:
            call(sm, "create_endpoint_config", **request)
            return
        except ProviderError as exc:
            if not already_exists(exc):
                raise
            try:
                found = call(sm, "describe_endpoint_config", EndpointConfigName=name)
            except NotFoundError:
                raise exc from None
            if self.owner(found["EndpointConfigArn"]) == address and translate.config_content(
                found
            ) == translate.config_content(request):
                return
            raise ProviderError(
                f"a different SageMaker endpoint configuration named {name!r} already exists",
                code=exc.code,
            ) from exc

    def _create_endpoint(self, name: str, config: str, tags: Mapping[str, str], address: str) -> str:
        """CreateEndpoint; its ARN. As with configs, an endpoint of that name carrying this address
        and running `config` (fresh, never used by anyone else) is this call's own."""
        try:
            created = call(
                self.aws.sagemaker,
                "create_endpoint",
                EndpointName=name,
                EndpointConfigName=config,
                Tags=translate.tag_list(tags),
            )
            return str(created["EndpointArn"])
        except ProviderError as exc:
            if not already_exists(exc):
                raise
            found = self._describe(name)
            if (
                found is not None
                and found["EndpointConfigName"] == config
                and (self.owner(found["EndpointArn"]) == address)
            ):
                return str(found["EndpointArn"])
            raise ProviderError(
                f"a SageMaker endpoint named {name!r} was created by someone else meanwhile: import "
                f"it (mlops import {address} {name}) or choose another name",
                code="AlreadyExists",
            ) from exc

    def update(
        self, prior: Mapping[str, Any], desired: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        name = desired["name"]
        desc = self._wait(ctx, name, "Waiting for the operation in progress")
        if desc is None or desc["EndpointStatus"] == "Deleting":
            raise ProviderError(f"SageMaker endpoint {name!r} does not exist", code="NotFound")
        self._refuse_failed(desc)
        recorded = {prior.get("endpoint_config_name") or "", _pending_name(prior)}
        made = _package_models(prior) | set(_pending_models(prior))
        if desc["EndpointConfigName"] != prior.get("endpoint_config_name"):
            # The endpoint moved on since it was read (an interrupted update finished meanwhile):
            # decide from what it runs now, which may already be what the stack asks for.
            prior = self._must_read(name, prior)
        self.sync_tags(desc["EndpointArn"], self.list_tags(desc["EndpointArn"]), desired["tags"])
        variants = [v["VariantName"] for v in desc.get("ProductionVariants", [])]
        scaling = endpoint_scaling.describe(self.aws, name, variants)
        live = desc["EndpointConfigName"]
        if translate.needs_new_config(prior, desired):
            live = self._switch_config(ctx, desc, desired, scaling)
            scaling = {}  # lifted for the switch; registered again below
        elif translate.capacity_changed(prior, desired):
            # Weights and counts change on the running fleet: no blue/green deployment, so no
            # guardrail of the rollout applies to this call.
            self._update_capacity(ctx, name, translate.weights_and_capacities(prior, desired))
        if live != desc["EndpointConfigName"] or recorded - {live, ""}:
            # Configs (and their package models) the endpoint no longer runs: the one it left, and
            # any an interrupted update left.
            recorded.add(desc["EndpointConfigName"])
            self._delete_old_configs(name, ctx.address, keep=live, recorded=recorded)
            self.registry.sweep_package_models(
                name, ctx.address, keep=_models(desired), recorded=made | _package_models(prior)
            )
        endpoint_scaling.sync(self.aws, name, scaling, desired)
        return self._must_read(name, desired)

    def _update_capacity(self, ctx: ApplyContext, name: str, requested: list[dict[str, Any]]) -> None:
        self._send(
            ctx,
            "update_endpoint_weights_and_capacities",
            lambda: self._capacity_requested(name, requested),
            EndpointName=name,
            DesiredWeightsAndCapacities=requested,
        )
        self._expect_in_service(self._wait(ctx, name, "Updating"), name, "UpdateEndpointWeightsAndCapacities")

    @staticmethod
    def _refuse_failed(desc: Mapping[str, Any]) -> None:
        if desc["EndpointStatus"] == "Failed":
            raise ProviderError(
                f"SageMaker endpoint {desc['EndpointName']} is Failed "
                f"({desc.get('FailureReason') or 'no reason given'}): SageMaker accepts only its "
                "deletion, so it cannot be changed in place; plan again and the plan replaces it",
                code="EndpointFailed",
            )

    def _send(self, ctx: ApplyContext, method: str, took_effect: Callable[[], bool], **params: Any) -> None:
        """Send a call that must not simply be repeated (UpdateEndpoint and
        UpdateEndpointWeightsAndCapacities: a second one is refused while the first runs). When its
        reply is lost, what the endpoint shows tells whether it went through; only if it did not
        is it sent again (the retry policy's `recover`, within the same attempts as throttling)."""
        call(
            self.aws.sagemaker,
            method,
            recover=lambda: {} if took_effect() else None,
            cancel=ctx.cancel,
            **params,
        )

    def _config_requested(self, name: str, config: str) -> bool:
        """Whether an UpdateEndpoint to `config` went through: the endpoint deploys it, or runs it."""
        desc = self._describe(name)
        if desc is None:
            return False
        pending = (desc.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
        return desc["EndpointConfigName"] == config or (
            desc["EndpointStatus"] == "Updating" and pending == config
        )

    def _capacity_requested(self, name: str, requested: list[dict[str, Any]]) -> bool:
        """Whether an UpdateEndpointWeightsAndCapacities went through: the endpoint is updating,
        or already wants what was asked."""
        desc = self._describe(name)
        if desc is None:
            return False
        if desc["EndpointStatus"] == "Updating":
            return True
        live = {v["VariantName"]: v for v in desc.get("ProductionVariants", [])}
        return all(
            live.get(item["VariantName"], {}).get(key) == item[key]
            for item in requested
            for key in ("DesiredWeight", "DesiredInstanceCount")
            if key in item
        )

    def _switch_config(
        self,
        ctx: ApplyContext,
        desc: Mapping[str, Any],
        desired: Mapping[str, Any],
        scaling: dict[str, VariantScaling],
    ) -> str:
        """Move the endpoint to a new EndpointConfig built from `desired`, with the guardrails of
        its rollout; returns the config's name.

        SageMaker refuses to update variants that have scaling policies, so they are lifted
        first; the new config starts those variants at their live counts, so capacity holds
        while autoscaling is off. On failure the old config still serves, and its scaling is put
        back."""
        name = desired["name"]
        deployment = rollout.deployment_config(desired.get("rollout"))
        self._check_alarms(rollout.alarm_names(deployment))
        live = {
            v["VariantName"]: v.get("DesiredInstanceCount", v.get("CurrentInstanceCount"))
            for v in desc.get("ProductionVariants", [])
            if v["VariantName"] in scaling
        }
        counts = translate.carried_counts(desired, {k: c for k, c in live.items() if c is not None})
        made = self.registry.create_package_models(desired["variants"], self._role, desired["tags"])
        new = translate.config_name(name, secrets.token_hex(6))
        try:
            self._create_config(translate.endpoint_config_request(desired, new, counts), ctx.address)
        except ProviderError:
            self.registry.delete_models(made)
            raise
        # Recorded before the update waits on it, as pending: the endpoint does not run it yet.
        ctx.checkpoint({"pending_config": {"name": new, "models": made}})
        endpoint_scaling.lift(self.aws, scaling)
        self._move(ctx, name, new, scaling, deployment, _Abandon(new, made))
        return new

    def _move(
        self,
        ctx: ApplyContext,
        name: str,
        config: str,
        scaling: dict[str, VariantScaling],
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
            self._send(ctx, "update_endpoint", lambda: self._config_requested(name, config), **request)
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

    def _abandon(self, abandon: _Abandon, scaling: dict[str, VariantScaling]) -> None:
        endpoint_scaling.restore(self.aws, scaling)
        if abandon.config:
            with contextlib.suppress(NotFoundError):
                call(self.aws.sagemaker, "delete_endpoint_config", EndpointConfigName=abandon.config)
        self.registry.delete_models(abandon.models)

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
        found = call(self.aws.client("cloudwatch"), "describe_alarms", AlarmNames=alarms)
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
                f"{self.cfg.region}: create it, or remove it from rollback_on",
                code="AlarmNotFound",
            )

    def delete(self, prior: Mapping[str, Any], ctx: ApplyContext) -> None:
        name = prior["name"]
        desc = self._wait(ctx, name, "Waiting for the operation in progress")
        variants = {v["name"] for v in prior.get("variants", [])}
        variants |= {v["VariantName"] for v in (desc or {}).get("ProductionVariants", [])}
        endpoint_scaling.lift(self.aws, endpoint_scaling.describe(self.aws, name, sorted(variants)))
        recorded = {
            prior.get("endpoint_config_name") or "",
            (desc or {}).get("EndpointConfigName", ""),
            _pending_name(prior),
        }
        if desc is not None:
            try:
                call(self.aws.sagemaker, "delete_endpoint", EndpointName=name)
            except NotFoundError:
                pass
            except ProviderError:
                # A retried delete that went through finds its endpoint Deleting already.
                now = self._describe(name)
                if now is not None and now["EndpointStatus"] != "Deleting":
                    raise
            left = self._wait(ctx, name, "Deleting")
            if left is not None:
                raise ProviderError(
                    f"DeleteEndpoint: endpoint {name} is still there ({left['EndpointStatus']}): "
                    f"{left.get('FailureReason') or 'no reason given'}"
                )
        self._delete_old_configs(name, ctx.address, keep=None, recorded=recorded)
        self.registry.sweep_package_models(
            name, ctx.address, keep=set(), recorded=_package_models(prior) | set(_pending_models(prior))
        )

    def finish_interrupted(
        self, recorded: Mapping[str, Any], live: Mapping[str, Any], ctx: ApplyContext
    ) -> None:
        """An apply was killed while it changed this endpoint: delete the configs this endpoint
        owns but does not run (the old one, if the update went through; the pending one, if it
        did not), and the package models no config it runs uses, as the update would have.
        `recorded` is the endpoint before that change; `live`, as read since."""
        name = live["name"]
        # An update still rolling out decides which config survives: wait for it.
        desc = self._wait(ctx, name, "Waiting for the interrupted update to end")
        if desc is None or desc["EndpointStatus"] in ("Deleting", "Failed"):
            return  # nothing runs to keep configs for; its deletion removes them all
        keep = desc["EndpointConfigName"]
        owned = {
            recorded.get("endpoint_config_name") or "",
            live.get("endpoint_config_name") or "",
            _pending_name(recorded),
            _pending_name(live),
        }
        self._delete_old_configs(name, ctx.address, keep=keep, recorded=owned - {keep, ""})
        try:
            config = call(self.aws.sagemaker, "describe_endpoint_config", EndpointConfigName=keep)
        except NotFoundError:
            return  # its config was deleted outside mlops: which models it uses is unknown
        serving = {v.get("ModelName", "") for v in config.get("ProductionVariants", [])}
        made = _package_models(recorded) | _package_models(live)
        made |= {*_pending_models(recorded), *_pending_models(live)}
        self.registry.sweep_package_models(name, ctx.address, keep=serving, recorded=made - serving)

    # ---- rollback -----------------------------------------------------------------------------
    def rollback(
        self, current: Mapping[str, Any], target: Mapping[str, Any], ctx: ApplyContext
    ) -> dict[str, Any]:
        """Put an endpoint back on an earlier recorded configuration and return its attributes
        as read back. `current`: the endpoint as recorded now; `target`: as recorded after an
        earlier apply (from the resource's history in state).

        The recorded EndpointConfig is reused if it still exists, else made again from the
        recorded variants, whose models must still exist (those made from registry versions are
        made again). The switch shifts all traffic at once, without the rollout's guardrails: a
        rollback is the way out of a bad deployment, not a new one to bake. Weights and counts
        changed after that config was made, and autoscaling, are restored as recorded."""
        name = current["name"]
        target = {**target, "name": name}
        sm = self.aws.sagemaker
        desc = self._wait(ctx, name, "Waiting for the operation in progress")
        if desc is None or desc["EndpointStatus"] == "Deleting":
            raise ProviderError(f"SageMaker endpoint {name!r} does not exist", code="NotFound")
        self._refuse_failed(desc)
        variants = [v["VariantName"] for v in desc.get("ProductionVariants", [])]
        scaling = endpoint_scaling.describe(self.aws, name, variants)
        config = target.get("endpoint_config_name") or ""
        if config != desc["EndpointConfigName"]:
            gone = [
                m
                for m in sorted(_models(target) - _package_models(target))
                if self.provider.read("model", {"name": m}) is None
            ]
            if gone:
                raise ProviderError(
                    f"cannot roll endpoint {name} back to {config or 'its recorded configuration'}: "
                    f"model {', '.join(gone)} no longer exists (a replaced model is deleted once "
                    "no endpoint uses it); revert the stack and apply instead",
                    code="NotFound",
                )
            made = self.registry.create_package_models(target["variants"], self._role, target.get("tags", {}))
            abandon = _Abandon(None, made)
            try:
                call(sm, "describe_endpoint_config", EndpointConfigName=config)
            except NotFoundError:
                config = translate.config_name(name, secrets.token_hex(6))
                try:
                    self._create_config(translate.endpoint_config_request(target, config), ctx.address)
                except ProviderError:
                    self.registry.delete_models(made)
                    raise
                abandon = _Abandon(config, made)
            # As in an update: recorded before the switch waits on it, as pending.
            ctx.checkpoint({"pending_config": {"name": config, "models": made}})
            endpoint_scaling.lift(self.aws, scaling)
            self._move(ctx, name, config, scaling, None, abandon)
            scaling = {}  # lifted for the switch; registered again below
        now = self._must_read(name, target)
        if translate.capacity_changed(now, target):
            self._update_capacity(ctx, name, translate.weights_and_capacities(now, target))
        endpoint_scaling.sync(self.aws, name, scaling, target)
        old = {desc["EndpointConfigName"], current.get("endpoint_config_name") or ""}
        self._delete_old_configs(name, ctx.address, keep=config, recorded=old - {config})
        self.registry.sweep_package_models(
            name, ctx.address, keep=_models(target), recorded=_package_models(current)
        )
        return self._must_read(name, target)

    # ---- shared by the above ------------------------------------------------------------------
    def _delete_old_configs(
        self, endpoint: str, address: str, *, keep: str | None, recorded: set[str]
    ) -> None:
        """Delete the configs this endpoint owns, except `keep` (the one it runs on). Owned means
        named `<endpoint>-…` and either tagged with this address or recorded in state; a config
        someone else named is left alone, since another endpoint may use it."""
        sm = self.aws.sagemaker
        prefix = translate.config_prefix(endpoint)
        for item in collect(sm, "list_endpoint_configs", "EndpointConfigs", NameContains=prefix):
            config = item["EndpointConfigName"]
            if config == keep or not config.startswith(prefix):
                continue
            if config not in recorded:
                try:
                    owner = TAGS.owner(self.list_tags(item["EndpointConfigArn"]))
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
        for delay in self.aws.polling.delays():
            desc = self._describe(name)
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
