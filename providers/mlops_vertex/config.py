"""The Vertex AI provider's own settings: the stack's `provider: {vertex: ...}` block and the
`vertex:` blocks inside resources. Unknown keys are errors, like everywhere else in the stack file.

Not offered: an endpoint `network`. A private-services-access endpoint serves one deployed model
only, so a change could not deploy the new model beside the old one and traffic would drop; the
endpoints this provider makes are public (or reached through the project's VPC-SC perimeter)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

_PROJECT = r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"
_LOCATION = r"^[a-z]+(-[a-z]+)*[0-9]+$"
_GCS = r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?$"
_KMS_KEY = r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$"
_SERVICE_ACCOUNT = (
    r"^[a-z0-9-]+@[a-z0-9.-]+\.iam\.gserviceaccount\.com$|^[0-9]+-compute@developer\.gserviceaccount\.com$"
)
# Vertex's own pattern for version aliases; `default` is the registry's, managed by the provider.
_ALIAS = r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VertexConfig(_Strict):
    """`provider: {vertex: {project, location, staging_bucket?, service_account?, api_endpoint?}}`."""

    project: str = Field(pattern=_PROJECT, description="Google Cloud project ID")
    location: str = Field(pattern=_LOCATION, description="Vertex AI region, e.g. us-central1")
    staging_bucket: str | None = Field(
        None, pattern=_GCS, description="gs:// bucket; pipeline runs write under <bucket>/pipeline-root"
    )
    service_account: str | None = Field(
        None, pattern=_SERVICE_ACCOUNT, description="service account that scheduled pipeline runs use"
    )
    api_endpoint: str | None = Field(
        None,
        description="override the API host (default <location>-aiplatform.googleapis.com), e.g. a "
        "Private Service Connect endpoint for Google APIs",
    )


class ModelSettings(_Strict):
    """`models.<name>.vertex`."""

    aliases: list[Annotated[str, Field(pattern=_ALIAS)]] = Field(
        default_factory=list, description="version aliases the current version carries, e.g. [champion]"
    )
    kms_key_name: str | None = Field(
        None, pattern=_KMS_KEY, description="customer-managed key; Vertex cannot change it afterwards"
    )


class Accelerator(_Strict):
    type: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$", description="e.g. NVIDIA_TESLA_T4, NVIDIA_L4")
    count: int = Field(1, ge=1, le=16)


class EndpointSettings(_Strict):
    """`endpoints.<name>.vertex`."""

    accelerators: dict[str, Accelerator] = Field(
        default_factory=dict, description="variant name -> accelerator attached to each replica"
    )
    kms_key_name: str | None = Field(
        None, pattern=_KMS_KEY, description="customer-managed key; Vertex cannot change it afterwards"
    )


class MonitorSettings(_Strict):
    """`monitors.<name>.vertex`: what a ModelDeploymentMonitoringJob takes beyond the neutral
    fields. Thresholds are distances (L-infinity for categorical features, Jensen-Shannon for
    numerical ones) between the serving distribution and the baseline."""

    drift_thresholds: dict[str, float] = Field(
        default_factory=dict, description="feature -> prediction drift threshold"
    )
    skew_thresholds: dict[str, float] = Field(
        default_factory=dict, description="feature -> training/serving skew threshold"
    )
    training_dataset: str | None = Field(
        None,
        description="gs:// file or bq:// table of the training data, the skew baseline, when it is "
        "not given as the monitor's baseline: {dataset: ...} (e.g. tf-record files)",
    )
    training_data_format: Literal["csv", "jsonl", "tf-record"] | None = Field(
        None, description="format of gs:// training data (default: from the file extension)"
    )
    target_field: str | None = Field(None, description="the label column, left out of skew detection")
    sample_rate: float | None = Field(
        None, gt=0, le=1, description="share of requests analysed (default: the endpoint's data capture)"
    )


class ScheduleSettings(_Strict):
    """`schedules.<name>.vertex`."""

    pipeline_root: str | None = Field(
        None, pattern=_GCS, description="where runs write artifacts (default: <staging_bucket>/pipeline-root)"
    )
    service_account: str | None = Field(
        None, pattern=_SERVICE_ACCOUNT, description="overrides the provider's service_account"
    )
