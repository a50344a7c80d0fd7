"""Stack variables: where their values come from, and `${var.NAME}` interpolation.

Sources, lowest precedence first (as in Terraform): the declared `default`, the chosen
environment's `environments.<env>.variables` in the stack file, the process environment
(`MLOPS_VAR_<name>`), `--var-file` files in the order given, then `--var name=value`. A string that
is exactly `${var.x}` takes the variable's typed value; inside longer text the value is
stringified. `$${` writes a literal `${`.

Only `${var.NAME}` is resolved here. Outputs may also name resource attributes
(`${endpoint.fraud-api.arn}`), known only after apply: those expressions, and `$${` escapes, are
left in place for the engine and returned as `OutputRef`s so the loader can check what they name.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlops_gitops.errors import Diagnostic, Position
from mlops_gitops.stack import yamlpos
from mlops_gitops.stack.schema import VariableSpec
from mlops_gitops.stack.suggest import did_you_mean, shown

ENV_PREFIX = "MLOPS_VAR_"
_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_WHOLE = re.compile(rf"\$\{{\s*var\.({_NAME})\s*\}}")
_VAR = re.compile(rf"\s*var\.({_NAME})\s*")
# An escape, a closed expression, or an opening that is never closed (reported as an error).
_TOKEN = re.compile(r"\$\$\{|\$\{([^{}]*)\}|\$\{")

Segments = tuple[str | int, ...]


@dataclass(frozen=True)
class _Candidate:
    """A value offered for a variable by one source, with where to point if it is unusable."""

    value: Any
    label: str  # prefix naming the source in messages, e.g. "MLOPS_VAR_replicas: "
    path: str
    position: Position | None


@dataclass
class Variables:
    values: dict[str, Any] = field(default_factory=dict)  # name -> typed value
    sensitive: set[str] = field(default_factory=set)
    unresolved: set[str] = field(default_factory=set)  # declared, but with no usable value (reported)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # A var file could not be read or parsed: a variable without a value may well be set in it,
    # so that is not reported on top of the file's own error.
    var_file_broken: bool = False


def resolve(
    doc: Mapping[str, Any],
    positions: yamlpos.Positions,
    *,
    cli_vars: Mapping[str, str],
    var_files: Sequence[str | Path],
    environ: Mapping[str, str],
    refused: Collection[str] = (),
    environment: str | None = None,
) -> Variables:
    """The value of every declared variable, from all its sources (`default: null` is no default).
    `refused` are paths of the stack whose values could not be parsed (already reported): a
    declaration among them is treated as malformed. `environment` names the entry of
    `environments:` whose `variables` apply."""
    out = Variables()
    decls = _declarations(doc, out, refused)
    offered: dict[str, list[_Candidate]] = {name: [] for name in decls}
    env_values = _environment_values(doc, environment)
    for name, spec in decls.items():
        if spec.default is not None:
            path = f"variables.{name}.default"
            offered[name].append(_Candidate(spec.default, "", path, positions.value(path)))
        if name in env_values:
            path = f"environments.{environment}.variables.{name}"
            given = _REFUSED if path in refused else env_values[name]
            offered[name].append(_Candidate(given, "", path, positions.value(path)))
        if ENV_PREFIX + name in environ:
            offered[name].append(
                _from_declaration(environ[ENV_PREFIX + name], ENV_PREFIX + name, name, positions)
            )
    declared = set(offered) | out.unresolved  # malformed declarations still declare a name
    for name in env_values:
        if name not in declared:
            path = f"environments.{environment}.variables.{name}"
            message = f"no variable named {shown(name)} is declared{did_you_mean(str(name), declared)}"
            out.diagnostics.append(Diagnostic(message, path, positions.key(path)))
    for file in var_files:
        _offer_var_file(str(file), offered, declared, out)
    for name, text in cli_vars.items():
        if name in offered:
            offered[name].append(_from_declaration(text, f"--var {name}", name, positions))
        elif name not in declared:
            hint = did_you_mean(name, declared)
            message = f"--var {name}: no variable named {shown(name)} is declared{hint}"
            out.diagnostics.append(Diagnostic(message))
    for name, spec in decls.items():
        _choose(name, spec, offered[name], positions, out)
    return out


def _declarations(
    doc: Mapping[str, Any], out: Variables, refused: Collection[str]
) -> dict[str, VariableSpec]:
    """Declared variables that are well formed. A malformed declaration is reported by schema
    validation (or by the parser); here it only keeps its references from raising a second error."""
    raw = doc.get("variables")
    decls: dict[str, VariableSpec] = {}
    for name, body in (raw if isinstance(raw, dict) else {}).items():
        path = f"variables.{name}"
        if any(p == path or p.startswith((f"{path}.", f"{path}[")) for p in refused):
            out.unresolved.add(str(name))
            continue
        try:
            decls[str(name)] = VariableSpec.model_validate(body)
        except ValidationError:
            out.unresolved.add(str(name))
    out.sensitive = {name for name, spec in decls.items() if spec.sensitive}
    return decls


# Stands for a var file's value that could not be parsed (already reported).
_REFUSED = object()


def _environment_values(doc: Mapping[str, Any], environment: str | None) -> dict[str, Any]:
    """The `variables` of `environments.<environment>`, as written (checked by the schema)."""
    if environment is None:
        return {}
    envs = doc.get("environments")
    env = envs.get(environment) if isinstance(envs, dict) else None
    values = env.get("variables") if isinstance(env, dict) else None
    return {str(k): v for k, v in values.items()} if isinstance(values, dict) else {}


def _from_declaration(value: str, source: str, name: str, positions: yamlpos.Positions) -> _Candidate:
    """A value given outside any file (environment, command line): point at the declaration."""
    path = f"variables.{name}"
    return _Candidate(value, f"{source}: ", path, positions.key(path))


def _offer_var_file(
    file: str, offered: dict[str, list[_Candidate]], declared: set[str], out: Variables
) -> None:
    try:
        raw = yamlpos.read_source(file)
    except yamlpos.SourceError as exc:
        out.diagnostics.append(Diagnostic(f"--var-file {file}: {exc}"))
        out.var_file_broken = True
        return
    parsed = yamlpos.parse_bytes(raw, file)
    out.diagnostics += parsed.diagnostics
    out.var_file_broken |= parsed.data is None
    for name, value in (parsed.data or {}).items():
        where = parsed.positions.key(str(name))
        if name in offered:
            # A value the parser refused (reported) still takes its place among the sources.
            given = _REFUSED if str(name) in parsed.refused else value
            offered[name].append(_Candidate(given, "", str(name), parsed.positions.value(str(name))))
        elif name not in declared:
            # A warning, as in Terraform: one var file is often shared by several stacks.
            message = (
                f"no variable named {shown(name)} is declared in the stack{did_you_mean(str(name), declared)}"
            )
            out.diagnostics.append(Diagnostic(message, str(name), where, severity="warning"))


def _choose(
    name: str, spec: VariableSpec, offered: list[_Candidate], positions: yamlpos.Positions, out: Variables
) -> None:
    if not offered:
        out.unresolved.add(name)
        if out.var_file_broken:
            return
        path = f"variables.{name}"
        message = (
            f"variable {name!r} has no value: pass --var {name}=..., put it in a --var-file, "
            f"or set {ENV_PREFIX}{name} in the environment"
        )
        out.diagnostics.append(Diagnostic(message, path, positions.key(path)))
        return
    chosen = offered[-1]  # sources were offered in increasing precedence
    if chosen.value is _REFUSED:
        out.unresolved.add(name)
        return
    try:
        out.values[name] = coerce(chosen.value, spec.type)
    except ValueError as exc:
        got = "" if spec.sensitive else f", got {shown(chosen.value)}"
        out.diagnostics.append(Diagnostic(f"{chosen.label}{exc}{got}", chosen.path, chosen.position))
        out.unresolved.add(name)


def coerce(value: Any, type_: str) -> Any:
    """`value` as the declared type; strings (from the environment or `--var`) are parsed."""
    if type_ == "number":
        return _number(value)
    if type_ == "bool":
        return _bool(value)
    if type_ == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        raise ValueError("expected a string")
    return value


def _number(value: Any) -> int | float:
    # NaN and infinity (YAML's .nan, .inf) are no more numbers here than the strings "nan" and
    # "inf": JSON (plans, state) cannot hold them.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise ValueError("expected a finite number")
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            return number
    raise ValueError("expected a number")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("expected true or false")


# ----------------------------------------------------------------------------- interpolation
@dataclass(frozen=True)
class OutputRef:
    """A `${<kind>.<name>.<attribute>}` expression found in an output, for the loader to check."""

    expression: str
    path: str
    position: Position | None


@dataclass
class Interpolated:
    data: dict[Any, Any]
    sensitive_paths: set[Segments] = field(default_factory=set)  # values fed by a sensitive variable
    unresolved: set[str] = field(default_factory=set)  # paths still holding a reference (reported)
    output_refs: list[OutputRef] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def interpolate(doc: Mapping[Any, Any], positions: yamlpos.Positions, variables: Variables) -> Interpolated:
    """A copy of `doc` with variable references replaced, except in `variables:` itself (its
    defaults are values, not templates)."""
    walker = _Interpolator(positions, variables)
    # `environments:` holds values and settings per environment, not templates, like `variables:`.
    data = {
        key: value if key in ("variables", "environments") else walker.walk(value, (key,), key == "outputs")
        for key, value in doc.items()
    }
    return Interpolated(
        data, walker.sensitive_paths, walker.unresolved, walker.output_refs, walker.diagnostics
    )


class _Missing:
    """A variable without a usable value: the reference stays as written (already reported)."""


_MISSING = _Missing()


class _Interpolator:
    def __init__(self, positions: yamlpos.Positions, variables: Variables) -> None:
        self.positions = positions
        self.variables = variables
        self.sensitive_paths: set[Segments] = set()
        self.unresolved: set[str] = set()
        self.output_refs: list[OutputRef] = []
        self.diagnostics: list[Diagnostic] = []
        self._depths: dict[str, int] = {}

    def walk(self, value: Any, segs: Segments, in_outputs: bool) -> Any:
        if isinstance(value, dict):
            return {k: self.walk(v, (*segs, k), in_outputs) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v, (*segs, i), in_outputs) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            return self._string(value, segs, in_outputs)
        return value

    def _string(self, text: str, segs: Segments, in_outputs: bool) -> Any:
        whole = _WHOLE.fullmatch(text)
        if whole:
            value = self._lookup(whole[1], segs)
            if value is _MISSING:
                return text
            if len(segs) + self._nesting(whole[1], value) > yamlpos.MAX_DEPTH:
                # Each file is within the bound, but a deep value placed deep would not be.
                self.unresolved.add(yamlpos.dotted(segs))
                self._error(segs, f"the value of variable {shown(whole[1])} nests too deep to be placed here")
                return text
            return _escape(value) if in_outputs and isinstance(value, str) else value
        pieces: list[str] = []
        end = 0
        for m in _TOKEN.finditer(text):
            pieces += [text[end : m.start()], self._token(m, segs, in_outputs)]
            end = m.end()
        pieces.append(text[end:])
        return "".join(pieces)

    def _token(self, m: re.Match[str], segs: Segments, in_outputs: bool) -> str:
        """The replacement for one `$${`, `${...}` or unclosed `${` inside a longer string."""
        if m[0] == "$${":
            return m[0] if in_outputs else "${"
        if m[1] is None:
            self._error(segs, "'${' is never closed by '}' (write $${ for a literal ${)")
            return m[0]
        var = _VAR.fullmatch(m[1])
        if var:
            value = self._lookup(var[1], segs)
            if value is _MISSING:
                return m[0]
            text = value if isinstance(value, str) else json.dumps(value)
            return _escape(text) if in_outputs else text
        if in_outputs:
            path = yamlpos.dotted(segs)
            self.output_refs.append(OutputRef(m[1].strip(), path, self.positions.value(path)))
        else:
            self._error(
                segs,
                f"cannot resolve {m[0]} here: only ${{var.NAME}} is allowed outside outputs "
                "(write $${ for a literal ${)",
            )
        return m[0]

    def _nesting(self, name: str, value: Any) -> int:
        if name not in self._depths:  # once per variable, however often it is used
            self._depths[name] = nesting(value)
        return self._depths[name]

    def _lookup(self, name: str, segs: Segments) -> Any:
        if name in self.variables.values:
            if name in self.variables.sensitive:
                self.sensitive_paths.add(segs)
            return self.variables.values[name]
        self.unresolved.add(yamlpos.dotted(segs))
        if name not in self.variables.unresolved:
            known = [*self.variables.values, *self.variables.unresolved]
            self._error(segs, f"undefined variable {shown(name)}{did_you_mean(name, known)}")
        return _MISSING

    def _error(self, segs: Segments, message: str) -> None:
        path = yamlpos.dotted(segs)
        self.diagnostics.append(Diagnostic(message, path, self.positions.value(path)))


def nesting(value: Any) -> int:
    """How many levels of collections `value` has (0 for a scalar), without recursing."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            todo.extend((child, level + 1) for child in children)
    return deepest


def _escape(text: str) -> str:
    """Keep a variable's text literal in outputs, which the engine interpolates again."""
    return text.replace("${", "$${")
