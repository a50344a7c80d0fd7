"""The cost estimate in one line of text, for the plan's text (and any renderer that wants it)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

EN_DASH = "\u2013"
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}


def money(value: float, currency: str = "USD", *, sign: bool = False, cents: bool = False) -> str:
    """`$1,234` (whole units from 100 up), or with `cents` always `$1,234.00`."""
    symbol = _SYMBOLS.get(currency)
    if cents:
        number = f"{abs(value):,.2f}"
    elif abs(value) >= 100 or value == int(value):
        number = f"{math.floor(abs(value) + 0.5):,}"  # whole units, halves up
    else:
        number = f"{abs(value):,.2f}"
    text = f"{symbol}{number}" if symbol else f"{number} {currency}"
    if sign:
        return ("-" if value < 0 else "+" if value > 0 else "±") + text
    return f"-{text}" if value < 0 else text


def amount(r: Mapping[str, float], currency: str = "USD", *, sign: bool = False) -> str:
    """A monthly range: `$1,234/month`, or `$1,234<en dash>$2,345/month` when it is one."""
    lo, hi = r["min"], r["max"]
    if lo == hi:
        return f"{money(lo, currency, sign=sign)}/month"
    joint = " to " if sign else EN_DASH
    return f"{money(lo, currency, sign=sign)}{joint}{money(hi, currency, sign=sign)}/month"


def summary_line(cost: Mapping[str, Any] | None) -> str | None:
    """`Cost estimate: $1,234-$2,345/month → $1,456-$2,567/month (+$222/month); 1 variant unpriced`
    (with en dashes in the ranges)."""
    if not cost:
        return None
    cur = cost.get("currency") or "USD"
    line = (
        f"Cost estimate: {amount(cost['monthly_before'], cur)} → {amount(cost['monthly_after'], cur)} "
        f"({amount(cost['delta'], cur, sign=True)})"
    )
    unpriced = len(cost.get("unpriced") or [])
    if unpriced:
        line += f"; {unpriced} variant{'s' if unpriced != 1 else ''} unpriced"
    return line
