"""Formatting of attribute values, change rows and outputs, shared by the text renderers. Works on
documents only (the plan's, state's and outputs' JSON documents)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

KNOWN_AFTER_APPLY = "(known after apply)"
VERBS = {
    "create": "will be created",
    "update": "will be updated in-place",
    "replace": "must be replaced",
    "delete": "will be destroyed",
    "retire": "will be retired",
}
DRIFT_VERBS = {"update": "has changed", "delete": "has been deleted"}
# "R": a retirement (a model archived, an endpoint deleted), kept apart from a plain destroy.
SYMBOLS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "retire": "R", "noop": " "}


def fmt(value: Any) -> str:
    if isinstance(value, str):
        return "(sensitive)" if value == "(sensitive)" else json.dumps(value)
    return json.dumps(value, separators=(", ", ": "))


def output_value(out: dict[str, Any]) -> str:
    """An entry of the outputs document as text: its value as JSON, or `(sensitive)`. The flag
    decides, not the value: a sensitive output's value is null in the document."""
    return "(sensitive)" if out.get("sensitive") else json.dumps(out.get("value"))


def widest(names: Iterable[str]) -> int:
    """The width of a column holding `names`, to align what follows them."""
    return max((len(n) for n in names), default=0)


@dataclass
class Row:
    symbol: str  # + ~ -
    path: str
    text: str  # the right-hand side, formatted
    note: str = ""  # "# forces replacement"


def rows(rc: dict[str, Any], *, drift: bool = False) -> list[Row]:
    """Rows of one resource change, in the order a reviewer reads them."""
    action = rc["action"]
    out: list[Row] = []
    if action == "create" and not drift:
        for ch in rc["changes"]:
            out.append(Row("+", ch["path"], _after(ch)))
        return out
    if action == "delete" or (action == "retire" and rc.get("after") is None):
        for ch in rc["changes"]:
            out.append(Row("-", ch["path"], fmt(ch["before"]) + " -> null"))
        return out
    for ch in rc["changes"]:
        note = "# forces replacement" if ch["forces_replacement"] else ""
        if ch["change"] == "add":
            out.append(Row("+", ch["path"], _after(ch), note))
        elif ch["change"] == "remove" and not ch["after_unknown"]:
            out.append(Row("-", ch["path"], fmt(ch["before"]) + " -> null", note))
        else:
            out.append(Row("~", ch["path"], f"{fmt(ch['before'])} -> {_after(ch)}", note))
    return out


def _after(ch: dict[str, Any]) -> str:
    return KNOWN_AFTER_APPLY if ch["after_unknown"] else fmt(ch["after"])


def output_text(oc: dict[str, Any]) -> str:
    after = KNOWN_AFTER_APPLY if oc["after_unknown"] else fmt(oc["after"])
    if oc["action"] == "create":
        return after
    if oc["action"] == "delete":
        return f"{fmt(oc['before'])} -> null"
    return f"{fmt(oc['before'])} -> {after}"
