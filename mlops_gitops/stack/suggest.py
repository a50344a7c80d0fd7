"""`(did you mean ...?)` hints for misspelt names, fields and values, and how a value written by
the user is shown in a message."""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable

# A message is one line: a value longer than this is cut, however long it was in the file.
SHOWN_LIMIT = 60


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like `word`, if any is close enough to be a plausible typo. Case is
    ignored when comparing, so `utc` still finds `UTC`."""
    by_folded = {str(c).casefold(): str(c) for c in candidates}
    matches = difflib.get_close_matches(word.casefold(), list(by_folded), n=1, cutoff=0.6)
    return by_folded[matches[0]] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'x'?)` to append to a message, or an empty string."""
    match = closest(word, candidates)
    return f" (did you mean {shown(match)}?)" if match is not None else ""


def shown(value: object, limit: int = SHOWN_LIMIT) -> str:
    """`value` as a message quotes it: text in quotes (`'abc'`), other scalars as JSON (`true`,
    `3`), collections by their kind, cut to `limit` characters with `…`."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4 * limit:
        # Python refuses to print an integer of more than 4300 digits (and it would be cut
        # anyway): keep only its leading digits, found without converting the whole number.
        sign = "-" if value < 0 else ""
        digits = int(value.bit_length() * math.log10(2))
        return clip(f"{sign}{abs(value) // 10 ** (digits - limit)}…", limit)
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return clip(text, limit)


def clip(text: str, limit: int = SHOWN_LIMIT) -> str:
    """`text` cut to `limit` characters, the last one `…` when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
