"""Store order webhooks: `POST /webhooks/shopify/orders` and `POST /webhooks/woocommerce/orders`.

Both stores sign the raw body (base64 HMAC-SHA256 with a shared secret) and may
deliver the same event more than once: a delivery is recorded by what identifies
the event (the store's delivery id, with more where the store reuses it) in the
same transaction as the order change, so a redelivery changes nothing. The work
is one small transaction, done inline, so the store gets its answer well within
its timeout.

A webhook's orders are its shop's: the `[[stores]]` table of that kind whose
address the webhook names (Shopify's shop domain, WooCommerce's site URL), so
they share the source of that store's poll, and only that store's orders are
touched. Without a `[[stores]]` table of the kind, its webhooks have one source,
the kind's name; a shop no table names is ignored (answered 200, logged).

One skeleton serves every store (`webhook_handler`: secret -> signature -> JSON
-> which store -> the adapter's parser (and its variant look-up) -> dedup ->
`orders.apply_store_orders` -> kick the deliverer). The store's wire format
(headers, signature, what a body means) is the adapter's `WebhookFormat`, the same
code that reads the store's order poll, so a webhook and a poll give the same order.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from aiohttp import web
from pydantic import SecretStr
from sqlalchemy.exc import IntegrityError

from bot.config import Settings
from bot.core import orders
from bot.db.models import WebhookDelivery
from bot.db.types import utcnow
from bot.runtime import Runtime
from bot.telemetry import metrics
from stores import StoreError, StoreOrder
from stores import shopify as shopify_store
from stores import woocommerce as woocommerce_store
from stores.base import ORDER_PARSE_ERRORS, WebhookFormat, site_key

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.Response]]

DELIVERY_ID_CHARS = 200  # WebhookDelivery.id


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    result: str  # created | updated | unchanged | closed | duplicate | ignored
    order: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class WebhookSource:
    """One store kind's order webhook: Stockbot's side of it, and the store's wire format."""

    # The store kind, as in `[[stores]] kind`; also the source of its orders when no
    # `[[stores]]` table of this kind is configured.
    kind: str
    label: str  # for people and logs: "Shopify"
    secret: Callable[[Settings], SecretStr | None]
    not_configured: str  # logged and answered (503) when there is no secret
    # Prefixed to delivery ids so one store's ids cannot clash with another's.
    delivery_prefix: str
    wire: WebhookFormat

    @property
    def path(self) -> str:
        return f"/webhooks/{self.kind}/orders"

    def delivery_id(self, headers: Mapping[str, str], topic: str, payload: Any) -> str:
        """What identifies this event for de-duplication; "" when the store sent no id."""
        given = headers.get(self.wire.delivery_header, "").strip()
        key = self.wire.delivery_key(given, topic, payload) if given else ""
        if not key:
            return ""
        if len(self.delivery_prefix + key) > DELIVERY_ID_CHARS:
            # Too long to keep as it is: its digest identifies it as well.
            key = hashlib.sha256(key.encode()).hexdigest()
        return self.delivery_prefix + key

    def source_for(self, settings: Settings, headers: Mapping[str, str]) -> str | None:
        """The source of this webhook's orders: the name of the `[[stores]]` table of this
        kind whose address the webhook names; the kind itself when there is no such
        table at all; None when tables exist but none is for this shop."""
        tables = [store for store in settings.stores if store.kind == self.kind]
        if not tables:
            return self.kind
        origin = site_key(headers.get(self.wire.origin_header, ""))
        for store in tables:
            if origin and site_key(store.options.base_url) == origin:
                return store.name
        return None


def webhook_handler(runtime: Runtime, hook: WebhookSource) -> Handler:
    """The aiohttp handler for one store's `POST` order webhook."""

    async def handle(request: web.Request) -> web.Response:
        response, outcome = await answer(request)
        metrics.WEBHOOKS.labels(store=hook.kind, outcome=outcome).inc()
        return response

    async def answer(request: web.Request) -> tuple[web.Response, str]:
        """The response, and its outcome as counted in /metrics."""
        secret = hook.secret(runtime.settings)
        if secret is None:
            log.error(hook.not_configured)
            return _refusal(hook.not_configured, 503), "not_configured"
        body = await request.read()
        if hook.wire.is_ping(request.headers, body):
            log.info("%s webhook ping answered", hook.label)
            return _answer(WebhookOutcome("ping")), "ping"
        signature = request.headers.get(hook.wire.signature_header, "")
        if not hook.wire.verify(body, signature, secret.get_secret_value()):
            log.warning("%s webhook with a missing or wrong signature; refused", hook.label)
            return _refusal("invalid signature", 401), "invalid_signature"
        topic = request.headers.get(hook.wire.topic_header, "").strip()[:100]
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _refusal("body is not JSON", 400), "malformed"
        if not isinstance(payload, dict):
            return _refusal("body is not an object", 400), "malformed"
        source = hook.source_for(runtime.settings, request.headers)
        if source is None:
            outcome = _unknown_shop(runtime.settings, hook, topic, request.headers)
        else:
            delivery_id = hook.delivery_id(request.headers, topic, payload)
            record = await _read(runtime, hook, source, topic, payload)
            outcome = await _process(runtime, hook, source, topic, delivery_id, record)
        if outcome.result not in ("duplicate", "ignored", "unchanged"):
            runtime.deliverer.kick()
        log.info("%s %s webhook: %s %s", hook.label, topic, outcome.result, outcome.order or "")
        return _answer(outcome), outcome.result

    return handle


def _answer(outcome: WebhookOutcome) -> web.Response:
    return web.json_response(
        {"ok": True, "result": outcome.result, "order": outcome.order, "detail": outcome.detail}
    )


def _refusal(error: str, status: int) -> web.Response:
    return web.json_response({"ok": False, "error": error}, status=status)


def _unknown_shop(
    settings: Settings, hook: WebhookSource, topic: str, headers: Mapping[str, str]
) -> WebhookOutcome:
    """A signed webhook from a shop no `[[stores]]` table of its kind names: its orders
    would be nobody's (its store's poll, if any, still reads them)."""
    origin = headers.get(hook.wire.origin_header, "").strip()[:200]
    known = ", ".join(s.options.base_url for s in settings.stores if s.kind == hook.kind)
    log.warning(
        "%s %s webhook from %r (%s), which no [[stores]] table of kind %s is for "
        "(configured: %s); ignored. Check the table's address.",
        hook.label,
        topic,
        origin,
        hook.wire.origin_header,
        hook.kind,
        known,
    )
    return WebhookOutcome("ignored", detail=f"no [[stores]] table is for the shop {origin!r}")


async def _read(
    runtime: Runtime, hook: WebhookSource, source: str, topic: str, payload: Any
) -> StoreOrder | WebhookOutcome:
    """The adapter reads the body as it reads its poll's orders (lines without a SKU
    looked up through the configured store, outside any transaction); an outcome when
    there is nothing to apply."""
    try:
        record = hook.wire.parse(topic, payload)
    except ORDER_PARSE_ERRORS as exc:
        log.warning("%s %s webhook: unreadable order (%r); ignored", hook.label, topic, exc)
        return WebhookOutcome("ignored", detail="unreadable order")
    if record is None:
        return WebhookOutcome("ignored", detail=f"topic {topic!r} is not handled")
    adapter = runtime.stores.get(source)
    if adapter is not None and any(not line.sku for line in record.lines):
        try:
            [record] = await adapter.fill_skus([record])
        except StoreError as exc:
            # Those lines wait for the store's next poll, which reads the order again.
            log.warning("%s: SKUs of order %s not looked up: %s", source, record.name, exc)
    return record


async def _process(
    runtime: Runtime,
    hook: WebhookSource,
    source: str,
    topic: str,
    delivery_id: str,
    record: StoreOrder | WebhookOutcome,
) -> WebhookOutcome:
    try:
        async with runtime.writes() as session, session.begin():
            if delivery_id:
                if await session.get(WebhookDelivery, delivery_id) is not None:
                    return WebhookOutcome("duplicate", detail=f"webhook {delivery_id} seen before")
                session.add(
                    WebhookDelivery(
                        id=delivery_id, source=source, topic=topic, received_at=utcnow()
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
            if isinstance(record, WebhookOutcome):
                return record
            # The order core applies it, as it does a poll's.
            [change] = await orders.apply_store_orders(
                session,
                [record],
                source=source,
                channel=runtime.settings.slack.alert_channel,
                now=utcnow(),
                adopt_from=hook.kind,
            )
            return WebhookOutcome(change.outcome, change.external_id, change.detail)
    except IntegrityError:
        # The same delivery processed concurrently: the other one won. Anything else (say,
        # two topics creating one order at once) answers 500, so the store sends it again.
        async with runtime.sessions() as session:
            if delivery_id and await session.get(WebhookDelivery, delivery_id) is not None:
                return WebhookOutcome("duplicate", detail=f"webhook {delivery_id} seen before")
        raise


SHOPIFY = WebhookSource(
    kind="shopify",
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
    kind="woocommerce",
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
