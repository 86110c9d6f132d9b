"""WooCommerce order webhooks over real HTTP: signed, deduplicated, creating and closing orders."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.db.models import OrderStatus
from tests.helpers import Stack
from tests.probes import backorder_alert, deliveries_and_alerts, webhook_deliveries
from tests.probes import order_rows as orders
from tests.webhook_helpers import (
    SHOPIFY,
    WOOCOMMERCE,
    assert_backorder_resolved,
    assert_created_with_a_backorder,
    assert_redelivery_changes_nothing,
    closed_status,
    post,
    ready,
    set_secret,
    sign,
)

SECRET = WOOCOMMERCE.secret
PATH = WOOCOMMERCE.path
ORDER = WOOCOMMERCE.order
deliver_webhook = WOOCOMMERCE.deliver


@pytest.fixture(autouse=True)
def _woocommerce_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Autouse fixtures run first, so the `stack` fixture's settings see this.
    set_secret(monkeypatch, SHOPIFY, None)
    set_secret(monkeypatch, WOOCOMMERCE, SECRET)


async def test_the_secret_comes_from_the_environment(stack: Stack) -> None:
    secret = stack.settings.woocommerce_webhook_secret
    assert secret is not None and secret.get_secret_value() == SECRET
    assert stack.settings.shopify_webhook_secret is None


async def test_signed_order_is_created_with_a_backorder(stack: Stack) -> None:
    placed = ("woocommerce", "Bo Berg", "bo@example.com", datetime(2026, 11, 21, 8, 30, tzinfo=UTC))
    await assert_created_with_a_backorder(stack, WOOCOMMERCE, "727", placed)
    # Prefixed, so a WooCommerce delivery id can never pass for a Shopify one; with
    # the topic, order id and date_modified_gmt, as the delivery id alone is not unique.
    key = "woocommerce:d-1:order.created:727:2026-11-21T08:30:05"
    assert await webhook_deliveries(stack) == [(key, "woocommerce", "order.created")]


async def test_redelivery_changes_nothing(stack: Stack) -> None:
    # The same delivery again (X-WC-Webhook-Delivery-ID, topic, order and its
    # date_modified_gmt): processed once.
    await assert_redelivery_changes_nothing(stack, WOOCOMMERCE, ORDER)
    assert await deliveries_and_alerts(stack) == (1, 1)


async def test_events_of_one_second_share_a_delivery_id_and_each_counts(stack: Stack) -> None:
    # WooCommerce builds the delivery id from the webhook id and the current second, so
    # different events sent in the same second carry the same one.
    await ready(stack, mugs=20)
    same = "3f0c1a9e5b7d2c4e6f8a0b1c2d3e4f5a"
    created = await deliver_webhook(stack, ORDER, delivery_id=same)
    assert created.json()["result"] == "created"
    other_order = {**ORDER, "id": 728, "number": "728"}
    assert (await deliver_webhook(stack, other_order, delivery_id=same)).json()[
        "result"
    ] == "created"
    changed = copy.deepcopy(ORDER)
    changed["line_items"][0]["quantity"] = 9
    changed["date_modified_gmt"] = "2026-11-21T08:31:00"
    updated = await deliver_webhook(stack, changed, topic="order.updated", delivery_id=same)
    assert updated.json()["result"] == "updated"
    rows = await orders(stack)
    assert set(rows) == {"727", "728"}
    assert rows["727"].lines == [("CAP-2", 1, 0), ("MUG-1", 9, 0)]
    assert await deliveries_and_alerts(stack) == (3, 0)


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
    await assert_backorder_resolved(stack)
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
    assert await closed_status(stack, WOOCOMMERCE, payload, topic) == OrderStatus.CANCELLED


async def test_ping_on_webhook_creation_is_answered(stack: Stack) -> None:
    await ready(stack)
    # What WooCommerce sends when the webhook is saved: unsigned, form-encoded, no topic.
    response = await post(
        stack,
        PATH,
        b"webhook_id=12",
        {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "WooCommerce"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is True
    assert await orders(stack) == {}
    assert await deliveries_and_alerts(stack) == (0, 0)


async def test_a_ping_with_a_topic_or_another_body_needs_a_signature(stack: Stack) -> None:
    await ready(stack)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    with_topic = await post(
        stack, PATH, b"webhook_id=12", {**form, "X-WC-Webhook-Topic": "order.created"}
    )
    assert with_topic.status_code == 401
    other = await post(stack, PATH, b"webhook_id=12&status=processing", form)
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
    headers = {"X-Shopify-Hmac-Sha256": sign(body, SECRET), "X-Shopify-Topic": "orders/create"}
    response = await post(stack, SHOPIFY.path, body, headers)
    assert response.status_code == 503  # no SHOPIFY_WEBHOOK_SECRET here
    assert await orders(stack) == {}
