"""A fake BigBuy REST API on 127.0.0.1, run in the test's event loop.

It pages its listings with `page` (from 1) and `pageSize`, ends them the way
BigBuy does (200 with an empty body, or `[]`), checks the Bearer API key (401),
and can be scripted with BigBuy's rate-limit answer (`rate_limited`), its
empty "no data" body (`EMPTY`) or any other reply::

    async with FakeBigBuy(api_key=KEY) as bigbuy:
        bigbuy.stock = [item("S1", stock(5, 1, 2)), ...]
        bigbuy.script(STOCK, rate_limited(reset=epoch), server_error(503))
        bigbuy.base_url  # point the adapter's base_url here
"""

from __future__ import annotations

import zlib
from typing import Any, ClassVar, Literal

from aiohttp import web

from tests.fakes.api_server import FakeApiServer, Reply

PREFIX = "/rest"  # as in the real base URL
STOCK = "/catalog/productsstockbyhandlingdays.json"
VARIATION_STOCK = "/catalog/productsvariationsstockbyhandlingdays.json"
PRICES = "/catalog/productprices.json"
VARIATION_PRICES = "/catalog/productsvariations.json"
RATE_LIMIT_TEXT = b"You exceeded the rate limit"


EMPTY = Reply(200, b"")  # BigBuy's usual "200 OK" with nothing in it


def rate_limited(reset: float | None, status: int = 429) -> Reply:
    """BigBuy's throttle: a non-2xx status, this exact text, the reset as a Unix time."""
    headers = {"Content-Type": "text/plain"}
    if reset is not None:
        headers["X-Ratelimit-Reset"] = str(int(reset))
    return Reply(status, RATE_LIMIT_TEXT, headers)


def server_error(status: int = 500) -> Reply:
    return Reply(status, b"<html><body>Server error</body></html>", {"Content-Type": "text/html"})


def stock(
    quantity: Any, min_days: Any = 1, max_days: Any = 2, warehouse: Any = 1
) -> dict[str, Any]:
    return {
        "quantity": quantity,
        "minHandlingDays": min_days,
        "maxHandlingDays": max_days,
        "warehouse": warehouse,
    }


def item(sku: str, *stocks: dict[str, Any], product_id: int = 0) -> dict[str, Any]:
    return {
        "id": product_id or zlib.crc32(sku.encode()) % 100_000,
        "sku": sku,
        "stocks": list(stocks),
    }


def price(sku: str, wholesale: Any, product_id: int = 0) -> dict[str, Any]:
    return {
        "id": product_id or zlib.crc32(sku.encode()) % 100_000,
        "sku": sku,
        "wholesalePrice": wholesale,
        "retailPrice": 99.99,
        "inShopsPrice": 89.99,
    }


class FakeBigBuy(FakeApiServer):
    prefix: ClassVar[str] = PREFIX

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.listings: dict[str, list[Any]] = {
            STOCK: [],
            VARIATION_STOCK: [],
            PRICES: [],
            VARIATION_PRICES: [],
        }
        # How a page past the end looks: BigBuy's empty 200 body, or an empty list.
        self.end_of_pages: Literal["empty body", "empty list"] = "empty body"

    @property
    def stock(self) -> list[Any]:
        return self.listings[STOCK]

    @stock.setter
    def stock(self, items: list[Any]) -> None:
        self.listings[STOCK] = items

    def add_routes(self, router: web.UrlDispatcher) -> None:
        for path in self.listings:
            router.add_get(PREFIX + path, self._listing)

    def pages_read(self, path: str) -> list[int]:
        return [int(request.query["page"]) for request in self.requests_for(path)]

    async def _listing(self, request: web.Request) -> web.StreamResponse:
        recorded, early = await self.begin(request)
        if early is not None:
            return early
        if recorded.headers.get("authorization") != f"Bearer {self.api_key}":
            return web.json_response({"code": 401, "message": "Unauthorized"}, status=401)
        try:
            page = int(request.query["page"])
            size = int(request.query["pageSize"])
        except (KeyError, ValueError):
            return web.json_response({"code": 400, "message": "Bad paging"}, status=400)
        items = self.listings[recorded.path][(page - 1) * size : page * size]
        if not items and self.end_of_pages == "empty body":
            return web.Response(status=200, body=b"", content_type="application/json")
        return web.json_response(items)
