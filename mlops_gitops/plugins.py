"""Provider discovery through the `mlops_gitops.providers` entry-point group.

Loading a provider class imports only its module (which must not import its cloud SDK); SDK
clients are built later, on first use."""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points

from mlops_gitops.errors import MlopsError
from mlops_gitops.provider import Provider

GROUP = "mlops_gitops.providers"


@cache
def available() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def provider_class(name: str) -> type[Provider]:
    eps = available()
    if name not in eps:
        from mlops_gitops.stack.suggest import did_you_mean

        installed = ", ".join(sorted(eps)) or "none"
        raise MlopsError(f"unknown provider {name!r}{did_you_mean(name, eps)}; installed: {installed}")
    return _load(name)


@cache
def _load(name: str) -> type[Provider]:
    ep = available()[name]
    try:
        cls = ep.load()
    except ImportError as exc:  # a third-party provider with a missing dependency
        raise MlopsError(f"provider {name!r} failed to load: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise MlopsError(f"entry point {ep.value!r} for provider {name!r} is not a Provider class")
    return cls
