"""Load a stack file into a validated `Stack`, or raise a StackError listing every problem.

Steps: parse YAML with positions -> resolve variables and interpolate `${var.NAME}` -> validate
with the pydantic schema -> build resources, check references and semantics -> order the graph.
Each step reports what it finds and the next still runs, so one run shows all the problems; a
value that could not be parsed or interpolated is left out of later checks instead of failing
them twice. Values in messages are cut short, and never shown when they may be secret: those fed
by a `sensitive: true` variable and everything in a `<provider>:` block (credentials live there).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from mlops_gitops.errors import Diagnostic, StackError
from mlops_gitops.kinds import SECTIONS, Kind
from mlops_gitops.stack import graph, retire, schema, yamlpos
from mlops_gitops.stack.model import Resource, Stack
from mlops_gitops.stack.suggest import SHOWN_LIMIT, did_you_mean, shown
from mlops_gitops.stack.variables import interpolate, resolve

STACK_FILES = ("stack.yaml", "stack.yml")
_NO_VARS: Mapping[str, str] = types.MappingProxyType({})
# Set to 1 to let pipeline definitions and local state live outside the stack's directory.
ALLOW_OUTSIDE_PATHS = "MLOPS_ALLOW_OUTSIDE_PATHS"


def resolve_stack_path(file: str | None, chdir: str | None) -> Path:
    """The stack file a command works on: `-f FILE` if given, else `stack.yaml` (or `stack.yml`)
    in `chdir` or the current directory. As with Terraform's -chdir, a relative FILE is taken
    inside `chdir`. Paths stay relative so messages show them as the user would type them."""
    base = Path(chdir) if chdir else Path()
    if chdir and not base.is_dir():
        raise StackError(f"directory {chdir!r} does not exist")
    if file:
        path = base / file
        if not path.is_file():
            raise StackError(f"stack file {str(path)!r} not found")
        return path
    found = [base / name for name in STACK_FILES if (base / name).is_file()]
    where = chdir or "the current directory"
    if len(found) > 1:
        raise StackError(f"both stack.yaml and stack.yml exist in {where}: remove one, or pass -f FILE")
    if not found:
        raise StackError(f"no stack.yaml (or stack.yml) in {where}: create one, or pass -f FILE")
    return found[0]


# Folders that hold no stacks of a repository: tools' and hidden ones.
_NOT_STACK_FOLDERS = {".git", ".mlops", ".venv", "node_modules", "__pycache__"}


def find_stack_files(root: Path) -> list[Path]:
    """Every stack file below `root`, in a stable order (`plan --all`, `init ci`)."""
    found: list[Path] = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in _NOT_STACK_FOLDERS and not d.startswith("."))
        name = next((n for n in STACK_FILES if n in names), None)
        if name is not None:
            found.append(Path(directory) / name)
    return found


@yamlpos.paused_gc  # see there: a large stack otherwise loads in superlinear time
def load_stack(
    path: str | Path,
    *,
    cli_vars: Mapping[str, str] = _NO_VARS,
    var_files: Sequence[str | Path] = (),
    environ: Mapping[str, str] | None = None,
    environment: str | None = None,
    backend_config: Mapping[str, str] = _NO_VARS,
) -> Stack:
    """`environment` chooses one of the stack's `environments:` (required when it declares any);
    `backend_config` sets settings of its state backend (`--backend-config KEY=VALUE`)."""
    file = str(path)
    environ = os.environ if environ is None else environ
    try:
        raw = yamlpos.read_source(path)
    except yamlpos.SourceError as exc:
        raise StackError(f"{file}: {exc}") from None
    parsed = yamlpos.parse_bytes(raw, file)
    if parsed.data is None:
        raise StackError.of(parsed.diagnostics)
    positions = parsed.positions
    _check_environment(parsed.data, environment, file)
    variables = resolve(
        parsed.data,
        positions,
        cli_vars=cli_vars,
        var_files=var_files,
        environ=environ,
        refused=parsed.refused,
        environment=environment,
    )
    interpolated = interpolate(parsed.data, positions, variables)
    data, sensitive = interpolated.data, interpolated.sensitive_paths
    if backend_config:
        data = _with_backend_config(data, environment, backend_config, file)

    secret = _Prefixes(yamlpos.dotted(segs) for segs in sensitive)
    spec, schema_errors = _validate(data, positions, lambda p: secret.covers(p) or in_provider_block(p))
    declared = _declared(data)
    resources, link_errors = graph.build(_resource_specs(data, spec), declared, positions, sensitive)
    # The stack planned from is the one the file describes once its retirements are done.
    resources, retirements, retire_errors = retire.apply(resources, positions, interpolated.output_refs)
    order, cycle_errors = graph.dependency_order(resources)
    base_dir = Path(file).parent
    outputs = spec.outputs if spec is not None else None
    allow_outside = _truthy(environ.get(ALLOW_OUTSIDE_PATHS))
    outside = [] if allow_outside else _outside(data, resources, base_dir, positions)
    later = [
        *schema_errors,
        *link_errors,
        *retire_errors,
        *cycle_errors,
        *graph.check(resources, positions, base_dir),
        *graph.check_outputs(interpolated.output_refs, declared, outputs, sensitive, positions),
        *graph.check_output_secrets(interpolated.output_refs, resources, outputs, positions),
        *(graph.check_moved(spec.moved, resources, positions) if spec is not None else ()),
    ]
    # Values already reported (refused, not interpolated, or pointing outside the stack) are not
    # checked further: one problem, one message.
    reported = _Prefixes([*parsed.refused, *interpolated.unresolved, *(d.path for d in outside)])
    diagnostics = _in_reading_order(
        [
            *parsed.diagnostics,
            *variables.diagnostics,
            *interpolated.diagnostics,
            *outside,
            *(d for d in later if not reported.covers(d.path)),
        ],
        file,
    )
    env = spec.environments.get(environment) if spec is not None and environment else None
    if spec is not None and env is not None:
        diagnostics += _environment_problems(spec, environment or "", positions, file)
    if spec is None or any(d.severity == "error" for d in diagnostics):
        raise StackError.of(diagnostics)
    tags = {**spec.tags, **(env.tags if env else {})}
    for res in [*resources.values(), *(r.resource for r in retirements.retired.values())]:
        # Stack-wide tags apply to every resource; a resource's own tag of the same key wins.
        res.spec.tags = {**tags, **res.spec.tags}  # type: ignore[attr-defined]
        res.base_dir = str(base_dir)
    provider_config = {
        **spec.provider[spec.provider_name],
        **(env.provider.get(spec.provider_name, {}) if env else {}),
    }
    return Stack(
        name=spec.name,
        path=file,
        # The environment is part of what a saved plan was made from: a dev plan is no prod plan.
        digest=_digest(
            raw,
            {**variables.values, **({"\0environment": environment} if environment else {})},
            resources.values(),
            base_dir,
        ),
        provider=spec.provider_name,
        provider_config=provider_config,
        backend=_environment_backend(spec, environment),
        local_dir=spec.backend.local.path if spec.backend.local else schema.LocalBackend().path,
        environment=environment,
        environments=list(spec.environments),
        resources=resources,
        order=order,
        outputs=spec.outputs,
        tags=tags,
        variables=variables.values,
        sensitive_variables=variables.sensitive,
        base_dir=str(base_dir),
        positions=positions,
        warnings=diagnostics,  # no errors among them by now
        moved=[(m.from_, m.to) for m in spec.moved],
        cost=spec.cost,
        retirements=retirements,
    )


def _check_environment(data: Mapping[Any, Any], environment: str | None, file: str) -> None:
    """An environment is chosen exactly when the stack declares some, and names one of them."""
    envs = data.get("environments")
    names = [str(n) for n in envs] if isinstance(envs, dict) else []
    if environment is None and names:
        raise StackError(
            f"{file}: this stack has environments {', '.join(names)}: choose one with --env NAME "
            "(or MLOPS_ENV)"
        )
    if environment is not None and not names:
        raise StackError(f"{file}: --env {environment}: this stack declares no environments")
    if environment is not None and environment not in names:
        raise StackError(
            f"{file}: --env {environment}: no such environment{did_you_mean(environment, names)}; "
            f"the stack has {', '.join(names)}"
        )


_BACKEND_BLOCK = re.compile(r"^(environments\.[^.]+\.)?backend\.[a-z0-9]+$")


def _with_backend_config(
    data: Mapping[str, Any], environment: str | None, config: Mapping[str, str], file: str
) -> dict[str, Any]:
    """`data` with `config` set in the backend block in force (the environment's own, else the
    stack's), over what the file says there: as Terraform's `-backend-config`, the file names
    the store and CI gives the settings that differ per runner or that it keeps out of git. The
    block must name its store (`backend: {s3: {}}` at least): a flag never picks one."""
    data = dict(data)
    envs = data.get("environments")
    env = envs.get(environment) if isinstance(envs, dict) and environment else None
    if isinstance(env, dict) and env.get("backend") is not None:
        where, block = f"environments.{environment}.backend", env["backend"]
    else:
        where, block = "backend", data.get("backend")
    if not isinstance(block, dict) or len(block) != 1 or next(iter(block)) not in schema.BACKEND_MODELS:
        raise StackError(
            f"{file}: --backend-config needs {where} to name one store (local, s3, gcs or azureblob), "
            "e.g. backend: {s3: {}}: the flags give its settings"
        )
    kind, settings = next(iter(block.items()))
    fields = schema.BACKEND_MODELS[kind].model_fields
    for key in config:
        if key not in fields:
            raise StackError(
                f"--backend-config {key}=...: the {kind} backend has no setting {key}"
                f"{did_you_mean(key, list(fields))}; it has {', '.join(fields)}"
            )
    merged = {**(settings if isinstance(settings, dict) else {}), **config}
    if where == "backend":
        data["backend"] = {kind: merged}
    else:
        data["environments"] = {**envs, environment: {**env, "backend": {kind: merged}}}
    return data


def _environment_backend(spec: schema.StackSpec, environment: str | None) -> schema.Backend:
    """Where the state of `environment` lives: its own `backend:`, else the stack's with the
    environment's name in the path (as Terraform's workspaces), so environments never share one
    state or one lock."""
    if environment is None:
        return spec.backend
    env = spec.environments[environment]
    if env.backend is not None:
        return env.backend
    b, where = spec.backend, f"env/{environment}"
    if b.s3 is not None:
        return schema.Backend(s3=b.s3.model_copy(update={"key": f"{where}/{b.s3.key}"}))
    if b.gcs is not None:
        prefix = "/".join(p for p in (b.gcs.prefix.strip("/"), where) if p)
        return schema.Backend(gcs=b.gcs.model_copy(update={"prefix": prefix}))
    if b.azureblob is not None:
        blob = f"{where}/{b.azureblob.blob}"
        return schema.Backend(azureblob=b.azureblob.model_copy(update={"blob": blob}))
    local = b.local or schema.LocalBackend()
    return schema.Backend(local=local.model_copy(update={"path": f"{local.path}/{where}"}))


def _environment_problems(
    spec: schema.StackSpec, environment: str, positions: yamlpos.Positions, file: str
) -> list[Diagnostic]:
    env = spec.environments[environment]
    out = []
    for name in env.provider:
        if name != spec.provider_name:
            path = f"environments.{environment}.provider.{name}"
            out.append(
                Diagnostic(
                    f"this stack uses provider {spec.provider_name}: an environment can only change "
                    "its settings",
                    path,
                    positions.key(path),
                )
            )
    return out


class _Prefixes:
    """A set of paths, asked whether a path is one of them or lies below one."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = set(paths)

    def covers(self, path: str) -> bool:
        # Walks up from `path` (a few steps) rather than over the set (maybe thousands of paths).
        while path not in self.paths:
            if not path:
                return False
            path = yamlpos.parent_path(path)
        return True


def in_provider_block(path: str) -> bool:
    """Whether `path` lies in the stack's `provider:` settings or in a resource's `<provider>:`
    block (`models.x.sagemaker.vpc`): where credentials and account details are written."""
    head, _, rest = path.partition(".")
    if head == "provider" or path.startswith("provider["):
        return True
    if head not in SECTIONS:
        return False
    block = re.match(r"[^.\[]+[.]([^.\[]+)", rest)
    return block is not None and block[1] in schema.provider_block_names()


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _inside(root: Path, target: Path) -> bool:
    try:
        return (root / target).resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a symbolic link loop: nowhere a file could be read from
        return False


def _outside(
    data: Mapping[Any, Any], resources: Mapping[str, Resource], base_dir: Path, positions: yamlpos.Positions
) -> list[Diagnostic]:
    """Paths in the stack that lead out of its directory. A pipeline definition is read and sent
    to the cloud, and local state is written: a stack from a pull request must not reach for
    `/etc/passwd` or `~/.aws` (by an absolute path, `..`, or a symbolic link)."""
    found: list[tuple[str, Any]] = [
        (f"schedules.{res.name}.pipeline.definition", res.spec.pipeline.definition)
        for res in resources.values()
        if isinstance(res.spec, schema.ScheduleSpec)
    ]
    # Read from the data, so that it is checked even when the stack is otherwise invalid; without
    # a backend, state is in `.mlops`, which may be a symbolic link too.
    backend = data.get("backend", {"local": {}})
    local = backend.get("local") if isinstance(backend, dict) else None
    if isinstance(local, dict):
        found.append(("backend.local.path", local.get("path", schema.LocalBackend().path)))
    root = base_dir.resolve()
    out: list[Diagnostic] = []
    for path, value in found:
        if not isinstance(value, str) or not value:
            continue
        target = Path(value)
        if _inside(root, target):
            continue
        if target.is_absolute():
            why = "is an absolute path outside the stack's directory"
        elif ".." in target.parts:
            why = "leads out of the stack's directory"
        else:
            why = "leads out of the stack's directory through a symbolic link"
        message = (
            f"{why}: it must name a path inside the directory of the stack file "
            f"(set {ALLOW_OUTSIDE_PATHS}=1 to allow paths outside it)"
        )
        out.append(Diagnostic(message, path, positions.value(path)))
    return out


def _in_reading_order(diagnostics: list[Diagnostic], file: str) -> list[Diagnostic]:
    """Problems in the stack file by line and column; the others (command line, var files) first,
    as they were found."""

    def key(d: Diagnostic) -> tuple[int, int, int]:
        if d.position is None or d.position.file != file:
            return (0, 0, 0)
        return (1, d.position.line, d.position.column)

    return sorted(diagnostics, key=key)


def _declared(data: Mapping[Any, Any]) -> dict[str, list[str]]:
    """Every resource name written in the file, by kind, whether or not its spec is valid."""
    return {
        kind.name: [str(name) for name in entries]
        for section, entries in data.items()
        if (kind := SECTIONS.get(section)) is not None and isinstance(entries, dict)
    }


def _resource_specs(
    data: Mapping[Any, Any], spec: schema.StackSpec | None
) -> list[tuple[Kind, str, BaseModel]]:
    """Each resource with a valid spec, in file order. When the stack as a whole is invalid, the
    resources that are valid on their own still get reference and graph checks."""
    out: list[tuple[Kind, str, BaseModel]] = []
    for section, entries in data.items():
        kind = SECTIONS.get(section)
        if kind is None or not isinstance(entries, dict):
            continue
        valid = getattr(spec, section) if spec is not None else None
        for name, body in entries.items():
            resource = valid[name] if valid is not None else _valid_alone(kind, name, body)
            if resource is not None:
                out.append((kind, name, resource))
    return out


def _valid_alone(kind: Kind, name: Any, body: Any) -> BaseModel | None:
    if not isinstance(name, str) or not re.fullmatch(schema.NAME_RE, name):
        return None
    try:
        return kind.spec.model_validate(body)
    except ValidationError:  # already reported by the whole-stack validation
        return None


def _digest(raw: bytes, values: Mapping[str, Any], resources: Iterable[Resource], base_dir: Path) -> str:
    """What a saved plan was made from: the file, the variable values, and the pipeline files the
    stack points to (an edited pipeline changes what apply would deploy)."""
    h = hashlib.sha256(raw)
    h.update(json.dumps(values, sort_keys=True, default=str, separators=(",", ":")).encode())
    for res in resources:
        if isinstance(res.spec, schema.ScheduleSpec) and res.spec.pipeline.definition:
            h.update(res.spec.pipeline.definition.encode() + b"\0")
            h.update((base_dir / res.spec.pipeline.definition).read_bytes())
    return h.hexdigest()


# ------------------------------------------------------------------ schema errors, for humans
def _validate(
    data: Mapping[Any, Any], positions: yamlpos.Positions, hidden: Callable[[str], bool]
) -> tuple[schema.StackSpec | None, list[Diagnostic]]:
    try:
        return schema.StackSpec.model_validate(data), []
    except ValidationError as exc:
        return None, validation_diagnostics(exc, schema.StackSpec, positions, hidden=hidden)


def validation_diagnostics(
    exc: ValidationError,
    model: type[BaseModel],
    positions: yamlpos.Positions,
    *,
    base: str = "",
    hidden: Callable[[str], bool] | None = None,
) -> list[Diagnostic]:
    """Turn a pydantic error into diagnostics a person can act on. `model` is what was validated;
    `base` the path of the validated value in the file (for a provider's `<provider>:` block, say);
    `hidden(path)` says the value there must not be echoed (it came from a sensitive variable)."""
    return _Explainer(positions, base, hidden or (lambda _path: False)).explain(exc, model)


_EXPECTED = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}
_NAME_RULE = (
    "lowercase letters, digits and hyphens (at most 48), starting with a letter, not ending in a hyphen"
)


@dataclass
class _Located:
    """A pydantic error placed in the file's terms."""

    error: ErrorDetails
    segments: list[str | int]  # data path: union branch labels and `[key]` markers removed
    on_key: bool  # the error is about a mapping key, not its value
    union: tuple[tuple[str | int, ...], str] | None  # (where the union-typed value is, branch label)
    depth: int  # how far past that union's label the error lies (0: the branch refused the value)
    holder: type[BaseModel] | None  # the model whose field the last segment names
    annotation: Any  # the expected type at the error


class _Explainer:
    def __init__(self, positions: yamlpos.Positions, base: str, hidden: Callable[[str], bool]) -> None:
        self.positions = positions
        self.base = base
        self.hidden = hidden

    def explain(self, exc: ValidationError, model: type[BaseModel]) -> list[Diagnostic]:
        out: list[Diagnostic] = []
        unions: dict[tuple[str | int, ...], dict[str, list[_Located]]] = {}
        for error in exc.errors():
            located = _locate(error, model)
            if located.union is None:
                out.append(self.diagnostic(located))
            else:
                path, label = located.union
                unions.setdefault(path, {}).setdefault(label, []).append(located)
        for path, branches in unions.items():
            out += self.union(list(path), branches)
        return out

    def path(self, segments: Sequence[str | int]) -> str:
        rest = yamlpos.dotted(segments)
        return yamlpos.key_path(self.base, rest) if self.base and rest else self.base or rest

    def union(self, segments: list[str | int], branches: dict[str, list[_Located]]) -> list[Diagnostic]:
        """One story for a value that fits no branch of a union (e.g. `image: str | FrameworkImage`).
        If a branch accepted the value's shape and failed deeper, its errors are the useful ones."""
        deeper = [errs for errs in branches.values() if any(e.depth for e in errs)]
        if deeper:
            return [self.diagnostic(e) for e in min(deeper, key=len) if e.depth]
        errors = [e for errs in branches.values() for e in errs]
        expected = " or ".join(dict.fromkeys(_EXPECTED.get(e.error["type"], "a valid value") for e in errors))
        full = self.path(segments)
        got = self.got(errors[0].error["input"], full)
        return [Diagnostic(f"must be {expected}{got}", full, self.positions.value(full))]

    def diagnostic(self, located: _Located) -> Diagnostic:
        kind = located.error["type"]
        path = self.path(located.segments)
        if kind == "missing":
            parent = self.path(located.segments[:-1])
            field = located.segments[-1]
            message = f"missing required field {field!r}"
            if _BACKEND_BLOCK.match(parent):
                message += f" (in the file, or from CI with --backend-config {field}=...)"
            return Diagnostic(message, parent, self.positions.value(parent))
        if kind == "extra_forbidden" and located.segments[-1] in schema.provider_block_names():
            # A `<provider>:` block that is not a mapping (see schema.ResourceBase).
            return Diagnostic("must be a mapping", path, self.positions.value(path))
        on_key = located.on_key or kind == "extra_forbidden"
        where = self.positions.key(path) if on_key else self.positions.value(path)
        return Diagnostic(self.message(located, path), path, where)

    def message(self, located: _Located, path: str) -> str:
        kind = located.error["type"]
        got = self.got(located.error["input"], path)
        if kind in _MESSAGES:
            return _MESSAGES[kind](located, got, self.hidden(path))
        if kind in _EXPECTED:
            return f"must be {_EXPECTED[kind]}{got}"
        message = re.sub(r"^(Value error|Assertion failed), ", "", located.error["msg"])
        if message.startswith("Input should be "):
            return "must be " + message.removeprefix("Input should be ") + got
        # A validator's own message may quote the value it refused (or a field of it).
        return self.scrub(message, located.error["input"], path)

    def got(self, value: Any, path: str) -> str:
        return "" if self.hidden(path) else f"; got {shown(value)}"

    def scrub(self, message: str, value: Any, path: str) -> str:
        """`message` with the secret values in `value` (the input at `path`) replaced by
        `(sensitive)`, and any other long value cut short."""
        for text, secret in self.scalars(value, path):
            for form in dict.fromkeys((repr(text), text)):  # the quoted form first
                if secret:
                    message = re.sub(rf"(?<!\w){re.escape(form)}(?!\w)", "(sensitive)", message)
                elif len(form) > SHOWN_LIMIT:
                    message = message.replace(form, shown(text))
        return message

    def scalars(self, value: Any, path: str, depth: int = 0) -> Iterator[tuple[str, bool]]:
        """(text, is it secret) for each scalar in `value`, which stands at `path`."""
        if isinstance(value, dict) and depth < yamlpos.MAX_DEPTH:
            for k, v in value.items():
                yield from self.scalars(v, yamlpos.key_path(path, k), depth + 1)
        elif isinstance(value, list) and depth < yamlpos.MAX_DEPTH:
            for i, v in enumerate(value):
                yield from self.scalars(v, yamlpos.index_path(path, i), depth + 1)
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            try:
                text = str(value)
            except ValueError:  # an integer too long to print: no message can quote it
                return
            if text:
                yield text, self.hidden(path)


# Each takes the error, `; got <value>` (empty when the value is hidden) and whether it is hidden.
def _unknown_field(located: _Located, _got: str, _hidden: bool) -> str:
    name = str(located.segments[-1])
    return f"unknown field {shown(name)}{did_you_mean(name, _field_names(located.holder))}"


def _not_allowed(located: _Located, got: str, hidden: bool) -> str:
    allowed = _literal_values(located.annotation)
    value = located.error["input"]
    # With a single allowed value the message already says what to write; a hidden value gets
    # no hint, which would tell what it looks like.
    guess = isinstance(value, str) and len(allowed) > 1 and not hidden
    hint = did_you_mean(value, map(str, allowed)) if guess else ""
    expected = _either(allowed) or located.error.get("ctx", {}).get("expected")
    return f"must be {expected}{got}{hint}"


def _pattern(located: _Located, got: str, _hidden: bool) -> str:
    pattern = located.error.get("ctx", {}).get("pattern")
    rule = _NAME_RULE if pattern == schema.NAME_RE else f"text matching {pattern}"
    if located.on_key:  # a key is a name the user chose, never a secret
        return f"invalid name {shown(located.error['input'])}: use {rule}"
    return f"must be {rule}{got}"


def _length(located: _Located, _got: str, _hidden: bool) -> str:
    ctx = located.error.get("ctx", {})
    if located.error["type"] == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    return f"must have at most {ctx.get('max_length')} item(s)"


_MESSAGES: dict[str, Callable[[_Located, str, bool], str]] = {
    "extra_forbidden": _unknown_field,
    "literal_error": _not_allowed,
    "string_pattern_mismatch": _pattern,
    "too_short": _length,
    "too_long": _length,
}


def _locate(error: ErrorDetails, model: type[BaseModel]) -> _Located:
    """Follow the error's location through the model's types. Pydantic puts extra items in the
    location: a label naming the branch of a union it tried, and `[key]` for a key error."""
    loc = error["loc"]
    here = _Located(error, [], False, None, 0, None, model)
    annotation: Any = model
    for i, part in enumerate(loc):
        annotation = _unwrap(annotation)
        if get_origin(annotation) in (Union, types.UnionType):
            if here.union is None:
                here.union = (tuple(here.segments), str(part))
                here.depth = len(loc) - i - 1
            annotation = _branch(annotation, str(part))
        elif part == "[key]":
            here.on_key = True
            annotation = get_args(annotation)[0] if get_origin(annotation) is dict else None
        else:
            here.segments.append(part)
            here.holder = annotation if _is_model(annotation) else None
            annotation = _child(annotation, part)
    here.annotation = _unwrap(annotation)
    return here


def _unwrap(annotation: Any) -> Any:
    """Strip `Annotated[...]` and `X | None` down to the type that validates the value."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (Union, types.UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            if len(options) == 1:
                annotation = options[0]
                continue
        return annotation


def _is_model(annotation: Any) -> bool:
    return (
        get_origin(annotation) is None and isinstance(annotation, type) and issubclass(annotation, BaseModel)
    )


def _branch(union: Any, label: str) -> Any:
    options = (_unwrap(a) for a in get_args(union) if a is not type(None))
    return next((a for a in options if getattr(a, "__name__", None) == label), None)


def _child(annotation: Any, part: str | int) -> Any:
    if _is_model(annotation):
        for name, info in annotation.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    origin = get_origin(annotation)
    if origin is dict:
        return get_args(annotation)[1]
    if origin is list:
        return get_args(annotation)[0]
    return None


def _field_names(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def _literal_values(annotation: Any) -> tuple[Any, ...]:
    return get_args(annotation) if get_origin(annotation) is Literal else ()


def _either(values: Sequence[Any]) -> str:
    """`'a'`, `'a' or 'b'`, `'a', 'b' or 'c'`."""
    shown = [repr(v) for v in values]
    return " or ".join(filter(None, [", ".join(shown[:-1]), *shown[-1:]]))
