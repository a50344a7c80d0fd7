"""Promotion: copy a variable's value from one environment of the stack file to another, as a
one-line edit of the file that a pull request shows as exactly that.

`promote(text, variable, source, target)` returns the new text. The value comes from
`environments.<source>.variables.<variable>`, or the variable's `default` when the source
environment does not set it. It is written into `environments.<target>.variables`: the value
replaced where the target sets it already, or a key added to that mapping (block or flow style).
Everything else in the file stays byte for byte, comments included."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from mlops_gitops.errors import StackError
from mlops_gitops.stack.suggest import did_you_mean


@dataclass(frozen=True)
class Promotion:
    text: str  # the new file
    value: Any  # what was promoted
    before: Any  # what the target had (None if it had nothing of its own)


def _mapping_get(node: yaml.Node | None, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None


def _scalar_text(value: Any) -> str:
    """`value` as YAML scalar text that reads back as the same value on one line."""
    if isinstance(value, bool) or value is None or isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        plain = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
        plain = plain.removesuffix("...").strip()
        return plain if "\n" not in plain else json.dumps(value)
    raise StackError(f"only a single value can be promoted, not {type(value).__name__}")


def promote(text: str, variable: str, source: str, target: str, *, file: str = "stack.yaml") -> Promotion:
    root = yaml.compose(text)
    data = yaml.safe_load(text) or {}
    envs = data.get("environments") if isinstance(data, dict) else None
    if not isinstance(envs, dict) or not envs:
        raise StackError(f"{file}: this stack declares no environments")
    for name in (source, target):
        if name not in envs:
            raise StackError(f"{file}: no environment {name!r}{did_you_mean(name, list(envs))}")
    declared = data.get("variables") or {}
    if variable not in declared:
        raise StackError(
            f"{file}: no variable named {variable!r} is declared{did_you_mean(variable, declared)}"
        )
    source_values = (envs[source] or {}).get("variables") or {}
    if variable in source_values:
        value = source_values[variable]
    elif isinstance(declared[variable], dict) and declared[variable].get("default") is not None:
        value = declared[variable]["default"]
    else:
        raise StackError(f"{file}: environment {source} gives {variable} no value to promote")
    scalar = _scalar_text(value)

    env_node = _mapping_get(_mapping_get(root, "environments")[1], target)  # type: ignore[index]
    assert env_node is not None
    variables = _mapping_get(env_node[1], "variables")
    if variables is None or not isinstance(variables[1], yaml.MappingNode):
        raise StackError(
            f"{file}: environment {target} has no variables mapping to write {variable} into: add "
            f"`variables: {{{variable}: ...}}` under environments.{target}"
        )
    mapping = variables[1]
    existing = _mapping_get(mapping, variable)
    before = ((envs[target] or {}).get("variables") or {}).get(variable)
    if existing is not None:
        start, end = existing[1].start_mark.index, existing[1].end_mark.index
        new = text[:start] + scalar + text[end:]
    elif mapping.flow_style:
        close = mapping.end_mark.index - 1  # the `}`
        sep = ", " if mapping.value else ""
        new = text[:close].rstrip() + f"{sep}{variable}: {scalar}" + text[close:]
    else:
        last_key, last_value = mapping.value[-1]
        indent = " " * last_key.start_mark.column
        line_end = text.find("\n", last_value.end_mark.index)
        line_end = len(text) if line_end < 0 else line_end
        new = text[:line_end] + f"\n{indent}{variable}: {scalar}" + text[line_end:]
    check = yaml.safe_load(new)["environments"][target]["variables"][variable]
    if check != value:  # the edit must read back as exactly the promoted value
        raise StackError(f"{file}: could not write {variable} into environment {target} safely")
    return Promotion(new, value, before)
