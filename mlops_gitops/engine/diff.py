"""Pure field-by-field comparison of recorded/refreshed attributes with desired ones."""

from __future__ import annotations

import copy
import json
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


# ------------------------------------------------------------------------------ fast paths
# Most resources of a plan are unchanged. Flattening both sides into path strings costs far more
# than walking them once, so an unchanged pair is recognised first; any doubt falls through to
# the field-by-field comparison, which alone decides what differs.
_SCALARS = frozenset((str, int, float, bool, type(None)))


class _Differs(Exception):
    """Raised by `_carried` as soon as the fast path cannot vouch for the pair."""


def _canonical(value: Any) -> str:
    # As state/model.py compares attribute sets: by JSON text, where 1, 1.0 and true differ.
    # NaN and infinities are refused (NaN equals nothing, not even itself), as is any value
    # JSON has no form for (UNKNOWN among them).
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _same(before: Any, after: Any) -> bool:
    """Whether `before` and `after` are equal value for value, types included: 1, 1.0 and True
    are three different values here (a cloud API does not take them alike), NaN is never
    equal, mapping key order does not matter, and an UNKNOWN anywhere counts as a difference.
    True implies `compare(before, after)` finds nothing; False decides nothing.

    Both tests are needed: `==` alone holds 1 == 1.0 == True, and the JSON text alone holds a
    tuple equal to a list (which the flattening tells apart) and {1: x} equal to {"1": x}."""
    try:
        return bool(before == after) and _canonical(before) == _canonical(after)
    except (TypeError, ValueError, RecursionError):  # not JSON: leave it to compare
        return False


def _carried(prior: Any, desired: Any, at: tuple[paths.Segment, ...], computed: tuple[str, ...]) -> Any:
    """A copy of `desired` when it is equal to `prior` as `_same` says, except that an UNKNOWN at
    a `computed` path standing for a leaf of `prior` (what `decide` carries over from state) is
    replaced by that leaf. Raises _Differs otherwise."""
    if desired is UNKNOWN:
        if prior is UNKNOWN or (isinstance(prior, Mapping | list) and prior):
            # A container in state under an UNKNOWN: `decide` treats its leaves one by one.
            raise _Differs
        if not paths.matches_any(computed, paths.join(list(at))):
            raise _Differs
        return copy.deepcopy(prior)
    kind = type(desired)
    if kind is not type(prior):
        raise _Differs
    if kind in _SCALARS:
        if desired != prior:  # NaN included: it equals nothing, itself neither
            raise _Differs
        return desired
    if kind is dict:
        if len(desired) != len(prior):
            raise _Differs
        out = {}
        for key, value in desired.items():
            if type(key) is not str or key not in prior:
                raise _Differs  # a key the flattening would read as text: leave it to compare
            before = prior[key]
            # Scalars inline: most leaves are, and a call for each one would cost the most.
            if type(value) in _SCALARS:
                if type(before) is not type(value) or before != value:
                    raise _Differs
                out[key] = value
            else:
                out[key] = _carried(before, value, (*at, key), computed)
        return out
    if kind is list:
        if len(desired) != len(prior):
            raise _Differs
        return [
            _carried(p, d, (*at, i), computed) for i, (p, d) in enumerate(zip(prior, desired, strict=True))
        ]
    raise _Differs  # anything else (a tuple, a Mapping that is no dict): compare decides


def _unchanged(
    rtype: ResourceType, prior: Mapping[str, Any], desired: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The planned attributes of a resource `decide` finds unchanged, found without flattening:
    `desired` equal to `prior` (see `_same`) but for UNKNOWN computed values that state knows.
    None when that does not hold; `decide` then compares field by field."""
    try:
        after = _carried(prior, desired, (), rtype.computed)
    except _Differs:
        return None
    return after if isinstance(after, dict) else None


def compare(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    *,
    skip: tuple[str, ...] = (),
    force_new: tuple[str, ...] = (),
    sensitive: list[str] | set[str] = (),  # type: ignore[assignment]
) -> list[FieldChange]:
    """Leaf-level differences, in the order the paths appear (after first, then removals)."""
    if before is not None and after is not None and _same(before, after):
        return []
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
    if prior is not None and not tainted:
        unchanged = _unchanged(rtype, prior, desired)
        if unchanged is not None:
            # What the steps below would plan: ignore_changes and computed values both keep
            # the prior value, which `desired` already has (or leaves UNKNOWN, when computed).
            return Decision("noop", unchanged, [])
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
