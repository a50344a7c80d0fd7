"""The Azure ML provider's own settings: the stack's `provider: {azureml: ...}` block and the
`azureml:` blocks inside resources. Unknown keys are errors, like everywhere else in the stack."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Azure's own rules: a subscription is a GUID, a resource group 1-90 of these characters, a
# workspace 3-33 alphanumerics, dashes and underscores starting with a letter or digit.
_SUBSCRIPTION = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_RESOURCE_GROUP = r"^[-\w._()]{0,89}[-\w_()]$"
_WORKSPACE = r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AzureMLConfig(_Strict):
    """`provider: {azureml: {subscription_id, resource_group, workspace}}`."""

    subscription_id: str = Field(pattern=_SUBSCRIPTION, description="Azure subscription ID (a GUID)")
    resource_group: str = Field(pattern=_RESOURCE_GROUP, description="resource group of the workspace")
    workspace: str = Field(pattern=_WORKSPACE, description="Azure Machine Learning workspace name")


class ModelSettings(_Strict):
    """`models.<name>.azureml`."""

    name: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$",
        description="the registered model's name in Azure ML (default: the resource's name); a new "
        "name is a new model, registered before the old one is archived",
    )
    type: Literal["custom_model", "mlflow_model", "triton_model"] = Field(
        "custom_model", description="how Azure ML reads the artifact"
    )
    conda_file: str | None = Field(
        None,
        description="conda/pip file (YAML, relative to the stack) layered on the serving image in the "
        "model's environment, e.g. envs/serve.yaml",
    )


class RequestSettings(_Strict):
    max_concurrent_requests_per_instance: int | None = Field(None, ge=1, le=1000)
    request_timeout_ms: int | None = Field(None, ge=1, le=180_000, description="at most 3 minutes")
    max_queue_wait_ms: int | None = Field(None, ge=1)


class Probe(_Strict):
    initial_delay: int | None = Field(None, ge=1, description="seconds")
    period: int | None = Field(None, ge=1, description="seconds")
    timeout: int | None = Field(None, ge=1, description="seconds")
    failure_threshold: int | None = Field(None, ge=1)
    success_threshold: int | None = Field(None, ge=1)


class DeploymentSettings(_Strict):
    """The deployment settings of a variant (or, at the endpoint level, of every variant)."""

    request_settings: RequestSettings | None = None
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    app_insights_enabled: bool | None = None


class EndpointSettings(DeploymentSettings):
    """`endpoints.<name>.azureml`: the endpoint's own settings, deployment settings for every
    variant, and per-variant overrides under `variants: {<variant>: {...}}`."""

    auth_mode: Literal["key", "aml_token", "aad_token"] = Field(
        "key", description="how callers authenticate; Azure ML cannot change it after creation"
    )
    public_network_access: Literal["enabled", "disabled"] | None = None
    variants: dict[str, DeploymentSettings] = Field(
        default_factory=dict, description="variant name -> its deployment settings"
    )


Signal = Literal["data_drift", "prediction_drift", "data_quality"]


class MonitorSettings(_Strict):
    """`monitors.<name>.azureml`: the signals of the MonitorSchedule and their thresholds."""

    signals: list[Signal] = Field(
        default_factory=lambda: ["data_drift", "data_quality"],
        min_length=1,
        description="data_drift, prediction_drift, data_quality",
    )
    variant: str | None = Field(
        None, description="the variant whose deployment is monitored (default: the one with most traffic)"
    )
    features: list[str] | None = Field(None, description="the features the signals look at (default: all)")
    numerical_threshold: float | None = Field(
        None, ge=0, description="threshold for numerical features (default: alert.threshold)"
    )
    categorical_threshold: float | None = Field(
        None, ge=0, description="threshold for categorical features (default: alert.threshold)"
    )
    compute_instance_type: str = Field("standard_e4s_v3", description="serverless Spark instance type")
    spark_runtime_version: str = Field("3.4", pattern=r"^\d+\.\d+$")


class ScheduleSettings(_Strict):
    """`schedules.<name>.azureml`."""

    experiment_name: str | None = Field(
        None, description="experiment the runs go to (default: the pipeline's)"
    )
    default_compute: str | None = Field(None, description="compute cluster of the pipeline's steps")
