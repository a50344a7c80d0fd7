"""Pure field-by-field comparison of recorded/refreshed attributes with desired ones."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlops_gitops import paths
from mlops_gitops.engine.plan import Action, FieldChange
from mlops_gitops.provider import UNKNOWN, ResourceType


@dataclass
class Decision:
    action: Action
    after: dict[str, Any]
    changes: list[FieldChange]


def _flat(doc: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(paths.leaves(doc or {})) if doc else {}


def compare(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    *,
    skip: tuple[str, ...] = (),
    force_new: tuple[str, ...] = (),
    sensitive: list[str] | set[str] = (),  # type: ignore[assignment]
) -> list[FieldChange]:
    """Leaf-level differences, in the order the paths appear (after first, then removals)."""
    fb, fa = _flat(before), _flat(after)
    ordered = list(fa) + [p for p in fb if p not in fa]
    out: list[FieldChange] = []
    for path in ordered:
        if skip and paths.matches_any(skip, path):
            continue
        b, a = fb.get(path), fa.get(path)
        if _filled_in(path, b, fa) or _filled_in(path, a, fb):
            continue  # `{}` becoming `{k: v}` is told by the rows for its keys
        if a is not UNKNOWN and a == b:
            continue
        if a is UNKNOWN and b is None and path in fb:
            continue
        out.append(
            FieldChange(
                path=path,
                before=b,
                after=a,
                forces_replacement=bool(force_new) and paths.matches_any(force_new, path),
                sensitive=bool(sensitive) and paths.matches_any(sensitive, path),
            )
        )
    return out


def _filled_in(path: str, value: Any, other: Mapping[str, Any]) -> bool:
    """An empty container on one side whose place the other side fills with leaves below it."""
    if value not in ({}, []) or path in other:
        return False
    return any(paths.matches(path, p) and p != path for p in other)


def decide(
    rtype: ResourceType,
    prior: Mapping[str, Any] | None,
    desired: Mapping[str, Any],
    *,
    ignore_changes: list[str] = (),  # type: ignore[assignment]
    sensitive: list[str] | set[str] = (),  # type: ignore[assignment]
    tainted: bool = False,
) -> Decision:
    """Choose create / update / replace / noop, and the planned attributes.

    - `ignore_changes` paths keep the prior value in the plan (so apply leaves them alone).
    - Computed paths never cause an update by themselves; when the desired value is UNKNOWN they
      keep the prior value, unless the resource is replaced (then they are known after apply).
    - `not_drift` paths are owned by someone else (an autoscaler) and are never compared."""
    after = copy.deepcopy(dict(desired))
    if prior is None:
        return Decision("create", after, compare(None, after, sensitive=sensitive))

    flat_prior = _flat(prior)
    for path, value in flat_prior.items():
        if ignore_changes and paths.matches_any(ignore_changes, path):
            paths.set_(after, path, copy.deepcopy(value))

    # Decide on the user-owned fields only.
    owned_skip = rtype.computed + rtype.not_drift
    # The attribute naming the cloud object cannot change in place: a new name is a new object.
    force_new = (*rtype.force_new, rtype.id_field)
    changes = compare(prior, after, skip=owned_skip, force_new=force_new, sensitive=sensitive)
    replace = tainted or any(c.forces_replacement for c in changes)

    for path, value in flat_prior.items():
        if paths.matches_any(rtype.computed, path) and paths.get(after, path) is UNKNOWN and not replace:
            paths.set_(after, path, value)
    if replace:
        action: Action = "replace"
    elif changes:
        action = "update"
    else:
        return Decision("noop", after, [])
    # Show computed values that will move, e.g. `arn = "…" -> (known after apply)`.
    shown = compare(prior, after, skip=rtype.not_drift, force_new=force_new, sensitive=sensitive)
    return Decision(action, after, shown)


def drift(
    rtype: ResourceType,
    recorded: Mapping[str, Any],
    actual: Mapping[str, Any],
    sensitive: list[str] = (),  # type: ignore[assignment]
) -> list[FieldChange]:
    """What changed in the cloud since the last apply (console edits), owned fields excluded."""
    return compare(recorded, actual, skip=rtype.not_drift, sensitive=sensitive)
