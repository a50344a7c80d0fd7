"""The monthly cost of a plan's endpoints, before and after, from their serving views (see
`mlops_gitops.serving`) and a price table. Pure: no cloud call, no file.

Per variant: instances x hours a month x the hourly price of its instance type in the region; an
autoscaled variant costs a range, from its minimum to its maximum count. A serverless one costs
its configured memory x the assumed duration x the assumed requests a month x the price per
GB-second (plus any per-request price). A mirrored (shadow) variant runs its instances like any
other and costs them. A variant whose instance type (or region) the table has no price for is
"unpriced": it adds nothing and is named, never guessed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops_gitops.cost.prices import PriceTable

HOURS_PER_MONTH = 730
Range = dict[str, float]


@dataclass(frozen=True)
class Assumptions:
    """What the estimate cannot know and assumes (a stack's `cost:` block sets them)."""

    serverless_requests_per_month: int = 1_000_000
    serverless_duration_ms: float = 100.0


@dataclass(frozen=True)
class Pricing:
    """The table and the region the estimate prices in. `region_assumed`: the provider does not
    know its region and the table's default one is used."""

    table: PriceTable | None
    region: str | None
    region_assumed: bool = False
    assumptions: Assumptions = Assumptions()
    missing_table: str = "no price table"  # what to say when `table` is None


def _range(lo: float, hi: float) -> Range:
    return {"min": round(lo, 2), "max": round(hi, 2)}


def _count_range(v: Mapping[str, Any]) -> tuple[int, int] | None:
    lo, hi = v.get("min_instances"), v.get("max_instances")
    count = v.get("instance_count")
    if lo is None and hi is None:
        return (count, count) if isinstance(count, int) and not isinstance(count, bool) else None
    lo = lo if lo is not None else count if count is not None else hi
    hi = hi if hi is not None else lo
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (lo, hi)):
        return None
    return (min(lo, hi), max(lo, hi))


def _price_view(view: Mapping[str, Any], pricing: Pricing) -> tuple[Range, list[dict[str, Any]], list[str]]:
    """The monthly range, priced lines and unpriced messages of one serving view."""
    lines: list[dict[str, Any]] = []
    unpriced: list[str] = []
    lo_total = hi_total = 0.0
    table, region, a = pricing.table, pricing.region, pricing.assumptions
    for i, v in enumerate(view.get("variants") or []):
        where = f"variants[{i}]"
        memory = v.get("serverless_memory_mb")
        if table is None:
            unpriced.append(f"{where}: {pricing.missing_table}")
            continue
        if region is None:
            unpriced.append(f"{where}: no region to price in (set cost.region)")
            continue
        if memory is not None:
            price = table.serverless.get(region)
            if price is None:
                unpriced.append(f"{where}: serverless has no price in {region}")
                continue
            requests = a.serverless_requests_per_month
            monthly = (
                price.per_gb_second * (memory / 1024) * (a.serverless_duration_ms / 1000) * requests
                + price.per_request * requests
            )
            lo_total += monthly
            hi_total += monthly
            lines.append(
                {
                    "variant": v.get("name"),
                    "instance_type": None,
                    "serverless_memory_mb": memory,
                    "count_min": None,
                    "count_max": None,
                    "hourly": None,
                    "monthly_min": round(monthly, 2),
                    "monthly_max": round(monthly, 2),
                }
            )
            continue
        itype = v.get("instance_type")
        if not itype:
            unpriced.append(f"{where}: no instance type to price")
            continue
        counts = _count_range(v)
        if counts is None:
            unpriced.append(f"{where}: instance count unknown")
            continue
        if region not in table.regions:
            unpriced.append(f"{where}: instance type {itype}: the price table has no region {region}")
            continue
        hourly = table.hourly(region, itype)
        if hourly is None:
            unpriced.append(f"{where}: instance type {itype} has no price in {region}")
            continue
        lo, hi = (hourly * HOURS_PER_MONTH * n for n in counts)
        lo_total += lo
        hi_total += hi
        lines.append(
            {
                "variant": v.get("name"),
                "instance_type": itype,
                "serverless_memory_mb": None,
                "count_min": counts[0],
                "count_max": counts[1],
                "hourly": hourly,
                "monthly_min": round(lo, 2),
                "monthly_max": round(hi, 2),
            }
        )
    return _range(lo_total, hi_total), lines, unpriced


def _minus(after: Range | None, before: Range | None) -> Range:
    a = after or {"min": 0.0, "max": 0.0}
    b = before or {"min": 0.0, "max": 0.0}
    return _range(a["min"] - b["min"], a["max"] - b["max"])


def _sum(ranges: Iterable[Range | None]) -> Range:
    lo = hi = 0.0
    for r in ranges:
        if r is not None:
            lo += r["min"]
            hi += r["max"]
    return _range(lo, hi)


def basis(pricing: Pricing) -> str:
    a = pricing.assumptions
    where = ""
    if pricing.region:
        assumed = " (assumed: set cost.region)" if pricing.region_assumed else ""
        where = f" in {pricing.region}{assumed}"
    table = pricing.table
    prices = f"{table.source}, {table.date}" if table else pricing.missing_table
    return (
        f"{HOURS_PER_MONTH} hours a month{where}; {prices}; serverless: "
        f"{a.serverless_requests_per_month:,} requests a month of {a.serverless_duration_ms:g} ms"
    )


def estimate(
    endpoints: Iterable[tuple[str, Mapping[str, Any] | None]], pricing: Pricing
) -> dict[str, Any] | None:
    """The cost document of the plan: `endpoints` are (address, serving) of each endpoint
    change, `serving` being {"before": view or None, "after": view or None}. None when there
    is no endpoint to estimate."""
    resources: list[dict[str, Any]] = []
    all_unpriced: list[str] = []
    for address, serving in endpoints:
        if serving is None:
            continue
        out: dict[str, Any] = {"address": address, "before": None, "after": None}
        lines: list[dict[str, Any]] = []
        unpriced: list[str] = []
        for side in ("before", "after"):
            view = serving.get(side)
            if view is None:
                continue
            total, side_lines, side_unpriced = _price_view(view, pricing)
            out[side] = total
            if side == "after" or serving.get("after") is None:
                lines = side_lines  # what it costs from now on (what it cost, when deleted)
            unpriced += [m for m in side_unpriced if m not in unpriced]
        out["delta"] = _minus(out["after"], out["before"])
        out["lines"] = lines
        out["unpriced"] = unpriced
        resources.append(out)
        all_unpriced += [f"{address}: {m}" for m in unpriced]
    if not resources:
        return None
    table = pricing.table
    before = _sum(r["before"] for r in resources)
    after = _sum(r["after"] for r in resources)
    return {
        "currency": table.currency if table else "USD",
        "estimate": True,
        "basis": basis(pricing),
        "region": pricing.region,
        "monthly_before": before,
        "monthly_after": after,
        "delta": _minus(after, before),
        "resources": resources,
        "unpriced": all_unpriced,
    }
