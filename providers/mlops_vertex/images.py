"""Framework images (`image: {framework: sklearn, version: "1.3"}`) to Vertex AI's prebuilt
prediction containers, named `<region>-docker.pkg.dev/vertex-ai/prediction/<repo>-<cpu|gpu>.<M-m>:latest`
(e.g. `us-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.1-7:latest`).

The table lists the versions Google documents for prediction; it is checked offline, without the
SDK (whose own table sits behind a 1.4 s import). Versions may be written `1.7`, `1-7` or, as
SageMaker names them, `1.7-1`: only major and minor matter."""

from __future__ import annotations

import re

from mlops_gitops.framework_images import ImageError, unknown_framework, unknown_version, unsupported
from mlops_gitops.stack.schema import FrameworkImage

__all__ = ["ImageError", "registry_host", "resolve"]  # ImageError: the core's, raised here

_CPU_ONLY = ("cpu",)
_BOTH = ("cpu", "gpu")
_TENSORFLOW = ("1.15", *(f"2.{m}" for m in range(1, 16)))
# framework -> (processors, versions)
_SUPPORTED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "sklearn": (_CPU_ONLY, ("0.20", "0.22", "0.23", "0.24", "1.0", "1.2", "1.3", "1.4", "1.5", "1.6")),
    "xgboost": (_CPU_ONLY, ("0.82", "0.90", *(f"1.{m}" for m in range(1, 8)), "2.0", "2.1")),
    "tensorflow": (_BOTH, _TENSORFLOW),
    "pytorch": (_BOTH, ("1.11", "1.12", "1.13", "2.0", "2.1", "2.2", "2.3", "2.4")),
}
_ALIASES = {"scikit-learn": "sklearn", "tf": "tensorflow", "torch": "pytorch"}
_VERSION = re.compile(r"^(\d+)[.-](\d+)")
_CLOUD, _NOUN = "Vertex AI", "prediction container"


def registry_host(location: str) -> str:
    """The Artifact Registry multi-region serving prebuilt containers nearest to `location`."""
    if location.startswith(("europe-", "me-", "africa-")):
        return "europe-docker.pkg.dev"
    if location.startswith(("asia-", "australia-")):
        return "asia-docker.pkg.dev"
    return "us-docker.pkg.dev"


def resolve(image: FrameworkImage, location: str) -> str:
    framework = _ALIASES.get(image.framework.lower(), image.framework.lower())
    if framework not in _SUPPORTED:
        raise unknown_framework(_CLOUD, _NOUN, image.framework, _SUPPORTED)
    processors, versions = _SUPPORTED[framework]
    if image.processor not in processors:
        raise unsupported(_CLOUD, _NOUN, f"{framework} on {image.processor.upper()}", "they are CPU only")
    m = _VERSION.match(image.version)
    version = f"{m.group(1)}.{m.group(2)}" if m else image.version
    if version not in versions:
        raise unknown_version(_CLOUD, _NOUN, framework, image.version, versions)
    repository = framework
    if framework == "tensorflow":
        repository = "tf" if version.startswith("1.") else "tf2"
    tag = version.replace(".", "-")
    return f"{registry_host(location)}/vertex-ai/prediction/{repository}-{image.processor}.{tag}:latest"
