"""Cloud SDKs, imported when first needed, with the install command when one is missing.

Providers import their SDK inside functions only: `mlops validate` loads every provider and must
not pay for boto3 or google-cloud-aiplatform (see `provider.py`). Each SDK comes with an extra of
this package (`pip install 'mlops-gitops[sagemaker]'`), which is what the error tells to run."""

from __future__ import annotations

import importlib
from types import ModuleType

from mlops_gitops.errors import MlopsError


class MissingSdkError(MlopsError):
    """A cloud SDK (or a package it needs) is not installed."""


def install_hint(extra: str, distribution: str = "mlops-gitops") -> str:
    return f"pip install '{distribution}[{extra}]'"


def import_sdk(
    module: str,
    *,
    extra: str,
    package: str | None = None,
    needed_by: str | None = None,
    distribution: str = "mlops-gitops",
) -> ModuleType:
    """`importlib.import_module(module)`, or a MissingSdkError naming the pip package (`package`,
    by default the module's top-level name) and the extra of `distribution` (a third party's
    provider names its own) that installs it. `needed_by` is what cannot work without it, by
    default the provider of that extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
        # When a dependency of the SDK is what is missing (or the SDK is broken), say which.
        detail = "" if missing and f"{module}.".startswith(f"{missing}.") else f" ({exc})"
        raise MissingSdkError(
            f"{needed_by or f'the {extra} provider'} needs {package or module.split('.')[0]}{detail}: "
            f"{install_hint(extra, distribution)}"
        ) from exc
