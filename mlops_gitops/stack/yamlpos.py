"""YAML into plain Python values, remembering where every key and value was written.

PyYAML's loaders throw positions away and silently keep the last of two duplicate keys, so we
compose the node graph ourselves and build values from it. Paths name values the way messages
show them: dots between mapping keys, `[i]` for list items (`endpoints.fraud-api.variants[0]`).

Input is bounded, since a stack or a var file may come from anyone who can open a pull request:
the bytes read, how deep collections nest (deep nesting would exhaust Python's recursion in
every later step), and how many values aliases may produce (ten lines of nested aliases can
expand to billions of values: the "billion laughs").
"""

from __future__ import annotations

import functools
import gc
import json
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import yaml
from yaml.composer import ComposerError
from yaml.constructor import SafeConstructor

from mlops_gitops.errors import Diagnostic, Position
from mlops_gitops.stack.suggest import clip, shown

# libyaml's composer is several times faster than the pure-Python one when it is available.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG = "tag:yaml.org,2002:"
_MAP, _SEQ, _MERGE, _TIMESTAMP = f"{_TAG}map", f"{_TAG}seq", f"{_TAG}merge", f"{_TAG}timestamp"
_SCALAR_TAGS = {f"{_TAG}{t}" for t in ("str", "int", "float", "bool", "null")}

# Far beyond any real stack or var file (a few kilobytes), far below what would exhaust memory.
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_FILE_SIZE_TEXT = "8 MiB"
MAX_DEPTH = 100  # collections inside collections
MAX_ALIAS_VALUES = 10_000  # values produced by expanding aliases (and merge keys), per document


class SourceError(Exception):
    """A file that cannot be read as a source; the message (to put after the file's name) says
    why, e.g. `is a directory`."""


def read_source(path: str | Path) -> bytes:
    """The bytes of a stack or var file. At most MAX_FILE_BYTES + 1 are read, so that /dev/zero,
    a pipe that never ends or a huge file is refused without filling memory first."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SourceError("no such file") from None
    except IsADirectoryError:
        raise SourceError("is a directory") from None
    except OSError as exc:
        raise SourceError(f"cannot read it: {(exc.strerror or str(exc)).lower()}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise SourceError(f"is larger than {MAX_FILE_SIZE_TEXT}, the most a stack or variable file may hold")
    return raw


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
    # Paths of values that were refused (and reported): None in `data`, to be left out of
    # later checks, which would only report the same problem again.
    refused: set[str] = field(default_factory=set)


# ------------------------------------------------------------------ the cycle collector, paused
_P = ParamSpec("_P")
_R = TypeVar("_R")


class _Pause:
    lock = threading.Lock()
    inside = 0  # callers of paused functions running now
    resume = False  # whether the collector ran before the first of them came in


def paused_gc(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """`fn` run with Python's cycle collector paused. Reading a stack builds hundreds of
    thousands of objects (nodes, marks, positions, values) and keeps them: each collection then
    walks everything built so far, which made loading 10,000 resources superlinear (2-3 times
    slower than the work itself). What is built holds no cycles to collect; reference counting
    still frees everything else, and any cycle left is collected once the collector resumes.
    Re-entrant and thread-safe (`plan --all` loads stacks in threads): the collector resumes
    when the last caller leaves, and only if it ran before the first came in."""

    @functools.wraps(fn)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _Pause.lock:
            if _Pause.inside == 0:
                _Pause.resume = gc.isenabled()
                gc.disable()
            _Pause.inside += 1
        try:
            return fn(*args, **kwargs)
        finally:
            with _Pause.lock:
                _Pause.inside -= 1
                if _Pause.inside == 0 and _Pause.resume:
                    gc.enable()

    return run


def parse_bytes(raw: bytes, file: str) -> Document:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        where = Position(file, raw[: exc.start].count(b"\n") + 1, 1)
        return Document(None, Positions(), [Diagnostic("the file is not valid UTF-8 text", "", where)])
    return parse(text, file)


# A character beyond U+FFFF escaped as JSON writes it (json.dumps does by default): a UTF-16
# surrogate pair, `\ud83d\ude00`. YAML's reader refuses those escapes, so a JSON file holding one
# (a var file, or the values a saved plan is applied with) would not read. The backslashes before
# it must be even in number, or the first `\` is itself escaped.
_SURROGATE_PAIR = re.compile(
    r"(?<!\\)((?:\\\\)*)\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"
)


def _json_surrogate_pairs(text: str) -> str:
    """`text` with each JSON surrogate-pair escape written as the one `\\UXXXXXXXX` escape YAML
    reads, when `text` is a JSON document: only there is every `\\u` inside a double-quoted string
    (in YAML's plain and single-quoted scalars a backslash is just a character)."""
    if not _SURROGATE_PAIR.search(text):
        return text
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return text

    def combined(m: re.Match[str]) -> str:
        high, low = int(m[2], 16), int(m[3], 16)
        return f"{m[1]}\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08x}"

    return _SURROGATE_PAIR.sub(combined, text)


@paused_gc
def parse(text: str, file: str) -> Document:
    text = _json_surrogate_pairs(text)
    try:
        root = _compose(text)
    except _Limit as exc:
        return Document(None, Positions(), [Diagnostic(exc.message, "", _mark_position(exc.mark, file))])
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
    return Document(data, builder.positions, builder.diagnostics, builder.refused)


class _Limit(Exception):
    """Input beyond one of the bounds above: parsing stops there, with this one error."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


_TOO_DEEP = f"collections nest more than {MAX_DEPTH} levels deep here"
_TOO_MANY = f"YAML aliases expand to more than {MAX_ALIAS_VALUES:,} values in this file: write the values out"


def _compose(text: str) -> yaml.Node | None:
    """The node graph of a single-document stream, as `yaml.compose` makes it, but without
    recursion (PyYAML's composer recurses once per nesting level), refusing nesting beyond
    MAX_DEPTH and aliases that stand for more than MAX_ALIAS_VALUES nodes in all. Aliases stay
    shared nodes, as in PyYAML: these bounds are what keep building values from them cheap."""
    loader = _LOADER(text)
    try:
        loader.get_event()  # StreamStart
        if loader.check_event(yaml.StreamEndEvent):
            return None
        document = loader.get_event()
        root = _compose_node(loader)
        loader.get_event()  # DocumentEnd
        if not loader.check_event(yaml.StreamEndEvent):
            raise ComposerError(
                "expected a single document in the stream",
                document.start_mark,
                "but found another document",
                loader.get_event().start_mark,
            )
        return root
    finally:
        loader.dispose()


@dataclass
class _Open:
    """A collection being composed."""

    node: yaml.CollectionNode
    anchor: str | None
    key: yaml.Node | None = None  # a mapping's key waiting for its value
    size: int = 1  # nodes it holds, itself included, an alias counting as what it expands to
    height: int = 1  # levels of collections, itself included, aliases expanded


def _compose_node(loader: Any) -> yaml.Node:
    anchors: dict[str, yaml.Node] = {}
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (size, height), once its node is complete
    open_: list[_Open] = []  # innermost last
    expanded = 0  # nodes that aliases stand for, so far
    while True:
        event = loader.get_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                raise ComposerError(None, None, f"found undefined alias {event.anchor!r}", event.start_mark)
            node = anchors[event.anchor]
            # An alias to a collection still open has no size yet: the builder refuses it.
            size, height = sizes.get(event.anchor, (1, 0))
            expanded += size
            if expanded > MAX_ALIAS_VALUES:
                raise _Limit(_TOO_MANY, event.start_mark)
            if len(open_) + height > MAX_DEPTH:
                raise _Limit(_TOO_DEEP, event.start_mark)
        elif isinstance(event, yaml.ScalarEvent | yaml.SequenceStartEvent | yaml.MappingStartEvent):
            if event.anchor is not None and event.anchor in anchors:
                raise ComposerError(
                    f"found duplicate anchor {event.anchor!r}; first occurrence",
                    anchors[event.anchor].start_mark,
                    "second occurrence",
                    event.start_mark,
                )
            node = _new_node(loader, event)
            if event.anchor is not None:
                anchors[event.anchor] = node
            if isinstance(node, yaml.CollectionNode):
                if len(open_) >= MAX_DEPTH:
                    raise _Limit(_TOO_DEEP, event.start_mark)
                open_.append(_Open(node, event.anchor))
                continue
            size, height = 1, 0
            if event.anchor is not None:
                sizes[event.anchor] = (size, height)
        else:  # the end of the innermost open collection
            done = open_.pop()
            node = done.node
            node.end_mark = event.end_mark
            size, height = done.size, done.height
            if done.anchor is not None:
                sizes[done.anchor] = (size, height)
        if not open_:
            return node
        parent = open_[-1]
        parent.size += size
        parent.height = max(parent.height, height + 1)
        if isinstance(parent.node, yaml.SequenceNode):
            parent.node.value.append(node)
        elif parent.key is None:
            parent.key = node
        else:
            parent.node.value.append((parent.key, node))
            parent.key = None


def _new_node(loader: Any, event: Any) -> yaml.Node:
    """A node for a scalar or a collection's start, its tag resolved as PyYAML's composer does."""
    kind: type[yaml.Node]
    if isinstance(event, yaml.ScalarEvent):
        kind, value = yaml.ScalarNode, event.value
    else:
        kind = yaml.SequenceNode if isinstance(event, yaml.SequenceStartEvent) else yaml.MappingNode
        value = None
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(kind, value, event.implicit)
    if kind is yaml.ScalarNode:
        return yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, style=event.style)
    return kind(tag, [], event.start_mark, None, flow_style=event.flow_style)


def _mark_position(mark: Any, file: str) -> Position:
    return Position(file, mark.line + 1, mark.column + 1) if mark else Position(file, 1, 1)


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    where = _mark_position(mark, file)
    if exc.problem == "exceeded maximum nesting depth":  # libyaml's own bound (1000), met first
        return Diagnostic(_TOO_DEEP, "", where)
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


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.positions = Positions()
        self.diagnostics: list[Diagnostic] = []
        self.refused: set[str] = set()
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

    def _error(self, path: str, node: yaml.Node, message: str, *, refused: bool = True) -> None:
        self.diagnostics.append(Diagnostic(message, path, _position(node, self.file)))
        if refused:  # the value at `path` is not what was written: later checks skip it
            self.refused.add(path)

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
        except (ValueError, yaml.YAMLError) as exc:
            # The value is not repeated: it may be a secret in a var file.
            if node.tag == f"{_TAG}int" and node.value.lstrip("+-").isdigit():
                # Python reads no integer of more than 4300 digits.
                raise _Refused("this number has too many digits: quote it if it is text") from exc
            # An explicit tag that does not fit: `!!int abc`.
            raise _Refused(f"the value is not a valid {_short_tag(node.tag)}") from exc

    def _sequence(self, node: yaml.SequenceNode, path: str) -> list[Any] | None:
        if node.tag != _SEQ:
            return self._error(path, node, f"unsupported YAML tag {_short_tag(node.tag)}")
        return [self.build(item, index_path(path, i)) for i, item in enumerate(node.value)]

    def _mapping(self, node: yaml.MappingNode, path: str) -> dict[str, Any] | None:
        if node.tag != _MAP:
            return self._error(path, node, f"unsupported YAML tag {_short_tag(node.tag)}")
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            child = key_path(path, key)
            where = _position(key_node, self.file)
            if key in first_line:
                message = f"duplicate key {shown(key)} (first defined on line {first_line[key]})"
                self._error(child, key_node, message)
            first_line.setdefault(key, where.line)
            self.positions.keys[child] = where
            out[key] = self.build(value_node, child)
        # `<<: *anchor` keys fill in what the mapping does not set itself.
        for key_node, value_node in self._merged(node, path, set()):
            # A refused key was reported where its mapping was written.
            key = self._key(key_node, path, report=False)
            if key is None or key in out:
                continue
            child = key_path(path, key)
            self.positions.keys[child] = _position(key_node, self.file)
            out[key] = self.build(value_node, child)
        return out

    def _merged(
        self, node: yaml.MappingNode, path: str, seen: set[int]
    ) -> Iterator[tuple[yaml.Node, yaml.Node]]:
        """Key/value nodes brought in by `<<` merge keys, highest precedence first (YAML merge-key
        semantics: earlier sources win, and a source's own keys win over what it merges). A source
        met a second time brings nothing new, so it is skipped: merges of merges repeating the
        same sources would otherwise take exponential time."""
        for key_node, source in node.value:
            if key_node.tag != _MERGE:
                continue
            for sub in source.value if isinstance(source, yaml.SequenceNode) else [source]:
                if not isinstance(sub, yaml.MappingNode):
                    self._error(path, sub, "`<<` merges a mapping or a list of mappings", refused=False)
                elif id(sub) not in seen:
                    seen.add(id(sub))
                    yield from ((k, v) for k, v in sub.value if k.tag != _MERGE)
                    yield from self._merged(sub, path, seen)

    def _key(self, node: yaml.Node, path: str, *, report: bool = True) -> str | None:
        """A mapping key: keys are names, so only text. Without this, `1` and `true` would be the
        same Python key (1 == True), and JSON state would silently turn them into strings."""
        try:
            if not isinstance(node, yaml.ScalarNode):
                raise _Refused("a mapping key must be a plain value, not a list or a mapping")
            key = self._scalar_value(node)
            if not isinstance(key, str):
                what = "true or false" if isinstance(key, bool) else "null" if key is None else "a number"
                text = clip(node.value)
                raise _Refused(f"a key must be a name, but {text} reads as {what}: quote it ({text!r})")
            return key
        except _Refused as exc:
            if report:
                self.diagnostics.append(Diagnostic(str(exc), path, _position(node, self.file)))
            return None
