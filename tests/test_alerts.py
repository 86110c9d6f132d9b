"""Stock alerts end to end: feed file -> poll -> rules -> Slack message, in place."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from bot.config import load_settings
from bot.db.models import AlertState
from bot.db.types import utcnow
from bot.runtime import Runtime
from tests import probes
from tests.helpers import ALERT_CHANNEL_ID, CATALOG_HEADER, Stack

CATALOG = [
    CATALOG_HEADER,
    "MUG-1,Blue mug,Acme,A-MUG,1,5,4.00",
    "MUG-1,Blue mug,Beta,B-MUG,2,5,4.40",
    "CAP-2,Red cap,Acme,A-CAP,1,3,2.00",
]


def all_text(message: dict) -> str:
    return message.get("text", "") + json.dumps(message.get("blocks", []), ensure_ascii=False)


def action_ids(message: dict) -> set[str]:
    return {
        element["action_id"]
        for block in message.get("blocks", [])
        if block["type"] == "actions"
        for element in block["elements"]
    }


async def test_low_stock_alert_is_posted_with_context_and_buttons(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Beta", {"B-MUG": 40})
    await stack.poll("Beta")
    stack.write_feed("Acme", {"A-MUG": 3, "A-CAP": 50})
    summary = await stack.poll("Acme")

    assert (summary.rows_read, summary.alerts_opened) == (2, 1)
    message = stack.only_alert()
    assert message["text"] == "⚠️ MUG-1 low stock at Acme: 3 left (threshold 5)"
    blocks = message["blocks"]
    assert blocks[0]["type"] == "header"
    text = all_text(message)
    assert "Stock *3* at Acme (threshold 5)" in text
    assert "*Beta*: 40 in stock · $9.99 (same price)" in text  # the alternative and its price
    # Beta has stock: one click switches to it; snooze and substitute are in the menu.
    assert action_ids(message) == {"acknowledge_alert", "switch_supplier", "alert_menu"}
    switch = next(
        e
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "switch_supplier"
    )
    assert switch["text"]["text"] == "Switch to Beta (40 in stock, same price)"
    assert stack.slack.warnings == []


async def test_changes_update_the_same_message_and_never_duplicate(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {"A-MUG": 3, "A-CAP": 50})
    await stack.poll("Acme")
    first = stack.only_alert()

    await stack.poll("Acme")  # nothing changed: no new message, no update
    assert len(stack.slack.calls_to("chat.postMessage")) == 1
    assert stack.slack.calls_to("chat.update") == []

    stack.write_feed("Acme", {"A-MUG": 2, "A-CAP": 50})
    await stack.poll("Acme")
    updated = stack.only_alert()
    assert updated["ts"] == first["ts"]
    assert "2 left (threshold 5)" in updated["text"]


async def test_restock_resolves_the_original_message(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {"A-MUG": 0, "A-CAP": 50})
    await stack.poll("Acme")
    assert stack.only_alert()["text"] == "🚨 MUG-1 out of stock at Acme"

    stack.write_feed("Acme", {"A-MUG": 25, "A-CAP": 50})
    summary = await stack.poll("Acme")
    assert summary.alerts_resolved == 1
    message = stack.only_alert()
    assert message["text"] == "✅ MUG-1 back in stock at Acme (25)"
    assert action_ids(message) == set()  # nothing left to click


async def test_sku_missing_from_a_complete_feed_is_out_of_stock(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {"A-MUG": 30, "A-CAP": 50})
    await stack.poll("Acme")
    stack.write_feed("Acme", {"A-MUG": 30})
    summary = await stack.poll("Acme")
    assert summary.missing == 1
    message = stack.only_alert()
    assert message["text"] == "🚨 CAP-2 out of stock at Acme (missing from feed)"


async def test_an_offer_was_last_seen_at_the_last_poll_that_listed_it(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    assert await probes.last_seen(stack, "A-CAP") is None  # never polled yet
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    feeds = [{"A-MUG": 30, "A-CAP": 50}, {"A-MUG": 30}, {"A-MUG": 31}, {"A-MUG": 31, "A-CAP": 5}]
    seen: list[tuple[datetime | None, datetime | None]] = []
    for hour, stock in enumerate(feeds):
        stack.runtime.poller.clock = lambda hour=hour: start + timedelta(hours=hour)
        stack.write_feed("Acme", stock)
        assert (await stack.poll("Acme")).ok
        seen.append(
            (await probes.last_seen(stack, "A-MUG"), await probes.last_seen(stack, "A-CAP"))
        )
    at = [start + timedelta(hours=hour) for hour in range(4)]
    # CAP left the feed at the second poll: last seen at the first, until it came back.
    assert seen == [(at[0], at[0]), (at[1], at[0]), (at[2], at[0]), (at[3], at[3])]


async def test_unknown_quantity_is_not_read_as_zero(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {"A-MUG": "unknown", "A-CAP": 50})
    summary = await stack.poll("Acme")
    assert summary.alerts_opened == 0
    assert stack.alert_messages() == []
    assert (await probes.offer(stack, "A-MUG")).quantity is None


async def test_stock_history_records_changes_only(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {"A-MUG": 30, "A-CAP": 50})
    await stack.poll("Acme")
    await stack.poll("Acme")
    stack.write_feed("Acme", {"A-MUG": 29, "A-CAP": 50})
    await stack.poll("Acme")
    assert await probes.stock_history(stack, "A-MUG") == [(None, 30), (30, 29)]


async def test_feed_guard_refuses_a_mass_stockout(stack: Stack) -> None:
    rows = [CATALOG_HEADER] + [f"P-{i},Product {i},Acme,A-{i},1,2," for i in range(8)]
    await stack.import_catalog(rows)
    stack.write_feed("Acme", {f"A-{i}": 20 for i in range(8)})
    await stack.poll("Acme")

    stack.write_feed("Acme", {f"A-{i}": (0 if i < 5 else 20) for i in range(8)})
    summary = await stack.poll("Acme")
    assert summary.error is not None and "(0 missing from the feed, 5 at zero)" in summary.error
    message = stack.only_alert()
    assert message["text"].startswith("🧾 Supplier feed problem: Acme")
    assert await probes.offers_at_zero(stack) == 0  # the stock was left as it was

    stack.write_feed("Acme", {f"A-{i}": 20 for i in range(8)})
    summary = await stack.poll("Acme")
    assert summary.ok
    assert stack.only_alert()["text"].startswith("✅ Resolved: supplier feed problem: Acme")


async def test_feed_guard_can_be_overridden(stack: Stack) -> None:
    rows = [CATALOG_HEADER] + [f"P-{i},Product {i},Acme,A-{i},1,2," for i in range(6)]
    await stack.import_catalog(rows)
    stack.write_feed("Acme", {f"A-{i}": 20 for i in range(6)})
    await stack.poll("Acme")
    stack.write_feed("Acme", {f"A-{i}": 0 for i in range(6)})
    summary = await stack.poll("Acme", accept_drop=True)
    assert summary.ok and summary.alerts_opened == 6


async def test_supplier_down_after_repeated_failures_then_resolves(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {"A-MUG": 30, "A-CAP": 50})
    await stack.poll("Acme")
    (stack.tmp_path / "feeds" / "acme.csv").unlink()
    for _ in range(3):
        summary = await stack.poll("Acme")
        assert not summary.ok
    texts = [m["text"] for m in stack.alert_messages()]
    assert any(t.startswith("🔌 Supplier not responding: Acme") for t in texts), texts
    assert any("3 polls in a row have failed" in t for t in texts)

    stack.write_feed("Acme", {"A-MUG": 30, "A-CAP": 50})
    await stack.poll("Acme")
    assert all(m["text"].startswith("✅ Resolved") for m in stack.alert_messages())


async def test_alert_storm_is_grouped_into_one_message(stack: Stack) -> None:
    rows = [CATALOG_HEADER] + [f"P-{i:02},Product {i},Acme,A-{i},1,2," for i in range(12)]
    await stack.import_catalog(rows)
    stack.write_feed("Acme", {f"A-{i}": 0 for i in range(12)})
    summary = await stack.poll("Acme")
    assert summary.alerts_opened == 12
    message = stack.only_alert()
    assert message["text"] == "🚨 12 products at Acme: 12 out of stock"
    assert "P-00" in all_text(message) and "P-11" in all_text(message)

    stack.write_feed("Acme", {f"A-{i}": 20 for i in range(12)})
    await stack.poll("Acme")
    assert stack.only_alert()["text"] == "✅ 12 products at Acme: every product here is fine again"


async def test_slack_outage_loses_nothing_and_posts_once(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    stack.slack.fail_next("chat.postMessage", status=503, times=1)
    stack.write_feed("Acme", {"A-MUG": 0, "A-CAP": 50})
    await stack.poll("Acme")
    assert stack.alert_messages() == []  # Slack refused; the alert waits in the outbox

    alert = await probes.only_alert(stack)
    assert alert.needs_sync and alert.last_delivery_error
    await probes.arrange_backoff_passed(stack)
    await stack.deliver()
    await stack.deliver()
    assert len(stack.alert_messages()) == 1


async def test_rate_limit_is_honoured(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    stack.slack.fail_next("chat.postMessage", status=429, retry_after=30, times=1)
    stack.write_feed("Acme", {"A-MUG": 0, "A-CAP": 50})
    await stack.poll("Acme")
    assert stack.alert_messages() == []
    # Retry-After holds posting to the channel, not just this alert.
    [hold] = await probes.slack_holds(stack)
    assert (hold.method, hold.channel) == ("chat.postMessage", "#stock-alerts")
    assert 25 <= (hold.not_before - utcnow()).total_seconds() <= 31
    await stack.deliver()
    assert len(stack.slack.calls_to("chat.postMessage")) == 1


async def test_restart_delivers_pending_and_resolves_in_place(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {"A-MUG": 0, "A-CAP": 50})
    await stack.poll("Acme")
    posted = stack.only_alert()
    await stack.runtime.close()

    # A new process: same database, fresh clients.
    runtime = await Runtime.start(load_settings(stack.config_path), per_channel_interval=0)
    stack.runtime = runtime
    stack.write_feed("Acme", {"A-MUG": 40, "A-CAP": 50})
    await stack.poll("Acme")
    message = stack.only_alert()
    assert message["ts"] == posted["ts"]
    assert message["text"] == "✅ MUG-1 back in stock at Acme (40)"
    alert = await probes.only_alert(stack)
    assert alert.state == AlertState.RESOLVED
    assert (alert.slack_channel, alert.slack_ts) == (ALERT_CHANNEL_ID, posted["ts"])


async def test_huge_products_stay_within_block_kit_limits(stack: Stack) -> None:
    title = "Extra long title " * 20  # 340 characters: headers allow 150
    rows = [CATALOG_HEADER, f"BIG-1,{title},Acme,A-BIG,1,5,1.00"]
    rows += [f"BIG-1,{title},Supplier {i:02} {'x' * 60},S-{i},{i + 2},5,1.00" for i in range(60)]
    await stack.import_catalog(rows)
    stack.write_feed("Acme", {"A-BIG": 0})
    await stack.poll("Acme")
    message = stack.only_alert()  # the fake Slack rejects anything Slack would reject
    header = message["blocks"][0]["text"]["text"]
    assert header == "🚨 BIG-1 out of stock"  # the SKU: the title is in the body
    assert len(message["blocks"][1]["text"]["text"]) < 300  # the title is cut for a phone
    assert "No stock at Supplier 00" in all_text(message)
    assert "+57 more" in all_text(message)  # suppliers without stock: one short line
    assert stack.slack.warnings == []


async def test_two_suppliers_polled_at_once_both_succeed(stack: Stack) -> None:
    # As at start-up, when every supplier's job is due together (SQLite serialises
    # the writes; neither poll may fail with "database is locked").
    rows = [CATALOG_HEADER]
    rows += [f"A-{i},Product A{i},Acme,A-{i},1,2," for i in range(300)]
    rows += [f"B-{i},Product B{i},Beta,B-{i},1,2," for i in range(300)]
    await stack.import_catalog(rows)
    stack.write_feed("Acme", {f"A-{i}": i % 7 for i in range(300)})
    stack.write_feed("Beta", {f"B-{i}": i % 5 for i in range(300)})
    acme, beta = await asyncio.gather(
        stack.runtime.poller.poll("Acme"), stack.runtime.poller.poll("Beta")
    )
    assert acme.error is None
    assert beta.error is None
    assert (acme.changed, beta.changed) == (300, 300)
