"""Shopify: open orders over the Admin REST API, stock pushes over Admin GraphQL.

Orders: `GET /admin/api/{v}/orders.json?status=open&fulfillment_status=unfulfilled`,
following `Link: <...page_info=...>; rel="next"` exactly as given (Shopify allows
only `limit` beside `page_info`, so the URL must not be rebuilt). The REST leaky
bucket is read from `X-Shopify-Shop-Api-Call-Limit`: when it is nearly full we
pause long enough for it to drain instead of running into 429s.

Line items without a SKU (custom or SKU-less variants, some apps' payloads) are
matched through their `variant_id`: `fill_skus` asks GraphQL `nodes(ids:)` for
those variants' SKUs, one request per 250, for the webhook and the poll alike.

Stock: per SKU, look the variant up, `inventorySetQuantities` at the configured
location and, with `backorder_policy`, switch `inventoryPolicy` to CONTINUE while
backordered and back to DENY. The mutation's input follows `api_version` (2026-04
replaced `ignoreCompareQuantity` with a per-quantity `changeFromQuantity`), so only
the versions Stockbot knows are accepted. GraphQL throttling (`THROTTLED`, with
HTTP 200 or 429) waits for the cost bucket to refill as
`extensions.cost.throttleStatus` says.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from pydantic import field_validator

from stores.base import (
    InventoryUpdate,
    OrderState,
    PushResult,
    StoreAdapter,
    StoreOptions,
    StoreOrder,
    StoreOrderLine,
    StoreRejected,
    StoreUrl,
    WebhookFormat,
    full_name,
    line_quantity,
    next_link,
    order_id,
    stripped,
    verify_hmac_base64,
    whole_number,
)
from transport import EnvVarName, Retry, read_json

log = logging.getLogger(__name__)

PAGE_LIMIT = 250  # Shopify's maximum page size
REST_LEAK_RATE = 2.0  # requests/s the REST bucket drains on the Standard plan
BUCKET_HIGH_WATER = 0.8  # above this share of the bucket, wait before the next call
_LOCATION_GID = "gid://shopify/Location/"
_VARIANT_GID = "gid://shopify/ProductVariant/"
NODES_LIMIT = 250  # ids per `nodes(ids:)` query

# The Admin API versions Stockbot builds its requests for, oldest first; a newer one may
# change a request's shape (as 2026-04 did), so it is added here once checked.
API_VERSIONS = (
    "2024-07",
    "2024-10",
    "2025-01",
    "2025-04",
    "2025-07",
    "2025-10",
    "2026-01",
    "2026-04",
)
# From this version `inventorySetQuantities` takes `changeFromQuantity` on each quantity
# and no longer `ignoreCompareQuantity` / `compareQuantity`.
CHANGE_FROM_VERSION = "2026-04"

VARIANT_QUERY = """
query VariantBySku($query: String!) {
  productVariants(first: 1, query: $query) {
    nodes { id sku inventoryPolicy product { id } inventoryItem { id } }
  }
}
"""

VARIANT_SKUS = """
query VariantSkus($ids: [ID!]!) {
  nodes(ids: $ids) { ... on ProductVariant { id sku } }
}
"""

SET_QUANTITIES = """
mutation SetQuantities($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    userErrors { field message }
  }
}
"""

SET_POLICY = """
mutation SetPolicy($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $productId, variants: $variants) {
    userErrors { field message }
  }
}
"""

# Order notes: tags added (and a changed choice's taken off), the note read and
# written back with one more line.
_ORDER_GID = "gid://shopify/Order/"

ADD_TAGS = """
mutation AddOrderTags($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) {
    userErrors { field message }
  }
}
"""

# A mutation's fields run one after the other: the old tags go, then the new come.
CHANGE_TAGS = """
mutation ChangeOrderTags($id: ID!, $add: [String!]!, $remove: [String!]!) {
  tagsRemove(id: $id, tags: $remove) {
    userErrors { field message }
  }
  tagsAdd(id: $id, tags: $add) {
    userErrors { field message }
  }
}
"""

REMOVE_TAGS = """
mutation RemoveOrderTags($id: ID!, $tags: [String!]!) {
  tagsRemove(id: $id, tags: $tags) {
    userErrors { field message }
  }
}
"""

ORDER_NOTE = """
query OrderNote($id: ID!) {
  order(id: $id) { id note }
}
"""

UPDATE_NOTE = """
mutation UpdateOrderNote($input: OrderInput!) {
  orderUpdate(input: $input) {
    userErrors { field message }
  }
}
"""

# The customer asked to cancel: refund them, let Shopify email its confirmation, and
# leave stock alone (Stockbot pushes the supplier's stock itself).
CANCEL_ORDER = """
mutation CancelOrder($orderId: ID!, $reason: OrderCancelReason!, $refund: Boolean!,
                     $restock: Boolean!, $notifyCustomer: Boolean, $staffNote: String) {
  orderCancel(orderId: $orderId, reason: $reason, refund: $refund, restock: $restock,
              notifyCustomer: $notifyCustomer, staffNote: $staffNote) {
    job { id }
    orderCancelUserErrors { field message code }
  }
}
"""


ORDER_CANCELLED = """
query OrderCancelled($id: ID!) {
  order(id: $id) { id cancelledAt }
}
"""


class ShopifyOptions(StoreOptions):
    shop_url: StoreUrl  # https://{shop}.myshopify.com
    api_version: str = "2025-01"
    token_env: EnvVarName  # variable holding the Admin API access token
    location_id: str  # the inventory location: a gid or its number
    # CONTINUE (sell at 0) while a SKU is backordered, DENY otherwise.
    backorder_policy: bool = True

    @field_validator("location_id", mode="before")
    @classmethod
    def _location_gid(cls, value: Any) -> str:
        text = str(value).strip()
        if text.isdigit():
            return _LOCATION_GID + text
        if not text.startswith(_LOCATION_GID) or not text.removeprefix(_LOCATION_GID).isdigit():
            raise ValueError("location_id must be a number or gid://shopify/Location/<number>")
        return text

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value not in API_VERSIONS:
            raise ValueError(
                f"{value!r} is not a Shopify API version Stockbot knows; use one of "
                f"{', '.join(API_VERSIONS)}"
            )
        return value

    @property
    def base_url(self) -> str:
        return self.shop_url


class ShopifyStore(StoreAdapter):
    kind: ClassVar[str] = "shopify"
    service: ClassVar[str] = "Shopify"
    Options: ClassVar[type[StoreOptions]] = ShopifyOptions
    options: ShopifyOptions

    @property
    def api_root(self) -> str:
        return f"{self.options.shop_url}/admin/api/{self.options.api_version}"

    def secrets(self) -> Iterable[str]:
        yield self.env.get(self.options.token_env, "").strip()

    def request_headers(self) -> dict[str, str]:
        return {"X-Shopify-Access-Token": self.credential(self.options.token_env)}

    # --- orders ----------------------------------------------------------------------

    async def open_orders(self) -> AsyncIterator[StoreOrder]:
        headers = self.request_headers()  # a missing token fails before any network call
        url: str | None = f"{self.api_root}/orders.json"
        params: dict[str, str] | None = {
            "status": "open",
            "fulfillment_status": "unfulfilled",
            "limit": str(PAGE_LIMIT),
        }
        pages = 0
        while url is not None and pages < self.options.max_pages:
            response, body = await self.api.call(
                "GET", url, self._check_rest, params=params, headers=headers
            )
            pages += 1
            for raw in _list(body, "orders"):
                order = self._order(raw)
                if order is not None:
                    yield order
            url, params = next_link(response), None  # page_info URLs are used as given
            if url is not None:
                await self._ease_off(response)
        self.orders_complete = url is None
        if url is not None:
            log.warning("%s: stopped after %d pages of orders (max_pages)", self.name, pages)

    def _check_rest(self, response: httpx.Response) -> tuple[httpx.Response, Any]:
        self.check_status(response, self._token_hint())
        return response, read_json(response, self.service)

    async def _ease_off(self, response: httpx.Response) -> None:
        """Wait for the REST bucket to drain when the last answer says it is nearly full."""
        used, size = _call_limit(response.headers.get("x-shopify-shop-api-call-limit", ""))
        if size and used > size * BUCKET_HIGH_WATER:
            await self.policy.sleep((used - size * BUCKET_HIGH_WATER) / REST_LEAK_RATE)

    def _order(self, raw: Any) -> StoreOrder | None:
        return self.read_order(raw, parse_order, "name")

    async def fill_skus(self, orders: Sequence[StoreOrder]) -> list[StoreOrder]:
        wanted = sorted(
            {line.variant_id for order in orders for line in order.lines if not line.sku}
        )
        if not wanted:
            return list(orders)
        headers = self.request_headers()
        skus: dict[str, str] = {}
        for start in range(0, len(wanted), NODES_LIMIT):
            ids = [_VARIANT_GID + variant for variant in wanted[start : start + NODES_LIMIT]]
            data = await self._graphql(VARIANT_SKUS, {"ids": ids}, headers)
            for node in data.get("nodes") or []:
                # null for a variant deleted since; an empty SKU matches nothing either.
                if isinstance(node, dict) and stripped(node.get("sku")):
                    variant = str(node.get("id", "")).removeprefix(_VARIANT_GID)
                    skus[variant] = stripped(node["sku"])
        return [_with_skus(order, skus) for order in orders]

    async def cancel_order(self, external_id: str) -> None:
        variables = {
            "orderId": _ORDER_GID + external_id,
            "reason": "CUSTOMER",
            "refund": True,
            "restock": False,
            "notifyCustomer": True,
            "staffNote": "Cancelled from Stockbot: the customer chose to cancel.",
        }
        data = await self._graphql(CANCEL_ORDER, variables, self.request_headers())
        self._refused(data, "orderCancel", "orderCancelUserErrors")

    async def order_cancelled(self, external_id: str) -> bool:
        data = await self._graphql(
            ORDER_CANCELLED, {"id": _ORDER_GID + external_id}, self.request_headers()
        )
        found = data.get("order")
        if not isinstance(found, dict):
            raise StoreRejected(f"Shopify has no order {external_id}")
        return bool(found.get("cancelledAt"))

    # --- order notes -----------------------------------------------------------------

    async def write_order_note(
        self, order_id: str, line: str, tags: Sequence[str], remove_tags: Sequence[str] = ()
    ) -> None:
        """Tags with `tagsAdd` and `tagsRemove` (one request), and `line` appended to the
        order's note (`orderUpdate` replaces the note, so it is read first; a line
        already there is not added again)."""
        headers = self.request_headers()
        gid = _ORDER_GID + order_id
        add, remove = list(tags), list(remove_tags)
        if add or remove:
            variables: dict[str, Any] = {"id": gid, "tags": add or remove}
            mutation = ADD_TAGS if add else REMOVE_TAGS
            if add and remove:
                mutation, variables = CHANGE_TAGS, {"id": gid, "add": add, "remove": remove}
            data = await self._graphql(mutation, variables, headers)
            if remove:
                self._refused(data, "tagsRemove")
            if add:
                self._refused(data, "tagsAdd")
        data = await self._graphql(ORDER_NOTE, {"id": gid}, headers)
        found = data.get("order")
        if not isinstance(found, dict):
            raise StoreRejected(f"Shopify has no order {order_id}")
        note = str(found.get("note") or "")
        if line in note.splitlines():
            return
        text = f"{note.rstrip()}\n{line}" if note.strip() else line
        data = await self._graphql(UPDATE_NOTE, {"input": {"id": gid, "note": text}}, headers)
        self._refused(data, "orderUpdate")

    def _refused(self, data: dict[str, Any], field: str, errors: str = "userErrors") -> None:
        error = self._user_errors(data, field, errors)
        if error is not None:
            raise StoreRejected(error)

    # --- inventory -------------------------------------------------------------------

    async def push_one(self, update: InventoryUpdate, headers: dict[str, str]) -> PushResult:
        variant = await self._variant(update.sku, headers)
        if variant is None:
            return PushResult(update.sku, False, f"no variant with SKU {update.sku} in Shopify")
        quantities = set_quantities_input(
            self.options.api_version,
            variant["inventoryItem"]["id"],
            self.options.location_id,
            update.available,
        )
        data = await self._graphql(SET_QUANTITIES, {"input": quantities}, headers)
        error = self._user_errors(data, "inventorySetQuantities")
        if error is None and self.options.backorder_policy:
            error = await self._set_policy(variant, update, headers)
        return PushResult(update.sku, error is None, error)

    async def _variant(self, sku: str, headers: dict[str, str]) -> dict[str, Any] | None:
        query = 'sku:"{}"'.format(sku.replace("\\", "\\\\").replace('"', '\\"'))
        data = await self._graphql(VARIANT_QUERY, {"query": query}, headers)
        nodes = (data.get("productVariants") or {}).get("nodes") or []
        # Shopify's search is fuzzy on some fields; only an exact SKU counts.
        return next((node for node in nodes if node.get("sku") == sku), None)

    async def _set_policy(
        self, variant: dict[str, Any], update: InventoryUpdate, headers: dict[str, str]
    ) -> str | None:
        backordered = update.available <= 0 and update.backorders_allowed
        policy = "CONTINUE" if backordered else "DENY"
        if variant.get("inventoryPolicy") == policy:
            return None
        variables = {
            "productId": variant["product"]["id"],
            "variants": [{"id": variant["id"], "inventoryPolicy": policy}],
        }
        data = await self._graphql(SET_POLICY, variables, headers)
        return self._user_errors(data, "productVariantsBulkUpdate")

    def _user_errors(self, data: dict[str, Any], field: str, key: str = "userErrors") -> str | None:
        errors = (data.get(field) or {}).get(key) or []
        if not errors:
            return None
        text = "; ".join(str(error.get("message", "")) for error in errors)
        return f"Shopify refused the change: {self.redact(text)}"

    async def _graphql(
        self, query: str, variables: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        body = {"query": query, "variables": variables}
        return await self.api.call(
            "POST",
            f"{self.api_root}/graphql.json",
            self._check_graphql,
            json_body=body,
            headers=headers,
        )

    def _check_graphql(self, response: httpx.Response) -> dict[str, Any]:
        """The `data` of a GraphQL answer; Retry when throttled by cost (HTTP 200 or 429)."""
        if response.status_code in (200, 429):
            early = _json_or_none(response)
            if isinstance(early, dict) and _throttled(early):
                raise Retry("was busy (query cost limit reached)", _throttle_wait(early))
        self.check_status(response, self._token_hint())
        body = read_json(response, self.service)
        if not isinstance(body, dict):
            raise StoreRejected("Shopify sent an answer without data")
        if body.get("errors"):
            text = "; ".join(str(error.get("message", "")) for error in body["errors"])
            raise StoreRejected(f"Shopify could not run the request: {self.redact(text)}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise StoreRejected("Shopify sent an answer without data")
        return data

    def error_detail(self, response: httpx.Response) -> str:
        """REST errors come as {"errors": "text"} or {"errors": {"field": ["text"]}}."""
        body = _json_or_none(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        if isinstance(errors, dict):
            errors = "; ".join(f"{key} {value}" for key, value in errors.items())
        return self.redact(str(errors)) if errors else ""

    def _token_hint(self) -> str:
        return (
            f"check the Admin API access token in {self.options.token_env} and that the app "
            "has the read_orders, read_products and write_inventory permissions (and "
            "write_orders to cancel orders)"
        )


def set_quantities_input(
    api_version: str, item_id: str, location_id: str, quantity: int
) -> dict[str, Any]:
    """`inventorySetQuantities` input for one item, in `api_version`'s shape. Stockbot is
    the source of truth for this quantity, so the compare-and-swap check is opted out
    of (`ignoreCompareQuantity: true`, from 2026-04 `changeFromQuantity: null`)."""
    entry: dict[str, Any] = {
        "inventoryItemId": item_id,
        "locationId": location_id,
        "quantity": quantity,
    }
    given: dict[str, Any] = {"name": "available", "reason": "correction"}
    if api_version >= CHANGE_FROM_VERSION:
        entry["changeFromQuantity"] = None
    else:
        given["ignoreCompareQuantity"] = True
    given["quantities"] = [entry]
    return given


def verify_webhook(body: bytes, signature: str, secret: str) -> bool:
    """Check `X-Shopify-Hmac-Sha256` against the app's client secret."""
    return verify_hmac_base64(body, signature, secret)


# --- parsing ---------------------------------------------------------------------------


def _list(body: Any, key: str) -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise StoreRejected(f"Shopify sent an answer without a list of {key}")
    return body[key]


# --- orders: one reading for the poll and the webhooks ----------------------------------

# Webhook topics whose body is the order object (orders/edited is not: it is an order
# edit), with how the topic itself says the order ended (None: the body says).
WEBHOOK_TOPICS: dict[str, OrderState | None] = {
    "orders/create": None,
    "orders/updated": None,
    "orders/paid": None,
    "orders/partially_fulfilled": None,
    "orders/fulfilled": "fulfilled",
    "orders/cancelled": "cancelled",
}
# Fulfillments whose units never left: those units are still to ship.
_VOID_FULFILLMENTS = frozenset({"cancelled", "error", "failure"})


def parse_order(raw: Mapping[str, Any]) -> StoreOrder:
    """A Shopify order (an `orders.json` item or an order webhook's body) as Stockbot
    reads it; raises one of ORDER_PARSE_ERRORS when it cannot be read."""
    shipped = _shipped_units(raw)
    lines = []
    for item in raw.get("line_items") or []:
        sku = stripped(item.get("sku"))
        variant = whole_number(item.get("variant_id")) or 0
        if not sku and variant <= 0:  # a custom item: nothing to match to stock
            continue
        units = _units_to_ship(item, shipped)
        bought = _units_bought(item)
        # A line shipped in full waits for nothing, but it is still a sale (history).
        if units > 0 or bought > 0:
            # No SKU on the line (`sku: ""` is common): `fill_skus` asks for the variant's.
            sold = None if bought == units else bought
            lines.append(StoreOrderLine(sku, units, "" if sku else str(variant), sold))
    external_id = order_id(raw)
    customer = raw.get("customer") or {}
    return StoreOrder(
        external_id=external_id,
        status=_state(raw),
        name=stripped(raw.get("name")) or external_id,
        customer_name=_customer_name(raw),
        # The order's own address first: it is what the customer gave for this order.
        customer_email=(
            stripped(raw.get("email"))
            or stripped(raw.get("contact_email"))
            or stripped(customer.get("email"))
        ),
        ordered_at=_placed_at(raw),
        lines=tuple(lines),
    )


def parse_webhook(topic: str, raw: Mapping[str, Any]) -> StoreOrder | None:
    """An order webhook's body as `parse_order` reads it, or None for a topic Stockbot
    does not act on."""
    if topic not in WEBHOOK_TOPICS:
        return None
    order = parse_order(raw)
    ended = WEBHOOK_TOPICS[topic]
    # orders/fulfilled says how it ended, unless the body says it was cancelled.
    if ended is not None and order.status != "cancelled":
        order = replace(order, status=ended)
    return order


WEBHOOK = WebhookFormat(
    signature_header="X-Shopify-Hmac-Sha256",
    topic_header="X-Shopify-Topic",
    delivery_header="X-Shopify-Webhook-Id",  # one per event: enough on its own
    origin_header="X-Shopify-Shop-Domain",  # my-shop.myshopify.com
    verify=verify_webhook,
    parse=parse_webhook,
)


def _with_skus(order: StoreOrder, skus: Mapping[str, str]) -> StoreOrder:
    """`order` with its SKU-less lines named by their variant's SKU, or dropped."""
    if all(line.sku for line in order.lines):
        return order
    lines = []
    for line in order.lines:
        sku = line.sku or skus.get(line.variant_id, "")
        if sku:
            lines.append(replace(line, sku=sku, variant_id=""))
    return replace(order, lines=tuple(lines))


def _state(raw: Mapping[str, Any]) -> OrderState:
    if raw.get("cancelled_at"):
        return "cancelled"
    # Closed is Shopify's "archived": done with, and no longer listed by the poll.
    if raw.get("closed_at") or raw.get("fulfillment_status") == "fulfilled":
        return "fulfilled"
    return "open"


def _units_to_ship(item: Mapping[str, Any], shipped: Mapping[str, int]) -> int:
    """What a customer still waits for on one line.

    `fulfillable_quantity` is exactly that: shipped, refunded and removed units are
    out, so a partly fulfilled order waits only for the rest. Without it (an older or
    trimmed payload): the line's quantity after edits and refunds (`current_quantity`,
    else `quantity`) less the units already in fulfillments.
    """
    fulfillable = line_quantity(item.get("fulfillable_quantity"), item)
    if fulfillable is not None:
        return fulfillable
    if item.get("fulfillment_status") == "fulfilled":
        return 0
    ordered = line_quantity(item.get("current_quantity"), item)
    if ordered is None:
        ordered = line_quantity(item["quantity"], item)
    if ordered is None:
        raise ValueError(f"line item {item.get('id')} has no quantity")
    return max(0, ordered - shipped.get(str(item.get("id")), 0))


def _units_bought(item: Mapping[str, Any]) -> int:
    """Units the customer bought on one line, after edits and refunds."""
    bought = whole_number(item.get("current_quantity"))
    if bought is None:
        bought = whole_number(item.get("quantity"))
    return max(0, bought or 0)


def _shipped_units(raw: Mapping[str, Any]) -> dict[str, int]:
    """Units in the order's fulfillments (sent or on their way), by line item id."""
    shipped: dict[str, int] = {}
    for fulfillment in raw.get("fulfillments") or []:
        if fulfillment.get("status") in _VOID_FULFILLMENTS:
            continue
        for item in fulfillment.get("line_items") or []:
            key = str(item.get("id"))
            shipped[key] = shipped.get(key, 0) + (line_quantity(item.get("quantity"), item) or 0)
    return shipped


def _customer_name(raw: Mapping[str, Any]) -> str:
    """The customer's name, else the shipping then the billing address's."""
    for person in ("customer", "shipping_address", "billing_address"):
        part = raw.get(person) or {}
        name = stripped(part.get("name")) or full_name(part)
        if name:
            return name
    return ""


def _placed_at(raw: Mapping[str, Any]) -> datetime:
    for key in ("created_at", "processed_at"):
        try:
            return _timestamp(stripped(raw.get(key)))
        except ValueError:
            continue
    raise ValueError(f"no readable created_at: {raw.get('created_at')!r}")


def _timestamp(value: str) -> datetime:
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _call_limit(header: str) -> tuple[int, int]:
    """`32/40` -> (32, 40); (0, 0) when absent or unreadable."""
    used, _, size = header.partition("/")
    try:
        return int(used), int(size)
    except ValueError:
        return 0, 0


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _throttled(body: dict[str, Any]) -> bool:
    errors = body.get("errors")
    if not isinstance(errors, list):
        return False
    return any(
        isinstance(error, dict) and (error.get("extensions") or {}).get("code") == "THROTTLED"
        for error in errors
    )


def _throttle_wait(body: dict[str, Any]) -> float | None:
    """Seconds until the cost bucket holds the query's cost; None: back off instead."""
    cost = (body.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    try:
        missing = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        return max(0.0, missing) / float(status["restoreRate"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
