"""Framework images (`image: {framework: xgboost, version: "1.7-1"}`) to ECR image URIs.

The URI tables ship inside `sagemaker-core`, so resolution needs no network, but importing it
costs over a second (it pulls pandas and scipy), and every plan resolves every framework image.
So resolved URIs are kept twice: in memory for the process, and on disk for the next one, in
`<user cache dir>/mlops-gitops/sagemaker-images.json` (`$XDG_CACHE_HOME`, else `~/.cache`). A
plan whose images are all in that file does not import the SDK at all. Entries are keyed by
framework, version, Python version, processor (the instance family's CPU or GPU flavour) and
region, and belong to one version of sagemaker-core: a new one may have new tables, so its URIs
are resolved afresh. The file is only a cache: unreadable, or not writable, it is ignored."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import threading
from pathlib import Path
from typing import Any

from mlops_gitops.files import atomic_write
from mlops_gitops.framework_images import ImageError, unknown_framework, unknown_version, unsupported
from mlops_gitops.sdk import MissingSdkError, import_sdk
from mlops_gitops.stack.schema import FrameworkImage

# image_uris picks the CPU or GPU flavour from an instance type; any type of the family will do.
_SAMPLE_INSTANCE = {"cpu": "ml.m5.large", "gpu": "ml.g5.xlarge"}
_CACHE_FILE = "sagemaker-images.json"
_SDK = "sagemaker-core"

_CLOUD, _NOUN = "SageMaker", "inference image"

_lock = threading.Lock()
_memory: dict[str, str] = {}  # key -> URI, for this process

__all__ = ["ImageError", "cache_path", "resolve"]  # ImageError: the core's, raised here


def resolve(image: FrameworkImage, region: str) -> str:
    key = _key(image, region)
    with _lock:
        if key in _memory:
            return _memory[key]
        sdk = _sdk_version()
        uri = _read_cache(sdk).get(key)
    if uri is None:
        # Failures raise, so only resolved URIs are kept.
        uri = _retrieve(image.framework, image.version, image.py_version, image.processor, region)
        with _lock:
            _write_cache(sdk, key, uri)
    with _lock:
        _memory[key] = uri
    return uri


def cache_path() -> Path:
    """The on-disk cache (which may not exist)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mlops-gitops" / _CACHE_FILE


def _key(image: FrameworkImage, region: str) -> str:
    return "|".join((image.framework, image.version, image.py_version or "", image.processor, region))


def _sdk_version() -> str | None:
    """The installed sagemaker-core's version, read from its metadata (no import); None if it is
    not installed, and then nothing is cached on disk: the resolution reports what is missing."""
    try:
        return importlib.metadata.version(_SDK)
    except importlib.metadata.PackageNotFoundError:
        return None


def _read_cache(sdk: str | None) -> dict[str, str]:
    if sdk is None:
        return {}
    try:
        document = json.loads(cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict) or document.get(_SDK) != sdk:
        return {}
    images = document.get("images")
    if not isinstance(images, dict):
        return {}
    return {k: v for k, v in images.items() if isinstance(k, str) and isinstance(v, str)}


def _write_cache(sdk: str | None, key: str, uri: str) -> None:
    """Add one entry, written to a temporary file renamed over the cache: a reader sees the old
    file or the new one, never half of one. Another process writing at the same time may win
    with its own entries; the ones lost are resolved again next time."""
    if sdk is None:
        return
    path = cache_path()
    images = {**_read_cache(sdk), key: uri}
    document = {_SDK: sdk, "images": dict(sorted(images.items()))}
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(document, indent=1).encode())


def _retrieve(framework: str, version: str, py_version: str | None, processor: str, region: str) -> str:
    try:
        image_uris: Any = import_sdk(
            "sagemaker.core.image_uris",
            extra="sagemaker",
            package="sagemaker-core",
            needed_by="framework images",
        )
    except MissingSdkError as exc:
        raise ImageError(
            f"{exc}; or give the image URI instead of {{framework: {framework}, version: {version}}}"
        ) from exc
    what = f"{framework} {version}" + (f" ({py_version})" if py_version else "")
    try:
        return str(
            image_uris.retrieve(
                framework=framework,
                region=region,
                version=version,
                py_version=py_version,
                image_scope="inference",
                instance_type=_SAMPLE_INSTANCE[processor],
            )
        )
    except FileNotFoundError as exc:  # no table for this framework
        raise unknown_framework(_CLOUD, _NOUN, framework, _frameworks(image_uris.__file__)) from exc
    except ValueError as exc:  # an unknown version, Python version or region
        versions = _versions(image_uris, framework)
        if versions and version not in versions:
            raise unknown_version(_CLOUD, _NOUN, framework, version, versions, where=f" in {region}") from exc
        raise unsupported(_CLOUD, _NOUN, f"{what} in {region}", str(exc)) from exc


def _versions(image_uris: Any, framework: str) -> list[str]:
    """The inference versions (and version aliases) the SDK's table lists for `framework`; empty
    if the table is not shaped as expected, and then the SDK's own message has to do."""
    try:
        config = image_uris.config_for_framework(framework)
        scoped = config if "scope" in config else config.get("inference", {})
        return [*scoped.get("versions", {}), *scoped.get("version_aliases", {})]
    except (OSError, ValueError, AttributeError, TypeError):
        return []


def _frameworks(module_file: str) -> list[str]:
    tables = os.path.join(os.path.dirname(module_file), "image_uri_config")
    return sorted(name.removesuffix(".json") for name in os.listdir(tables) if name.endswith(".json"))
