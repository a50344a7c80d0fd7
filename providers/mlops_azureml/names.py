"""Deterministic names and content-addressed versions of what the provider makes in Azure ML.

Azure ML names most objects by the caller: a re-run (after an interrupted apply, or a reply that
was lost) must find what the first run made, so every name derives from the stack and what the
object holds, never from a clock or a random draw:

- a model version is `v<12 hex>`, the digest of its artifact and model type: an unchanged model
  is the same version, so no change; a changed artifact is a new version of the same model;
- the serving environment of a model is `<model>-env`, its version the digest of the image and
  the conda file's content;
- a deployment is `<variant>-<7 hex>` (at most 32 characters, lowercase), the digest of what
  forces a new deployment (model, environment, instance type, container environment, data
  collection): a variant that changes gets a new deployment beside the old one, and the
  deployment an interrupted rollout made is found again under the same name;
- an autoscale setting is `<endpoint>-<deployment>-autoscale`."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

MAX_ENDPOINT = 32  # Azure ML online endpoint names: 3-32 characters
MAX_DEPLOYMENT = 32  # and deployment names
DEPLOYMENT_DIGEST = 7
ENDPOINT_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$")


def digest(value: Any, length: int = 12) -> str:
    """Hex digest of a JSON-able value, independent of key order."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def model_version(basis: Mapping[str, Any]) -> str:
    # A leading letter: Azure shows versions sorted as strings, and an all-digit digest would
    # read as a (huge) version number of the usual 1, 2, 3 sequence.
    return f"v{digest(dict(basis))}"


def environment_name(model: str) -> str:
    return f"{model}-env"


def environment_version(basis: Mapping[str, Any]) -> str:
    return f"v{digest(dict(basis))}"


def deployment_name(variant: str, basis: Mapping[str, Any]) -> str:
    """`<variant>-<digest>`: the variant's name trimmed so the whole fits in 32 characters."""
    head = variant.lower()[: MAX_DEPLOYMENT - DEPLOYMENT_DIGEST - 1].rstrip("-")
    return f"{head}-{digest({'variant': variant, **basis}, DEPLOYMENT_DIGEST)}"


def variant_of(deployment: str) -> str:
    """The (possibly trimmed) variant part of a deployment name made by `deployment_name`."""
    head, sep, tail = deployment.rpartition("-")
    return head if sep and len(tail) == DEPLOYMENT_DIGEST else deployment


def autoscale_name(endpoint: str, deployment: str) -> str:
    return f"{endpoint}-{deployment}-autoscale"


def content_digest(document: Any) -> str:
    """sha256 of a parsed file (a conda file, a pipeline), over its canonical JSON: the same
    document read back from Azure (as a dict) has the same digest as the file it came from."""
    return digest(document, 64)
