"""Framework images (`image: {framework: sklearn, version: "1.5"}`) to the images of Azure ML's
curated environments, which carry the framework and the Azure ML inference server
(azureml-inference-server-http) that managed online deployments start:
`mcr.microsoft.com/azureml/curated/<framework>-<version>:latest`.

The table lists the curated environments Azure ML publishes for inference with the framework
(`az ml environment list --registry-name azureml`); it is checked offline, without the SDK. They
are CPU images: for a GPU model give the image URI (e.g. an acpt-pytorch image)."""

from __future__ import annotations

import re

from mlops_gitops.framework_images import ImageError, unknown_framework, unknown_version, unsupported
from mlops_gitops.stack.schema import FrameworkImage

__all__ = ["ImageError", "resolve"]

REGISTRY = "mcr.microsoft.com/azureml/curated"
# framework -> curated environment versions
_SUPPORTED: dict[str, tuple[str, ...]] = {
    "sklearn": ("1.0", "1.1", "1.5"),
    "lightgbm": ("3.3",),
    "tensorflow": ("2.12", "2.15"),
    "pytorch": ("2.2",),
}
_ALIASES = {"scikit-learn": "sklearn", "tf": "tensorflow", "torch": "pytorch"}
_VERSION = re.compile(r"^(\d+)[.-](\d+)")
_CLOUD, _NOUN = "Azure ML", "curated inference environment"


def resolve(image: FrameworkImage) -> str:
    framework = _ALIASES.get(image.framework.lower(), image.framework.lower())
    if framework not in _SUPPORTED:
        raise unknown_framework(_CLOUD, _NOUN, image.framework, _SUPPORTED)
    if image.processor != "cpu":
        raise unsupported(_CLOUD, _NOUN, f"{framework} on GPU", "the curated inference images are CPU only")
    m = _VERSION.match(image.version)
    version = f"{m.group(1)}.{m.group(2)}" if m else image.version
    if version not in _SUPPORTED[framework]:
        raise unknown_version(_CLOUD, _NOUN, framework, image.version, _SUPPORTED[framework])
    return f"{REGISTRY}/{framework}-{version}:latest"
