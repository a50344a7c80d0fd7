"""A retirement in ML terms, from an entry of the plan document's `retirements`: the line the
text plan and the pull-request comment show ("model fraud-v7 will be retired: stops serving 10%
of fraud-api; monitor fraud-v7-drift removed; artifacts kept")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _name(address: str) -> str:
    kind, _, name = address.partition(".")
    return f"{kind.replace('_', ' ')} {name}"


def _share(stop: Mapping[str, Any]) -> str:
    endpoint = stop["endpoint"].partition(".")[2]
    live, mirror = stop.get("traffic_percent"), stop.get("mirror_percent")
    if mirror:
        return f"a {mirror:g}% mirror of {endpoint} (variant {stop['variant']})"
    if live is None:
        return f"variant {stop['variant']} of {endpoint}"
    return f"{live:g}% of {endpoint} (variant {stop['variant']})"


def sentence(r: Mapping[str, Any]) -> str:
    parts = []
    stops = list(r.get("stops_serving") or [])
    if r.get("kind") == "endpoint":
        total = sum(s.get("traffic_percent") or 0 for s in stops)
        parts.append(f"stops serving {total:g}% of its traffic and is deleted" if stops else "is deleted")
    elif stops:
        parts.append("stops serving " + ", ".join(_share(s) for s in stops))
    else:
        parts.append("serves no endpoint")
    parts += [f"{_name(a)} removed" for a in r.get("removes") or []]
    parts += [f"{_name(a)} updated" for a in r.get("changes") or [] if not a.startswith("endpoint.")]
    if r.get("artifacts_kept"):
        archived = r.get("archived", r.get("archive"))
        parts.append(
            "artifacts kept"
            + (
                "; archived"
                if archived
                else "; tagged retired (nothing registered to archive)"
                if r.get("archive")
                else ""
            )
        )
    else:
        parts.append("its record kept in state history")
    return f"{_name(r['address'])} will be retired: " + "; ".join(parts)


def why(r: Mapping[str, Any]) -> str:
    return f"why: {r.get('reason')} (decided by {r.get('by')})"
