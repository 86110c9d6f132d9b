"""Backorders end to end: orders + stock -> allocation -> backorder alert; `/backorders`."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import event

from bot.core import backorders
from bot.core.alerts import EvaluationResult
from bot.core.orders import close_order
from bot.core.stock_changes import stock_changed
from bot.db.models import AlertKind, AlertState
from tests.fakes.slack_api import BlockKitValidator
from tests.helpers import ALERT_CHANNEL_ID, CATALOG_HEADER, Stack
from tests.probes import (
    arrange_offer_stock,
    backordered_by_order,
    expected_shippers,
    product_alerts,
    product_id,
    supplier_ids,
)
from tests.test_orders import ORDERS_HEADER, import_orders_csv

CATALOG = [
    CATALOG_HEADER,
    "MUG-1,Blue mug,Acme,A-MUG,1,1,4.00",
    "MUG-1,Blue mug,Beta,B-MUG,2,1,4.40",
    "CAP-2,Red cap,Acme,A-CAP,1,1,2.00",
    "HAT-3,Green hat,Beta,B-HAT,1,1,3.00",
]
# Listed newest first: allocation must follow ordered_at, not the file.
THREE_MUG_ORDERS = [
    ORDERS_HEADER,
    "1003,Alan Turing,alan@example.com,MUG-1,2,2024-05-03T10:00:00Z",
    "1001,Ada Lovelace,ada@example.com,MUG-1,2,2024-05-01T10:00:00Z",
    "1002,Grace Hopper,grace@example.com,MUG-1,2,2024-05-02T10:00:00Z",
]


def all_text(message: dict[str, Any]) -> str:
    return message.get("text", "") + json.dumps(message.get("blocks", []), ensure_ascii=False)


async def sync(stack: Stack, product_ids: set[int] | None = None, **scope: Any) -> EvaluationResult:
    """Re-allocate and re-evaluate (as a poll does through `stock_changed`), then deliver."""
    async with stack.runtime.writes() as session, session.begin():
        result = await stock_changed(
            session, product_ids, channel=stack.settings.slack.alert_channel, **scope
        )
    await stack.deliver()
    return result


async def backorder_message(stack: Stack) -> dict[str, Any]:
    """The Slack message of the latest backorder alert (found by its stored ts)."""
    alerts = await product_alerts(stack)
    assert alerts and alerts[-1].slack_ts is not None
    message = stack.slack.message(ALERT_CHANNEL_ID, alerts[-1].slack_ts)
    assert message is not None
    return message


async def with_stock(stack: Stack, acme: dict[str, int | str | None]) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", acme)
    await stack.poll("Acme")


async def test_stock_goes_to_the_oldest_orders_first(stack: Stack) -> None:
    await with_stock(stack, {"A-MUG": 3, "A-CAP": 50})
    report = await import_orders_csv(stack, THREE_MUG_ORDERS)
    assert await backordered_by_order(stack, "MUG-1") == {"1001": 0, "1002": 1, "1003": 2}
    assert report.products_backordered == 1
    assert (report.alerts.opened, report.alerts.updated, report.alerts.resolved) == (1, 0, 0)
    acme = (await supplier_ids(stack))["Acme"]
    assert await expected_shippers(stack) == {
        acme
    }  # the active offer's supplier is expected to ship

    [alert] = await product_alerts(stack)
    assert alert.kind == AlertKind.BACKORDER
    assert (
        alert.details
        | {
            "orders": 2,
            "units": 3,
            "oldest": "2024-05-02T10:00:00+00:00",
            "supplier_id": acme,
        }
        == alert.details
    )
    assert alert.dedup_key == f"product:{alert.product_id}"
    message = stack.only_alert()
    assert message["text"] == "⏳ MUG-1 backordered at Acme · 2 orders waiting"
    text = all_text(message)
    assert "*Blue mug*" in text
    assert "2 orders · 3 units waiting" in text and "2024-05-02" in text  # and since when
    assert stack.slack.warnings == []


async def test_alert_updates_in_place_then_resolves_when_stock_returns(stack: Stack) -> None:
    await with_stock(stack, {"A-MUG": 3, "A-CAP": 50})
    await import_orders_csv(stack, THREE_MUG_ORDERS)
    first = await backorder_message(stack)

    assert (await sync(stack)).updated == 0  # nothing changed: Slack is not called again
    assert stack.slack.calls_to("chat.update") == []

    stack.write_feed("Acme", {"A-MUG": 2, "A-CAP": 50})
    await stack.poll("Acme")
    await sync(stack)
    assert await backordered_by_order(stack, "MUG-1") == {"1001": 0, "1002": 2, "1003": 2}
    [alert] = await product_alerts(stack)
    assert (alert.details["orders"], alert.details["units"]) == (2, 4)
    updated = await backorder_message(stack)
    assert updated["ts"] == first["ts"]
    assert "4 unit" in all_text(updated)

    stack.write_feed("Acme", {"A-MUG": 10, "A-CAP": 50})
    await stack.poll("Acme")
    await sync(stack)
    assert await backordered_by_order(stack, "MUG-1") == {"1001": 0, "1002": 0, "1003": 0}
    resolved = await backorder_message(stack)
    assert len(stack.alert_messages()) == 1
    assert resolved["ts"] == first["ts"]
    assert resolved["text"] == "✅ MUG-1 every waiting order covered: 10 in stock at Acme"


async def test_closing_orders_shrinks_then_resolves_the_alert(stack: Stack) -> None:
    await with_stock(stack, {"A-MUG": 3, "A-CAP": 50})
    await import_orders_csv(stack, THREE_MUG_ORDERS)
    channel = stack.settings.slack.alert_channel
    async with stack.runtime.writes() as session, session.begin():
        closed = await close_order(session, "1001", channel=channel)
    await stack.deliver()
    assert closed.alerts.updated == 1
    # 1001's two units are free again: 1002 is covered, 1003 waits for 1.
    assert await backordered_by_order(stack, "MUG-1") == {"1001": 0, "1002": 0, "1003": 1}
    [alert] = await product_alerts(stack)
    assert (alert.details["orders"], alert.details["units"]) == (1, 1)
    assert "1 unit" in all_text(stack.only_alert())

    async with stack.runtime.writes() as session, session.begin():
        closed = await close_order(session, "1003", cancelled=True, channel=channel)
    await stack.deliver()
    assert closed.alerts.resolved == 1
    [alert] = await product_alerts(stack)
    assert alert.state == AlertState.RESOLVED
    assert alert.resolution == "every waiting order covered: 3 in stock at Acme"
    assert stack.only_alert()["text"].startswith("✅ MUG-1 every waiting order covered")


async def test_stockouts_count_as_zero_and_unknown_stock_marks_nothing(stack: Stack) -> None:
    await with_stock(stack, {"A-MUG": "unknown", "A-CAP": 50})
    await import_orders_csv(stack, THREE_MUG_ORDERS)
    assert await backordered_by_order(stack, "MUG-1") == {"1001": 0, "1002": 0, "1003": 0}
    assert await product_alerts(stack) == []

    stack.write_feed("Acme", {"A-CAP": 50})  # MUG missing from a complete feed: a stockout
    await stack.poll("Acme")
    await sync(stack)
    assert await backordered_by_order(stack, "MUG-1") == {"1001": 2, "1002": 2, "1003": 2}
    [alert] = await product_alerts(stack)
    assert (alert.details["orders"], alert.details["units"]) == (3, 6)


async def test_refresh_by_supplier_touches_only_that_suppliers_products(stack: Stack) -> None:
    await with_stock(stack, {"A-MUG": 10, "A-CAP": 50})
    await import_orders_csv(stack, THREE_MUG_ORDERS)
    ids = await supplier_ids(stack)
    # Stock changed behind refresh's back (as a poll's set-based update does).
    await arrange_offer_stock(stack, "A-MUG", quantity=0)

    await sync(stack, supplier_id=ids["Beta"])
    assert await backordered_by_order(stack, "MUG-1") == {
        "1001": 0,
        "1002": 0,
        "1003": 0,
    }  # not Beta's product
    result = await sync(stack, supplier_id=ids["Acme"])
    assert result.opened == 1
    assert await backordered_by_order(stack, "MUG-1") == {"1001": 2, "1002": 2, "1003": 2}


async def test_nothing_to_do_costs_one_query(stack: Stack) -> None:
    rows = [CATALOG_HEADER] + [f"P-{i:04},Product {i},Acme,A-{i},1,1," for i in range(2000)]
    await stack.import_catalog(rows)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = stack.runtime.engine.sync_engine
    acme = (await supplier_ids(stack))["Acme"]
    async with stack.runtime.writes() as session, session.begin():
        await session.connection()  # the transaction's BEGIN is not the work counted
        event.listen(engine, "before_cursor_execute", record)
        try:
            await backorders.allocate(session)
            await backorders.allocate(session, supplier_id=acme)
            await backorders.allocate(session, product_ids={1, 2, 3})
        finally:
            event.remove(engine, "before_cursor_execute", record)
    # One indexed EXISTS each: no order lines, products or offers are read.
    assert len(statements) == 3
    assert all("EXISTS" in s and "order_lines" not in s for s in statements)


async def test_order_stats_and_waiting_orders(stack: Stack) -> None:
    await with_stock(stack, {"A-MUG": 3, "A-CAP": 50})
    await import_orders_csv(stack, THREE_MUG_ORDERS)
    mug = await product_id(stack, "MUG-1")
    async with stack.runtime.sessions() as session:
        stats = await backorders.order_stats(session, mug)
        waiting = await backorders.waiting_orders(session, mug)
    assert stats == backorders.OrderStats(
        open_orders=3,
        open_units=6,
        backordered_orders=2,
        backordered_units=3,
        oldest_backorder_at=datetime(2024, 5, 2, 10, tzinfo=UTC),
        restock_date=None,
    )
    assert [(w.external_id, w.customer_name, w.quantity, w.backordered) for w in waiting] == [
        ("1002", "Grace Hopper", 2, 1),
        ("1003", "Alan Turing", 2, 2),
    ]
    assert waiting[0].customer_email == "grace@example.com"


# -- /backorders ----------------------------------------------------------------------------


async def test_backorders_command_lists_products_oldest_first(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {"A-MUG": 1, "A-CAP": 0})
    await stack.poll("Acme")
    await import_orders_csv(
        stack,
        [
            ORDERS_HEADER,
            "2001,Ada Lovelace,ada@example.com,MUG-1,3,2024-05-04",
            "2002,Grace Hopper,grace@example.com,CAP-2,1,2024-05-02",
            "2003,Alan Turing,alan@example.com,CAP-2,4,2024-05-03",
            "2004,Joan Clarke,joan@example.com,HAT-3,1,2024-05-01",  # Beta: stock unknown
        ],
    )
    sender = await stack.serve_http()
    # Acked at once with nothing to show; the answer comes through the response URL.
    rid = "backorders-ack"
    response = await sender.slash_command(
        "/backorders", "", user_id="U0ANYONE", response_url=stack.slack.response_url(rid)
    )
    assert (response.status_code, response.content) == (200, b"")
    await stack.slack.wait_for_async(f"response_url/{rid}")
    [answer] = stack.slack.responses(rid)
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == "📦 Backorders: 2 products"
    assert BlockKitValidator().validate_blocks(answer["blocks"]) == []
    body = answer["blocks"][1]["text"]["text"]
    cap, mug = body.splitlines()
    assert cap.startswith("• `CAP-2` Red cap: *2 orders / 5 units* waiting, oldest ")
    assert cap.endswith("· no restock date · Acme")
    assert mug.startswith("• `MUG-1` Blue mug: *1 order / 2 units* waiting")
    assert "HAT-3" not in json.dumps(answer)

    one = await stack.command("/backorders", "cap-2")
    text = json.dumps(one["blocks"], ensure_ascii=False)
    assert one["text"] == "📦 Backorders: CAP-2 Red cap"
    assert text.index("Order 2002 · Grace Hopper: 1 of 1 waiting") < text.index(
        "Order 2003 · Alan Turing: 4 of 4 waiting"
    )

    none = await stack.command("/backorders", "HAT-3")
    assert none["text"].startswith("✅ No backorders for `HAT-3` Green hat")

    unknown = await stack.command("/backorders", "CAP-3")
    assert unknown["text"].startswith("No such product or order: “CAP-3”. Did you mean:")
    assert "CAP-2" in unknown["text"]


async def test_long_backorder_lists_stay_within_block_kit_limits(stack: Stack) -> None:
    count = 120
    rows = [CATALOG_HEADER] + [
        f"P-{i:03},{'Long title ' * 12}{i},Acme,A-{i},1,0," for i in range(count)
    ]
    await stack.import_catalog(rows)
    stack.write_feed("Acme", {f"A-{i}": 0 for i in range(count)})
    await stack.poll("Acme", accept_drop=True)
    orders = [ORDERS_HEADER] + [
        f"{3000 + i},Customer {i},c{i}@example.com,P-{i:03},1,2024-05-01" for i in range(count)
    ]
    await import_orders_csv(stack, orders)
    await stack.serve_http()
    answer = await stack.command("/backorders")
    assert answer["text"] == f"📦 Backorders: {count} products"
    assert BlockKitValidator().validate_blocks(answer["blocks"]) == []
    body = answer["blocks"][1]["text"]["text"]
    assert len(body) <= 3000
    assert body.splitlines()[-1].startswith("…and ") and body.endswith(" more")
    # 120 stockouts, then their waiting orders: one grouped message, not 120 (or 240).
    alerts = await product_alerts(stack)
    assert len(alerts) == count + 1
    [group] = [a for a in alerts if a.is_group]
    assert [a.slack_ts for a in alerts if a.slack_ts] == [group.slack_ts]
    message = stack.slack.message(ALERT_CHANNEL_ID, group.slack_ts or "")
    assert message is not None
    assert (
        message["text"]
        == f"🚨 {count} products at Acme: {count} out of stock · {count} orders waiting"
    )


async def test_restock_date_shows_in_stats(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    feed = stack.tmp_path / "feeds" / "acme.csv"
    feed.write_text("sku,quantity,restock_date\nA-MUG,0,2024-06-15\nA-CAP,5,\n", encoding="utf-8")
    await stack.poll("Acme")
    await import_orders_csv(stack, THREE_MUG_ORDERS[:2])
    mug = await product_id(stack, "MUG-1")
    async with stack.runtime.sessions() as session:
        stats = await backorders.order_stats(session, mug)
    assert stats.restock_date == date(2024, 6, 15)
    assert (stats.backordered_orders, stats.backordered_units) == (1, 2)
