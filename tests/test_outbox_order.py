"""The outbox's order: new problems first (stockouts and backorders, then low stock, then
the rest), updates after; pending updates to one message merged into one call; a 429
holds every call to its channel.

Slack is the fake Web API; its `block` keeps the delivery's first post in flight while
a new stockout is raised, as a storm's backlog would at one message per second.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.core.orders import import_orders
from tests.helpers import ALERT_CHANNEL_ID, CATALOG_HEADER, Stack
from tests.probes import arrange_holds_passed
from tests.test_orders import ORDERS_HEADER

BACKLOG = 60
NEW = f"P-{BACKLOG}"  # the product that runs out while the backlog is being sent
CATALOG = [CATALOG_HEADER] + [f"P-{i},Product {i},Acme,A-{i},1,5,1.00" for i in range(BACKLOG + 1)]


@pytest.fixture
def group_over() -> int:
    return 1000  # grouping off: every problem has its own message


def feed(stack: Stack, **stock: int) -> None:
    """Every product low (2 in stock, threshold 5) but for the ones named (P_60=0)."""
    levels: dict[str, int | str | None] = {f"A-{i}": 2 for i in range(BACKLOG + 1)}
    levels |= {f"A-{name.split('_')[1]}": qty for name, qty in stock.items()}
    stack.write_feed("Acme", levels)


def posts(stack: Stack, since: int = 0) -> list[str]:
    """The notification text of every top-level post, in the order Slack received them."""
    return [
        str(call.params["text"])
        for call in stack.slack.calls[since:]
        if call.method == "chat.postMessage" and call.ok and "thread_ts" not in call.params
    ]


def position(texts: list[str], start: str) -> int:
    """1-based position of the first text starting with `start`."""
    return next(i for i, text in enumerate(texts, 1) if text.startswith(start))


async def p0_low_in_slack(stack: Stack, left: int = 2) -> tuple[dict[str, Any], int]:
    """P-0's low-stock message in Slack, every other product well stocked; the message
    and how many calls Slack had seen so far."""
    await stack.import_catalog(CATALOG)
    feed(stack, **{f"P_{i}": 50 for i in range(1, BACKLOG + 1)} | {"P_0": left})
    await stack.poll("Acme")
    [seen] = stack.alert_messages()
    return seen, len(stack.slack.calls)


async def queue_backlog(stack: Stack) -> None:
    """60 low-stock alerts stored, none sent yet (Slack is slow, or was away)."""
    await stack.import_catalog(CATALOG)
    feed(stack, **{f"P_{BACKLOG}": 50})
    await stack.runtime.poller.poll("Acme")


async def test_new_stockout_overtakes_a_backlog_of_60(stack: Stack) -> None:
    await queue_backlog(stack)
    stack.slack.block("chat.postMessage")
    delivering = asyncio.create_task(stack.deliver())
    # The first post of the backlog is in flight...
    await asyncio.to_thread(stack.slack.wait_for_blocked)
    # ...when P-60 runs out.
    feed(stack, **{f"P_{BACKLOG}": 0})
    await stack.runtime.poller.poll("Acme")
    stack.slack.release()
    await delivering
    await stack.deliver()

    texts = posts(stack)
    assert len(texts) == BACKLOG + 1
    assert len(stack.alert_messages()) == BACKLOG + 1  # each posted once
    # The one in flight, then the stockout: within 2 s at one message per second.
    assert position(texts, f"🚨 {NEW} out of stock at Acme") <= 2, texts[:3]


async def test_new_problems_first_then_updates(stack: Stack) -> None:
    seen, already = await p0_low_in_slack(stack)

    # Queued, oldest first: an update (P-0 acknowledged), a supplier problem (Beta's
    # feed is a web page), low stock at P-1..P-3, a stockout at P-4, a backorder at P-5.
    await stack.runtime.staff.acknowledge(alert_id(seen), "U0ALICE")
    (stack.tmp_path / "feeds" / "beta.csv").write_text("<html>Maintenance</html>\n")
    await stack.runtime.poller.poll("Beta")
    well_stocked = {f"P_{i}": 50 for i in range(4, BACKLOG + 1)}
    feed(stack, **well_stocked | {"P_1": 2, "P_2": 2, "P_3": 2})
    await stack.runtime.poller.poll("Acme")
    feed(stack, **well_stocked | {"P_1": 2, "P_2": 2, "P_3": 2, "P_4": 0})
    await stack.runtime.poller.poll("Acme")
    await queue_orders(stack, "1001,Ada,ada@example.com,P-5,60,2026-11-20")
    await stack.deliver()

    texts = posts(stack, since=already)
    assert [text.split(" · ")[0] for text in texts[:2]] == [
        "🚨 P-4 out of stock at Acme",
        "⏳ P-5 backordered at Acme",
    ], texts
    assert [text.split(":")[0] for text in texts[2:5]] == [
        f"⚠️ P-{i} low stock at Acme" for i in (1, 2, 3)
    ], texts
    assert len(texts) == 6 and "Beta" in texts[5], texts
    # The update to P-0 (and its thread note) comes after every new message.
    calls = chat_calls(stack, since=already)
    assert calls[-2:] == [("chat.update", seen["ts"]), ("chat.postMessage", "reply")], calls


def alert_id(message: dict[str, Any]) -> int:
    return int(message["metadata"]["event_payload"]["alert_id"])


def chat_calls(stack: Stack, since: int = 0) -> list[tuple[str, str]]:
    """(method, the ts updated or "new" / "reply") of every message Slack took, in order."""
    calls = []
    for call in stack.slack.calls[since:]:
        if call.method == "chat.update" and call.ok:
            calls.append((call.method, str(call.params["ts"])))
        elif call.method == "chat.postMessage" and call.ok:
            calls.append((call.method, "reply" if "thread_ts" in call.params else "new"))
    return calls


async def queue_orders(stack: Stack, *rows: str) -> None:
    """Import open orders as `stockbot orders import` does, without delivering."""
    path = stack.tmp_path / "orders.csv"
    path.write_text("\n".join([ORDERS_HEADER, *rows]) + "\n", encoding="utf-8")
    async with stack.runtime.writes() as session, session.begin():
        await import_orders(
            session,
            path,
            channel=stack.settings.slack.alert_channel,
            group_over=stack.settings.rules.group_alerts_over,
        )


async def test_updates_queued_for_one_message_make_one_call(stack: Stack) -> None:
    seen, already = await p0_low_in_slack(stack, left=3)

    # P-0 drops to 2 while ten other products run low: all queued.
    feed(stack, **{f"P_{i}": 50 for i in range(11, BACKLOG + 1)} | {"P_0": 2})
    await stack.runtime.poller.poll("Acme")
    stack.slack.block("chat.postMessage")
    delivering = asyncio.create_task(stack.deliver())
    await asyncio.to_thread(stack.slack.wait_for_blocked)
    # While the first new message is in flight, P-0 is acknowledged and drops to 1.
    await stack.runtime.staff.acknowledge(alert_id(seen), "U0ALICE")
    feed(stack, **{f"P_{i}": 50 for i in range(11, BACKLOG + 1)} | {"P_0": 1})
    await stack.runtime.poller.poll("Acme")
    stack.slack.release()
    await delivering
    await stack.deliver()

    updates = [
        call
        for call in stack.slack.calls[already:]
        if call.method == "chat.update" and call.params["ts"] == seen["ts"]
    ]
    assert len(updates) == 1, [call.params["text"] for call in updates]
    assert updates[0].params["text"] == "⚠️ P-0 low stock at Acme: 1 left (threshold 5)"
    shown = stack.slack.message(ALERT_CHANNEL_ID, seen["ts"])
    assert shown is not None and "Acknowledged by <@U0ALICE>" in str(shown["blocks"])
    assert len(stack.alert_messages()) == 11  # nothing posted twice


async def test_retry_after_holds_every_call_to_the_channel(stack: Stack) -> None:
    seen, already = await p0_low_in_slack(stack)

    # P-1 runs out; Slack answers its post with 429, Retry-After 30 s.
    feed(stack, **{f"P_{i}": 50 for i in range(2, BACKLOG + 1)} | {"P_1": 0})
    stack.slack.fail_next("chat.postMessage", status=429, retry_after=30)
    await stack.poll("Acme")
    # Then P-0 is acknowledged: its update waits for the channel too.
    await stack.runtime.staff.acknowledge(alert_id(seen), "U0ALICE")
    await stack.deliver()

    calls = [(c.method, c.status) for c in stack.slack.calls[already:]]
    assert calls == [("chat.postMessage", 429)], calls

    await arrange_holds_passed(stack)  # pretend the 30 seconds have passed
    await stack.deliver()
    assert posts(stack, since=already) == ["🚨 P-1 out of stock at Acme"]
    shown = stack.slack.message(ALERT_CHANNEL_ID, seen["ts"])
    assert shown is not None and "Acknowledged by <@U0ALICE>" in str(shown["blocks"])
