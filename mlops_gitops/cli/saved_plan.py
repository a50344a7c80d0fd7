"""Saved plans: `plan --out FILE` writes one, `apply FILE` applies exactly it, `show FILE` prints it.

A plan file holds the plan's JSON document and what it takes to make that plan again: the stack
file it was made from, every resolved variable value, and whether it was made on the sandbox. It
never decides which stack or which cloud a command acts on: the command's own `--chdir`, `-f` and
`--sandbox` (or MLOPS_SANDBOX) do, and a plan made for another stack or cloud is refused.

Apply does not replay the file: it plans again under the state lock and goes ahead only if the
new plan is the saved one (same state serial, same changes), so what runs is what was reviewed."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from mlops_gitops import __version__
from mlops_gitops.cli.context import Options
from mlops_gitops.engine.plan import FORMAT_VERSION, Action, Mode
from mlops_gitops.errors import MlopsError, StackError, StateError
from mlops_gitops.files import atomic_write
from mlops_gitops.stack.model import Stack

_FORMAT_NAME = "mlops-gitops-plan"
_FORMAT_VERSION = 1
PLAN_FILE_FORMAT = f"{_FORMAT_NAME}/{_FORMAT_VERSION}"


# ---------------------------------------------------------------------------- the file's shape
class _DocPart(BaseModel):
    """A part of the plan document. The engine owns the document and may add keys: those pass
    through to the renderers; the keys named here are read by them or by apply, so they must be
    there with these types, or the file is refused before anything reads it."""

    model_config = ConfigDict(extra="allow", strict=True)


class FieldChangeDoc(_DocPart):
    path: str
    change: Literal["add", "remove", "modify"]
    before: Any
    after: Any
    after_unknown: bool
    forces_replacement: bool
    sensitive: bool


_ADDRESS = r"^[a-z]+\.[^.]"  # kind.name


class ServingVariantDoc(_DocPart):
    name: str
    traffic_percent: float
    mirror_percent: float | None = None


class ServingSideDoc(_DocPart):
    variants: list[ServingVariantDoc]


class ServingDoc(_DocPart):
    """What an endpoint serves before and after (mlops_gitops/serving.py): the Markdown comment
    and the review's diagram read it."""

    before: ServingSideDoc | None = None
    after: ServingSideDoc | None = None


class ResourceChangeDoc(_DocPart):
    address: str = Field(pattern=_ADDRESS)
    kind: str
    name: str
    provider: str
    action: Action
    reason: str
    changes: list[FieldChangeDoc]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    after_unknown: list[str]
    depends_on: list[str]
    notes: list[str]
    serving: ServingDoc | None = None


class OutputChangeDoc(_DocPart):
    name: str
    action: Action
    before: Any
    after: Any
    after_unknown: bool
    sensitive: bool


class MoveDoc(_DocPart):
    from_: str = Field(alias="from", pattern=_ADDRESS)
    to: str = Field(pattern=_ADDRESS)


class DeposedDoc(_DocPart):
    address: str = Field(pattern=_ADDRESS)
    kind: str
    id: str
    action: Literal["delete"]
    before: dict[str, Any] | None


class RiskDoc(_DocPart):
    address: str
    message: str


class ToolDoc(_DocPart):
    name: str
    version: str


class StackDoc(_DocPart):
    name: str
    path: str
    digest: str


class StateRefDoc(_DocPart):
    lineage: str
    serial: int = Field(ge=0)


class SummaryDoc(_DocPart):
    add: int
    change: int
    destroy: int
    drift: int
    move: int | None = None


class PlanDocument(_DocPart):
    format_version: str
    tool: ToolDoc
    created_at: str
    mode: Mode
    stack: StackDoc
    provider: str
    state: StateRefDoc
    targets: list[str]
    resource_changes: list[ResourceChangeDoc]
    drift: list[ResourceChangeDoc]
    output_changes: list[OutputChangeDoc]
    # Newer parts of the document: a plan saved before they existed has none.
    moves: list[MoveDoc] | None = None
    deposed: list[DeposedDoc] | None = None
    risks: list[RiskDoc] | None = None
    warnings: list[str]
    summary: SummaryDoc
    has_changes: bool

    @field_validator("format_version")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value != FORMAT_VERSION:
            raise ValueError(f"plan document format {value!r} is not {FORMAT_VERSION!r}")
        return value


class SavedPlan(BaseModel):
    """The whole file. Every key is ours, so an unknown one means the file is not what we wrote."""

    model_config = ConfigDict(extra="forbid", strict=True)

    format: str
    stack_file: str  # resolved when the plan was made
    sandbox: bool
    environment: str | None = None  # the stack's environment it was made for (`--env`)
    variables: dict[str, Any]  # resolved values, secrets included: hence the file's mode 0600
    mode: Mode
    targets: list[str]
    plan: PlanDocument
    _document: dict[str, Any] | None = PrivateAttr(default=None)

    def document(self) -> dict[str, Any]:
        """The plan document as it was saved, keys the model does not name included: what the
        renderers read, and what the plan made at apply time is compared with."""
        return (
            self._document if self._document is not None else self.plan.model_dump(mode="json", by_alias=True)
        )

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value != PLAN_FILE_FORMAT:
            raise ValueError(f"format {value!r} is not {PLAN_FILE_FORMAT!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        # Mode and targets are kept beside the document for readers of the file; apply takes them
        # from the document (what `show` prints), so the two must agree.
        if self.mode != self.plan.mode or self.targets != self.plan.targets:
            raise ValueError("its mode and targets differ from its plan document's")
        if not Path(self.stack_file).is_absolute():
            raise ValueError("stack_file is not an absolute path")
        return self


# ------------------------------------------------------------------------------------- writing
def save_plan(path: Path, doc: dict[str, Any], stack: Stack, *, sandbox: bool) -> None:
    payload = {
        "format": PLAN_FILE_FORMAT,
        "stack_file": str(Path(stack.path).resolve()),
        "environment": stack.environment,
        "variables": stack.variables,
        "sandbox": sandbox,
        "mode": doc["mode"],
        "targets": doc["targets"],
        "plan": doc,
    }
    # Checked on the way out too, so a plan file this mlops writes is always one it can read.
    try:
        SavedPlan.model_validate(payload)
    except ValidationError as exc:
        raise MlopsError(f"cannot save the plan to {path}: {_first_problem(exc)}") from None
    text = json.dumps(payload, indent=2) + "\n"  # the document in its own order, as `plan --json`
    try:
        atomic_write(path, text.encode())
    except OSError as exc:
        raise MlopsError(f"cannot write {path}: {exc.strerror or exc}") from None


# ------------------------------------------------------------------------------------- reading
def load_saved_plan(path: Path) -> SavedPlan:
    """The validated plan file, or one `Error:` line saying why it is not one."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MlopsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    invalid = f"{path}: not a valid saved plan"
    try:
        payload = json.loads(raw)
    except UnicodeDecodeError:
        raise MlopsError(f"{invalid}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise MlopsError(
            f"{invalid}: not JSON ({exc.msg}: line {exc.lineno} column {exc.colno}); is the file truncated?"
        ) from None
    if not isinstance(payload, dict):
        raise MlopsError(f"{invalid}: expected a JSON object")
    _refuse_newer(path, payload)
    try:
        saved = SavedPlan.model_validate(payload)
    except ValidationError as exc:
        raise MlopsError(f"{invalid}: {_first_problem(exc)}") from None
    saved._document = payload["plan"]
    return saved


def _refuse_newer(path: Path, payload: dict[str, Any]) -> None:
    """A newer mlops may write plans this one cannot apply faithfully: say so, rather than list
    the fields that look wrong to this version."""
    plan = payload.get("plan")
    plan = plan if isinstance(plan, dict) else {}
    tool = plan.get("tool")
    version = tool.get("version") if isinstance(tool, dict) else None
    made_by = f" (made by mlops {version})" if isinstance(version, str) else ""
    fmt, doc_format = payload.get("format"), plan.get("format_version")
    prefix = f"{_FORMAT_NAME}/"
    if isinstance(fmt, str) and fmt.startswith(prefix) and _number(fmt[len(prefix) :]) > _FORMAT_VERSION:
        what, ours = f"plan file format {fmt}", PLAN_FILE_FORMAT
    elif isinstance(doc_format, str) and _number(doc_format) > int(FORMAT_VERSION):
        what, ours = f"plan document format {doc_format}", FORMAT_VERSION
    else:
        return
    raise MlopsError(
        f"{path}: {what}{made_by} is newer than this mlops {__version__} reads ({ours}): "
        "apply it with that mlops version, or plan again"
    )


def _number(text: str) -> int:
    return int(text) if text.isdigit() else -1


def _first_problem(exc: ValidationError) -> str:
    # No input values in the message: the file holds secrets.
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    # A key of the file may hold anything, a line break too: the message stays one line.
    where = "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" if p.isprintable() else f".{p!r}"
        for p in first["loc"]
    ).lstrip(".")
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{where}: {message}{more}" if where else f"{message}{more}"


# ------------------------------------------------------------------------------------ applying
def _cloud(sandbox: bool) -> str:
    return "the sandbox" if sandbox else "the cloud"


def stack_for_apply(path: Path, saved: SavedPlan, opts: Options) -> Stack:
    """The command's stack, loaded with exactly the plan's variable values, once it is the stack
    and the cloud the plan was made for. Offline: nothing here reaches a cloud or the sandbox."""
    made_for = f"{path} was made for stack {saved.stack_file} on {_cloud(saved.sandbox)}"
    try:
        stack_path = opts.stack_path()
    except StackError as exc:
        raise MlopsError(f"{made_for}; this command has no stack: {exc}") from None
    here = stack_path.resolve()
    if Path(saved.stack_file) != here or saved.sandbox != opts.sandbox:
        raise MlopsError(f"{made_for}; this command is for {here} on {_cloud(opts.sandbox)}")
    if saved.environment != opts.environment:
        def named(env: str | None) -> str:
            return f"environment {env}" if env else "no environment"

        raise MlopsError(
            f"{path} was made for {named(saved.environment)}; this command is for {named(opts.environment)}"
        )
    stack = _load_with(stack_path, saved.variables, path, saved.environment)
    if stack.name != saved.plan.stack.name:
        raise MlopsError(
            f"{path} was made for stack {saved.plan.stack.name!r}; {stack_path} is now stack {stack.name!r}"
        )
    if stack.digest != saved.plan.stack.digest:
        raise StateError(f"{path}: the stack changed since this plan was made; run plan again")
    return stack


def _load_with(
    stack_path: Path, variables: dict[str, Any], plan_path: Path, environment: str | None
) -> Stack:
    from mlops_gitops.stack.loader import load_stack

    # The values go through a var file so they keep their types. No environment: the plan holds
    # every variable's value, and MLOPS_VAR_* must not change what a reviewed plan applies.
    with tempfile.TemporaryDirectory(prefix="mlops-plan-") as tmp:  # mode 0700
        var_file = Path(tmp) / "plan-vars.json"
        atomic_write(var_file, json.dumps(variables).encode())
        try:
            return load_stack(stack_path, var_files=[var_file], environ={}, environment=environment)
        except StackError as exc:
            # It loaded with these values when the plan was made, so the stack (or a file it
            # reads) changed; its own message may ask for --var, which a saved plan refuses.
            raise StateError(
                f"{plan_path}: the stack changed since this plan was made ({exc}); run plan again"
            ) from None


def check_unchanged(expected: dict[str, Any], now: dict[str, Any]) -> None:
    """A saved plan is applied only if state and the cloud are where they were when it was made:
    the plan made now, under the lock, must be the saved one."""
    then, current = expected["state"], now["state"]
    # A plan made before the first apply has a lineage that was never written: only serials count.
    fresh = then["serial"] == 0 and current["serial"] == 0
    if not fresh and (then["lineage"], then["serial"]) != (current["lineage"], current["serial"]):
        raise StateError(
            f"the saved plan is stale: state changed since it was made (serial {then['serial']} "
            f"then, {current['serial']} now); run plan again"
        )
    before, after = _comparable(expected), _comparable(now)
    if before != after:
        changed = _first_changed_address(before, after)
        raise StateError(
            f"the saved plan is stale: the cloud changed since it was made{changed}; run plan again"
        )


# Keys of the plan document that differ between two plans of the same changes: when and by which
# mlops it was made, the stack as the command named it (a relative path; name and digest are
# checked on their own), the state (checked above), and warnings (they quote that path).
_NOT_COMPARED = ("created_at", "tool", "stack", "state", "warnings")


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as plain JSON data minus what does not describe the changes. Everything else
    is compared, keys the engine adds later included: apply carries out the plan made now, so all
    of it must be what was reviewed. Resource notes are left out: they are commentary computed at
    plan time (a schedule's next runs move with the clock) from attributes compared anyway."""
    data = json.loads(json.dumps(doc, sort_keys=True))
    for key in _NOT_COMPARED:
        data.pop(key, None)
    for key in ("resource_changes", "drift"):
        for item in data.get(key) or []:
            if isinstance(item, dict):
                item.pop("notes", None)
    return data


def _first_changed_address(before: dict[str, Any], after: dict[str, Any]) -> str:
    for key in ("resource_changes", "drift"):
        then = {i.get("address"): i for i in before.get(key) or [] if isinstance(i, dict)}
        now = {i.get("address"): i for i in after.get(key) or [] if isinstance(i, dict)}
        for address in [*then, *(a for a in now if a not in then)]:
            if then.get(address) != now.get(address):
                return f" ({address})"
    return ""
