"""A fake WooCommerce REST API (wc/v3) on 127.0.0.1.

Orders page with `page`/`per_page`, filter by comma-separated `status` and carry
`X-WP-Total`, `X-WP-TotalPages` and `Link: <...>; rel="next"` (which a test can
switch off, as some proxies strip it). Products and variations can be found by
`sku` and updated with `PUT`; errors use WooCommerce's
`{"code", "message", "data": {"status"}}` shape. HTTP Basic auth is checked::

    async with FakeWooCommerce(key=KEY, secret=SECRET) as woo:
        woo.orders = [order(1, ...), ...]
        woo.add_product("MUG", stock=3)
        woo.script(PRODUCTS, unavailable(retry_after="7"))
        woo.site_url  # point the adapter's site_url here
"""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from tests.fakes.api_server import FakeApiServer, Reply, send

API = "/wp-json/wc/v3"
ORDERS = f"{API}/orders"
PRODUCTS = f"{API}/products"
UPDATES = "PUT"  # script key for every product/variation update
ORDER_UPDATES = "PUT order"  # script key for order updates (a cancel)
ORDER_READS = "GET order"  # script key for reading one order
NOTES = "NOTES"  # script key for every order note request


def wc_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"code": code, "message": message, "data": {"status": status}})


def unavailable(retry_after: str = "5") -> Reply:
    """What a host or firewall in front of WordPress sends when overloaded."""
    headers = {"Retry-After": retry_after, "Content-Type": "text/html"}
    return Reply(503, b"<html><body>Service Unavailable</body></html>", headers)


def order(
    number: int,
    *lines: tuple[str, int],
    status: str = "processing",
    email: str = "bo@example.com",
    created_gmt: str = "2026-11-21T08:30:00",
) -> dict[str, Any]:
    return {
        "id": 700 + number,
        "number": str(number),
        "status": status,
        "currency": "EUR",
        "total": "42.50",
        "date_created": "2026-11-21T09:30:00",
        "date_created_gmt": created_gmt,
        "billing": {"first_name": "Bo", "last_name": "Berg", "email": email},
        "line_items": [
            {
                "id": 9000 + index,
                "product_id": 50 + index,
                "variation_id": 0,
                "sku": sku,
                "quantity": quantity,
                "price": 21.25,
                "total": "21.25",
            }
            for index, (sku, quantity) in enumerate(lines)
        ],
    }


class FakeWooCommerce(FakeApiServer):
    def __init__(self, key: str, secret: str) -> None:
        super().__init__()
        self.key = key
        self.secret = secret
        self.orders: list[dict[str, Any]] = []
        self.link_header = True  # False: only X-WP-TotalPages tells of more pages
        self.page_size = 100  # lower it to get several pages
        self.items: dict[int, dict[str, Any]] = {}  # products and variations by id
        self.notes: dict[int, list[dict[str, Any]]] = {}  # order notes by order id

    @property
    def site_url(self) -> str:
        return self.url

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get(ORDERS, self._orders)
        router.add_get(ORDERS + "/{id:\\d+}", self._order)
        router.add_put(ORDERS + "/{id:\\d+}", self._update_order)
        router.add_get(PRODUCTS, self._products)
        router.add_put(PRODUCTS + "/{id:\\d+}", self._update)
        router.add_get(ORDERS + "/{id:\\d+}/notes", self._notes)
        router.add_post(ORDERS + "/{id:\\d+}/notes", self._notes)
        router.add_put(PRODUCTS + "/{parent:\\d+}/variations/{id:\\d+}", self._update)

    def add_product(self, sku: str, stock: int | None = None, parent_id: int = 0) -> int:
        item_id = 100 + len(self.items)
        self.items[item_id] = {
            "id": item_id,
            "parent_id": parent_id,
            "type": "variation" if parent_id else "simple",
            "sku": sku,
            "price": "12.90",
            "manage_stock": stock is not None,
            "stock_quantity": stock,
            "stock_status": "instock",
            "backorders": "no",
        }
        return item_id

    def item(self, sku: str) -> dict[str, Any]:
        return next(item for item in self.items.values() if item["sku"] == sku)

    # --- handlers ------------------------------------------------------------------------

    async def _begin(self, request: web.Request, key: str) -> tuple[Any, web.Response | None]:
        recorded, early = await self.begin(request, key)
        if early is not None:
            return recorded.body, early
        expected = base64.b64encode(f"{self.key}:{self.secret}".encode()).decode()
        if recorded.headers.get("authorization") != f"Basic {expected}":
            # WooCommerce echoes the key it could not match.
            given = _basic_user(recorded.headers.get("authorization", ""))
            message = f"Consumer key {given} is invalid."
            return recorded.body, send(
                wc_error(401, "woocommerce_rest_authentication_error", message)
            )
        return recorded.body, None

    async def _orders(self, request: web.Request) -> web.Response:
        _, early = await self._begin(request, ORDERS)
        if early is not None:
            return early
        statuses = set(request.query.get("status", "any").split(","))
        matching = [o for o in self.orders if "any" in statuses or o["status"] in statuses]
        per_page = int(request.query.get("per_page", "10"))
        page = int(request.query.get("page", "1"))
        if not 1 <= per_page <= 100:
            return send(wc_error(400, "rest_invalid_param", "Invalid parameter(s): per_page"))
        per_page = min(per_page, self.page_size)
        total_pages = max(1, -(-len(matching) // per_page))
        headers = {"X-WP-Total": str(len(matching)), "X-WP-TotalPages": str(total_pages)}
        if page < total_pages and self.link_header:
            query = {**request.query, "page": str(page + 1)}
            url = request.url.with_query(query)
            headers["Link"] = f'<{self.site_url}{url.path_qs}>; rel="next"'
        return web.json_response(matching[(page - 1) * per_page : page * per_page], headers=headers)

    async def _notes(self, request: web.Request) -> web.Response:
        """GET or POST `/orders/<id>/notes`; a new note is {note, customer_note}."""
        body, early = await self._begin(request, NOTES)
        if early is not None:
            return early
        order_id = int(request.match_info["id"])
        if not any(int(o["id"]) == order_id for o in self.orders):
            return send(wc_error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID."))
        notes = self.notes.setdefault(order_id, [])
        if request.method == "GET":
            return web.json_response(notes)
        if not isinstance(body, dict) or not isinstance(body.get("note"), str) or not body["note"]:
            return send(wc_error(400, "rest_missing_callback_param", "Missing parameter(s): note"))
        if not isinstance(body.get("customer_note", False), bool) or set(body) - {
            "note",
            "customer_note",
            "added_by_user",
        }:
            return send(wc_error(400, "rest_invalid_param", "Invalid parameter(s)"))
        note = {"id": 200 + len(notes), "note": body["note"], **body}
        notes.append(note)
        return web.json_response(note, status=201)

    async def _products(self, request: web.Request) -> web.Response:
        _, early = await self._begin(request, PRODUCTS)
        if early is not None:
            return early
        sku = request.query.get("sku")
        found = [item for item in self.items.values() if sku is None or item["sku"] == sku]
        return web.json_response(found)

    async def _one_order(
        self, request: web.Request, key: str
    ) -> tuple[Any, dict[str, Any] | web.Response]:
        """The request's body and the order its path names, or the answer to send."""
        body, early = await self._begin(request, key)
        if early is not None:
            return body, early
        found = next((o for o in self.orders if o["id"] == int(request.match_info["id"])), None)
        if found is None:
            return body, send(
                wc_error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
            )
        return body, found

    async def _order(self, request: web.Request) -> web.Response:
        """`GET /orders/<id>`: the order as listed."""
        _, found = await self._one_order(request, ORDER_READS)
        return found if isinstance(found, web.Response) else web.json_response(found)

    async def _update_order(self, request: web.Request) -> web.Response:
        """`PUT /orders/<id>`: only a known status may be set (what Stockbot sends)."""
        body, found = await self._one_order(request, ORDER_UPDATES)
        if isinstance(found, web.Response):
            return found
        if set(body) != {"status"} or body["status"] not in _ORDER_STATUSES:
            return send(wc_error(400, "rest_invalid_param", "Invalid parameter(s): status"))
        found["status"] = body["status"]
        return web.json_response(found)

    async def _update(self, request: web.Request) -> web.Response:
        body, early = await self._begin(request, UPDATES)
        if early is not None:
            return early
        item = self.items.get(int(request.match_info["id"]))
        parent = int(request.match_info.get("parent", "0"))
        if item is None or item["parent_id"] != parent:
            return send(wc_error(404, "woocommerce_rest_product_invalid_id", "Invalid ID."))
        if body.get("stock_status") not in ("instock", "outofstock", "onbackorder"):
            message = "Invalid parameter(s): stock_status"
            return send(wc_error(400, "rest_invalid_param", message))
        item.update(body)
        return web.json_response(item)


_ORDER_STATUSES = {
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
}


def _basic_user(header: str) -> str:
    try:
        return base64.b64decode(header.removeprefix("Basic ")).decode().split(":")[0]
    except ValueError:
        return ""
