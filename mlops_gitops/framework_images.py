"""Errors for framework images (`image: {framework: xgboost, version: "1.7"}`) a cloud cannot
serve, in one shape for every provider: what the cloud has no image for, the closest name it does
have, what it has, and the way out (an image URI).

Each provider resolves framework images its own way (SageMaker from the SDK's tables, Vertex AI
from a table of prebuilt containers); only the messages are shared."""

from __future__ import annotations

from collections.abc import Iterable

from mlops_gitops.errors import StackError
from mlops_gitops.stack.suggest import did_you_mean

_URI_INSTEAD = "or give the image URI instead"


class ImageError(StackError):
    """A framework image that cannot be resolved (unknown framework, version, Python or
    processor, or no SDK to look it up with)."""


def unknown_framework(cloud: str, noun: str, framework: str, known: Iterable[str]) -> ImageError:
    """`cloud` (e.g. "Vertex AI") has no prebuilt `noun` ("prediction container") for `framework`."""
    names = sorted(known)
    return ImageError(
        f"{cloud} has no prebuilt {noun} for {framework!r}{did_you_mean(framework, names)}; "
        f"known frameworks: {', '.join(names)}; {_URI_INSTEAD}"
    )


def unknown_version(
    cloud: str, noun: str, framework: str, version: str, supported: Iterable[str], *, where: str = ""
) -> ImageError:
    """`cloud` has no prebuilt `noun` for `version` of `framework` (`where`: e.g. " in us-east-1")."""
    versions = list(supported)
    return ImageError(
        f"{cloud} has no prebuilt {noun} for {framework} {version}{where}"
        f"{did_you_mean(version, versions)}; supported versions: {', '.join(versions)}; {_URI_INSTEAD}"
    )


def unsupported(cloud: str, noun: str, what: str, reason: str) -> ImageError:
    """Another reason `cloud` has no prebuilt `noun` for `what` (a processor, a Python version)."""
    return ImageError(f"{cloud} has no prebuilt {noun} for {what}: {reason.rstrip('.')}; {_URI_INSTEAD}")
