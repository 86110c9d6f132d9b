"""Shopify order webhooks over real HTTP: signed, deduplicated, creating and closing orders."""

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

SECRET = "shpss_test_webhook_secret"
CATALOG = [
    CATALOG_HEADER,
    "MUG-1,Blue mug,Acme,A-MUG,1,0,4.00",
    "CAP-2,Red cap,Acme,A-CAP,1,0,2.00",
]
ORDER = {
    "id": 820982911946154508,
    "name": "#1001",
    "email": "jon@example.com",
    "created_at": "2024-05-01T10:15:00-04:00",
    "cancelled_at": None,
    "fulfillment_status": None,
    "customer": {"id": 115310627314723954, "first_name": "Jon", "last_name": "Snow"},
    "shipping_address": {"name": "Jon Snow (shipping)"},
    "line_items": [
        {"id": 1, "sku": "MUG-1", "quantity": 3, "fulfillable_quantity": 3, "title": "Mug"},
        {"id": 2, "sku": "CAP-2", "quantity": 1, "fulfillable_quantity": 1, "title": "Cap"},
        {"id": 3, "sku": "GIFT-CARD", "quantity": 1, "title": "Gift card"},
        {"id": 4, "sku": "", "quantity": 1, "title": "Custom engraving"},
    ],
}


@pytest.fixture
def shopify_secret() -> str | None:
    return SECRET


@pytest.fixture(autouse=True)
def _shopify_env(monkeypatch: pytest.MonkeyPatch, shopify_secret: str | None) -> None:
    # Autouse fixtures run first, so the `stack` fixture's settings see this.
    if shopify_secret is None:
        monkeypatch.delenv("SHOPIFY_WEBHOOK_SECRET", raising=False)
    else:
        monkeypatch.setenv("SHOPIFY_WEBHOOK_SECRET", shopify_secret)


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


async def deliver_webhook(
    stack: Stack,
    payload: dict[str, Any],
    *,
    topic: str = "orders/create",
    webhook_id: str | None = None,
    signature: str | None = "valid",
) -> httpx.Response:
    """POST as Shopify does: the raw JSON body, signed, with its topic and delivery id."""
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": "stockbot-test.myshopify.com",
        "X-Shopify-API-Version": "2024-04",
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
    }
    if signature is not None:
        headers["X-Shopify-Hmac-Sha256"] = sign(body) if signature == "valid" else signature
    async with httpx.AsyncClient() as client:
        response = await client.post(
            stack.extra["base_url"] + "/webhooks/shopify/orders", content=body, headers=headers
        )
    await stack.deliver()  # after the worker, if it was quicker: nothing is posted twice
    return response


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


async def ready(stack: Stack, mugs: int = 1) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {"A-MUG": mugs, "A-CAP": 50})
    await stack.poll("Acme")
    await stack.serve_http()


async def test_signed_order_is_created_with_a_backorder(stack: Stack) -> None:
    await ready(stack, mugs=1)
    response = await deliver_webhook(stack, ORDER)
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "created"
    assert await orders(stack) == {
        "820982911946154508": (
            "shopify",
            "Jon Snow",
            "jon@example.com",
            "2024-05-01T14:15:00+00:00",
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


async def test_redelivery_changes_nothing(stack: Stack) -> None:
    await ready(stack)
    first = await deliver_webhook(stack, ORDER, webhook_id="delivery-1")
    assert first.json()["result"] == "created"
    before = await orders(stack)
    posts = len(stack.slack.calls_to("chat.postMessage"))

    changed = copy.deepcopy(ORDER)
    changed["line_items"][0]["fulfillable_quantity"] = 9
    again = await deliver_webhook(stack, changed, webhook_id="delivery-1")
    assert again.status_code == 200
    assert again.json()["result"] == "duplicate"
    assert await orders(stack) == before
    assert len(stack.slack.calls_to("chat.postMessage")) == posts
    async with stack.runtime.sessions() as session:
        deliveries = (await session.scalars(select(WebhookDelivery))).all()
        assert [(d.id, d.source, d.topic) for d in deliveries] == [
            ("delivery-1", "shopify", "orders/create")
        ]


@pytest.mark.parametrize("signature", [None, "", "bm90IHRoZSBzaWduYXR1cmU=", sign(b"{}")])
async def test_bad_or_missing_signature_is_refused(stack: Stack, signature: str | None) -> None:
    await ready(stack)
    response = await deliver_webhook(stack, ORDER, signature=signature)
    assert response.status_code == 401
    assert await orders(stack) == {}
    async with stack.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
        assert await session.scalar(select(func.count()).select_from(Alert)) == 0


async def test_signed_with_another_secret_is_refused(stack: Stack) -> None:
    await ready(stack)
    body = json.dumps(ORDER).encode()
    response = await deliver_webhook(stack, ORDER, signature=sign(body, "another-secret"))
    assert response.status_code == 401
    assert await orders(stack) == {}


async def test_update_changes_lines_in_place(stack: Stack) -> None:
    await ready(stack, mugs=1)
    await deliver_webhook(stack, ORDER)
    alert = await backorder_alert(stack)
    assert alert is not None and alert.details["units"] == 2

    updated = copy.deepcopy(ORDER)
    updated["line_items"][0].update(quantity=5, fulfillable_quantity=5)
    del updated["line_items"][1]
    response = await deliver_webhook(stack, updated, topic="orders/updated")
    assert response.json()["result"] == "updated"
    [(*_, lines)] = (await orders(stack)).values()
    assert lines == [("MUG-1", 5, 4)]
    again = await backorder_alert(stack)
    assert again is not None and again.id == alert.id  # the same alert, updated in place
    assert again.details["units"] == 4
    assert len(stack.slack.calls_to("chat.postMessage")) == 1
    assert stack.slack.calls_to("chat.update")


async def test_cancelled_order_is_closed_and_its_backorder_resolved(stack: Stack) -> None:
    await ready(stack, mugs=1)
    await deliver_webhook(stack, ORDER)
    response = await deliver_webhook(
        stack, {**ORDER, "cancelled_at": "2024-05-02T08:00:00-04:00"}, topic="orders/cancelled"
    )
    assert response.json()["result"] == "closed"
    [(*_, status, lines)] = (await orders(stack)).values()
    assert status == OrderStatus.CANCELLED
    assert lines == [("CAP-2", 1, 0), ("MUG-1", 3, 0)]
    alert = await backorder_alert(stack)
    assert alert is not None and alert.state == AlertState.RESOLVED
    assert alert.resolution == "No open order is waiting for this product any more."
    message = stack.slack.message("C0ALERTS", alert.slack_ts or "")
    assert message is not None and message["text"].startswith("✅ Resolved")


@pytest.mark.parametrize(
    ("topic", "change", "status"),
    [
        ("orders/fulfilled", {"fulfillment_status": "fulfilled"}, OrderStatus.FULFILLED),
        ("orders/updated", {"fulfillment_status": "fulfilled"}, OrderStatus.FULFILLED),
        ("orders/updated", {"cancelled_at": "2024-05-02T08:00:00Z"}, OrderStatus.CANCELLED),
    ],
)
async def test_fulfilled_or_cancelled_payloads_close_the_order(
    stack: Stack, topic: str, change: dict[str, Any], status: OrderStatus
) -> None:
    await ready(stack)
    await deliver_webhook(stack, ORDER)
    response = await deliver_webhook(stack, {**ORDER, **change}, topic=topic)
    assert response.json()["result"] == "closed"
    [(*_, closed_status, _lines)] = (await orders(stack)).values()
    assert closed_status == status


async def test_unknown_topics_and_unknown_products_are_ignored(stack: Stack) -> None:
    await ready(stack)
    response = await deliver_webhook(stack, {"id": 1}, topic="products/update")
    assert response.status_code == 200 and response.json()["result"] == "ignored"
    only_unknown = {**ORDER, "id": 2, "line_items": [{"sku": "GIFT-CARD", "quantity": 1}]}
    response = await deliver_webhook(stack, only_unknown)
    assert response.status_code == 200 and response.json()["result"] == "ignored"
    assert await orders(stack) == {}


async def test_customer_name_and_email_fall_back(stack: Stack) -> None:
    await ready(stack, mugs=50)
    payload = {
        **ORDER,
        "email": "",
        "contact_email": "contact@example.com",
        "customer": None,
        "billing_address": {"first_name": "Arya", "last_name": "Stark"},
        "shipping_address": None,
    }
    await deliver_webhook(stack, payload)
    [(_, name, email, *_rest)] = (await orders(stack)).values()
    assert (name, email) == ("Arya Stark", "contact@example.com")


@pytest.mark.parametrize("shopify_secret", [None])
async def test_without_a_secret_webhooks_are_refused_clearly(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    await ready(stack)
    with caplog.at_level(logging.ERROR, logger="bot.web.webhooks"):
        response = await deliver_webhook(stack, ORDER)
    assert response.status_code == 503
    assert "SHOPIFY_WEBHOOK_SECRET is not set" in response.json()["error"]
    assert any("SHOPIFY_WEBHOOK_SECRET is not set" in r.getMessage() for r in caplog.records)
    assert await orders(stack) == {}
