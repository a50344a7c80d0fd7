"""Emulator discovery through the `mlops_gitops.emulators` entry-point group (the contract is in
`emulator.py`). An emulator is named after the provider it stands in for, so the sandbox starts,
for a stack on provider P, the emulator named P.

Listing the group imports nothing; loading one imports its class only (which must not import
its cloud SDK or server library: that waits for `start()`). A third party's emulator that fails to
load is that emulator's problem only: callers get an MlopsError naming it (an EmulatorFailure,
when it is the sandbox that could not start it)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points

from mlops_gitops.errors import MlopsError
from mlops_gitops.sandbox.emulator import ENTRY_POINT_GROUP, METHODS, Emulator


@cache
def available() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def unknown(name: str) -> MlopsError:
    installed = ", ".join(sorted(available())) or "none"
    return MlopsError(f"no sandbox emulator is installed for provider {name!r} (installed: {installed})")


def emulator_class(name: str) -> type[Emulator]:
    if name not in available():
        raise unknown(name)
    return _load(name)


@cache
def _load(name: str) -> type[Emulator]:
    ep = available()[name]
    try:
        cls = ep.load()
    except Exception as exc:  # a third party's emulator may fail in any way while importing
        reason = f"{type(exc).__name__}: {exc}"
        raise MlopsError(f"the {name} emulator ({ep.value}) failed to load: {reason}") from exc
    missing = [method for method in METHODS if not callable(getattr(cls, method, None))]
    if not isinstance(cls, type) or missing:
        what = f"lacks {', '.join(missing)}" if isinstance(cls, type) else "is not a class"
        raise MlopsError(f"the {name} emulator ({ep.value}) {what}: it is not a sandbox emulator")
    return cls


def serving(store: str) -> str | None:
    """The installed emulator that also serves the state store `store` (a backend kind: s3, gcs,
    azureblob) at its URL, by its class's `state_stores`; None when none does. An emulator that
    fails to load serves nothing."""
    for name in sorted(available()):
        try:
            cls = _load(name)
        except MlopsError:
            continue
        if store in getattr(cls, "state_stores", ()):
            return name
    return None


class EmulatorFailure(MlopsError):
    """An emulator that did not start (or took no settings); `reason` is one line."""

    def __init__(self, name: str, reason: str, *, refused: bool = False) -> None:
        super().__init__(reason)
        self.name, self.reason, self.refused = name, reason, refused
