"""Shopify: open orders over the Admin REST API, stock pushes over Admin GraphQL.

Orders: `GET /admin/api/{v}/orders.json?status=open&fulfillment_status=unfulfilled`,
following `Link: <...page_info=...>; rel="next"` exactly as given (Shopify allows
only `limit` beside `page_info`, so the URL must not be rebuilt). The REST leaky
bucket is read from `X-Shopify-Shop-Api-Call-Limit`: when it is nearly full we
pause long enough for it to drain instead of running into 429s.

Stock: per SKU, look the variant up, `inventorySetQuantities` at the configured
location and, with `backorder_policy`, switch `inventoryPolicy` to CONTINUE while
backordered and back to DENY. GraphQL throttling (`THROTTLED`, with HTTP 200 or
429) waits for the cost bucket to refill as `extensions.cost.throttleStatus` says.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from pydantic import field_validator

from stores.base import (
    InventoryUpdate,
    PushResult,
    StoreAdapter,
    StoreOptions,
    StoreOrder,
    StoreOrderLine,
    StoreRejected,
    StoreUrl,
    next_link,
    verify_hmac_base64,
)
from transport import EnvVarName, Retry, read_json

log = logging.getLogger(__name__)

PAGE_LIMIT = 250  # Shopify's maximum page size
REST_LEAK_RATE = 2.0  # requests/s the REST bucket drains on the Standard plan
BUCKET_HIGH_WATER = 0.8  # above this share of the bucket, wait before the next call
_LOCATION_GID = "gid://shopify/Location/"

VARIANT_QUERY = """
query VariantBySku($query: String!) {
  productVariants(first: 1, query: $query) {
    nodes { id sku inventoryPolicy product { id } inventoryItem { id } }
  }
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
        parts = value.split("-")
        if len(parts) != 2 or not all(part.isdigit() for part in parts):
            raise ValueError("api_version looks like 2025-01")
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
        return self.read_order(raw, _parse_order, "name")

    # --- inventory -------------------------------------------------------------------

    async def push_one(self, update: InventoryUpdate, headers: dict[str, str]) -> PushResult:
        variant = await self._variant(update.sku, headers)
        if variant is None:
            return PushResult(update.sku, False, f"no variant with SKU {update.sku} in Shopify")
        quantities = {
            "name": "available",
            "reason": "correction",
            "ignoreCompareQuantity": True,
            "quantities": [
                {
                    "inventoryItemId": variant["inventoryItem"]["id"],
                    "locationId": self.options.location_id,
                    "quantity": update.available,
                }
            ],
        }
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

    def _user_errors(self, data: dict[str, Any], field: str) -> str | None:
        errors = (data.get(field) or {}).get("userErrors") or []
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
            "has the read_orders, read_products and write_inventory permissions"
        )


def verify_webhook(body: bytes, signature: str, secret: str) -> bool:
    """Check `X-Shopify-Hmac-Sha256` against the app's client secret."""
    return verify_hmac_base64(body, signature, secret)


# --- parsing ---------------------------------------------------------------------------


def _list(body: Any, key: str) -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise StoreRejected(f"Shopify sent an answer without a list of {key}")
    return body[key]


def _parse_order(raw: dict[str, Any]) -> StoreOrder:
    customer = raw.get("customer") or {}
    address = raw.get("shipping_address") or raw.get("billing_address") or {}
    name = " ".join(
        part for part in (customer.get("first_name"), customer.get("last_name")) if part
    )
    closed = raw.get("closed_at") or raw.get("cancelled_at")
    lines = tuple(
        StoreOrderLine(str(line["sku"]), int(line["quantity"]))
        for line in raw.get("line_items") or []
        if line.get("sku")  # custom items without a SKU cannot be matched to stock
    )
    return StoreOrder(
        external_id=str(raw["id"]),
        name=str(raw.get("name") or raw["id"]),
        customer_name=name or str(address.get("name") or ""),
        customer_email=str(raw.get("email") or customer.get("email") or ""),
        ordered_at=_timestamp(raw["created_at"]),
        status="closed" if closed else "open",
        lines=lines,
    )


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
