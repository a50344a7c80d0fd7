"""The stack file schema (apiVersion mlops-gitops/v1), as pydantic v2 models.

Every model forbids unknown keys so a misspelt field is an error with a position, never silently
ignored. Cloud-specific knobs live in a `<provider>:` block inside a resource, named after an
installed provider: the schema sets those blocks aside (`ResourceBase.provider_blocks`) and the
provider that owns one validates it with its own settings model (`Provider.settings_models`), so
the core names no provider. The vocabulary here is neutral; values only some clouds accept (a
serverless memory size, an approval status) are checked against what the stack's provider
declares it supports (`ResourceType.supports`, see `mlops_gitops.features`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

NAME_RE = r"^[a-z]([a-z0-9-]{0,46}[a-z0-9])?$"
_URI = re.compile(r"^[a-z][a-z0-9+.-]*://.+")
Name = Annotated[str, Field(pattern=NAME_RE, description="lowercase letters, digits and hyphens")]
Tags = dict[str, str]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Lifecycle(Strict):
    prevent_destroy: bool = Field(False, description="refuse any plan that would destroy this resource")
    ignore_changes: list[str] = Field(
        default_factory=list,
        description="attribute paths (e.g. `variants[*].instance_count`) whose differences are ignored",
    )


# Validation context key: the names that are provider blocks (the installed providers by default).
PROVIDER_BLOCKS_CONTEXT = "provider_blocks"


def provider_block_names(info: ValidationInfo | None = None) -> frozenset[str]:
    """The keys of a resource that are `<provider>:` blocks: those the validation context names,
    else every installed provider's (entry-point names: nothing is imported)."""
    context = info.context if info is not None else None
    if isinstance(context, Mapping) and PROVIDER_BLOCKS_CONTEXT in context:
        return frozenset(context[PROVIDER_BLOCKS_CONTEXT])
    from mlops_gitops.plugins import available

    return frozenset(available())


class ResourceBase(Strict):
    description: str | None = None
    tags: Tags = Field(default_factory=dict)
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    # `<provider>: {...}` blocks, by provider name, as written: validated by that provider.
    _provider_blocks: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _set_aside_provider_blocks(
        cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        # A block that is not a mapping stays in `data`, where it fails as a field of its own
        # (the loader words that error "must be a mapping", at the block's position).
        blocks: dict[str, Any] = {}
        if isinstance(data, Mapping):
            names = provider_block_names(info)
            blocks = {k: v for k, v in data.items() if k in names and (v is None or isinstance(v, Mapping))}
            if blocks:
                data = {k: v for k, v in data.items() if k not in blocks}
        model = handler(data)
        if blocks:
            model._provider_blocks = {k: dict(v) for k, v in blocks.items() if v is not None}
        return model

    @property
    def provider_blocks(self) -> dict[str, dict[str, Any]]:
        return self._provider_blocks


# ---------------------------------------------------------------------------- models
class FrameworkImage(Strict):
    framework: str = Field(description="e.g. xgboost, sklearn, pytorch, tensorflow, huggingface")
    version: str = Field(description="framework version, e.g. 1.7-1")
    py_version: str | None = None
    processor: Literal["cpu", "gpu"] = "cpu"


class Registry(Strict):
    """Register the model as a new version of a model registry group (created if absent)."""

    group: Name = Field(description="model registry group the version is registered in")
    approval: str | None = Field(
        None, description="the version's approval status, in the registry's terms (default: pending)"
    )
    description: str | None = Field(
        None, description="kept with the version when it is registered (a change applies to the next one)"
    )


class Retirement(Strict):
    """`retired:` on a model or an endpoint: it leaves production but keeps its record, instead of
    being removed from the file (which destroys it). What applying it does is in stack/retire.py."""

    reason: str = Field(min_length=1, max_length=256, description="why: kept in state history and as a tag")
    by: str = Field(min_length=1, max_length=128, description="who decided it (a person or a team)")
    archive: bool = Field(
        True,
        description="a model: archive its registered version where the cloud has a notion of it "
        "(a rejected approval, aliases removed, an archived version: see the provider's notes)",
    )

    @field_validator("reason", "by")
    @classmethod
    def _one_line(cls, v: str) -> str:
        if not v.strip() or "\n" in v:
            raise ValueError("must be one non-blank line")
        return v.strip()


class ModelSpec(ResourceBase):
    artifact: str = Field(description="URI of the model artifact (e.g. s3://, gs://, https://)")
    image: str | FrameworkImage = Field(description="serving image URI, or {framework, version}")
    environment: dict[str, str] = Field(default_factory=dict, description="container environment")
    registry: Registry | None = None
    retired: Retirement | None = Field(
        None, description="retire the model: its variants stop serving, its monitors go, artifacts stay"
    )

    @field_validator("artifact")
    @classmethod
    def _artifact_is_uri(cls, v: str) -> str:
        if not _URI.match(v):
            raise ValueError("must be a URI such as s3://bucket/path/model.tar.gz")
        return v


# ------------------------------------------------------------------------- endpoints
class Serverless(Strict):
    memory_mb: int = Field(2048, ge=1, description="memory per instance (the provider lists the sizes)")
    max_concurrency: int = Field(5, ge=1, le=200)


class Autoscaling(Strict):
    min: int = Field(ge=1)
    max: int = Field(ge=1)
    target_invocations_per_instance: int = Field(1000, ge=1)
    scale_in_cooldown: int = Field(300, ge=0, description="seconds")
    scale_out_cooldown: int = Field(60, ge=0, description="seconds")

    @model_validator(mode="after")
    def _min_le_max(self) -> Autoscaling:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


# `<group>@<version>` or `<group>@latest-approved`; group names as the registries allow them, since
# a group may be filled from outside the stack (a training pipeline).
MODEL_PACKAGE_RE = r"^[A-Za-z0-9](-*[A-Za-z0-9]){0,62}@([1-9][0-9]*|latest-approved)$"


class Variant(Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")]
    model: Name | None = Field(None, description="name of a model in this stack")
    model_package: str | None = Field(
        None, description="a model registry version instead: <group>@<version> or <group>@latest-approved"
    )
    allow_unapproved: bool = Field(
        False, description="deploy the model_package version even if it is not Approved"
    )
    weight: float = Field(1, ge=0, description="relative traffic weight")
    mirror_percent: int | None = Field(
        None,
        ge=1,
        le=100,
        description="a shadow variant: it receives a copy of this share of the requests, and its "
        "replies are not returned (it takes weight: 0)",
    )
    instance_type: str | None = None
    instance_count: int | None = Field(None, ge=1)
    serverless: Serverless | None = None
    autoscaling: Autoscaling | None = None

    @field_validator("model_package")
    @classmethod
    def _package_ref(cls, v: str | None) -> str | None:
        if v is not None and not re.match(MODEL_PACKAGE_RE, v):
            raise ValueError(
                f"must be <group>@<version> or <group>@latest-approved (e.g. fraud-detection@3); got {v!r}"
            )
        return v

    @model_validator(mode="after")
    def _source(self) -> Variant:
        if (self.model is None) == (self.model_package is None):
            raise ValueError(
                "give exactly one of model (a model in this stack) or model_package "
                "(a registry version, e.g. fraud-detection@3 or fraud-detection@latest-approved)"
            )
        if self.allow_unapproved and self.model_package is None:
            raise ValueError("allow_unapproved applies to model_package versions only")
        if self.mirror_percent is not None and self.weight != 0:
            raise ValueError(
                "a shadow variant (mirror_percent) receives copies, not live traffic: give it weight: 0"
            )
        return self

    @model_validator(mode="after")
    def _capacity(self) -> Variant:
        if self.serverless is not None:
            if self.instance_type or self.instance_count:
                raise ValueError("a serverless variant takes no instance_type or instance_count")
            if self.autoscaling is not None:
                raise ValueError("a serverless variant scales itself: remove autoscaling")
        else:
            if not self.instance_type:
                raise ValueError("instance_type is required (or give serverless: {...})")
            if self.instance_count is None:
                self.instance_count = 1
        return self


class DataCapture(Strict):
    destination: str = Field(description="URI where captured requests/responses are written")
    sample_percent: int = Field(100, ge=1, le=100)
    capture: list[Literal["input", "output"]] = Field(default_factory=lambda: ["input", "output"])
    enabled: bool = True


class Rollout(Strict):
    """How a change to the serving fleet shifts traffic: all at once, a canary then the rest, or
    linear steps, each followed by a bake during which the `rollback_on` alarms roll it back."""

    strategy: Literal["all_at_once", "canary", "linear"] = "all_at_once"
    canary_percent: int | None = Field(None, ge=1, le=99, description="share of capacity in the canary")
    step_percent: int | None = Field(None, ge=1, le=99, description="share of capacity per linear step")
    bake_minutes: int = Field(5, ge=0, le=60 * 24, description="wait after the canary (or the final shift)")
    interval_minutes: int | None = Field(
        None, ge=1, description="wait between linear steps (default: bake_minutes)"
    )
    termination_wait_minutes: int = Field(
        0, ge=0, le=60 * 24, description="keep the old fleet this long after the last shift"
    )
    timeout_minutes: int | None = Field(
        None, ge=1, description="give up (and roll back) after this long (default: from the waits)"
    )
    rollback_on: list[str] = Field(default_factory=list, description="names of alarms that roll back")

    @model_validator(mode="after")
    def _strategy_fields(self) -> Rollout:
        if self.strategy == "canary" and self.canary_percent is None:
            raise ValueError("strategy canary needs canary_percent")
        if self.strategy == "linear" and self.step_percent is None:
            raise ValueError("strategy linear needs step_percent")
        if self.strategy != "canary" and self.canary_percent is not None:
            raise ValueError(f"canary_percent applies to strategy canary, not {self.strategy}")
        if self.strategy != "linear" and (self.step_percent is not None or self.interval_minutes is not None):
            raise ValueError(
                f"step_percent and interval_minutes apply to strategy linear, not {self.strategy}"
            )
        return self


class EndpointSpec(ResourceBase):
    variants: list[Variant] = Field(min_length=1)
    autoscaling: Autoscaling | None = Field(None, description="default for every instance variant")
    data_capture: DataCapture | None = None
    rollout: Rollout | None = None
    retired: Retirement | None = Field(
        None, description="retire the endpoint: it stops serving and is deleted, its record kept"
    )

    @model_validator(mode="after")
    def _variants(self) -> EndpointSpec:
        seen: set[str] = set()
        for v in self.variants:
            if v.name in seen:
                raise ValueError(f"variant name {v.name!r} is used twice")
            seen.add(v.name)
        if sum(v.weight for v in self.variants) <= 0:
            raise ValueError("variant weights sum to 0: no variant would receive traffic")
        return self


# -------------------------------------------------------------------------- monitors
Every = Literal["hourly", "daily"]


class Alert(Strict):
    threshold: float | None = Field(None, ge=0)
    notify: list[str] = Field(default_factory=list, description="e-mail addresses or topic ARNs")
    metric: str | None = Field(
        None,
        description="the monitor metric compared with the threshold, e.g. accuracy or "
        "feature_baseline_drift_<feature>; the default depends on the monitor type and provider",
    )
    when: Literal["above", "below"] | None = Field(
        None,
        description="alert when the metric goes above or below the threshold; by default below for "
        "scores (accuracy, f1, auc, ...) and above for errors and drift",
    )


class BaselineJob(Strict):
    """A baseline the provider computes: it runs a baselining job on `dataset` (typically the
    training data), waits for it, and monitors against the statistics and constraints it writes.
    A job runs again only when the dataset (or how to read it) changes."""

    # Checked by field validators, never a model validator: an error on the model itself would sit
    # at the union's branch, where the loader can only say "must be a string or a mapping".
    dataset: str = Field(description="URI of the dataset, a file or a prefix, e.g. s3://ml/fraud/train.csv")
    format: Literal["csv", "json"] = Field("csv", description="csv, or json with one object per line")
    header: bool = Field(True, description="csv: the first line names the columns")

    @field_validator("dataset")
    @classmethod
    def _dataset_is_uri(cls, v: str) -> str:
        if not _URI.match(v):
            raise ValueError("must be a URI such as s3://bucket/datasets/train.csv")
        return v

    @field_validator("header")
    @classmethod
    def _header_is_csv_only(cls, v: bool, info: ValidationInfo) -> bool:
        if info.data.get("format") == "json":
            raise ValueError("a json dataset has no header line: remove header")
        return v


class MonitorSpec(ResourceBase):
    endpoint: Name = Field(description="name of an endpoint in this stack")
    model: Name | None = Field(
        None,
        description="the model (serving on the endpoint) this monitor is about: retiring the model "
        "removes the monitor",
    )
    type: Literal["data_quality", "model_quality", "bias", "explainability"]
    every: str = Field("hourly", description="hourly, daily or a cron expression")
    baseline: str | BaselineJob | None = Field(
        None,
        description="URI (prefix) of baseline statistics/constraints, or {dataset, format, header}: "
        "a baselining job the provider runs",
    )
    ground_truth: str | None = Field(None, description="URI of ground-truth labels (model_quality)")
    problem_type: Literal["BinaryClassification", "MulticlassClassification", "Regression"] | None = None
    alert: Alert | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _quality_needs(self) -> MonitorSpec:
        if self.type == "model_quality" and not self.ground_truth:
            raise ValueError("a model_quality monitor needs ground_truth (URI of labels)")
        return self


# ------------------------------------------------------------------------- schedules
class Pipeline(Strict):
    definition: str | None = Field(None, description="path (relative to the stack) of a pipeline file")
    template_uri: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> Pipeline:
        if bool(self.definition) == bool(self.template_uri):
            raise ValueError("give exactly one of definition or template_uri")
        return self


class ScheduleSpec(ResourceBase):
    cron: str | None = Field(None, description="five-field cron expression")
    timezone: str = "UTC"
    pipeline: Pipeline
    also_on: list[Name] = Field(default_factory=list, description="monitors whose alert also triggers")
    enabled: bool = True
    max_concurrent_runs: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _trigger(self) -> ScheduleSpec:
        if not self.cron and not self.also_on:
            raise ValueError("give a cron, also_on, or both: nothing would start this schedule")
        return self


# ------------------------------------------------------------------------ batch jobs
class BatchInput(Strict):
    uri: str = Field(description="URI of the input: a file or a prefix, e.g. s3://ml/churn/input/")
    format: Literal["csv", "jsonl", "parquet", "file"] = Field(
        "csv", description="csv or jsonl records, parquet, or whole files (one request each)"
    )
    split: Literal["line", "none"] = Field(
        "line", description="line: each line (record) is a request; none: each file is one"
    )

    @field_validator("uri")
    @classmethod
    def _uri(cls, v: str) -> str:
        if not _URI.match(v):
            raise ValueError("must be a URI such as s3://bucket/churn/input/")
        return v


class BatchOutput(Strict):
    uri: str = Field(description="URI (prefix) where the predictions are written")
    assemble: Literal["line", "none"] = Field(
        "line", description="line: one output record per input line, in order; none: one per request"
    )

    @field_validator("uri")
    @classmethod
    def _uri(cls, v: str) -> str:
        if not _URI.match(v):
            raise ValueError("must be a URI such as s3://bucket/churn/predictions/")
        return v


class Replicas(Strict):
    min: int = Field(ge=1)
    max: int = Field(ge=1)

    @model_validator(mode="after")
    def _min_le_max(self) -> Replicas:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class BatchJobSpec(ResourceBase):
    """Predictions over a dataset, run on a cron, after a retraining schedule (`also_on`), or
    only when asked (`mlops run`): the model, where it reads and writes, and on what compute."""

    model: Name | None = Field(None, description="name of a model in this stack")
    model_package: str | None = Field(
        None, description="a model registry version instead: <group>@<version> or <group>@latest-approved"
    )
    input: BatchInput
    output: BatchOutput
    instance_type: str = Field(description="compute for the job, in the cloud's own names")
    instance_count: int | None = Field(None, ge=1, description="a fixed number of instances (default 1)")
    replicas: Replicas | None = Field(None, description="or a range the cloud scales the job in")
    max_payload_mb: int | None = Field(None, ge=1, le=100, description="largest request sent to the model")
    mini_batch_size: int | None = Field(None, ge=1, description="records per request")
    max_concurrency: int | None = Field(None, ge=1, description="requests in flight per instance")
    timeout_minutes: int | None = Field(None, ge=1, description="give up on a run after this long")
    retries: int | None = Field(None, ge=0, le=10, description="attempts again at a failed request")
    environment: dict[str, str] = Field(default_factory=dict, description="container environment")
    cron: str | None = Field(None, description="five-field cron expression")
    timezone: str = "UTC"
    also_on: list[Name] = Field(
        default_factory=list, description="retraining schedules after whose runs the job runs too"
    )
    enabled: bool = True

    @field_validator("model_package")
    @classmethod
    def _package_ref(cls, v: str | None) -> str | None:
        if v is not None and not re.match(MODEL_PACKAGE_RE, v):
            raise ValueError(
                f"must be <group>@<version> or <group>@latest-approved (e.g. churn@3); got {v!r}"
            )
        return v

    @model_validator(mode="after")
    def _source_and_capacity(self) -> BatchJobSpec:
        if (self.model is None) == (self.model_package is None):
            raise ValueError(
                "give exactly one of model (a model in this stack) or model_package (a registry version)"
            )
        if self.instance_count is not None and self.replicas is not None:
            raise ValueError("give instance_count or replicas, not both")
        if self.instance_count is None and self.replicas is None:
            self.instance_count = 1
        return self


# ------------------------------------------------------------------------ stack root
class VariableSpec(Strict):
    default: Any = None
    description: str | None = None
    type: Literal["string", "number", "bool", "any"] = "any"
    sensitive: bool = False


class OutputSpec(Strict):
    value: Any
    description: str | None = None
    sensitive: bool = False


class LocalBackend(Strict):
    path: str = ".mlops"


# Remote backends. Credentials never go here: each store's SDK finds them in its default chain
# (environment, profile, workload identity / OIDC in CI). `endpoint_url` points at an
# S3-compatible store or an emulator.
class S3Backend(Strict):
    bucket: str = Field(description="bucket holding the state (versioning recommended)")
    key: str = Field(description="object key of the state, e.g. fraud/prod/state.json")
    region: str | None = Field(None, description="bucket region (default: the SDK's)")
    endpoint_url: str | None = Field(None, description="another S3-compatible endpoint (an emulator)")


class GcsBackend(Strict):
    bucket: str = Field(description="bucket holding the state (object versioning recommended)")
    prefix: str = Field("", description="folder of the state objects, e.g. fraud/prod")
    endpoint_url: str | None = Field(None, description="a storage endpoint instead of Google's (an emulator)")


class AzureBlobBackend(Strict):
    account_url: str | None = Field(
        None,
        description="https://<account>.blob.core.windows.net; without it, the connection string in "
        "AZURE_STORAGE_CONNECTION_STRING",
    )
    container: str = Field(description="container holding the state")
    blob: str = Field(description="blob name of the state, e.g. fraud/prod/state.json")


# Each store a `backend:` block may name, and the model of its settings (`--backend-config`
# checks its keys against these).
BACKEND_MODELS: dict[str, type[Strict]] = {
    "local": LocalBackend,
    "s3": S3Backend,
    "gcs": GcsBackend,
    "azureblob": AzureBlobBackend,
}


class Backend(Strict):
    local: LocalBackend | None = None
    s3: S3Backend | None = None
    gcs: GcsBackend | None = None
    azureblob: AzureBlobBackend | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Backend:
        chosen = [k for k in BACKEND_MODELS if getattr(self, k) is not None]
        if len(chosen) > 1:
            raise ValueError(f"choose one backend, not {', '.join(chosen)}")
        return self

    @property
    def kind(self) -> str:
        return next((k for k in BACKEND_MODELS if getattr(self, k) is not None), "local")


# `kind.name`, as in plans and `mlops state list`.
_ADDRESS = r"^(model|endpoint|monitor|schedule|batch_job)\.[a-z0-9]([a-z0-9-]*[a-z0-9])?$"


class MovedBlock(Strict):
    """A resource renamed in the stack file (as Terraform's `moved` block): the object recorded
    at `from` is the one now declared at `to`, so the plan moves it in state instead of
    destroying one and creating the other."""

    from_: str = Field(alias="from", pattern=_ADDRESS, description="the old address, e.g. endpoint.fraud")
    to: str = Field(pattern=_ADDRESS, description="the new address, e.g. endpoint.fraud-api")

    @model_validator(mode="after")
    def _same_kind(self) -> MovedBlock:
        if self.from_.split(".")[0] != self.to.split(".")[0]:
            raise ValueError(f"{self.from_} and {self.to} are of different kinds: a move keeps the kind")
        if self.from_ == self.to:
            raise ValueError("from and to are the same address")
        return self


class EnvironmentSpec(Strict):
    """One environment of the stack (dev, staging, prod): its own state, and what differs there.
    A resource differs between environments only through these: variable values, the provider's
    settings (another account, region or project), tags, and where state lives."""

    description: str | None = None
    variables: dict[str, Any] = Field(default_factory=dict, description="variable values here")
    provider: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="settings merged over the stack's provider settings: {<provider>: {...}}",
    )
    backend: Backend | None = Field(None, description="where this environment's state lives")
    tags: Tags = Field(default_factory=dict, description="tags added to every resource here")


class CostSettings(Strict):
    """`cost:`: how the plan estimates what the stack's endpoints cost a month."""

    prices_file: str | None = Field(
        None,
        description="JSON price table (relative to the stack) whose figures replace or extend the "
        "provider's shipped ones",
    )
    region: str | None = Field(
        None,
        description="region to price in (default: the provider's region; Azure ML's workspace "
        "location is not in its settings, so its price table's default region is assumed)",
    )
    serverless_requests_per_month: int = Field(
        1_000_000, ge=0, description="requests a month assumed for serverless variants"
    )
    serverless_duration_ms: float = Field(
        100, gt=0, description="compute time per request assumed for serverless variants"
    )


class StackSpec(Strict):
    api_version: Literal["mlops-gitops/v1"] = Field(alias="apiVersion")
    name: Name
    description: str | None = None
    provider: dict[str, dict[str, Any]] = Field(
        description="exactly one provider and its settings: {<provider>: {...}} (see `mlops providers`)"
    )
    backend: Backend = Field(default_factory=lambda: Backend(local=LocalBackend()))
    variables: dict[str, VariableSpec] = Field(default_factory=dict)
    tags: Tags = Field(default_factory=dict, description="tags applied to every resource")
    models: dict[Name, ModelSpec] = Field(default_factory=dict)
    endpoints: dict[Name, EndpointSpec] = Field(default_factory=dict)
    monitors: dict[Name, MonitorSpec] = Field(default_factory=dict)
    schedules: dict[Name, ScheduleSpec] = Field(default_factory=dict)
    batch_jobs: dict[Name, BatchJobSpec] = Field(default_factory=dict)
    outputs: dict[str, OutputSpec] = Field(default_factory=dict)
    moved: list[MovedBlock] = Field(default_factory=list, description="resources renamed in this file")
    environments: dict[Name, EnvironmentSpec] = Field(
        default_factory=dict, description="the environments this stack is applied to (choose with --env)"
    )
    cost: CostSettings | None = Field(None, description="how the plan estimates the monthly cost")

    @field_validator("provider")
    @classmethod
    def _one_provider(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if len(v) != 1:
            from mlops_gitops.plugins import available

            installed = ", ".join(sorted(available())) or "none"
            raise ValueError(
                f"name exactly one provider, as provider: {{<name>: {{...}}}} (installed: {installed})"
            )
        return v

    @property
    def provider_name(self) -> str:
        return next(iter(self.provider))
