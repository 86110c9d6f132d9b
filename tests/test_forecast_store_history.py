"""Store orders that arrive already fulfilled are sales history, over real HTTP webhooks."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.forecast import DataQuality, forecast_for
from bot.db.models import OrderStatus
from tests.helpers import Stack
from tests.probes import backorder_alert, order_rows, product_id
from tests.webhook_helpers import (
    SHOPIFY,
    WOOCOMMERCE,
    ready,
    set_secret,
)

NOW = (datetime.now(UTC) + timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
PLACED = NOW - timedelta(days=3)


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    set_secret(monkeypatch, SHOPIFY, SHOPIFY.secret)
    set_secret(monkeypatch, WOOCOMMERCE, WOOCOMMERCE.secret)


async def _mug_forecast(stack: Stack) -> tuple[float, int, DataQuality]:
    mug = await product_id(stack, "MUG-1")
    async with stack.runtime.sessions() as session:
        result = await forecast_for(session, mug, NOW)
    assert result is not None
    return result.rate_per_day, result.history_days, result.data_quality


async def test_a_shopify_order_first_seen_fulfilled_is_kept_with_its_lines(stack: Stack) -> None:
    await ready(stack, mugs=1)
    shipped = copy.deepcopy(SHOPIFY.order)
    shipped["created_at"] = PLACED.isoformat()
    shipped["fulfillment_status"] = "fulfilled"
    for item in shipped["line_items"]:
        item["fulfillable_quantity"] = 0  # every unit shipped: nothing left to wait for

    response = await SHOPIFY.deliver(stack, shipped, topic="orders/fulfilled")

    assert response.status_code == 200
    assert (response.json()["result"], response.json()["detail"]) == (
        "created",
        "fulfilled: kept as sales history",
    )
    [row] = (await order_rows(stack)).values()
    assert row.status == OrderStatus.FULFILLED
    assert row.lines == [("CAP-2", 1, 0), ("MUG-1", 3, 0)]  # units sold; nothing backordered
    assert await backorder_alert(stack) is None
    # 3 mugs on the first of 3 days of history.
    assert await _mug_forecast(stack) == (1.0, 3, DataQuality.LITTLE_DATA)


async def test_woocommerce_completed_orders_are_history_and_cancelled_ones_are_not(
    stack: Stack,
) -> None:
    await ready(stack, mugs=1)
    completed = {
        **WOOCOMMERCE.order,
        "status": "completed",
        "date_created_gmt": PLACED.replace(tzinfo=None).isoformat(),
    }
    response = await WOOCOMMERCE.deliver(stack, completed, topic="order.updated")
    assert response.json()["result"] == "created"
    cancelled = {**completed, "id": 728, "status": "cancelled"}
    response = await WOOCOMMERCE.deliver(stack, cancelled, topic="order.updated")
    assert (response.json()["result"], response.json()["detail"]) == ("ignored", "order not known")

    rows = await order_rows(stack)
    assert list(rows) == ["727"]
    assert rows["727"].status == OrderStatus.FULFILLED
    assert rows["727"].lines == [("CAP-2", 1, 0), ("MUG-1", 3, 0)]
    assert await _mug_forecast(stack) == (1.0, 3, DataQuality.LITTLE_DATA)
