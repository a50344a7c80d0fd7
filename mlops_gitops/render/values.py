"""Formatting of attribute values and change rows, shared by the text and Markdown renderers.
Works on the plan's JSON document only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

KNOWN_AFTER_APPLY = "(known after apply)"
VERBS = {
    "create": "will be created",
    "update": "will be updated in-place",
    "replace": "must be replaced",
    "delete": "will be destroyed",
}
DRIFT_VERBS = {"update": "has changed", "delete": "has been deleted"}
SYMBOLS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "noop": " "}


def fmt(value: Any) -> str:
    if isinstance(value, str):
        return "(sensitive)" if value == "(sensitive)" else json.dumps(value)
    return json.dumps(value, separators=(", ", ": "))


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
    if action == "delete":
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
