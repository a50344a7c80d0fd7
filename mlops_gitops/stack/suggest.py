"""`(did you mean ...?)` hints for misspelt names, fields and values."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like `word`, if any is close enough to be a plausible typo. Case is
    ignored when comparing, so `utc` still finds `UTC`."""
    by_folded = {str(c).casefold(): str(c) for c in candidates}
    matches = difflib.get_close_matches(word.casefold(), list(by_folded), n=1, cutoff=0.6)
    return by_folded[matches[0]] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'x'?)` to append to a message, or an empty string."""
    match = closest(word, candidates)
    return f" (did you mean {match!r}?)" if match is not None else ""
