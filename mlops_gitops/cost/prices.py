"""Price tables: what an instance hour (and serverless compute) costs per region, with the date
and source of the figures. Each provider ships one as package data (`prices.json` beside its
provider module, see `Provider.prices`); a stack may give its own file (`cost.prices_file`),
whose figures replace or extend the shipped ones.

    {"currency": "USD", "date": "2026-05-01", "source": "https://...", "notes": "...",
     "default_region": "us-east-1",
     "regions": {"us-east-1": {"ml.m5.xlarge": 0.23, ...}},
     "serverless": {"us-east-1": {"per_gb_second": 0.00002, "per_request": 0.0}}}
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlops_gitops.errors import MlopsError

Price = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PRICES_FILE = "prices.json"


class PriceFileError(MlopsError):
    """A price table that does not validate: one line naming the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerlessPrice(_Strict):
    per_gb_second: Price = Field(description="compute price per second of 1 GB of configured memory")
    per_request: Price = Field(0.0, description="price per request, if the cloud charges one")


class PriceTable(_Strict):
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. USD")
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="when the figures were taken")
    source: str = Field(min_length=1, description="where the figures come from")
    notes: str | None = None
    default_region: str | None = Field(
        None, description="the region assumed when neither the provider nor cost.region names one"
    )
    regions: dict[str, dict[str, Price]] = Field(
        default_factory=dict, description="region -> instance type -> price per instance hour"
    )
    serverless: dict[str, ServerlessPrice] = Field(default_factory=dict, description="region -> prices")

    def hourly(self, region: str, instance_type: str) -> float | None:
        return self.regions.get(region, {}).get(instance_type)

    def with_override(self, other: PriceTable) -> PriceTable:
        """This table with `other`'s figures over it: a type or region it names replaces ours,
        the rest stays. Its date and source describe the result (they are what changed)."""
        if other.currency != self.currency:
            # Mixed currencies cannot be added up: the override is then the whole table.
            return other
        regions = {r: dict(types) for r, types in self.regions.items()}
        for region, types in other.regions.items():
            regions.setdefault(region, {}).update(types)
        return PriceTable(
            currency=self.currency,
            date=other.date,
            source=f"{other.source} over {self.source} ({self.date})",
            notes=other.notes or self.notes,
            default_region=other.default_region or self.default_region,
            regions=regions,
            serverless={**self.serverless, **other.serverless},
        )


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            out += (f'["{text}"]' if "." in text else f".{text}") if out else text
    return out or "(top level)"


def parse(text: str, name: str) -> PriceTable:
    """The price table in `text` (JSON); PriceFileError naming `name` and the field when not."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PriceFileError(f"{name}: not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    try:
        return PriceTable.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        more = len(exc.errors()) - 1
        extra = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise PriceFileError(f"{name}: {_location(tuple(err['loc']))}: {err['msg']}{extra}") from None


def load_file(path: str | Path) -> PriceTable:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceFileError(f"{path}: cannot read the price file: {exc.strerror or exc}") from None
    return parse(text, str(path))


@lru_cache(maxsize=16)
def shipped(package: str) -> PriceTable | None:
    """The price table a package ships as `prices.json`, or None when it ships none."""
    try:
        ref = resources.files(package).joinpath(PRICES_FILE)
        if not ref.is_file():
            return None
        text = ref.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError, TypeError):
        return None
    return parse(text, f"{package}/{PRICES_FILE}")
