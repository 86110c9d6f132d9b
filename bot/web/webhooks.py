"""Store order webhooks: `POST /webhooks/shopify/orders` and `POST /webhooks/woocommerce/orders`.

Both stores sign the raw body (base64 HMAC-SHA256 with a shared secret) and may
deliver the same event more than once: a delivery is recorded by its id
(`X-Shopify-Webhook-Id`, `X-WC-Delivery-ID`) in the same transaction as the
order change, so a redelivery changes nothing. The work is one small
transaction, done inline, so the store gets its answer well within its timeout.

One skeleton serves every store (`webhook_handler`: secret -> signature ->
JSON -> dedup -> apply -> kick the deliverer); a `WebhookSource` says what is
store-specific: headers, secret, and how a payload becomes an order change.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any, Protocol

from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.config import Settings
from bot.core import backorders, store_sync
from bot.core.orders import (
    OrderData,
    apply_order,
    load_orders,
    parse_datetime,
    resolve_skus,
    set_status,
)
from bot.db.models import Order, OrderStatus, WebhookDelivery
from bot.db.types import utcnow
from bot.runtime import Runtime
from stores import shopify as shopify_store
from stores import woocommerce as woocommerce_store

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.Response]]


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    result: str  # created | updated | unchanged | closed | duplicate | ignored
    order: str | None = None
    detail: str = ""


class Applier(Protocol):
    """Turn one verified, new delivery into an order change (inside its transaction)."""

    def __call__(
        self, session: AsyncSession, topic: str, payload: dict[str, Any], *, channel: str
    ) -> Awaitable[WebhookOutcome]: ...


def _never_a_ping(_request: web.Request, _body: bytes) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class WebhookSource:
    """What differs between one store's order webhook and another's."""

    source: str  # WebhookDelivery.source
    label: str  # for people and logs: "Shopify"
    path: str
    secret: Callable[[Settings], SecretStr | None]
    not_configured: str  # logged and answered (503) when there is no secret
    signature_header: str
    topic_header: str
    delivery_header: str
    # Prefixed to delivery ids so one store's ids cannot clash with another's.
    delivery_prefix: str
    verify: Callable[[bytes, str, str], bool]  # (body, signature, secret)
    apply: Applier
    # A store's unsigned "is this URL alive?" request, answered 200 and nothing else.
    is_ping: Callable[[web.Request, bytes], bool] = _never_a_ping

    def delivery_id(self, request: web.Request) -> str:
        given = request.headers.get(self.delivery_header, "").strip()
        return self.delivery_prefix + given[: 200 - len(self.delivery_prefix)] if given else ""


# --- shared by every store -------------------------------------------------------------


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def order_id(payload: dict[str, Any]) -> str | None:
    """The store's order id as Stockbot keys orders, or None when unusable."""
    raw_id = payload.get("id")
    external_id = str(raw_id).strip()
    if (
        isinstance(raw_id, bool)
        or not isinstance(raw_id, int | str)
        or not 0 < len(external_id) <= 100
    ):
        return None
    return external_id


async def catalog_lines(
    session: AsyncSession,
    label: str,
    external_id: str,
    items: list[tuple[str, int, Any]],
) -> dict[int, int]:
    """Product id -> quantity for the (SKU, quantity, title) items the catalog knows."""
    products = await resolve_skus(session, {sku for sku, _, _ in items} - {""})
    lines: dict[int, int] = {}
    for sku, quantity, title in items:
        if sku not in products:
            log.info(
                "%s order %s: line item %r (SKU %r) is not in the catalog; ignored",
                label,
                external_id,
                title,
                sku or None,
            )
            continue
        if quantity > 0:
            # The same SKU on two line items (e.g. different properties) is one line here.
            lines[products[sku]] = lines.get(products[sku], 0) + quantity
    return lines


async def upsert_order(
    session: AsyncSession, data: OrderData, *, channel: str, now: datetime
) -> WebhookOutcome:
    """Create or update an open order and re-allocate the stock of what it touched."""
    existing = (await load_orders(session, [data.external_id])).get(data.external_id)
    if existing is None and not data.lines:
        return WebhookOutcome("ignored", data.external_id, "no line item matches a catalog product")
    outcome, affected = apply_order(session, existing, data)
    await session.flush()
    await backorders.refresh(session, product_ids=affected, channel=channel, now=now)
    await store_sync.mark_wanted(session, affected, None)
    return WebhookOutcome(outcome, data.external_id)


async def close_known_order(
    session: AsyncSession, external_id: str, status: OrderStatus, *, channel: str, now: datetime
) -> WebhookOutcome:
    """Mark a known order fulfilled or cancelled; an unknown one is ignored."""
    order = await session.scalar(
        select(Order).where(Order.external_id == external_id).options(selectinload(Order.lines))
    )
    if order is None:
        return WebhookOutcome("ignored", external_id, "order not known")
    if await set_status(session, order, status, channel=channel, now=now) is None:
        return WebhookOutcome("unchanged", external_id)
    return WebhookOutcome("closed", external_id, str(status))


def webhook_handler(runtime: Runtime, hook: WebhookSource) -> Handler:
    """The aiohttp handler for one store's `POST` order webhook."""

    async def handle(request: web.Request) -> web.Response:
        secret = hook.secret(runtime.settings)
        if secret is None:
            log.error(hook.not_configured)
            return web.json_response({"ok": False, "error": hook.not_configured}, status=503)
        body = await request.read()
        if hook.is_ping(request, body):
            log.info("%s webhook ping answered", hook.label)
            return web.json_response({"ok": True, "result": "ping", "order": None, "detail": ""})
        signature = request.headers.get(hook.signature_header, "")
        if not hook.verify(body, signature, secret.get_secret_value()):
            log.warning("%s webhook with a missing or wrong signature; refused", hook.label)
            return web.json_response({"ok": False, "error": "invalid signature"}, status=401)
        topic = request.headers.get(hook.topic_header, "").strip()[:100]
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return web.json_response({"ok": False, "error": "body is not JSON"}, status=400)
        if not isinstance(payload, dict):
            return web.json_response({"ok": False, "error": "body is not an object"}, status=400)
        outcome = await _process(runtime, hook, topic, hook.delivery_id(request), payload)
        if outcome.result not in ("duplicate", "ignored", "unchanged"):
            runtime.deliverer.kick()
        log.info("%s %s webhook: %s %s", hook.label, topic, outcome.result, outcome.order or "")
        return web.json_response(
            {"ok": True, "result": outcome.result, "order": outcome.order, "detail": outcome.detail}
        )

    return handle


async def _process(
    runtime: Runtime, hook: WebhookSource, topic: str, delivery_id: str, payload: dict[str, Any]
) -> WebhookOutcome:
    channel = runtime.settings.slack.alert_channel
    try:
        async with runtime.sessions() as session, session.begin():
            if delivery_id:
                if await session.get(WebhookDelivery, delivery_id) is not None:
                    return WebhookOutcome("duplicate", detail=f"webhook {delivery_id} seen before")
                session.add(
                    WebhookDelivery(
                        id=delivery_id, source=hook.source, topic=topic, received_at=utcnow()
                    )
                )
                await session.flush()
            else:
                log.warning(
                    "%s %s webhook without %s: no dedup", hook.label, topic, hook.delivery_header
                )
            return await hook.apply(session, topic, payload, channel=channel)
    except IntegrityError:
        # The same delivery processed concurrently: the other one won. Anything else (say,
        # two topics creating one order at once) answers 500, so the store sends it again.
        async with runtime.sessions() as session:
            if delivery_id and await session.get(WebhookDelivery, delivery_id) is not None:
                return WebhookOutcome("duplicate", detail=f"webhook {delivery_id} seen before")
        raise


# --- Shopify ---------------------------------------------------------------------------

SHOPIFY_ORDERS_PATH = "/webhooks/shopify/orders"
SOURCE = "shopify"
# Topics whose body is the order object (orders/edited is not: it is an order edit).
UPSERT_TOPICS = frozenset(
    {"orders/create", "orders/updated", "orders/paid", "orders/partially_fulfilled"}
)
CLOSE_TOPICS = {
    "orders/fulfilled": OrderStatus.FULFILLED,
    "orders/cancelled": OrderStatus.CANCELLED,
}
NOT_CONFIGURED = (
    "Shopify webhook refused: SHOPIFY_WEBHOOK_SECRET is not set, so its signature cannot be "
    "checked. Set it to the webhook signing secret shown in Shopify's notification settings "
    "(or your app's client secret) and restart Stockbot."
)


def customer_name(payload: dict[str, Any]) -> str:
    customer = payload.get("customer") or {}
    full = " ".join(filter(None, (_text(customer.get(k)) for k in ("first_name", "last_name"))))
    if full:
        return full
    for key in ("shipping_address", "billing_address"):
        address = payload.get(key) or {}
        name = _text(address.get("name")) or " ".join(
            filter(None, (_text(address.get(k)) for k in ("first_name", "last_name")))
        )
        if name:
            return name
    return ""


def customer_email(payload: dict[str, Any]) -> str:
    customer = payload.get("customer") or {}
    return (
        _text(payload.get("email"))
        or _text(payload.get("contact_email"))
        or _text(customer.get("email"))
    )


def _line_quantity(item: dict[str, Any]) -> int:
    # What is still to ship: fulfilled, refunded or removed units wait for nothing.
    for key in ("fulfillable_quantity", "current_quantity", "quantity"):
        value = item.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def _ordered_at(payload: dict[str, Any]) -> datetime:
    for key in ("created_at", "processed_at"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            try:
                return parse_datetime(value)
            except ValueError:
                log.warning("Shopify order %s: unreadable %s %r", payload.get("id"), key, value)
    return utcnow()


def closing_status(topic: str, payload: dict[str, Any]) -> OrderStatus | None:
    if payload.get("cancelled_at"):
        return OrderStatus.CANCELLED
    if topic in CLOSE_TOPICS:
        return CLOSE_TOPICS[topic]
    if payload.get("fulfillment_status") == "fulfilled":
        return OrderStatus.FULFILLED
    return None


async def _order_data(
    session: AsyncSession, external_id: str, payload: dict[str, Any]
) -> OrderData:
    items = [item for item in payload.get("line_items") or [] if isinstance(item, dict)]
    lines = await catalog_lines(
        session,
        "Shopify",
        external_id,
        [(_text(item.get("sku")), _line_quantity(item), item.get("title")) for item in items],
    )
    return OrderData(
        external_id=external_id,
        customer_name=customer_name(payload)[:200],
        customer_email=customer_email(payload)[:320],
        ordered_at=_ordered_at(payload),
        lines=lines,
        source=SOURCE,
    )


async def apply_shopify_order(
    session: AsyncSession,
    topic: str,
    payload: dict[str, Any],
    *,
    channel: str,
    now: datetime | None = None,
) -> WebhookOutcome:
    """Create, update or close the order a Shopify order webhook describes."""
    now = now or utcnow()
    if topic not in UPSERT_TOPICS and topic not in CLOSE_TOPICS:
        return WebhookOutcome("ignored", detail=f"topic {topic!r} is not handled")
    external_id = order_id(payload)
    if external_id is None:
        log.warning("Shopify %s webhook without a usable order id; ignored", topic)
        return WebhookOutcome("ignored", detail="no order id")
    status = closing_status(topic, payload)
    if status is not None:
        return await close_known_order(session, external_id, status, channel=channel, now=now)
    data = await _order_data(session, external_id, payload)
    return await upsert_order(session, data, channel=channel, now=now)


SHOPIFY = WebhookSource(
    source=SOURCE,
    label="Shopify",
    path=SHOPIFY_ORDERS_PATH,
    secret=attrgetter("shopify_webhook_secret"),
    not_configured=NOT_CONFIGURED,
    signature_header="X-Shopify-Hmac-Sha256",
    topic_header="X-Shopify-Topic",
    delivery_header="X-Shopify-Webhook-Id",
    delivery_prefix="",  # stored unprefixed since the first release
    verify=shopify_store.verify_webhook,
    apply=apply_shopify_order,
)


def shopify_orders_handler(runtime: Runtime) -> Handler:
    """The aiohttp handler for `POST /webhooks/shopify/orders`."""
    return webhook_handler(runtime, SHOPIFY)


# --- WooCommerce -----------------------------------------------------------------------

WOOCOMMERCE_ORDERS_PATH = "/webhooks/woocommerce/orders"
WOOCOMMERCE_SOURCE = "woocommerce"
WOOCOMMERCE_UPSERT_TOPICS = frozenset({"order.created", "order.updated"})
WOOCOMMERCE_DELETE_TOPIC = "order.deleted"
WOOCOMMERCE_OPEN_STATUSES = frozenset({"pending", "processing", "on-hold"})
WOOCOMMERCE_CLOSING_STATUSES = {
    "completed": OrderStatus.FULFILLED,
    "cancelled": OrderStatus.CANCELLED,
    "refunded": OrderStatus.CANCELLED,
    "failed": OrderStatus.CANCELLED,
}
WOOCOMMERCE_NOT_CONFIGURED = (
    "WooCommerce webhook refused: WOOCOMMERCE_WEBHOOK_SECRET is not set, so its signature "
    "cannot be checked. Set it to the Secret of the webhook in WooCommerce → Settings → "
    "Advanced → Webhooks and restart Stockbot."
)
# Sent once when a webhook is saved: form-encoded, unsigned, without a topic.
_WOOCOMMERCE_PING = re.compile(rb"webhook_id=\d{1,20}")


def _woocommerce_ping(request: web.Request, body: bytes) -> bool:
    return (
        not request.headers.get("X-WC-Webhook-Topic")
        and _WOOCOMMERCE_PING.fullmatch(body.strip()) is not None
    )


async def apply_woocommerce_order(
    session: AsyncSession,
    topic: str,
    payload: dict[str, Any],
    *,
    channel: str,
    now: datetime | None = None,
) -> WebhookOutcome:
    """Create, update or close the order a WooCommerce order webhook describes."""
    now = now or utcnow()
    if topic not in WOOCOMMERCE_UPSERT_TOPICS and topic != WOOCOMMERCE_DELETE_TOPIC:
        return WebhookOutcome("ignored", detail=f"topic {topic!r} is not handled")
    external_id = order_id(payload)
    if external_id is None:
        log.warning("WooCommerce %s webhook without a usable order id; ignored", topic)
        return WebhookOutcome("ignored", detail="no order id")
    if topic == WOOCOMMERCE_DELETE_TOPIC:  # the body is only {"id": ...}
        return await close_known_order(
            session, external_id, OrderStatus.CANCELLED, channel=channel, now=now
        )
    status = payload.get("status")
    if isinstance(status, str) and status in WOOCOMMERCE_CLOSING_STATUSES:
        closed = WOOCOMMERCE_CLOSING_STATUSES[status]
        return await close_known_order(session, external_id, closed, channel=channel, now=now)
    if status not in WOOCOMMERCE_OPEN_STATUSES:
        return WebhookOutcome("ignored", external_id, f"status {status!r} is not handled")
    try:
        order = woocommerce_store.parse_order(payload)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("WooCommerce %s webhook: unreadable order %s (%s)", topic, external_id, exc)
        return WebhookOutcome("ignored", external_id, "unreadable order")
    lines = await catalog_lines(
        session,
        "WooCommerce",
        external_id,
        [(line.sku.strip(), line.quantity, line.sku) for line in order.lines],
    )
    data = OrderData(
        external_id=external_id,
        customer_name=order.customer_name.strip()[:200],
        customer_email=order.customer_email.strip()[:320],
        ordered_at=order.ordered_at,
        lines=lines,
        source=WOOCOMMERCE_SOURCE,
    )
    return await upsert_order(session, data, channel=channel, now=now)


WOOCOMMERCE = WebhookSource(
    source=WOOCOMMERCE_SOURCE,
    label="WooCommerce",
    path=WOOCOMMERCE_ORDERS_PATH,
    secret=attrgetter("woocommerce_webhook_secret"),
    not_configured=WOOCOMMERCE_NOT_CONFIGURED,
    signature_header="X-WC-Webhook-Signature",
    topic_header="X-WC-Webhook-Topic",
    delivery_header="X-WC-Delivery-ID",
    delivery_prefix="woocommerce:",
    verify=woocommerce_store.verify_webhook,
    apply=apply_woocommerce_order,
    is_ping=_woocommerce_ping,
)


def woocommerce_orders_handler(runtime: Runtime) -> Handler:
    """The aiohttp handler for `POST /webhooks/woocommerce/orders`."""
    return webhook_handler(runtime, WOOCOMMERCE)


WEBHOOKS = (SHOPIFY, WOOCOMMERCE)
