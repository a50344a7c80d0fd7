"""The Azure ML emulator's settings (see `server.py` for what each does), validated by pydantic so
that a refused value is a ValueError naming the setting."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .chaos import Chaos

# The VM sizes managed online deployments accept here by default: a few of each family real Azure
# lists (https://learn.microsoft.com/azure/machine-learning/reference-managed-online-endpoints-vm-sku-list).
DEFAULT_INSTANCE_TYPES = [
    "Standard_DS1_v2",
    "Standard_DS2_v2",
    "Standard_DS3_v2",
    "Standard_DS4_v2",
    "Standard_DS5_v2",
    "Standard_F2s_v2",
    "Standard_F4s_v2",
    "Standard_F8s_v2",
    "Standard_F16s_v2",
    "Standard_E2s_v3",
    "Standard_E4s_v3",
    "Standard_E8s_v3",
    "Standard_E16s_v3",
    "Standard_NC6s_v3",
    "Standard_NC12s_v3",
    "Standard_NC24s_v3",
    "Standard_NC4as_T4_v3",
    "Standard_NC8as_T4_v3",
]


def _check_regex(pattern: str | None) -> str | None:
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return pattern


class _Rule(BaseModel):
    """What a rule matches: the HTTP method, a regex searched (case-insensitively) in the
    percent-decoded path without its query, and/or the operation name (`server.py` lists them,
    e.g. "OnlineDeployments_CreateOrUpdate")."""

    model_config = ConfigDict(extra="forbid")

    method: str | None = None
    path: str | None = None
    operation: str | None = None
    times: int | None = Field(default=None, ge=1)  # matching calls left to hit; None: every one

    @field_validator("path")
    @classmethod
    def check_path(cls, pattern: str | None) -> str | None:
        return _check_regex(pattern)


class ThrottleRule(_Rule):
    """Refuse matching calls with 429 TooManyRequests, as ARM does past its request quota."""

    retry_after: int = Field(default=1, ge=0)  # seconds, in the Retry-After header
    message: str | None = None


class FailRule(_Rule):
    """Answer matching calls with an ARM error instead of serving them. With `lose_reply` the call
    is served (it takes effect) and the client gets the error instead of the answer. With `rate`
    (and `seed`) only that share of the matching calls fails."""

    status: int = Field(default=500, ge=400, le=599)
    code: str | None = None  # ARM error code; by default the one that goes with `status`
    message: str | None = None
    rate: float = Field(default=1.0, gt=0, le=1)
    lose_reply: bool = False


class AsyncFailRule(_Rule):
    """The next matching long-running call (PUT/PATCH/DELETE) is accepted as usual, then its
    asynchronous operation ends `Failed` with this error, and the resource's provisioningState
    is Failed (a failed delete leaves the resource, Failed)."""

    code: str = "DeploymentFailed"
    message: str | None = None


class EmulatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # How long long-running operations take; tests set less. Real Azure takes minutes.
    operation_delay_seconds: float = Field(default=1.0, ge=0)
    latency_ms: float = Field(default=0.0, ge=0)
    location: str = Field(default="westeurope", min_length=1)
    # The Retry-After (seconds) sent with accepted long-running calls and with poll answers.
    retry_after_seconds: int = Field(default=1, ge=1)
    instance_types: list[str] = Field(default_factory=lambda: list(DEFAULT_INSTANCE_TYPES))
    throttle: list[ThrottleRule] = Field(default_factory=list)
    fail: list[FailRule] = Field(default_factory=list)
    fail_async: list[AsyncFailRule] = Field(default_factory=list)
    seed: int | None = None  # seeds the draws of fail rules with a `rate`
    chaos: Chaos | None = None  # random faults on every API call (chaos.py)
    # Set by the emulator once started (the PEM of its self-signed certificate); read-only.
    tls_ca_file: str | None = None
