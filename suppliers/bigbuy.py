"""BigBuy: stock read from the paged bulk listing, kept for the SKUs the catalog asks.

`GET /catalog/productsstockbyhandlingdays.json?page=&pageSize=` lists items
`{id, sku, stocks:[{quantity, minHandlingDays, maxHandlingDays, warehouse}]}`:
stock comes in parts by how fast BigBuy dispatches it. Paging stops on an empty
page (BigBuy answers 200 with an empty body rather than 404), once every asked
SKU was found, or at `max_pages`. Rate limits are per endpoint per hour: a
non-2xx answer reading "You exceeded the rate limit" with `X-Ratelimit-Reset`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field

from suppliers.api_adapter import ApiAdapterBase, ApiOptions, check_http_status
from suppliers.base import FeedInvalid, FeedStats, StockRecord
from suppliers.parsing import parse_price, parse_quantity, parse_sku, show
from transport import EnvVarName, Retry, TokenRejected, rate_limit_wait, read_json

log = logging.getLogger(__name__)

BIGBUY_BASE_URL = "https://api.bigbuy.eu/rest"
RATE_LIMIT_TEXT = "You exceeded the rate limit"
PRODUCT_LISTINGS = ("/catalog/productsstockbyhandlingdays.json", "/catalog/productprices.json")
VARIATION_LISTINGS = (
    "/catalog/productsvariationsstockbyhandlingdays.json",
    "/catalog/productsvariations.json",
)


class BigBuyOptions(ApiOptions):
    base_url: str = BIGBUY_BASE_URL
    api_key_env: EnvVarName = Field("BIGBUY_API_KEY", validate_default=True)
    # Which item field the catalog's supplier SKUs are: BigBuy's "sku" or numeric "id".
    match_on: Literal["sku", "id"] = "sku"
    # Also read the variations listings (for catalogs that sell variation SKUs).
    include_variations: bool = False
    # Prices are a second paged listing (more calls against the hourly limit): opt-in.
    fetch_prices: bool = False
    page_size: int = Field(1000, ge=1, le=10_000)
    max_pages: int = Field(200, ge=1, le=10_000)  # per listing; guards against endless paging
    first_page: int = Field(1, ge=0, le=1)  # the number BigBuy gives its first page


@dataclass(slots=True)
class _Stock:
    quantity: int
    warehouses: tuple[tuple[str, int], ...]
    lead_time_days: int | None
    price: Decimal | None = None


@dataclass(slots=True)
class _Scan:
    """What one poll has read so far."""

    wanted: set[str]
    stats: FeedStats
    found: dict[str, _Stock] = field(default_factory=dict)
    # SKUs whose items were unreadable: listed, so not unknown.
    rejected: set[str] = field(default_factory=set)
    priced: set[str] = field(default_factory=set)
    items_listed: int = 0  # stock items, numbering set-aside rows
    prices_listed: int = 0

    def missing(self) -> set[str]:
        return self.wanted - self.found.keys() - self.rejected

    def all_found(self) -> bool:
        return not self.missing()

    def all_priced(self) -> bool:
        return not (self.found.keys() - self.priced)


class BigBuyAdapter(ApiAdapterBase):
    """Reads BigBuy's bulk stock listing and keeps the SKUs the catalog asks for."""

    kind: ClassVar[str] = "bigbuy"
    Options: ClassVar[type[ApiOptions]] = BigBuyOptions
    service: ClassVar[str] = "BigBuy"
    # The whole listing is read anyway, so a SKU reported unknown is still looked
    # for and comes back by itself if BigBuy lists it again.
    skip_unknown: ClassVar[bool] = False
    options: BigBuyOptions

    @property
    def credential_env(self) -> str:
        return self.options.api_key_env

    def not_found_hint(self, skus: Sequence[str]) -> str:
        match_on = self.options.match_on
        other = "id" if match_on == "sku" else "sku"
        return (
            f"With match_on = \"{match_on}\" the catalog's supplier SKUs must be BigBuy's "
            f'"{match_on}" values; if they are its "{other}" values, set match_on = "{other}"'
        )

    async def records(self, skus: list[str], stats: FeedStats) -> AsyncGenerator[StockRecord, None]:
        if not skus:
            return
        scan = _Scan(set(skus), stats)
        complete = await self._read_stock(scan)
        if self.options.fetch_prices and scan.found:
            await self._read_prices(scan)
        self._report_unknown(scan, complete)
        for sku in skus:
            stock = scan.found.get(sku)
            if stock is not None:
                yield StockRecord(
                    sku,
                    stock.quantity,
                    stock.price,
                    availability=StockRecord.availability_for(stock.quantity),
                    warehouses=stock.warehouses,
                    lead_time_days=stock.lead_time_days,
                )

    # --- listings ---

    def _listings(self) -> list[tuple[str, str]]:
        """(stock path, price path) pairs to read, products first."""
        listings = [PRODUCT_LISTINGS]
        if self.options.include_variations:
            listings.append(VARIATION_LISTINGS)
        return listings

    async def _read_stock(self, scan: _Scan) -> bool:
        """Fill `scan.found`; True when absent SKUs are known to be absent."""
        for stock_path, _ in self._listings():
            take = partial(self._take_stock, scan)
            if not await self._page_through(stock_path, take, scan.all_found):
                return False
            if scan.all_found():
                break
        return True

    async def _read_prices(self, scan: _Scan) -> None:
        for _, price_path in self._listings():
            await self._page_through(price_path, partial(self._take_price, scan), scan.all_priced)
            if scan.all_priced():
                break

    async def _page_through(
        self, path: str, take: Callable[[Any], None], done: Callable[[], bool]
    ) -> bool:
        """Feed every item to `take` until an empty page or `done()`; False at the page cap."""
        headers = {"Authorization": f"Bearer {self.credential()}"}
        options = self.options
        for page in range(options.first_page, options.first_page + options.max_pages):
            params = {"page": str(page), "pageSize": str(options.page_size)}
            items = await self.api.call("GET", path, self._check, params=params, headers=headers)
            if not items:
                return True
            for item in items:
                take(item)
            if done():
                return True
        log.warning(
            "BigBuy %s: stopped after max_pages=%d pages; SKUs not found by then are not "
            "reported as unknown (raise max_pages if the catalogue is larger)",
            path,
            options.max_pages,
        )
        return False

    # --- items ---

    def _take_stock(self, scan: _Scan, item: Any) -> None:
        scan.items_listed += 1
        scan.stats.rows_read += 1
        position = scan.items_listed
        try:
            sku = self._key(item)
        except ValueError as exc:
            scan.stats.reject(position, f"unreadable item ({exc})")
            return
        if sku not in scan.wanted:
            return
        if sku in scan.found or sku in scan.rejected:
            scan.stats.reject(position, f"SKU {show(sku)} is listed twice", sku)
            return
        try:
            scan.found[sku] = _stock(item)
        except ValueError as exc:
            scan.rejected.add(sku)
            scan.stats.reject(position, f"SKU {show(sku)}: {exc}", sku)

    def _take_price(self, scan: _Scan, item: Any) -> None:
        scan.prices_listed += 1
        try:
            sku = self._key(item)
        except ValueError:
            return  # not one of ours as far as we can tell; stock was already read
        stock = scan.found.get(sku)
        if stock is None or sku in scan.priced:
            return
        scan.priced.add(sku)
        try:
            price = parse_price(item.get("wholesalePrice"))
        except ValueError as exc:
            # The same rule as feeds: a row with an unreadable price is set aside whole.
            del scan.found[sku]
            scan.rejected.add(sku)
            scan.stats.reject(scan.prices_listed, f"SKU {show(sku)} (price list): {exc}", sku)
            return
        scan.found[sku] = replace(stock, price=price)

    def _key(self, item: Any) -> str:
        if not isinstance(item, dict):
            raise ValueError("not an object")
        return parse_sku(item.get(self.options.match_on))

    def _report_unknown(self, scan: _Scan, complete: bool) -> None:
        # SKUs listed again are no longer unknown (and may be reported again later).
        self.unknown.forget(scan.found.keys() | scan.rejected)
        if not complete or scan.items_listed == 0:
            # A cut-short or empty listing proves nothing about the SKUs it lacks.
            return
        for sku in sorted(scan.missing()):
            self.mark_unknown(sku, scan.stats)

    # --- answers ---

    def _check(self, response: httpx.Response) -> list[Any] | None:
        """One page's items; None for an empty body (no data)."""
        clock = self.policy.clock
        if not response.is_success and RATE_LIMIT_TEXT in response.text:
            raise Retry("said the hourly API limit is used up", rate_limit_wait(response, clock))
        try:
            check_http_status(response, self.service, clock)
        except TokenRejected:
            raise FeedInvalid(
                "BigBuy did not accept the API key in the environment variable "
                f"{self.options.api_key_env}; check it in BigBuy's API settings"
            ) from None
        body = read_json(response, self.service)
        if body is None or isinstance(body, list):
            return body
        raise FeedInvalid("BigBuy sent something other than a product list")


def _stock(item: dict[str, Any]) -> _Stock:
    stocks = item.get("stocks")
    if not isinstance(stocks, list):
        raise ValueError("has no stocks list")
    totals: dict[str, int] = {}
    days_in_stock: list[int] = []
    days_any: list[int] = []
    for index, entry in enumerate(stocks, start=1):
        if not isinstance(entry, dict):
            raise ValueError(f"stock entry {index} is not an object")
        quantity = parse_quantity(entry.get("quantity"))
        if quantity is None:
            raise ValueError(f"stock entry {index} has no quantity")
        warehouse = str(entry.get("warehouse") or "").strip() or "main"
        totals[warehouse] = totals.get(warehouse, 0) + quantity
        days = _days(entry.get("minHandlingDays"))
        if days is not None:
            days_any.append(days)
            if quantity > 0:
                days_in_stock.append(days)
    # An empty stocks list is a listed product with nothing in stock: quantity 0.
    lead_time = min(days_in_stock or days_any, default=None)
    return _Stock(sum(totals.values()), tuple(totals.items()), lead_time)


def _days(value: object) -> int | None:
    """Handling days: a whole number from 0 up, or None when not given."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ValueError(f"handling days {show(value)} is not a whole number of days")
