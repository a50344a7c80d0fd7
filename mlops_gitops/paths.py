"""Attribute paths: `variants[0].instance_count`, `tags.team`, `tags["mlops-gitops:stack"]`.

Attributes are nested JSON values; the diff works on their leaves, each named by a path. Patterns
(used by `force_new`, `ignore_changes`, ...) may use `[*]` for any index and `*` for any key, and
a pattern also covers everything below the path it names."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_TOKEN = re.compile(r'\.?([A-Za-z_*][A-Za-z0-9_*-]*)|\[(\d+|\*)\]|\["((?:[^"\\]|\\.)*)"\]')

Segment = str | int


def key_segment(key: str) -> str:
    return f".{key}" if _PLAIN_KEY.match(key) else f"[{_quote(key)}]"


def _quote(key: str) -> str:
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def join(segments: list[Segment]) -> str:
    out = "".join(f"[{s}]" if isinstance(s, int) else key_segment(s) for s in segments)
    return out[1:] if out.startswith(".") else out


@lru_cache(maxsize=4096)
def split(path: str) -> tuple[Segment, ...]:
    """Parse a path (or pattern) into segments; raises ValueError on bad syntax."""
    segments: list[Segment] = []
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m or m.end() == pos or (pos == 0 and path.startswith(".")):
            raise ValueError(f"invalid attribute path {path!r} at character {pos + 1}")
        name, index, quoted = m.groups()
        if name is not None:
            segments.append(name)
        elif index is not None:
            segments.append("*" if index == "*" else int(index))
        else:
            segments.append(re.sub(r"\\(.)", r"\1", quoted))
        pos = m.end()
    return tuple(segments)


def matches(pattern: str, path: str) -> bool:
    """True when `path` is the pattern's path or lies below it."""
    pat, segs = split(pattern), split(path)
    if len(pat) > len(segs):
        return False
    for p, s in zip(pat, segs, strict=False):
        if p == "*":
            continue
        if p != s:
            return False
    return True


def matches_any(patterns: tuple[str, ...] | list[str] | set[str], path: str) -> bool:
    return any(matches(p, path) for p in patterns)


def leaves(value: Any, prefix: tuple[Segment, ...] = ()) -> Iterator[tuple[str, Any]]:
    """Yield (path, leaf) pairs. Empty containers are leaves, so `{}` vs absent still differs."""
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            yield from leaves(v, (*prefix, str(k)))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from leaves(v, (*prefix, i))
    else:
        yield join(list(prefix)), value


def get(doc: Any, path: str, default: Any = None) -> Any:
    cur = doc
    for seg in split(path):
        if isinstance(seg, int):
            if not isinstance(cur, list) or seg >= len(cur):
                return default
            cur = cur[seg]
        else:
            if not isinstance(cur, Mapping) or seg not in cur:
                return default
            cur = cur[seg]
    return cur


def set_(doc: Any, path: str, value: Any) -> bool:
    """Set the value at `path` when its parent container exists; returns whether it did."""
    segs = split(path)
    parent = get(doc, join(list(segs[:-1]))) if len(segs) > 1 else doc
    last = segs[-1]
    if isinstance(last, int):
        if isinstance(parent, list) and last < len(parent):
            parent[last] = value
            return True
        return False
    if isinstance(parent, dict):
        parent[last] = value
        return True
    return False
