"""YAML into plain Python values, remembering where every key and value was written.

PyYAML's loaders throw positions away and silently keep the last of two duplicate keys, so we
compose the node graph ourselves and build values from it. Paths name values the way messages
show them: dots between mapping keys, `[i]` for list items (`endpoints.fraud-api.variants[0]`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from mlops_gitops.errors import Diagnostic, Position

# libyaml's composer is several times faster than the pure-Python one when it is available.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG = "tag:yaml.org,2002:"
_MAP, _SEQ, _MERGE, _TIMESTAMP = f"{_TAG}map", f"{_TAG}seq", f"{_TAG}merge", f"{_TAG}timestamp"
_SCALAR_TAGS = {f"{_TAG}{t}" for t in ("str", "int", "float", "bool", "null")}


def key_path(parent: str, key: object) -> str:
    return f"{parent}.{key}" if parent else str(key)


def index_path(parent: str, index: int) -> str:
    return f"{parent}[{index}]"


def dotted(segments: Sequence[str | int]) -> str:
    path = ""
    for seg in segments:
        path = index_path(path, seg) if isinstance(seg, int) else key_path(path, seg)
    return path


def parent_path(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


@dataclass
class Positions:
    """Where each value (and each mapping key) of a document was written, by path."""

    values: dict[str, Position] = field(default_factory=dict)
    keys: dict[str, Position] = field(default_factory=dict)

    def value(self, path: str) -> Position | None:
        """The position of the value at `path`, else of its nearest ancestor that has one (a value
        may not exist in the file: a missing field, or a list produced by a variable)."""
        while path not in self.values:
            if not path:
                return None
            path = parent_path(path)
        return self.values[path]

    def key(self, path: str) -> Position | None:
        return self.keys.get(path) or self.value(path)


@dataclass
class Document:
    data: dict[Any, Any] | None  # None when the text is not a YAML mapping at all
    positions: Positions
    diagnostics: list[Diagnostic]


def parse_bytes(raw: bytes, file: str) -> Document:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        where = Position(file, raw[: exc.start].count(b"\n") + 1, 1)
        return Document(None, Positions(), [Diagnostic("the file is not valid UTF-8 text", "", where)])
    return parse(text, file)


def parse(text: str, file: str) -> Document:
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        return Document(None, Positions(), [_syntax_error(exc, file)])
    except yaml.YAMLError as exc:  # e.g. a control character the reader refuses
        return Document(None, Positions(), [Diagnostic(f"invalid YAML: {exc}", "", Position(file, 1, 1))])
    if not isinstance(root, yaml.MappingNode):
        where = _position(root, file) if root is not None else Position(file, 1, 1)
        found = "nothing" if root is None else "a list" if isinstance(root, yaml.SequenceNode) else "a scalar"
        message = f"expected a mapping of `key: value` lines at the top level, found {found}"
        return Document(None, Positions(), [Diagnostic(message, "", where)])
    builder = _Builder(file)
    data = builder.build(root, "")
    return Document(data, builder.positions, builder.diagnostics)


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    where = Position(file, mark.line + 1, mark.column + 1) if mark else Position(file, 1, 1)
    message = f"invalid YAML: {exc.problem}"
    if exc.context:
        message += f" ({exc.context})"
    return Diagnostic(message, "", where)


def _position(node: yaml.Node, file: str) -> Position:
    return Position(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


class _Refused(Exception):
    """A scalar we do not build a value from; the message says why."""


class _InvalidKey:
    """Marks a key that could not be built (already reported): its entry is skipped."""


_INVALID_KEY = _InvalidKey()


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.positions = Positions()
        self.diagnostics: list[Diagnostic] = []
        self._constructor = SafeConstructor()
        # Collections being built right now: an alias back to one of them would recurse forever.
        self._open: set[int] = set()

    def build(self, node: yaml.Node, path: str) -> Any:
        self.positions.values[path] = _position(node, self.file)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if id(node) in self._open:
            return self._error(path, node, "a YAML alias refers to the collection that contains it")
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return self._sequence(node, path)
            return self._mapping(node, path)
        finally:
            self._open.discard(id(node))

    def _error(self, path: str, node: yaml.Node, message: str) -> None:
        self.diagnostics.append(Diagnostic(message, path, _position(node, self.file)))

    def _scalar(self, node: yaml.ScalarNode, path: str) -> Any:
        try:
            return self._scalar_value(node)
        except _Refused as exc:
            return self._error(path, node, str(exc))

    def _scalar_value(self, node: yaml.ScalarNode) -> Any:
        if node.tag == _TIMESTAMP:
            # Dates are kept as written: every consumer (pydantic, JSON state) wants strings.
            return node.value
        if node.tag not in _SCALAR_TAGS:
            raise _Refused(f"unsupported YAML tag {_short_tag(node.tag)}")
        try:
            return self._constructor.yaml_constructors[node.tag](self._constructor, node)
        except (ValueError, yaml.YAMLError) as exc:  # an explicit tag that does not fit: `!!int abc`
            raise _Refused(f"{node.value!r} is not a valid {_short_tag(node.tag)}") from exc

    def _sequence(self, node: yaml.SequenceNode, path: str) -> list[Any] | None:
        if node.tag != _SEQ:
            return self._error(path, node, f"unsupported YAML tag {_short_tag(node.tag)}")
        return [self.build(item, index_path(path, i)) for i, item in enumerate(node.value)]

    def _mapping(self, node: yaml.MappingNode, path: str) -> dict[Any, Any] | None:
        if node.tag != _MAP:
            return self._error(path, node, f"unsupported YAML tag {_short_tag(node.tag)}")
        out: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self._key(key_node, path)
            if key is _INVALID_KEY:
                continue
            child = key_path(path, key)
            where = _position(key_node, self.file)
            if key in first_line:
                self._error(
                    child, key_node, f"duplicate key {key!r} (first defined on line {first_line[key]})"
                )
            first_line.setdefault(key, where.line)
            self.positions.keys[child] = where
            out[key] = self.build(value_node, child)
        # `<<: *anchor` keys fill in what the mapping does not set itself.
        for key_node, value_node in self._merged(node, path, frozenset()):
            key = self._key(key_node, path)
            if key is _INVALID_KEY or key in out:
                continue
            child = key_path(path, key)
            self.positions.keys[child] = _position(key_node, self.file)
            out[key] = self.build(value_node, child)
        return out

    def _merged(
        self, node: yaml.MappingNode, path: str, seen: frozenset[int]
    ) -> Iterator[tuple[yaml.Node, yaml.Node]]:
        """Key/value nodes brought in by `<<` merge keys, highest precedence first (YAML merge-key
        semantics: earlier sources win, and a source's own keys win over what it merges)."""
        for key_node, source in node.value:
            if key_node.tag != _MERGE:
                continue
            for sub in source.value if isinstance(source, yaml.SequenceNode) else [source]:
                if not isinstance(sub, yaml.MappingNode):
                    self._error(path, sub, "`<<` merges a mapping or a list of mappings")
                elif id(sub) not in seen:
                    yield from ((k, v) for k, v in sub.value if k.tag != _MERGE)
                    yield from self._merged(sub, path, seen | {id(sub)})

    def _key(self, node: yaml.Node, path: str) -> Any:
        try:
            if not isinstance(node, yaml.ScalarNode):
                raise _Refused("a mapping key must be a plain value, not a list or a mapping")
            return self._scalar_value(node)
        except _Refused as exc:
            self._error(path, node, str(exc))
            return _INVALID_KEY
