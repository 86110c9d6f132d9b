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

import json
import zlib
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

PREFIX = "/rest"  # as in the real base URL
STOCK = "/catalog/productsstockbyhandlingdays.json"
VARIATION_STOCK = "/catalog/productsvariationsstockbyhandlingdays.json"
PRICES = "/catalog/productprices.json"
VARIATION_PRICES = "/catalog/productsvariations.json"
RATE_LIMIT_TEXT = b"You exceeded the rate limit"


@dataclass(frozen=True, slots=True)
class Reply:
    """A scripted answer: `body` is sent as is when bytes, else JSON-encoded.

    The default (200, body None) serves the listing as usual, so a script can
    let some requests through before a failure.
    """

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


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


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names


class FakeBigBuy:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.listings: dict[str, list[Any]] = {
            STOCK: [],
            VARIATION_STOCK: [],
            PRICES: [],
            VARIATION_PRICES: [],
        }
        # How a page past the end looks: BigBuy's empty 200 body, or an empty list.
        self.end_of_pages: Literal["empty body", "empty list"] = "empty body"
        self.requests: list[RecordedRequest] = []
        self._scripts: defaultdict[str, deque[Reply]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    @property
    def stock(self) -> list[Any]:
        return self.listings[STOCK]

    @stock.setter
    def stock(self, items: list[Any]) -> None:
        self.listings[STOCK] = items

    async def __aenter__(self) -> Self:
        app = web.Application()
        for path in self.listings:
            app.router.add_get(PREFIX + path, self._listing)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}{PREFIX}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def script(self, path: str, *replies: Reply) -> None:
        self._scripts[path].extend(replies)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path]

    def pages_read(self, path: str) -> list[int]:
        return [int(request.query["page"]) for request in self.requests_for(path)]

    async def _listing(self, request: web.Request) -> web.StreamResponse:
        path = request.path.removeprefix(PREFIX)
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.requests.append(RecordedRequest(path, dict(request.query), headers))
        script = self._scripts.get(path)
        reply = script.popleft() if script else None
        if reply is not None and not (reply.status == 200 and reply.body is None):
            return _send(reply)
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return web.json_response({"code": 401, "message": "Unauthorized"}, status=401)
        try:
            page = int(request.query["page"])
            size = int(request.query["pageSize"])
        except (KeyError, ValueError):
            return web.json_response({"code": 400, "message": "Bad paging"}, status=400)
        items = self.listings[path][(page - 1) * size : page * size]
        if not items and self.end_of_pages == "empty body":
            return web.Response(status=200, body=b"", content_type="application/json")
        return web.json_response(items)


def _send(reply: Reply) -> web.Response:
    body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
    headers = {"Content-Type": "application/json", **reply.headers}
    return web.Response(status=reply.status, body=body, headers=headers)
