"""The plan as pure data, and its JSON document.

Renderers (text, Markdown, JSON) read only the document produced by `Plan.document()`; nothing
here prints. Values the cloud assigns on apply are UNKNOWN in memory and `null` plus an
`after_unknown` flag in the document; sensitive values never reach the document."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from mlops_gitops import __version__, paths
from mlops_gitops.provider import UNKNOWN

# "retire": a model archived, or an endpoint deleted, by its `retired:` block (stack/retire.py).
Action = Literal["create", "update", "replace", "delete", "retire", "noop"]
Mode = Literal["normal", "destroy", "refresh-only"]
# How a replacement runs: the new object first, then the old one deleted (no gap in service), or
# the old one deleted first (the cloud allows only one under that name). Decided by the plan.
ReplaceOrder = Literal["create_before_destroy", "delete_before_create"]


class Reason(StrEnum):
    """Why a change is planned, beyond its field changes: what apply and renderers act on. The
    text shown with it is `reason_text(code, detail)`."""

    NONE = ""
    NEVER_CREATED = "never_created"  # tainted record of an object a failed apply never made
    DELETED_OUTSIDE = "deleted_outside"
    CHANGED_OUTSIDE = "changed_outside"  # drift
    INTERRUPTED_OUTSIDE = "interrupted_drift"  # drift an interrupted apply left
    FAILED_IN_CLOUD = "failed_in_cloud"  # detail: status
    TAINTED = "tainted"
    INTERRUPTED = "interrupted"  # detail: action, since
    ROLLED_BACK = "rolled_back"  # detail: by, at
    TAINTED_BUT_HEALTHY = "tainted_but_healthy"
    REMOVED_FROM_STACK = "removed_from_stack"
    ALREADY_DELETED = "already_deleted"
    LEFTOVERS = "leftovers"  # its object is gone, but a failed apply may have left parts of it
    RETIRING = "retiring"  # detail: reason, by
    RETIRED_WITH = "retired_with"  # a change a retirement makes; detail: retired (its address)


def _past(action: Any) -> str:
    return {
        "create": "created",
        "update": "updated",
        "replace": "replaced",
        "delete": "deleted",
        "retire": "retired",
    }.get(str(action), "changed")


def reason_text(code: Reason, detail: Mapping[str, Any]) -> str:
    d = detail
    texts = {
        Reason.NONE: "",
        Reason.NEVER_CREATED: "a previous apply failed before it was created",
        Reason.DELETED_OUTSIDE: "deleted outside mlops",
        Reason.CHANGED_OUTSIDE: "changed outside mlops",
        Reason.INTERRUPTED_OUTSIDE: f"changed by an interrupted apply of mlops (started {d.get('since')})",
        Reason.FAILED_IN_CLOUD: f"the cloud reports it {d.get('status')}: "
        "it can only be deleted and made again",
        Reason.TAINTED: "tainted: a previous apply failed part way",
        Reason.INTERRUPTED: f"an apply was interrupted while it {_past(d.get('action'))} this resource "
        f"(at {d.get('since')}): apply finishes that change and deletes what it left",
        Reason.ROLLED_BACK: f"rolled back by {d.get('by')} at {d.get('at')}; the stack still asks for this",
        Reason.TAINTED_BUT_HEALTHY: "recorded as tainted, but the cloud holds it healthy and as the stack "
        "asks: apply keeps it and records it so",
        Reason.REMOVED_FROM_STACK: "removed from the stack",
        Reason.ALREADY_DELETED: "already deleted outside mlops: only state changes",
        Reason.LEFTOVERS: "a previous apply failed part way and its object is gone: apply deletes "
        "what that apply left",
        Reason.RETIRING: f"retired by {d.get('by')}: {d.get('reason')}",
        Reason.RETIRED_WITH: f"{d.get('retired')} is retired",
    }
    return texts[code]
FORMAT_VERSION = "1"
SENSITIVE = "(sensitive)"


@dataclass
class FieldChange:
    path: str
    before: Any
    after: Any  # UNKNOWN when only the cloud can tell
    forces_replacement: bool = False
    sensitive: bool = False

    @property
    def kind(self) -> str:
        if self.before is None:
            return "add"
        if self.after is None:
            return "remove"
        return "modify"

    def document(self) -> dict[str, Any]:
        hide = self.sensitive
        return {
            "path": self.path,
            "change": self.kind,
            "before": SENSITIVE if hide and self.before is not None else self.before,
            "after": None
            if self.after is UNKNOWN
            else (SENSITIVE if hide and self.after is not None else self.after),
            "after_unknown": self.after is UNKNOWN,
            "forces_replacement": self.forces_replacement,
            "sensitive": hide,
        }


@dataclass
class ResourceChange:
    address: str
    kind: str
    name: str
    provider: str
    action: Action
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    changes: list[FieldChange] = field(default_factory=list)
    reason_code: Reason = Reason.NONE
    depends_on: list[str] = field(default_factory=list)
    sensitive_paths: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # provider remarks, e.g. a schedule's next runs
    reason_detail: dict[str, Any] = field(default_factory=dict)  # the values the reason's text names
    replace_order: ReplaceOrder | None = None  # set on replacements
    # What the provider's plan-time lookups found (`Provider.resolve`); apply uses it as is.
    resolved: dict[str, Any] = field(default_factory=dict)
    # What an endpoint serves before and after (`mlops_gitops.serving`); None for other kinds.
    serving: dict[str, Any] | None = None
    # The resource's tags in the stack (the stack's merged in), whatever the provider calls them;
    # None when the stack does not hold the resource (a delete), and then not in the document.
    tags: dict[str, str] | None = None
    # The `retired:` block being applied ({reason, by, at, archive}): set on a "retire" change.
    retirement: dict[str, Any] | None = None

    @property
    def reason(self) -> str:
        return reason_text(self.reason_code, self.reason_detail)

    def _public_tags(self) -> dict[str, Any]:
        shown = public_attributes({"tags": self.tags or {}}, self.sensitive_paths)
        return dict((shown or {}).get("tags") or {})

    def document(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind,
            "name": self.name,
            "provider": self.provider,
            "action": self.action,
            "reason": self.reason,
            "reason_code": self.reason_code.value,
            "replace_order": self.replace_order,
            "resolved": public_attributes(self.resolved, ()),
            "resolved_unknown": sorted(p for p, v in paths.leaves(self.resolved) if v is UNKNOWN),
            "changes": [c.document() for c in self.changes],
            "before": public_attributes(self.before, self.sensitive_paths),
            "after": public_attributes(self.after, self.sensitive_paths),
            "after_unknown": sorted(p for p, v in paths.leaves(self.after or {}) if v is UNKNOWN),
            "depends_on": list(self.depends_on),
            "notes": list(self.notes),
            "serving": self.serving,
            "retirement": copy.deepcopy(self.retirement),
            **({"tags": self._public_tags()} if self.tags is not None else {}),
        }


@dataclass
class Move:
    """A resource renamed in the stack (`moved:`), or a move recorded by an earlier command."""

    from_: str
    to: str

    def document(self) -> dict[str, Any]:
        return {"from": self.from_, "to": self.to}


@dataclass
class DeposedChange:
    """An object a resource replaced that still exists (a create-before-destroy whose old object
    is not deleted yet, e.g. after a failed or killed apply): apply deletes it."""

    address: str
    kind: str
    object_id: str
    attributes: dict[str, Any]
    sensitive_paths: list[str] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind,
            "id": self.object_id,
            "action": "delete",
            "before": public_attributes(self.attributes, self.sensitive_paths),
        }


@dataclass
class Risk:
    """What a reviewer must not miss: a serving endpoint destroyed, registry history lost...

    `message` is the text to show; `code` says what kind of risk it is, for what acts on it (the
    pull-request review, guard rules), with the values it names in `detail`. The codes:

    - serving_destroyed: a serving endpoint is deleted; its traffic stops (when it left the
      stack file, the message suggests retiring it instead).
    - serving_retired: a serving endpoint is retired: deleted, its traffic stops.
    - model_destroyed: a model left the stack file and is deleted (the message suggests
      retiring it instead, which archives it and keeps its record).
    - serving_replaced: a serving endpoint is replaced (detail: replace_order).
    - traffic_shift: live or mirrored traffic moves between variants, a variant is added or
      removed (detail: variants, each {variant, from, to, mirror_from, mirror_to}, in percent;
      from/to null for a variant added/removed).
    - model_changed: a variant keeps its name but serves another model (detail: variants, each
      {variant, from, to, traffic_percent}; to null when known only after apply).
    - capacity_to_zero: a variant taking traffic gets no capacity, may scale to zero, or no
      variant takes live traffic any more (detail: variants, each {variant, reason}).
    - unapproved_model: a variant newly deploys a model version that is not approved (a
      registry version under allow_unapproved, or a model registered with another approval)
      (detail: variant, model, approval).
    - rollout_without_rollback: traffic shifts or a model changes on an endpoint whose stack
      spec gives no rollout.rollback_on alarm to roll it back (detail: strategy).
    - monitor_removed: a model monitor is deleted while the stack stays (detail: endpoint).
    - monitor_disabled: a model monitor is turned off (enabled: false).
    - alert_removed: a monitor keeps running but its alert is removed (detail: alert).
    - schedule_removed: a retraining schedule is deleted while the stack stays.
    - schedule_disabled: a retraining schedule is turned off (enabled: false).
    - protected: a resource with lifecycle.prevent_destroy is changed in place.
    - protection_removed: a resource applied with lifecycle.prevent_destroy loses it.
    - moved_interrupted: a resource is moved while a change of it was interrupted.
    - provider: a provider's own message (e.g. registry history deleted); the default."""

    address: str
    message: str
    code: str = field(default="provider", compare=False)
    detail: dict[str, Any] = field(default_factory=dict, compare=False)

    def document(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "message": self.message,
            "code": self.code,
            "detail": copy.deepcopy(self.detail),
        }


@dataclass
class OutputChange:
    name: str
    action: Action
    before: Any
    after: Any
    sensitive: bool = False

    def document(self) -> dict[str, Any]:
        def show(v: Any) -> Any:
            return SENSITIVE if self.sensitive and v is not None else (None if v is UNKNOWN else v)

        return {
            "name": self.name,
            "action": self.action,
            "before": show(self.before),
            "after": show(self.after),
            "after_unknown": self.after is UNKNOWN,
            "sensitive": self.sensitive,
        }


@dataclass
class Plan:
    stack: str
    stack_path: str
    stack_digest: str
    provider: str
    lineage: str
    serial: int
    mode: Mode = "normal"
    environment: str | None = None  # the stack's environment (`--env`), if it has any
    changes: list[ResourceChange] = field(default_factory=list)  # in apply order
    drift: list[ResourceChange] = field(default_factory=list)
    outputs: list[OutputChange] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    deposed: list[DeposedChange] = field(default_factory=list)
    risks: list[Risk] = field(default_factory=list)
    cost: dict[str, Any] | None = None  # the monthly cost estimate (`mlops_gitops.cost`)
    # The retirements this plan carries out, in ML terms: what is retired, what stops serving
    # (endpoint, variant, share), what goes with it, that the artifacts stay.
    retirements: list[dict[str, Any]] = field(default_factory=list)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def counts(self) -> dict[str, int]:
        add = sum(c.action in ("create", "replace") for c in self.changes)
        change = sum(c.action == "update" for c in self.changes)
        destroy = sum(c.action in ("delete", "replace") for c in self.changes) + len(self.deposed)
        return {
            "add": add,
            "change": change,
            "destroy": destroy,
            "retire": sum(c.action == "retire" for c in self.changes),
            "move": len(self.moves),
            "drift": len(self.drift),
        }

    @property
    def has_changes(self) -> bool:
        if self.mode == "refresh-only":
            return bool(self.drift)
        return (
            any(c.action != "noop" for c in self.changes)
            or any(o.action != "noop" for o in self.outputs)
            or bool(self.moves)
            or bool(self.deposed)
        )

    def document(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "tool": {"name": "mlops-gitops", "version": __version__},
            "created_at": self.created_at,
            "mode": self.mode,
            "stack": {"name": self.stack, "path": self.stack_path, "digest": self.stack_digest},
            "environment": self.environment,
            "provider": self.provider,
            "state": {"lineage": self.lineage, "serial": self.serial},
            "targets": list(self.targets),
            "resource_changes": [c.document() for c in self.changes],
            "drift": [c.document() for c in self.drift],
            "output_changes": [o.document() for o in self.outputs],
            "moves": [m.document() for m in self.moves],
            "deposed": [d.document() for d in self.deposed],
            "risks": [r.document() for r in self.risks],
            "retirements": copy.deepcopy(self.retirements),
            "warnings": list(self.warnings),
            "cost": self.cost,
            "summary": self.counts(),
            "has_changes": self.has_changes,
        }


def public_attributes(attrs: Mapping[str, Any] | None, sensitive: Iterable[str]) -> dict[str, Any] | None:
    """A copy fit for display: UNKNOWN becomes null, sensitive leaves become "(sensitive)"."""
    if attrs is None:
        return None
    sensitive = tuple(sensitive)
    out = copy.deepcopy(dict(attrs))
    for path, value in list(paths.leaves(out)):
        if value is UNKNOWN:
            paths.set_(out, path, None)
        elif sensitive and paths.matches_any(sensitive, path):
            paths.set_(out, path, SENSITIVE)
    return out
