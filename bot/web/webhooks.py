"""Store order webhooks: `POST /webhooks/shopify/orders` and `POST /webhooks/woocommerce/orders`.

Both stores sign the raw body (base64 HMAC-SHA256 with a shared secret) and may
deliver the same event more than once: a delivery is recorded by the id the
store gives it in the same transaction as the order change, so a redelivery
changes nothing. The work is one small
transaction, done inline, so the store gets its answer well within its timeout.

One skeleton serves every store (`webhook_handler`: secret -> signature -> JSON
-> dedup -> the adapter's parser -> `orders.apply_store_orders` -> kick the
deliverer). The store's wire format (headers, signature, what a body means) is
the adapter's `WebhookFormat`, the same code that reads the store's order poll,
so a webhook and a poll give the same order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from aiohttp import web
from pydantic import SecretStr
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core import orders
from bot.db.models import WebhookDelivery
from bot.db.types import utcnow
from bot.runtime import Runtime
from stores import shopify as shopify_store
from stores import woocommerce as woocommerce_store
from stores.base import ORDER_PARSE_ERRORS, WebhookFormat

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.Response]]


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    result: str  # created | updated | unchanged | closed | duplicate | ignored
    order: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class WebhookSource:
    """One store's order webhook: Stockbot's side of it, and the store's wire format."""

    source: str  # WebhookDelivery.source, and Order.source of the orders it creates
    label: str  # for people and logs: "Shopify"
    secret: Callable[[Settings], SecretStr | None]
    not_configured: str  # logged and answered (503) when there is no secret
    # Prefixed to delivery ids so one store's ids cannot clash with another's.
    delivery_prefix: str
    wire: WebhookFormat

    @property
    def path(self) -> str:
        return f"/webhooks/{self.source}/orders"

    def delivery_id(self, request: web.Request) -> str:
        given = request.headers.get(self.wire.delivery_header, "").strip()
        return self.delivery_prefix + given[: 200 - len(self.delivery_prefix)] if given else ""


def webhook_handler(runtime: Runtime, hook: WebhookSource) -> Handler:
    """The aiohttp handler for one store's `POST` order webhook."""

    async def handle(request: web.Request) -> web.Response:
        secret = hook.secret(runtime.settings)
        if secret is None:
            log.error(hook.not_configured)
            return web.json_response({"ok": False, "error": hook.not_configured}, status=503)
        body = await request.read()
        if hook.wire.is_ping(request.headers, body):
            log.info("%s webhook ping answered", hook.label)
            return web.json_response({"ok": True, "result": "ping", "order": None, "detail": ""})
        signature = request.headers.get(hook.wire.signature_header, "")
        if not hook.wire.verify(body, signature, secret.get_secret_value()):
            log.warning("%s webhook with a missing or wrong signature; refused", hook.label)
            return web.json_response({"ok": False, "error": "invalid signature"}, status=401)
        topic = request.headers.get(hook.wire.topic_header, "").strip()[:100]
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
    try:
        async with runtime.writes() as session, session.begin():
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
                    "%s %s webhook without %s: no dedup",
                    hook.label,
                    topic,
                    hook.wire.delivery_header,
                )
            return await _apply(runtime, session, hook, topic, payload)
    except IntegrityError:
        # The same delivery processed concurrently: the other one won. Anything else (say,
        # two topics creating one order at once) answers 500, so the store sends it again.
        async with runtime.sessions() as session:
            if delivery_id and await session.get(WebhookDelivery, delivery_id) is not None:
                return WebhookOutcome("duplicate", detail=f"webhook {delivery_id} seen before")
        raise


async def _apply(
    runtime: Runtime, session: AsyncSession, hook: WebhookSource, topic: str, payload: Any
) -> WebhookOutcome:
    """The adapter reads the body; the order core applies it, as it does a poll's."""
    try:
        record = hook.wire.parse(topic, payload)
    except ORDER_PARSE_ERRORS as exc:
        log.warning("%s %s webhook: unreadable order (%r); ignored", hook.label, topic, exc)
        return WebhookOutcome("ignored", detail="unreadable order")
    if record is None:
        return WebhookOutcome("ignored", detail=f"topic {topic!r} is not handled")
    [change] = await orders.apply_store_orders(
        session,
        [record],
        source=hook.source,
        channel=runtime.settings.slack.alert_channel,
        now=utcnow(),
    )
    return WebhookOutcome(change.outcome, change.external_id, change.detail)


SHOPIFY = WebhookSource(
    source="shopify",
    label="Shopify",
    secret=attrgetter("shopify_webhook_secret"),
    not_configured=(
        "Shopify webhook refused: SHOPIFY_WEBHOOK_SECRET is not set, so its signature cannot "
        "be checked. Set it to the webhook signing secret shown in Shopify's notification "
        "settings (or your app's client secret) and restart Stockbot."
    ),
    delivery_prefix="",  # stored unprefixed since the first release
    wire=shopify_store.WEBHOOK,
)
WOOCOMMERCE = WebhookSource(
    source="woocommerce",
    label="WooCommerce",
    secret=attrgetter("woocommerce_webhook_secret"),
    not_configured=(
        "WooCommerce webhook refused: WOOCOMMERCE_WEBHOOK_SECRET is not set, so its signature "
        "cannot be checked. Set it to the Secret of the webhook in WooCommerce → Settings → "
        "Advanced → Webhooks and restart Stockbot."
    ),
    delivery_prefix="woocommerce:",
    wire=woocommerce_store.WEBHOOK,
)
WEBHOOKS = (SHOPIFY, WOOCOMMERCE)
