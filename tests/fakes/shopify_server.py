"""A fake Shopify Admin API (REST orders + GraphQL inventory) on 127.0.0.1.

REST `orders.json` pages with opaque `page_info` cursors in `Link` headers and
refuses other filters beside `page_info`, as Shopify does; every answer carries
`X-Shopify-Shop-Api-Call-Limit`. GraphQL understands the operations the adapter
sends (variant by SKU, variants by id through `nodes(ids:)`,
`inventorySetQuantities`, `productVariantsBulkUpdate`, `orderCancel`, `order(id:)`
with the fields asked for, `orderUpdate`, and `tagsAdd`/`tagsRemove`, alone or
together, each with `id: ID!` and `tags: [String!]!`) and reports
`extensions.cost` like Shopify. Every API version in the path is served, and
`inventorySetQuantities` must have that version's shape: `ignoreCompareQuantity`
before 2026-04 (`changeFromQuantity` exists from 2026-01), `changeFromQuantity`
on every quantity from 2026-04, where the compare fields are gone. Any answer can
be scripted, e.g. a REST 429 or a GraphQL THROTTLED::

    async with FakeShopify(token=TOKEN) as shop:
        shop.orders = [order(1001, ...), ...]
        shop.add_variant("SKU-1")
        shop.script(GRAPHQL, graphql_throttled(status=429))
        shop.shop_url  # point the adapter's shop_url here
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.fakes.api_server import FakeApiServer, Reply

API_VERSION = "2025-01"


def orders_path(version: str = API_VERSION) -> str:
    return f"/admin/api/{version}/orders.json"


def graphql_path(version: str = API_VERSION) -> str:
    return f"/admin/api/{version}/graphql.json"


ORDERS = orders_path()
GRAPHQL = graphql_path()
# The version that made `changeFromQuantity` mandatory and removed the compare fields.
CHANGE_FROM_VERSION = "2026-04"
LOCATION = "gid://shopify/Location/4242"
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"


def rest_throttled(retry_after: str = "2.0") -> Reply:
    message = "Exceeded 2 calls per second for api client. Reduce request rates to resume."
    return Reply(429, {"errors": message}, {"Retry-After": retry_after})


def cost(available: float = 1000.0, requested: int = 10, actual: int | None = 10) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": 1000.0,
                "currentlyAvailable": available,
                "restoreRate": 50.0,
            },
        }
    }


def graphql_throttled(status: int = 200, available: float = 4.0) -> Reply:
    """Shopify's cost throttle: 10 points asked, `available` left, 50 restored per second."""
    body = {
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": cost(available, requested=10, actual=None),
    }
    return Reply(status, body)


def order(
    number: int,
    *lines: tuple[str, int],
    email: str = "ann@example.com",
    first: str = "Ann",
    last: str = "Lee",
    created_at: str = "2026-11-20T10:15:00-05:00",
) -> dict[str, Any]:
    return {
        "id": 450789469 + number,
        "name": f"#{number}",
        "email": email,
        "created_at": created_at,
        "closed_at": None,
        "cancelled_at": None,
        "financial_status": "paid",
        "fulfillment_status": None,
        "total_price": "199.00",
        "customer": {"id": 207119551, "first_name": first, "last_name": last, "email": email},
        "line_items": [
            {
                "id": 466157049 + index,
                "variant_id": 39072856 + index,
                "sku": sku,
                "quantity": quantity,
                "price": "99.50",
                "fulfillment_status": None,
                "fulfillable_quantity": quantity,
                "variant_inventory_management": "shopify",
            }
            for index, (sku, quantity) in enumerate(lines)
        ],
    }


@dataclass(slots=True)
class Variant:
    sku: str
    number: int  # the REST `id`, and an order line item's `variant_id`
    inventory_policy: str = "DENY"

    @property
    def gid(self) -> str:
        return f"gid://shopify/ProductVariant/{self.number}"

    @property
    def product_gid(self) -> str:
        return f"gid://shopify/Product/{self.number + 5000}"

    @property
    def item_gid(self) -> str:
        return f"gid://shopify/InventoryItem/{self.number + 9000}"


class FakeShopify(FakeApiServer):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.orders: list[dict[str, Any]] = []
        self.page_size = 250  # lower it to get several pages
        self.call_limit = "1/40"
        self.variants: dict[str, Variant] = {}
        self.locations = {LOCATION}
        self.quantities: dict[tuple[str, str], int] = {}  # (item gid, location gid)
        self.cancelled: list[str] = []  # order gids, in the order `orderCancel` took them

        # Orders' notes and tags, by order GID (orders listed in `orders` exist).
        self.notes: dict[str, str] = {}
        self.tags: dict[str, list[str]] = {}

    @property
    def shop_url(self) -> str:
        return self.url

    def add_routes(self, router: web.UrlDispatcher) -> None:
        # Every API version: the adapter builds its paths and mutations per version.
        router.add_get(orders_path("{version:\\d{4}-\\d{2}}"), self._orders)
        router.add_post(graphql_path("{version:\\d{4}-\\d{2}}"), self._graphql)

    def add_variant(self, sku: str, policy: str = "DENY") -> Variant:
        variant = Variant(sku, 1000 + len(self.variants), policy)
        self.variants[sku] = variant
        return variant

    def operations(self) -> list[str]:
        """The GraphQL operation names received, in order."""
        names = []
        for request in self.requests_for(GRAPHQL):
            match = re.search(r"(?:query|mutation)\s+(\w+)", request.body["query"])
            names.append(match.group(1) if match else "?")
        return names

    # --- handlers ------------------------------------------------------------------------

    async def _begin(self, request: web.Request) -> tuple[Any, web.Response | None]:
        recorded, early = await self.begin(request)
        if early is None and recorded.headers.get("x-shopify-access-token") != self.token:
            early = web.json_response({"errors": INVALID_TOKEN}, status=401)
        return recorded.body, early

    async def _orders(self, request: web.Request) -> web.Response:
        _, early = await self._begin(request)
        if early is not None:
            return early
        query = dict(request.query)
        if "page_info" in query:
            extra = set(query) - {"page_info", "limit", "fields"}
            if extra:  # Shopify: only limit and fields may go with page_info
                return web.json_response({"errors": {"page_info": ["Invalid value."]}}, status=400)
            start = int(base64.urlsafe_b64decode(query["page_info"]).decode())
        else:
            if query.get("status") != "open" or query.get("fulfillment_status") != "unfulfilled":
                return web.json_response({"errors": "unexpected filters"}, status=400)
            start = 0
        size = min(int(query.get("limit", "50")), self.page_size)
        page = self.orders[start : start + size]
        headers = {"X-Shopify-Shop-Api-Call-Limit": self.call_limit}
        if start + size < len(self.orders):
            cursor = base64.urlsafe_b64encode(str(start + size).encode()).decode()
            next_url = f"{self.shop_url}{request.path}?limit={size}&page_info={cursor}"
            headers["Link"] = f'<{next_url}>; rel="next"'
        return web.json_response({"orders": page}, headers=headers)

    async def _graphql(self, request: web.Request) -> web.Response:
        body, early = await self._begin(request)
        if early is not None:
            return early
        query, variables = body["query"], body.get("variables") or {}
        if "productVariants(" in query:
            data = self._variant_by_sku(variables["query"])
        elif "nodes(" in query:
            data = self._nodes(variables["ids"])
        elif "inventorySetQuantities(" in query:
            problem = _undefined_input_field(request.match_info["version"], variables["input"])
            if problem is not None:
                # GraphQL refuses an input field the version does not define: no data at all.
                return web.json_response({"errors": [{"message": problem}], "extensions": cost()})
            version = request.match_info["version"]
            data = {"inventorySetQuantities": self._set_quantities(version, variables["input"])}
        elif "productVariantsBulkUpdate(" in query:
            data = {"productVariantsBulkUpdate": self._bulk_update(variables)}
        elif "orderCancel(" in query:
            problem = _cancel_problem(variables)
            if problem is not None:
                return web.json_response({"errors": [{"message": problem}], "extensions": cost()})
            data = {"orderCancel": self._cancel(variables["orderId"])}

        elif "tagsAdd(" in query or "tagsRemove(" in query:
            problem = _tags_problem(query)
            if problem is not None:
                return web.json_response({"errors": [{"message": problem}], "extensions": cost()})
            data = self._tags(query, variables)
        elif "orderUpdate(" in query:
            data = {"orderUpdate": self._order_update(variables["input"])}
        elif "order(id:" in query:
            fields = _selected(query, "order")
            unknown = [name for name in fields if name not in _ORDER_FIELDS]
            if unknown:
                message = f"Field '{unknown[0]}' doesn't exist on type 'Order'"
                return web.json_response({"errors": [{"message": message}], "extensions": cost()})
            data = {"order": self._order_node(variables["id"], fields)}
        else:
            return web.json_response({"errors": [{"message": "Parse error"}], "extensions": cost()})
        return web.json_response({"data": data, "extensions": cost()})

    def _variant_by_sku(self, search: str) -> dict[str, Any]:
        match = re.fullmatch(r'sku:"((?:[^"\\]|\\.)*)"', search)
        sku = re.sub(r"\\(.)", r"\1", match.group(1)) if match else None
        variant = self.variants.get(sku or "")
        nodes = []
        if variant is not None:
            nodes.append(
                {
                    "id": variant.gid,
                    "sku": variant.sku,
                    "inventoryPolicy": variant.inventory_policy,
                    "product": {"id": variant.product_gid},
                    "inventoryItem": {"id": variant.item_gid},
                }
            )
        return {"productVariants": {"nodes": nodes}}

    def _nodes(self, ids: list[str]) -> dict[str, Any]:
        """`nodes(ids:)` with `... on ProductVariant { id sku }`: null for unknown ids."""
        by_gid = {variant.gid: variant for variant in self.variants.values()}
        found = [by_gid.get(gid) for gid in ids]
        return {"nodes": [{"id": v.gid, "sku": v.sku} if v else None for v in found]}

    def _set_quantities(self, version: str, given: dict[str, Any]) -> dict[str, Any]:
        if given.get("name") != "available" or given.get("reason") != "correction":
            return _user_error(["input", "name"], "Invalid quantity name or reason.")
        for index, entry in enumerate(given["quantities"]):
            where = ["input", "quantities", str(index)]
            if "changeFromQuantity" in entry:
                # Given (even null) it overrides the compare fields (2026-01 on).
                expected = entry["changeFromQuantity"]
                current = self.quantities.get((entry["inventoryItemId"], entry["locationId"]), 0)
                if expected is not None and expected != current:
                    return _user_error([*where, "changeFromQuantity"], "The quantity is stale.")
            elif version >= CHANGE_FROM_VERSION:
                message = "changeFromQuantity is required."
                return _user_error([*where, "changeFromQuantity"], message)
            elif given.get("ignoreCompareQuantity") is not True:
                return _user_error(["input"], "compareQuantity is required.")
            if entry["locationId"] not in self.locations:
                return _user_error(
                    [*where, "locationId"], "The specified location could not be found."
                )
        for entry in given["quantities"]:
            self.quantities[(entry["inventoryItemId"], entry["locationId"])] = entry["quantity"]
        return {"userErrors": []}

    def _cancel(self, gid: str) -> dict[str, Any]:
        """`orderCancel`: a job; a userError for an unknown or already cancelled order."""
        found = next((o for o in self.orders if _order_gid(o) == gid), None)
        if found is None:
            return _cancel_error(["orderId"], "Order does not exist", "NOT_FOUND")
        if found["cancelled_at"] is not None:
            return _cancel_error(["orderId"], "Order has already been cancelled", "INVALID")
        found["cancelled_at"] = "2026-11-22T10:00:00-05:00"
        self.cancelled.append(gid)
        return {
            "job": {"id": f"gid://shopify/Job/{len(self.cancelled)}"},
            "orderCancelUserErrors": [],
        }

    def _order_node(self, gid: str, fields: list[str]) -> dict[str, Any] | None:
        """`order(id:)` with the fields asked for; null for an unknown order."""
        raw = next((o for o in self.orders if _order_gid(o) == gid), None)
        if raw is None:
            return None
        values = {
            "id": gid,
            "note": self.notes.get(gid),
            "tags": list(self.tags.get(gid, [])),
            "cancelledAt": _graphql_time(raw["cancelled_at"]),
        }
        return {name: values[name] for name in fields}

    def _order_exists(self, gid: str) -> bool:
        return any(_order_gid(raw) == gid for raw in self.orders)

    def _tags(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """`tagsAdd` and `tagsRemove(id:, tags:)` on an order, run in the order written
        (a mutation's fields run one after another): existing tags stay, removing one
        the order lacks is no error."""
        data = {}
        for field, id_name, tags_name in _TAG_FIELD.findall(query):
            gid, tags = variables.get(id_name, ""), variables.get(tags_name)
            if not self._order_exists(gid):
                data[field] = _user_error(["id"], "Order does not exist")
            elif not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
                data[field] = _user_error(["tags"], "Tags must be a list of strings")
            else:
                kept = self.tags.setdefault(gid, [])
                if field == "tagsAdd":
                    kept += [tag for tag in tags if tag not in kept]
                else:
                    kept[:] = [tag for tag in kept if tag not in tags]
                data[field] = {"userErrors": []}
        return data

    def _order_update(self, given: dict[str, Any]) -> dict[str, Any]:
        """`orderUpdate(input: {id, note})`: the note is replaced by the one given."""
        if set(given) != {"id", "note"} or not isinstance(given["note"], str):
            return _user_error(["input"], "Only id and note are expected here")
        if not self._order_exists(given["id"]):
            return _user_error(["id"], "Order does not exist")
        self.notes[given["id"]] = given["note"]
        return {"userErrors": []}

    def _bulk_update(self, variables: dict[str, Any]) -> dict[str, Any]:
        by_gid = {variant.gid: variant for variant in self.variants.values()}
        for entry in variables["variants"]:
            variant = by_gid.get(entry["id"])
            if variant is None or variant.product_gid != variables["productId"]:
                return _user_error(["variants", "0", "id"], "Product variant does not exist")
            if entry["inventoryPolicy"] not in ("DENY", "CONTINUE"):
                return _user_error(["variants", "0", "inventoryPolicy"], "Invalid policy")
            variant.inventory_policy = entry["inventoryPolicy"]
        return {"userErrors": []}


def _order_gid(raw: dict[str, Any]) -> str:
    return f"gid://shopify/Order/{raw['id']}"


def _graphql_time(rest: str | None) -> str | None:
    """A REST time ("2026-11-22T10:00:00-05:00") as GraphQL's DateTime, in UTC."""
    if rest is None:
        return None
    return datetime.fromisoformat(rest).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# `tagsAdd(id: $a, tags: $b)` / `tagsRemove(...)`: the field and its two variables.
_TAG_FIELD = re.compile(r"\b(tagsAdd|tagsRemove)\(\s*id:\s*\$(\w+),\s*tags:\s*\$(\w+)\s*\)")
_TAG_TYPES = {"id": "ID!", "tags": "[String!]!"}


def _tags_problem(query: str) -> str | None:
    """The GraphQL error for a `tagsAdd`/`tagsRemove` of the wrong shape: each takes
    exactly `id: ID!` and `tags: [String!]!`, given as declared variables, and asks
    for `userErrors`."""
    declared = dict(re.findall(r"\$(\w+):\s*([\w!\[\]]+)", query.split("{", 1)[0]))
    calls = re.findall(r"\b(tagsAdd|tagsRemove)\(([^)]*)\)", query)
    if len(calls) != len(_TAG_FIELD.findall(query)):
        name = calls[0][0] if calls else "tagsAdd"
        return f"Field '{name}' takes the arguments id: ID! and tags: [String!]!"
    for _, id_name, tags_name in _TAG_FIELD.findall(query):
        for argument, variable in (("id", id_name), ("tags", tags_name)):
            given = declared.get(variable)
            if given != _TAG_TYPES[argument]:
                return (
                    f"Type mismatch on variable ${variable} and argument {argument} "
                    f"({given} / {_TAG_TYPES[argument]})"
                )
    if query.count("userErrors") < len(calls):
        return "Each of tagsAdd and tagsRemove must select userErrors"
    return None


# The `Order` fields the fake knows (what the adapter asks for).
_ORDER_FIELDS = {"id", "note", "tags", "cancelledAt"}


def _selected(query: str, field: str) -> list[str]:
    """The names selected under `field(...) { ... }` (flat selections only)."""
    match = re.search(rf"\b{field}\([^)]*\)\s*\{{([^{{}}]*)\}}", query)
    return match.group(1).split() if match else []


def _undefined_input_field(version: str, given: dict[str, Any]) -> str | None:
    """The GraphQL error for an `inventorySetQuantities` input field `version` lacks."""
    if version >= CHANGE_FROM_VERSION:
        undefined = [name for name in ("ignoreCompareQuantity",) if name in given]
        entries = given["quantities"]
        undefined += ["compareQuantity" for entry in entries if "compareQuantity" in entry]
    elif version < "2026-01":
        undefined = [
            "changeFromQuantity" for entry in given["quantities"] if "changeFromQuantity" in entry
        ]
    else:
        undefined = []
    if not undefined:
        return None
    return (
        f"Variable $input of type InventorySetQuantitiesInput! was provided invalid value for "
        f"{undefined[0]} (Field is not defined on InventorySetQuantitiesInput)"
    )


def _user_error(path: list[str], message: str) -> dict[str, Any]:
    return {"userErrors": [{"field": path, "message": message}]}


_CANCEL_REASONS = {"CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER", "STAFF"}


def _cancel_problem(variables: dict[str, Any]) -> str | None:
    """The GraphQL error for `orderCancel` variables of the wrong shape (refund and
    restock are required Booleans, the reason an OrderCancelReason)."""
    if not re.fullmatch(r"gid://shopify/Order/\d+", str(variables.get("orderId"))):
        return "Variable $orderId of type ID! was provided invalid value"
    if variables.get("reason") not in _CANCEL_REASONS:
        return "Variable $reason of type OrderCancelReason! was provided invalid value"
    for name in ("refund", "restock"):
        if not isinstance(variables.get(name), bool):
            return f"Variable ${name} of type Boolean! was provided invalid value"
    return None


def _cancel_error(path: list[str], message: str, code: str) -> dict[str, Any]:
    return {
        "job": None,
        "orderCancelUserErrors": [{"field": path, "message": message, "code": code}],
    }
