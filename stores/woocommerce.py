"""WooCommerce: open orders and stock pushes over the REST API (wc/v3).

Orders: `GET /wp-json/wc/v3/orders?status=processing,on-hold&per_page=100`,
following `Link: <...>; rel="next"` as given; `X-WP-TotalPages` is the fallback
when a proxy dropped the Link header. Stock: find the product or variation by
SKU (a variation has a `parent_id` and lives under its parent), then `PUT` the
quantity, stock status and backorder setting. Auth is HTTP Basic with the
consumer key and secret, built per request and never logged.

WooCommerce has no rate limit of its own, but hosts and firewalls answer 429 or
503 with Retry-After; both are honoured, other 5xx are retried with backoff.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import Field, field_validator

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
)
from transport import EnvVarName, read_json

log = logging.getLogger(__name__)

PER_PAGE = 100  # WooCommerce's maximum page size
API_PATH = "/wp-json/wc/v3"


class WooCommerceOptions(StoreOptions):
    site_url: StoreUrl  # the shop's address, e.g. https://shop.example.com
    consumer_key_env: EnvVarName
    consumer_secret_env: EnvVarName
    statuses: list[str] = Field(default_factory=lambda: ["processing", "on-hold"], min_length=1)

    @field_validator("statuses")
    @classmethod
    def _plain_statuses(cls, statuses: list[str]) -> list[str]:
        for status in statuses:
            if not status or not all(char.isalnum() or char in "-_" for char in status):
                raise ValueError(f"{status!r} is not an order status")
        return statuses

    @property
    def base_url(self) -> str:
        return self.site_url


class WooCommerceStore(StoreAdapter):
    kind: ClassVar[str] = "woocommerce"
    service: ClassVar[str] = "WooCommerce"
    Options: ClassVar[type[StoreOptions]] = WooCommerceOptions
    options: WooCommerceOptions

    @property
    def api_root(self) -> str:
        return self.options.site_url + API_PATH

    def secrets(self) -> Iterable[str]:
        key = self.env.get(self.options.consumer_key_env, "").strip()
        secret = self.env.get(self.options.consumer_secret_env, "").strip()
        yield from (key, secret, _basic(key, secret))

    def request_headers(self) -> dict[str, str]:
        key = self.credential(self.options.consumer_key_env)
        secret = self.credential(self.options.consumer_secret_env)
        return {"Authorization": f"Basic {_basic(key, secret)}"}

    # --- orders ----------------------------------------------------------------------

    async def open_orders(self) -> AsyncIterator[StoreOrder]:
        headers = self.request_headers()  # missing keys fail before any network call
        first = f"{self.api_root}/orders"
        url: str | None = first
        params: dict[str, str] | None = self._order_params(1)
        page = 0
        while url is not None and page < self.options.max_pages:
            response, body = await self.api.call(
                "GET", url, self._check, params=params, headers=headers
            )
            page += 1
            if not isinstance(body, list):
                raise StoreRejected("WooCommerce sent an answer without a list of orders")
            for raw in body:
                order = self._order(raw)
                if order is not None:
                    yield order
            url, params = next_link(response), None
            if url is None and page < _total_pages(response):
                url, params = first, self._order_params(page + 1)
        self.orders_complete = url is None
        if url is not None:
            log.warning("%s: stopped after %d pages of orders (max_pages)", self.name, page)

    def _order_params(self, page: int) -> dict[str, str]:
        return {
            "status": ",".join(self.options.statuses),
            "per_page": str(PER_PAGE),
            "page": str(page),
        }

    def _order(self, raw: Any) -> StoreOrder | None:
        return self.read_order(raw, parse_order, "number")

    async def cancel_order(self, external_id: str) -> None:
        # Setting the status again is harmless, so a retried PUT cancels once.
        await self.api.call(
            "PUT",
            f"{self.api_root}/orders/{quote(external_id, safe='')}",
            self._check,
            json_body={"status": "cancelled"},
            headers=self.request_headers(),
        )

    async def order_cancelled(self, external_id: str) -> bool:
        _, found = await self.api.call(
            "GET",
            f"{self.api_root}/orders/{quote(external_id, safe='')}",
            self._check,
            headers=self.request_headers(),
        )
        if not isinstance(found, dict):
            raise StoreRejected(f"WooCommerce sent no order {external_id}")
        return found.get("status") == "cancelled"

    # --- order notes -----------------------------------------------------------------

    async def write_order_note(
        self, order_id: str, line: str, tags: Sequence[str], remove_tags: Sequence[str] = ()
    ) -> None:
        """A private order note (`customer_note` false: the customer is not emailed by
        WooCommerce). WooCommerce orders have no tags. A note already there is not added
        again (a retry after a lost answer)."""
        headers = self.request_headers()
        url = f"{self.api_root}/orders/{quote(order_id, safe='')}/notes"
        _, notes = await self.api.call("GET", url, self._check, headers=headers)
        if any(isinstance(n, dict) and n.get("note") == line for n in notes or []):
            return
        body = {"note": line, "customer_note": False}
        await self.api.call("POST", url, self._check, json_body=body, headers=headers)

    # --- inventory -------------------------------------------------------------------

    async def push_one(self, update: InventoryUpdate, headers: dict[str, str]) -> PushResult:
        _, found = await self.api.call(
            "GET",
            f"{self.api_root}/products",
            self._check,
            params={"sku": update.sku},
            headers=headers,
        )
        # The sku filter may match loosely on some versions; only an exact SKU counts.
        item = next(
            (p for p in found or [] if isinstance(p, dict) and p.get("sku") == update.sku), None
        )
        if item is None:
            return PushResult(update.sku, False, f"no product with SKU {update.sku} in WooCommerce")
        await self.api.call(
            "PUT", self._item_url(item), self._check, json_body=_stock_body(update), headers=headers
        )
        return PushResult(update.sku, True)

    def _item_url(self, item: dict[str, Any]) -> str:
        parent = item.get("parent_id") or 0
        if parent:
            return f"{self.api_root}/products/{int(parent)}/variations/{int(item['id'])}"
        return f"{self.api_root}/products/{int(item['id'])}"

    def _check(self, response: httpx.Response) -> tuple[httpx.Response, Any]:
        self.check_status(
            response,
            f"check the consumer key and secret in {self.options.consumer_key_env} and "
            f"{self.options.consumer_secret_env} (they need Read/Write permission)",
        )
        return response, read_json(response, self.service)

    def error_detail(self, response: httpx.Response) -> str:
        """WooCommerce errors: {"code": "woocommerce_rest_...", "message": "...", ...}."""
        try:
            body = response.json()
        except ValueError:
            return ""
        message = body.get("message") if isinstance(body, dict) else None
        return self.redact(str(message)) if message else ""


def verify_webhook(body: bytes, signature: str, secret: str) -> bool:
    """Check `X-WC-Webhook-Signature` against the webhook's secret."""
    return verify_hmac_base64(body, signature, secret)


# --- parsing ---------------------------------------------------------------------------


def _basic(key: str, secret: str) -> str:
    return base64.b64encode(f"{key}:{secret}".encode()).decode("ascii")


def _stock_body(update: InventoryUpdate) -> dict[str, Any]:
    if update.available > 0:
        status = "instock"
    elif update.backorders_allowed:
        status = "onbackorder"
    else:
        status = "outofstock"
    return {
        "manage_stock": True,
        "stock_quantity": update.available,
        "stock_status": status,
        "backorders": "notify" if update.backorders_allowed else "no",
    }


def _total_pages(response: httpx.Response) -> int:
    try:
        return int(response.headers.get("x-wp-totalpages", "0"))
    except ValueError:
        return 0


# --- orders: one reading for the poll and the webhooks ----------------------------------

# Order statuses as Stockbot reads them; any other (checkout-draft, trash, a plugin's
# own) is "unknown". Pending (awaiting payment) is open: the customer has ordered.
STATES: dict[str, OrderState] = {
    "pending": "open",
    "processing": "open",
    "on-hold": "open",
    "completed": "fulfilled",
    "cancelled": "cancelled",
    "refunded": "cancelled",
    "failed": "cancelled",
}
WEBHOOK_TOPICS = frozenset({"order.created", "order.updated", "order.deleted"})


def parse_order(raw: Mapping[str, Any]) -> StoreOrder:
    """A WooCommerce order (a REST `orders` item or an order webhook's body) as Stockbot
    reads it; raises one of ORDER_PARSE_ERRORS when it cannot be read."""
    billing = raw.get("billing") or {}
    shipping = raw.get("shipping") or {}
    lines = []
    for item in raw.get("line_items") or []:
        sku = stripped(item.get("sku"))
        if not sku:  # items without a SKU cannot be matched to stock
            continue
        # WooCommerce ships an order whole (completed), so a line waits for all of it;
        # refunds are listed as totals only, and a fully refunded order is cancelled.
        units = line_quantity(item["quantity"], item)
        if units is None:
            raise ValueError(f"line item {item.get('id')} has no quantity")
        if units > 0:
            lines.append(StoreOrderLine(sku, units))
    external_id = order_id(raw)
    return StoreOrder(
        external_id=external_id,
        status=STATES.get(stripped(raw.get("status")), "unknown"),
        name="#" + (str(raw.get("number") or "").strip() or external_id),
        customer_name=full_name(billing) or full_name(shipping),
        customer_email=stripped(billing.get("email")),
        ordered_at=_gmt(raw["date_created_gmt"]),
        lines=tuple(lines),
    )


def parse_webhook(topic: str, raw: Mapping[str, Any]) -> StoreOrder | None:
    """An order webhook's body as `parse_order` reads it, or None for a topic Stockbot
    does not act on. A deleted order's body is only `{"id": ...}`."""
    if topic not in WEBHOOK_TOPICS:
        return None
    if topic == "order.deleted":
        return StoreOrder(external_id=order_id(raw), status="deleted")
    return parse_order(raw)


_PING = re.compile(rb"webhook_id=\d{1,20}")


def is_ping(headers: Mapping[str, str], body: bytes) -> bool:
    """What WooCommerce sends once when a webhook is saved: form-encoded, unsigned,
    without a topic."""
    return not headers.get("X-WC-Webhook-Topic") and _PING.fullmatch(body.strip()) is not None


def delivery_key(delivery_id: str, topic: str, raw: Any) -> str:
    """What identifies one event. WooCommerce's delivery id is a hash of the webhook id
    and the current second, so two events sent in one second share it: the topic, the
    order and its modification time tell them apart."""
    if not delivery_id:
        return ""
    body = raw if isinstance(raw, Mapping) else {}
    resource = str(body.get("id", "")).strip()
    return f"{delivery_id}:{topic}:{resource}:{stripped(body.get('date_modified_gmt'))}"


WEBHOOK = WebhookFormat(
    signature_header="X-WC-Webhook-Signature",
    topic_header="X-WC-Webhook-Topic",
    # The name WooCommerce core sends (class-wc-webhook.php, deliver()).
    delivery_header="X-WC-Webhook-Delivery-ID",
    origin_header="X-WC-Webhook-Source",  # the site's home URL: https://shop.example.com/
    verify=verify_webhook,
    parse=parse_webhook,
    is_ping=is_ping,
    delivery_key=delivery_key,
)


def _gmt(value: str) -> datetime:
    """`date_created_gmt` is UTC without an offset."""
    when = datetime.fromisoformat(value)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
