"""A fake Printful API (v1 and v2 catalog availability) on 127.0.0.1.

Runs in the test's event loop. It checks the Bearer token (401), answers 404
for unknown variants in each version's error shape, and can enforce Printful's
leaky-bucket limit (`rate_limit(capacity, per_seconds)`) on the shared test
clock, answering 429 with Retry-After like the real API::

    async with FakePrintful(token=TOKEN, clock=clock) as printful:
        printful.v2[4012] = [technique("dtg", usa="in stock", europe="out of stock")]
        printful.v1[4012] = v1_variant(4012, "13.50", US="in_stock")
        printful.script("/products/variant/4012", Reply(429, {...}, {"Retry-After": "3"}))
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from tests.fakes.api_server import FakeApiServer


def v1_path(variant_id: int | str) -> str:
    return f"/products/variant/{variant_id}"


def v2_path(variant_id: int | str) -> str:
    return f"/v2/catalog-variants/{variant_id}/availability"


def technique(name: str, **regions: str) -> dict[str, Any]:
    """One v2 technique entry: region name -> availability ("in stock", ...)."""
    selling = [{"name": region, "availability": value} for region, value in regions.items()]
    return {"technique": name, "selling_regions": selling}


def v1_variant(variant_id: int, price: Any = "13.50", **statuses: str) -> dict[str, Any]:
    """A v1 catalog variant: region code -> status ("in_stock", ...)."""
    return {
        "id": variant_id,
        "product_id": 71,
        "name": "Unisex Staple T-Shirt | Bella + Canvas 3001 (Black / M)",
        "size": "M",
        "color": "Black",
        "price": price,
        "in_stock": any(status == "in_stock" for status in statuses.values()),
        "availability_regions": {"US": "United States", "EU": "Europe"},
        "availability_status": [
            {"region": region, "status": status} for region, status in statuses.items()
        ],
    }


class FakePrintful(FakeApiServer):
    def __init__(self, token: str, clock: Callable[[], datetime]) -> None:
        super().__init__()
        self.token = token
        self.clock = clock
        self.v1: dict[int, Any] = {}  # variant id -> v1 variant object
        self.v2: dict[int, Any] = {}  # variant id -> v2 techniques list
        self.throttled = 0  # requests answered 429 by the leaky bucket
        self._bucket: tuple[int, float] | None = None  # capacity, per seconds
        self._level = 0.0
        self._level_at: datetime | None = None

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/products/variant/{id}", self._v1_variant)
        router.add_get("/v2/catalog-variants/{id}/availability", self._v2_availability)

    def rate_limit(self, capacity: int, per_seconds: float) -> None:
        """Printful's leaky bucket: `capacity` calls, draining evenly over `per_seconds`."""
        self._bucket = (capacity, per_seconds)

    def paths(self) -> list[str]:
        return [request.path for request in self.requests]

    # --- handlers ---

    async def _v1_variant(self, request: web.Request) -> web.StreamResponse:
        def answer(variant_id: int) -> web.Response:
            variant = self.v1.get(variant_id)
            if variant is None:
                error = {"reason": "NotFound", "message": "Variant not found"}
                body = {"code": 404, "result": "Variant not found", "error": error}
                return web.json_response(body, status=404)
            product = {"id": 71, "title": "Unisex Staple T-Shirt"}
            return web.json_response(
                {"code": 200, "result": {"variant": variant, "product": product}}
            )

        return await self._handle(request, answer, _v1_unauthorized)

    async def _v2_availability(self, request: web.Request) -> web.StreamResponse:
        def answer(variant_id: int) -> web.Response:
            techniques = self.v2.get(variant_id)
            if techniques is None:
                return web.json_response(_v2_error(404, "Not Found"), status=404)
            entry = {"catalog_variant_id": variant_id, "techniques": techniques}
            links = {"self": {"href": f"{self.base_url}{request.path}"}}
            return web.json_response({"data": [entry], "_links": links})

        return await self._handle(request, answer, lambda: _v2_error(401, "Unauthorized"))

    async def _handle(
        self,
        request: web.Request,
        answer: Callable[[int], web.Response],
        unauthorized: Callable[[], Any],
    ) -> web.StreamResponse:
        recorded, early = await self.begin(request)
        if early is not None:
            return early
        if recorded.headers.get("authorization") != f"Bearer {self.token}":
            return web.json_response(unauthorized(), status=401)
        if (wait := self._leak()) is not None:
            self.throttled += 1
            body = _v2_error(429, "Too Many Requests")
            return web.json_response(body, status=429, headers={"Retry-After": str(wait)})
        try:
            variant_id = int(request.match_info["id"])
        except ValueError:
            return web.json_response(_v2_error(404, "Not Found"), status=404)
        return answer(variant_id)

    def _leak(self) -> int | None:
        """Add this call to the bucket; seconds to wait when it would overflow."""
        if self._bucket is None:
            return None
        capacity, period = self._bucket
        rate = capacity / period
        now = self.clock()
        if self._level_at is not None:
            drained = (now - self._level_at).total_seconds() * rate
            self._level = max(0.0, self._level - drained)
        self._level_at = now
        if self._level + 1 > capacity:
            return math.ceil((self._level + 1 - capacity) / rate)
        self._level += 1
        return None


def _v1_unauthorized() -> dict[str, Any]:
    error = {"reason": "Unauthorized", "message": "Malformed or missing access token"}
    return {"code": 401, "result": "Unauthorized", "error": error}


def _v2_error(status: int, title: str) -> dict[str, Any]:
    return {
        "type": "https://developers.printful.com/docs/v2-beta/#tag/Errors",
        "status": status,
        "title": title,
        "detail": title,
    }
