"""WooCommerce order webhooks over real HTTP: signed, deduplicated, creating and closing orders."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import logging
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from bot.db.models import (
    Alert,
    AlertKind,
    AlertState,
    Order,
    OrderLine,
    OrderStatus,
    WebhookDelivery,
)
from tests.helpers import CATALOG_HEADER, Stack

SECRET = "wc_test_webhook_secret"
PATH = "/webhooks/woocommerce/orders"
CATALOG = [
    CATALOG_HEADER,
    "MUG-1,Blue mug,Acme,A-MUG,1,0,4.00",
    "CAP-2,Red cap,Acme,A-CAP,1,0,2.00",
]
# As WooCommerce sends it: the REST v3 order resource.
ORDER: dict[str, Any] = {
    "id": 727,
    "number": "727",
    "status": "processing",
    "currency": "EUR",
    "date_created": "2026-11-21T09:30:00",
    "date_created_gmt": "2026-11-21T08:30:00",
    "billing": {"first_name": "Bo", "last_name": "Berg", "email": "bo@example.com"},
    "shipping": {"first_name": "Bo", "last_name": "Berg"},
    "line_items": [
        {"id": 1, "product_id": 50, "variation_id": 0, "sku": "MUG-1", "quantity": 3},
        {"id": 2, "product_id": 51, "variation_id": 0, "sku": "CAP-2", "quantity": 1},
        {"id": 3, "product_id": 52, "variation_id": 0, "sku": "GIFT-CARD", "quantity": 1},
        {"id": 4, "product_id": 53, "variation_id": 0, "sku": "", "quantity": 1},
    ],
}


@pytest.fixture
def woocommerce_secret() -> str | None:
    return SECRET


@pytest.fixture(autouse=True)
def _woocommerce_env(monkeypatch: pytest.MonkeyPatch, woocommerce_secret: str | None) -> None:
    # Autouse fixtures run first, so the `stack` fixture's settings see this.
    monkeypatch.delenv("SHOPIFY_WEBHOOK_SECRET", raising=False)
    if woocommerce_secret is None:
        monkeypatch.delenv("WOOCOMMERCE_WEBHOOK_SECRET", raising=False)
    else:
        monkeypatch.setenv("WOOCOMMERCE_WEBHOOK_SECRET", woocommerce_secret)


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


async def post(stack: Stack, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        response = await client.post(stack.extra["base_url"] + PATH, content=body, headers=headers)
    await stack.deliver()  # after the worker, if it was quicker: nothing is posted twice
    return response


async def deliver_webhook(
    stack: Stack,
    payload: dict[str, Any],
    *,
    topic: str = "order.created",
    delivery_id: str | None = None,
    signature: str | None = "valid",
) -> httpx.Response:
    """POST as WooCommerce does: the raw JSON body, signed, with its topic and delivery id."""
    body = json.dumps(payload).encode()
    resource, _, event = topic.partition(".")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)",
        "X-WC-Webhook-Source": "https://shop.example.com/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-ID": "12",
        "X-WC-Delivery-ID": delivery_id or uuid.uuid4().hex,
    }
    if signature is not None:
        headers["X-WC-Webhook-Signature"] = sign(body) if signature == "valid" else signature
    return await post(stack, body, headers)


async def orders(stack: Stack) -> dict[str, tuple[Any, ...]]:
    async with stack.runtime.sessions() as session:
        rows = await session.scalars(
            select(Order).options(selectinload(Order.lines).selectinload(OrderLine.product))
        )
        return {
            o.external_id: (
                o.source,
                o.customer_name,
                o.customer_email,
                o.ordered_at.isoformat(),
                o.status,
                sorted((line.product.sku, line.quantity, line.backordered) for line in o.lines),
            )
            for o in rows
        }


async def backorder_alert(stack: Stack) -> Alert | None:
    async with stack.runtime.sessions() as session:
        return await session.scalar(
            select(Alert).where(Alert.kind == AlertKind.BACKORDER).order_by(Alert.id.desc())
        )


async def counts(stack: Stack) -> tuple[int | None, int | None]:
    async with stack.runtime.sessions() as session:
        return (
            await session.scalar(select(func.count()).select_from(WebhookDelivery)),
            await session.scalar(select(func.count()).select_from(Alert)),
        )


async def ready(stack: Stack, mugs: int = 1) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {"A-MUG": mugs, "A-CAP": 50})
    await stack.poll("Acme")
    await stack.serve_http()


async def test_the_secret_comes_from_the_environment(stack: Stack) -> None:
    secret = stack.settings.woocommerce_webhook_secret
    assert secret is not None and secret.get_secret_value() == SECRET
    assert stack.settings.shopify_webhook_secret is None


async def test_signed_order_is_created_with_a_backorder(stack: Stack) -> None:
    await ready(stack, mugs=1)
    response = await deliver_webhook(stack, ORDER, delivery_id="d-1")
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "created"
    assert await orders(stack) == {
        "727": (
            "woocommerce",
            "Bo Berg",
            "bo@example.com",
            "2026-11-21T08:30:00+00:00",
            OrderStatus.OPEN,
            # The gift card and the SKU-less line are not in the catalog: ignored.
            [("CAP-2", 1, 0), ("MUG-1", 3, 2)],
        )
    }
    alert = await backorder_alert(stack)
    assert alert is not None and alert.details["units"] == 2
    assert alert.slack_ts is not None  # posted by the delivery worker
    message = stack.slack.message("C0ALERTS", alert.slack_ts)
    assert message is not None and "2 unit" in json.dumps(message["blocks"])
    async with stack.runtime.sessions() as session:
        deliveries = (await session.scalars(select(WebhookDelivery))).all()
        # Prefixed, so a WooCommerce delivery id can never pass for a Shopify one.
        assert [(d.id, d.source, d.topic) for d in deliveries] == [
            ("woocommerce:d-1", "woocommerce", "order.created")
        ]


async def test_redelivery_changes_nothing(stack: Stack) -> None:
    await ready(stack)
    first = await deliver_webhook(stack, ORDER, delivery_id="delivery-1")
    assert first.json()["result"] == "created"
    before = await orders(stack)
    posts = len(stack.slack.calls_to("chat.postMessage"))

    changed = copy.deepcopy(ORDER)
    changed["line_items"][0]["quantity"] = 9
    again = await deliver_webhook(stack, changed, topic="order.updated", delivery_id="delivery-1")
    assert again.status_code == 200
    assert again.json()["result"] == "duplicate"
    assert await orders(stack) == before
    assert len(stack.slack.calls_to("chat.postMessage")) == posts
    assert await counts(stack) == (1, 1)


@pytest.mark.parametrize("signature", [None, "", "bm90IHRoZSBzaWduYXR1cmU=", sign(b"{}")])
async def test_bad_or_missing_signature_is_refused(stack: Stack, signature: str | None) -> None:
    await ready(stack)
    response = await deliver_webhook(stack, ORDER, signature=signature)
    assert response.status_code == 401
    assert await orders(stack) == {}
    assert await counts(stack) == (0, 0)


async def test_signed_with_another_secret_is_refused(stack: Stack) -> None:
    await ready(stack)
    body = json.dumps(ORDER).encode()
    response = await deliver_webhook(stack, ORDER, signature=sign(body, "another-secret"))
    assert response.status_code == 401
    assert await orders(stack) == {}


async def test_update_changes_lines_in_place(stack: Stack) -> None:
    await ready(stack, mugs=1)
    await deliver_webhook(stack, ORDER)
    updated = copy.deepcopy(ORDER)
    updated["status"] = "on-hold"
    updated["line_items"][0]["quantity"] = 5
    del updated["line_items"][1]
    response = await deliver_webhook(stack, updated, topic="order.updated")
    assert response.json()["result"] == "updated"
    [(*_, lines)] = (await orders(stack)).values()
    assert lines == [("MUG-1", 5, 4)]
    alert = await backorder_alert(stack)
    assert alert is not None and alert.details["units"] == 4
    assert len(stack.slack.calls_to("chat.postMessage")) == 1


async def test_completed_order_is_fulfilled_and_its_backorder_resolved(stack: Stack) -> None:
    await ready(stack, mugs=1)
    await deliver_webhook(stack, ORDER)
    response = await deliver_webhook(stack, {**ORDER, "status": "completed"}, topic="order.updated")
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "result": "closed",
        "order": "727",
        "detail": OrderStatus.FULFILLED,
    }
    [(*_, status, lines)] = (await orders(stack)).values()
    assert status == OrderStatus.FULFILLED
    assert lines == [("CAP-2", 1, 0), ("MUG-1", 3, 0)]
    alert = await backorder_alert(stack)
    assert alert is not None and alert.state == AlertState.RESOLVED
    message = stack.slack.message("C0ALERTS", alert.slack_ts or "")
    assert message is not None and message["text"].startswith("✅ Resolved")
    # Told again: nothing left to do.
    again = await deliver_webhook(stack, {**ORDER, "status": "completed"}, topic="order.updated")
    assert again.json()["result"] == "unchanged"


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("order.updated", {**ORDER, "status": "cancelled"}),
        ("order.updated", {**ORDER, "status": "refunded"}),
        ("order.updated", {**ORDER, "status": "failed"}),
        ("order.deleted", {"id": 727}),  # a deleted order's body is only its id
    ],
)
async def test_cancelled_refunded_failed_or_deleted_cancels(
    stack: Stack, topic: str, payload: dict[str, Any]
) -> None:
    await ready(stack)
    await deliver_webhook(stack, ORDER)
    response = await deliver_webhook(stack, payload, topic=topic)
    assert response.json()["result"] == "closed"
    [(*_, status, _lines)] = (await orders(stack)).values()
    assert status == OrderStatus.CANCELLED


async def test_ping_on_webhook_creation_is_answered(stack: Stack) -> None:
    await ready(stack)
    # What WooCommerce sends when the webhook is saved: unsigned, form-encoded, no topic.
    response = await post(
        stack,
        b"webhook_id=12",
        {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "WooCommerce"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is True
    assert await orders(stack) == {}
    assert await counts(stack) == (0, 0)


async def test_a_ping_with_a_topic_or_another_body_needs_a_signature(stack: Stack) -> None:
    await ready(stack)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    with_topic = await post(
        stack, b"webhook_id=12", {**form, "X-WC-Webhook-Topic": "order.created"}
    )
    assert with_topic.status_code == 401
    other = await post(stack, b"webhook_id=12&status=processing", form)
    assert other.status_code == 401


async def test_other_topics_statuses_and_products_are_ignored(stack: Stack) -> None:
    await ready(stack)
    response = await deliver_webhook(stack, {"id": 1, "sku": "MUG-1"}, topic="product.updated")
    assert response.status_code == 200 and response.json()["result"] == "ignored"
    response = await deliver_webhook(stack, {**ORDER, "status": "checkout-draft"})
    assert response.status_code == 200 and response.json()["result"] == "ignored"
    only_unknown = {**ORDER, "id": 2, "line_items": [{"sku": "GIFT-CARD", "quantity": 1}]}
    response = await deliver_webhook(stack, only_unknown)
    assert response.status_code == 200 and response.json()["result"] == "ignored"
    unreadable = {**ORDER, "id": 3, "date_created_gmt": "yesterday"}
    response = await deliver_webhook(stack, unreadable)
    assert response.status_code == 200 and response.json()["result"] == "ignored"
    # Closing an order Stockbot never saw changes nothing.
    response = await deliver_webhook(stack, {"id": 4}, topic="order.deleted")
    assert response.status_code == 200 and response.json()["result"] == "ignored"
    assert await orders(stack) == {}


async def test_the_shopify_endpoint_does_not_take_woocommerce_secrets(stack: Stack) -> None:
    await ready(stack)
    body = json.dumps(ORDER).encode()
    async with httpx.AsyncClient() as client:
        response = await client.post(
            stack.extra["base_url"] + "/webhooks/shopify/orders",
            content=body,
            headers={"X-Shopify-Hmac-Sha256": sign(body), "X-Shopify-Topic": "orders/create"},
        )
    assert response.status_code == 503  # no SHOPIFY_WEBHOOK_SECRET here
    assert await orders(stack) == {}


@pytest.mark.parametrize("woocommerce_secret", [None])
async def test_without_a_secret_webhooks_are_refused_clearly(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    await ready(stack)
    with caplog.at_level(logging.ERROR, logger="bot.web.webhooks"):
        response = await deliver_webhook(stack, ORDER)
    assert response.status_code == 503
    assert "WOOCOMMERCE_WEBHOOK_SECRET is not set" in response.json()["error"]
    assert any("WOOCOMMERCE_WEBHOOK_SECRET is not set" in r.getMessage() for r in caplog.records)
    assert await orders(stack) == {}
