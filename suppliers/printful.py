"""Printful: whether each catalog variant can be ordered in one selling region.

Printful prints on demand, so it never says how many are in stock: records carry
quantity=None with availability IN_STOCK / OUT_OF_STOCK / DISCONTINUED. The
supplier SKU is Printful's catalog variant id.

* API v2 (default): `GET /v2/catalog-variants/{id}/availability`, regions named
  like "usa" / "europe", availability written with spaces ("in stock").
* API v1: `GET /products/variant/{id}`, regions coded like "US" / "EU",
  statuses with underscores ("in_stock"); the answer also carries the price.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Sequence
from decimal import Decimal
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx
from pydantic import Field, field_validator

from suppliers.api_adapter import ApiAdapterBase, ApiOptions, check_http_status
from suppliers.base import Availability, FeedInvalid, FeedStats, StockRecord
from suppliers.parsing import parse_price, show
from transport import EnvVarName, NotFound, TokenRejected, read_json

PRINTFUL_BASE_URL = "https://api.printful.com"
DEFAULT_REGIONS = {1: "US", 2: "usa"}

# Both versions' words, normalised to lower case with underscores.
STATUSES: dict[str, Availability] = {
    "in_stock": Availability.IN_STOCK,
    "stocked_on_demand": Availability.IN_STOCK,  # printed when ordered: orderable
    "out_of_stock": Availability.OUT_OF_STOCK,
    "temporary_out_of_stock": Availability.OUT_OF_STOCK,
    "supplier_out_of_stock": Availability.OUT_OF_STOCK,
    "discontinued": Availability.DISCONTINUED,
}


class PrintfulOptions(ApiOptions):
    base_url: str = PRINTFUL_BASE_URL
    token_env: EnvVarName = Field("PRINTFUL_TOKEN", validate_default=True)
    api_version: Literal[1, 2] = 2
    # Selling region to watch; None = "usa" for v2, "US" for v1. Matched ignoring case.
    region: str | None = None
    # v2 only: consider one printing technique (e.g. "dtg"); None = any technique.
    technique: str | None = None
    # Printful allows 120 calls a minute per token; use half, leaving the rest to the
    # shop's other Printful apps (the store integration itself uses the same limit).
    requests_per_second: float = Field(1.0, gt=0, le=2)

    @field_validator("region", "technique")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty (leave it out for the default)")
        return value.strip() if value is not None else None

    @property
    def selling_region(self) -> str:
        return self.region or DEFAULT_REGIONS[self.api_version]


class PrintfulAdapter(ApiAdapterBase):
    """Polls Printful per catalog variant id."""

    kind: ClassVar[str] = "printful"
    Options: ClassVar[type[ApiOptions]] = PrintfulOptions
    service: ClassVar[str] = "Printful"
    options: PrintfulOptions

    @property
    def credential_env(self) -> str:
        return self.options.token_env

    def not_found_hint(self, skus: Sequence[str]) -> str:
        return (
            "The catalog's supplier SKUs for Printful must be its catalog variant ids "
            f"(numbers, asked through API version {self.options.api_version}); check them "
            "and api_version"
        )

    async def records(self, skus: list[str], stats: FeedStats) -> AsyncGenerator[StockRecord, None]:
        headers = {"Authorization": f"Bearer {self.credential()}"}
        for position, sku in enumerate(skus, start=1):
            record = await self._record(position, sku, headers, stats)
            if record is not None:
                yield record

    async def _record(
        self, position: int, sku: str, headers: dict[str, str], stats: FeedStats
    ) -> StockRecord | None:
        if not (sku.isascii() and sku.isdigit()):  # Printful ids are numbers: none can match
            self.mark_unknown(sku, stats)
            return None
        try:
            body = await self.api.call("GET", self._path(sku), self._check, headers=headers)
        except NotFound:
            self.mark_unknown(sku, stats)
            return None
        stats.rows_read += 1
        try:
            availability, price = self._parse(body, sku)
        except ValueError as exc:
            stats.reject(position, f"variant {show(sku)}: {exc}", sku)
            return None
        return StockRecord(sku, None, price, availability=availability)

    def _path(self, sku: str) -> str:
        variant = quote(sku, safe="")
        if self.options.api_version == 1:
            return f"/products/variant/{variant}"
        return f"/v2/catalog-variants/{variant}/availability"

    def _parse(self, body: Any, sku: str) -> tuple[Availability, Decimal | None]:
        region = self.options.selling_region
        if self.options.api_version == 1:
            variant = _v1_variant(body, sku)
            return _v1_availability(variant, region), parse_price(variant.get("price"))
        entry = _v2_entry(body, sku)
        return _v2_availability(entry, region, self.options.technique), None

    def _check(self, response: httpx.Response) -> Any:
        try:
            check_http_status(response, self.service, self.policy.clock, unknown_on_404=True)
        except TokenRejected:
            raise FeedInvalid(
                "Printful did not accept the access token in the environment variable "
                f"{self.options.token_env}; check it in Printful's developer settings"
            ) from None
        body = read_json(response, self.service)
        if isinstance(body, dict) and body.get("code") == 404:  # v1 puts the status in the body
            raise NotFound
        return body


# --- answers -------------------------------------------------------------------------------


def _status(value: object) -> Availability:
    text = str(value).strip().casefold().replace(" ", "_").replace("-", "_")
    try:
        return STATUSES[text]
    except KeyError:
        raise ValueError(f"unknown availability {show(value)}") from None


def _combined(
    statuses: list[Availability], region: str, regions_seen: Iterable[str]
) -> Availability:
    """Orderable if any entry says so; discontinued only if every entry does."""
    if not statuses:
        seen = ", ".join(sorted(set(regions_seen))) or "none"
        raise ValueError(f"no availability for region {show(region)} (regions listed: {seen})")
    if Availability.IN_STOCK in statuses:
        return Availability.IN_STOCK
    if Availability.OUT_OF_STOCK in statuses:
        return Availability.OUT_OF_STOCK
    return Availability.DISCONTINUED


def _v1_variant(body: Any, sku: str) -> dict[str, Any]:
    """The variant from `/products/variant/{id}` or `/products/{product_id}` answers."""
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, dict):
        raise ValueError("Printful sent no variant data")
    variant = result.get("variant")
    if isinstance(variant, dict):
        return variant
    for candidate in result.get("variants") or []:
        if isinstance(candidate, dict) and str(candidate.get("id")) == sku:
            return candidate
    raise ValueError("Printful sent no data for this variant")


def _v1_availability(variant: dict[str, Any], region: str) -> Availability:
    entries = variant.get("availability_status")
    if entries is None and isinstance(variant.get("in_stock"), bool):
        # Older answers: one flag for all regions.
        return Availability.IN_STOCK if variant["in_stock"] else Availability.OUT_OF_STOCK
    if not isinstance(entries, list):
        raise ValueError("no availability_status list")
    statuses: list[Availability] = []
    seen: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError("an availability_status entry is not an object")
        name = str(entry.get("region", ""))
        seen.append(name)
        if name.casefold() == region.casefold():
            statuses.append(_status(entry.get("status")))
    return _combined(statuses, region, seen)


def _v2_entry(body: Any, sku: str) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, dict):
        return data
    if isinstance(data, list):
        for entry in data:
            if isinstance(entry, dict) and str(entry.get("catalog_variant_id")) == sku:
                return entry
        if len(data) == 1 and isinstance(data[0], dict):
            return data[0]
    raise ValueError("Printful sent no availability data")


def _v2_availability(entry: dict[str, Any], region: str, technique: str | None) -> Availability:
    techniques = entry.get("techniques")
    if not isinstance(techniques, list):
        raise ValueError("no techniques list")
    statuses: list[Availability] = []
    seen: list[str] = []
    for item in techniques:
        if not isinstance(item, dict) or not isinstance(item.get("selling_regions"), list):
            raise ValueError("a technique has no selling_regions list")
        if (
            technique is not None
            and str(item.get("technique", "")).casefold() != technique.casefold()
        ):
            continue
        for selling in item["selling_regions"]:
            name = str(selling.get("name", "")) if isinstance(selling, dict) else ""
            seen.append(name)
            if name.casefold() == region.casefold():
                statuses.append(_status(selling.get("availability")))
    return _combined(statuses, region, seen)
