"""Shopify order webhooks: `POST /webhooks/shopify/orders`.

Shopify signs the raw body (base64 HMAC-SHA256 with the app's secret) and may
deliver the same event more than once: a delivery is recorded by its
`X-Shopify-Webhook-Id` in the same transaction as the order change, so a
redelivery changes nothing. The work is one small transaction, done inline,
so Shopify gets its answer well within its timeout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot import backorders, store_sync
from bot.models import Order, OrderStatus, WebhookDelivery, utcnow
from bot.orders import (
    OrderData,
    apply_order,
    load_orders,
    parse_datetime,
    resolve_skus,
    set_status,
)
from bot.runtime import Runtime

log = logging.getLogger(__name__)

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

Handler = Callable[[web.Request], Awaitable[web.Response]]


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    result: str  # created | updated | unchanged | closed | duplicate | ignored
    order: str | None = None
    detail: str = ""


def signature_valid(body: bytes, header: str | None, secret: str) -> bool:
    if not header:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, header.strip().encode())


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


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
    skus = {_text(item.get("sku")) for item in items} - {""}
    products = await resolve_skus(session, skus)
    lines: dict[int, int] = {}
    for item in items:
        sku = _text(item.get("sku"))
        quantity = _line_quantity(item)
        if sku not in products:
            log.info(
                "Shopify order %s: line item %r (SKU %r) is not in the catalog; ignored",
                external_id,
                item.get("title"),
                sku or None,
            )
            continue
        if quantity > 0:
            # The same SKU on two line items (e.g. different properties) is one line here.
            lines[products[sku]] = lines.get(products[sku], 0) + quantity
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
    raw_id = payload.get("id")
    external_id = str(raw_id).strip()
    if (
        isinstance(raw_id, bool)
        or not isinstance(raw_id, int | str)
        or not 0 < len(external_id) <= 100
    ):
        log.warning("Shopify %s webhook without a usable order id; ignored", topic)
        return WebhookOutcome("ignored", detail="no order id")
    status = closing_status(topic, payload)
    if status is not None:
        order = await session.scalar(
            select(Order).where(Order.external_id == external_id).options(selectinload(Order.lines))
        )
        if order is None:
            return WebhookOutcome("ignored", external_id, "order not known")
        if await set_status(session, order, status, channel=channel, now=now) is None:
            return WebhookOutcome("unchanged", external_id)
        return WebhookOutcome("closed", external_id, str(status))
    data = await _order_data(session, external_id, payload)
    existing = (await load_orders(session, [external_id])).get(external_id)
    if existing is None and not data.lines:
        return WebhookOutcome("ignored", external_id, "no line item matches a catalog product")
    outcome, affected = apply_order(session, existing, data)
    await session.flush()
    await backorders.refresh(session, product_ids=affected, channel=channel, now=now)
    await store_sync.mark_wanted(session, affected, None)
    return WebhookOutcome(outcome, external_id)


def shopify_orders_handler(runtime: Runtime) -> Handler:
    """The aiohttp handler for `POST /webhooks/shopify/orders`."""

    async def handle(request: web.Request) -> web.Response:
        secret = runtime.settings.shopify_webhook_secret
        if secret is None:
            log.error(NOT_CONFIGURED)
            return web.json_response({"ok": False, "error": NOT_CONFIGURED}, status=503)
        body = await request.read()
        if not signature_valid(
            body, request.headers.get("X-Shopify-Hmac-Sha256"), secret.get_secret_value()
        ):
            log.warning("Shopify webhook with a missing or wrong signature; refused")
            return web.json_response({"ok": False, "error": "invalid signature"}, status=401)
        topic = request.headers.get("X-Shopify-Topic", "").strip()
        webhook_id = request.headers.get("X-Shopify-Webhook-Id", "").strip()[:200]
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return web.json_response({"ok": False, "error": "body is not JSON"}, status=400)
        if not isinstance(payload, dict):
            return web.json_response({"ok": False, "error": "body is not an object"}, status=400)
        outcome = await _process(runtime, topic, webhook_id, payload)
        if outcome.result not in ("duplicate", "ignored", "unchanged"):
            runtime.deliverer.kick()
        log.info("Shopify %s webhook: %s %s", topic, outcome.result, outcome.order or "")
        return web.json_response(
            {"ok": True, "result": outcome.result, "order": outcome.order, "detail": outcome.detail}
        )

    return handle


async def _process(
    runtime: Runtime, topic: str, webhook_id: str, payload: dict[str, Any]
) -> WebhookOutcome:
    channel = runtime.settings.slack.alert_channel
    try:
        async with runtime.sessions() as session, session.begin():
            if webhook_id:
                if await session.get(WebhookDelivery, webhook_id) is not None:
                    return WebhookOutcome("duplicate", detail=f"webhook {webhook_id} seen before")
                session.add(
                    WebhookDelivery(id=webhook_id, source=SOURCE, topic=topic, received_at=utcnow())
                )
                await session.flush()
            else:
                log.warning("Shopify %s webhook without X-Shopify-Webhook-Id: no dedup", topic)
            return await apply_shopify_order(session, topic, payload, channel=channel)
    except IntegrityError:
        # The same delivery processed concurrently: the other one won. Anything else (say,
        # two topics creating one order at once) answers 500, so Shopify sends it again.
        async with runtime.sessions() as session:
            if webhook_id and await session.get(WebhookDelivery, webhook_id) is not None:
                return WebhookOutcome("duplicate", detail=f"webhook {webhook_id} seen before")
        raise
