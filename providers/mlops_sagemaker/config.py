"""The SageMaker provider's own settings: the stack's `provider: {sagemaker: ...}` block and the
`sagemaker:` blocks inside models and endpoints. Unknown keys are errors, like everywhere else in
the stack file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_ROLE_ARN = r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SageMakerConfig(_Strict):
    """`provider: {sagemaker: {region, role_arn, profile?, endpoint_url?}}`."""

    region: str = Field(min_length=1, description="AWS region, e.g. us-east-1")
    role_arn: str | None = Field(None, pattern=_ROLE_ARN, description="default execution role for models")
    profile: str | None = Field(None, description="named profile from the AWS config files")
    endpoint_url: str | None = Field(
        None,
        description="override the SageMaker API URL (VPC endpoint, or a local emulator); the other "
        "services' URLs (autoscaling, alarms, scheduler) come from AWS_ENDPOINT_URL_<SERVICE> or "
        "AWS_ENDPOINT_URL, as in every AWS SDK",
    )


class Vpc(_Strict):
    subnets: list[str] = Field(min_length=1, max_length=16)
    security_groups: list[str] = Field(min_length=1, max_length=5)


class ModelSettings(_Strict):
    """`models.<name>.sagemaker`."""

    execution_role_arn: str | None = Field(
        None, pattern=_ROLE_ARN, description="overrides the provider's role_arn"
    )
    enable_network_isolation: bool = False
    vpc: Vpc | None = None


class EndpointSettings(_Strict):
    """`endpoints.<name>.sagemaker`."""

    kms_key_id: str | None = Field(None, description="KMS key that encrypts the ML storage volumes")
