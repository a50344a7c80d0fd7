"""The estimate of a plan: the provider's price table (with the stack's `cost.prices_file` over
it), the region to price in, and the stack's assumptions, applied to the plan's endpoints."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_gitops.cost.estimate import Assumptions, Pricing, estimate
from mlops_gitops.cost.prices import PriceFileError, PriceTable, load_file
from mlops_gitops.errors import Diagnostic, StackError

if TYPE_CHECKING:
    from mlops_gitops.engine.plan import ResourceChange
    from mlops_gitops.stack.model import Stack
    from mlops_gitops.workspace import Workspace


def override_table(stack: Stack) -> PriceTable | None:
    """The stack's own price file (`cost.prices_file`, relative to the stack), validated: a
    StackError of one line (the stack's position, the file, the field) when it does not."""
    settings = getattr(stack, "cost", None)
    if settings is None or not settings.prices_file:
        return None
    path = Path(settings.prices_file)
    if not path.is_absolute():
        path = Path(stack.base_dir) / path
    try:
        return load_file(path)
    except PriceFileError as exc:
        where = "cost.prices_file"
        raise StackError.of([Diagnostic(str(exc), where, stack.positions.value(where))]) from None


def pricing(ws: Workspace) -> Pricing:
    stack, provider = ws.stack, ws.provider
    settings = getattr(stack, "cost", None)
    table = provider.prices()
    override = ws.price_override  # read once, when the stack was checked (`open_workspace`)
    if override is not None:
        table = override if table is None else table.with_override(override)
    region = settings.region if settings is not None and settings.region else provider.pricing_region()
    assumed = False
    if region is None and table is not None and table.default_region:
        region, assumed = table.default_region, True
    assumptions = (
        Assumptions(settings.serverless_requests_per_month, settings.serverless_duration_ms)
        if settings is not None
        else Assumptions()
    )
    missing = f"provider {provider.name} ships no price table (give one with cost.prices_file)"
    return Pricing(table, region, assumed, assumptions, missing)


def plan_cost(ws: Workspace, changes: Iterable[ResourceChange]) -> dict[str, Any] | None:
    """The `cost` of the plan document, from the serving views of its endpoint changes."""
    endpoints = [(c.address, c.serving) for c in changes if c.serving is not None]
    if not endpoints:
        return None
    return estimate(endpoints, pricing(ws))
