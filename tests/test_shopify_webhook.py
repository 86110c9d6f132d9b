"""Shopify order webhooks over real HTTP: signed, deduplicated, creating and closing orders."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.db.models import OrderStatus
from tests.helpers import Stack
from tests.probes import backorder_alert, webhook_deliveries
from tests.probes import order_rows as orders
from tests.webhook_helpers import (
    SHOPIFY,
    assert_backorder_resolved,
    assert_created_with_a_backorder,
    assert_redelivery_changes_nothing,
    closed_status,
    ready,
    set_secret,
)

ORDER = SHOPIFY.order
deliver_webhook = SHOPIFY.deliver


@pytest.fixture(autouse=True)
def _shopify_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Autouse fixtures run first, so the `stack` fixture's settings see this.
    set_secret(monkeypatch, SHOPIFY, SHOPIFY.secret)


async def test_signed_order_is_created_with_a_backorder(stack: Stack) -> None:
    placed = ("shopify", "Jon Snow", "jon@example.com", datetime(2024, 5, 1, 14, 15, tzinfo=UTC))
    await assert_created_with_a_backorder(stack, SHOPIFY, "820982911946154508", placed)


async def test_redelivery_changes_nothing(stack: Stack) -> None:
    changed = copy.deepcopy(ORDER)
    changed["line_items"][0]["fulfillable_quantity"] = 9
    await assert_redelivery_changes_nothing(stack, SHOPIFY, changed)
    assert await webhook_deliveries(stack) == [("delivery-1", "shopify", "orders/create")]


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
    alert = await assert_backorder_resolved(stack)
    assert alert.resolution == "no open order waits for it any more"


@pytest.mark.parametrize(
    ("topic", "change", "status"),
    [
        ("orders/fulfilled", {"fulfillment_status": "fulfilled"}, OrderStatus.FULFILLED),
        ("orders/updated", {"fulfillment_status": "fulfilled"}, OrderStatus.FULFILLED),
        ("orders/updated", {"cancelled_at": "2024-05-02T08:00:00Z"}, OrderStatus.CANCELLED),
        # Closed is Shopify's "archived": the order poll (status=open) drops it too.
        ("orders/updated", {"closed_at": "2024-05-02T08:00:00Z"}, OrderStatus.FULFILLED),
    ],
)
async def test_fulfilled_or_cancelled_payloads_close_the_order(
    stack: Stack, topic: str, change: dict[str, Any], status: OrderStatus
) -> None:
    assert await closed_status(stack, SHOPIFY, {**ORDER, **change}, topic) == status


async def test_only_units_still_to_ship_wait_for_stock(stack: Stack) -> None:
    await ready(stack, mugs=0)
    partly = copy.deepcopy(ORDER)
    mug, cap = partly["line_items"][:2]
    mug.update(fulfillable_quantity=1, fulfillment_status="partial")  # 2 of 3 shipped
    response = await deliver_webhook(stack, partly, topic="orders/partially_fulfilled")
    assert response.json()["result"] == "created"
    [(*_, lines)] = (await orders(stack)).values()
    assert lines == [("CAP-2", 1, 0), ("MUG-1", 1, 1)]

    # Without fulfillable_quantity: the quantity after edits less what fulfillments took.
    older = copy.deepcopy(ORDER)
    mug, cap = older["line_items"][:2]
    del mug["fulfillable_quantity"], cap["fulfillable_quantity"]
    mug["current_quantity"] = 2  # one mug was taken off the order
    cap["fulfillment_status"] = "fulfilled"
    older["fulfillments"] = [
        {"status": "success", "line_items": [{"id": 1, "quantity": 1}]},
        {"status": "cancelled", "line_items": [{"id": 1, "quantity": 1}]},  # never left
    ]
    response = await deliver_webhook(stack, older, topic="orders/updated")
    assert response.json()["result"] == "updated"
    [(*_, lines)] = (await orders(stack)).values()
    assert lines == [("MUG-1", 1, 1)]


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
