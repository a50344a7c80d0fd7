"""ANSI colours of the text renderers, by the plan symbol (or style) a piece of text goes with."""

from __future__ import annotations

_CODES = {"+": "32", "~": "33", "-": "31", "-/+": "31", "R": "35", "bold": "1"}


def paint(text: str, key: str, *, color: bool) -> str:
    """`text` in the colour of `key`; unchanged when colour is off (not a terminal, NO_COLOR)."""
    code = _CODES.get(key)
    return f"\x1b[{code}m{text}\x1b[0m" if color and code else text
