"""Framework images (`image: {framework: xgboost, version: "1.7-1"}`) to ECR image URIs.

The URI tables ship inside `sagemaker-core`, so resolution needs no network, but importing it
costs over a second: it happens only when a stack uses a framework image, once per process."""

from __future__ import annotations

import os
from functools import lru_cache

from mlops_gitops.errors import StackError
from mlops_gitops.stack.schema import FrameworkImage

# image_uris picks the CPU or GPU flavour from an instance type; any type of the family will do.
_SAMPLE_INSTANCE = {"cpu": "ml.m5.large", "gpu": "ml.g5.xlarge"}


class ImageError(StackError):
    """A framework image that cannot be resolved (unknown framework, version or Python)."""


def resolve(image: FrameworkImage, region: str) -> str:
    return _retrieve(image.framework, image.version, image.py_version, image.processor, region)


@lru_cache(maxsize=256)  # failures raise, so only resolved URIs are cached
def _retrieve(framework: str, version: str, py_version: str | None, processor: str, region: str) -> str:
    try:
        from sagemaker.core import image_uris
    except ImportError as exc:
        raise ImageError(
            f"framework images need the SageMaker SDK (pip install 'mlops-gitops[sagemaker]'), "
            f"or give the image URI instead of {{framework: {framework}, version: {version}}}"
        ) from exc
    what = f"{framework} {version}" + (f" ({py_version})" if py_version else "")
    try:
        return image_uris.retrieve(
            framework=framework,
            region=region,
            version=version,
            py_version=py_version,
            image_scope="inference",
            instance_type=_SAMPLE_INSTANCE[processor],
        )
    except FileNotFoundError as exc:  # no table for this framework
        raise ImageError(
            f"unknown framework {framework!r}; known: {', '.join(_frameworks(image_uris.__file__))}"
        ) from exc
    except ValueError as exc:  # the message lists the supported versions when it has them
        raise ImageError(f"no SageMaker inference image for {what} in {region}: {exc}") from exc


def _frameworks(module_file: str) -> list[str]:
    tables = os.path.join(os.path.dirname(module_file), "image_uri_config")
    return sorted(name.removesuffix(".json") for name in os.listdir(tables) if name.endswith(".json"))
