"""Seeing stockouts coming in Slack: the at-risk state of a product's one message,
its hysteresis, demand spikes, restock dates that slip, and the forecast on `/stock`.

Time is a fake clock the polls and the forecasts share; sales come in as a shop's
orders CSV, stock through the supplier's feed, and everything is read as a person
sees it in the fake Slack. A poll cycle is what the scheduler runs: the poll, then
the forecast recompute when stock changed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_settings
from bot.runtime import Runtime
from tests import probes
from tests.fakes.clock import FakeClock
from tests.fakes.slack_api import FakeSlackAPI
from tests.helpers import ALERT_CHANNEL_ID, CATALOG_HEADER, Stack
from tests.probes import restock_slip_count
from tests.test_orders import import_orders_csv

ORDERS_HEADER = "order_id,customer_name,customer_email,sku,quantity,ordered_at,status"
NOON = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
LAMP = [
    CATALOG_HEADER,
    "LAMP-02,Brass lamp,Acme,A-LAMP,1,5,10.00",
    "LAMP-02,Brass lamp,Beta,B-LAMP,2,5,11.00",
]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOON)


@pytest.fixture
async def stack(
    tmp_path: Path,
    config_path: Path,
    slack_env: None,
    slack_api: FakeSlackAPI,
    clock: FakeClock,
) -> AsyncIterator[Stack]:
    runtime = await Runtime.start(load_settings(config_path), per_channel_interval=0, clock=clock)
    built = Stack(tmp_path, config_path, runtime.settings, runtime, slack_api)
    yield built
    await built.close()


def feed(
    stack: Stack, supplier: str, stock: Mapping[str, int], restock: date | None = None
) -> None:
    """The supplier's CSV feed: supplier SKU -> quantity, with a restock date if given."""
    when = restock.isoformat() if restock else ""
    lines = ["sku,quantity,price,restock_date", *(f"{s},{q},9.99,{when}" for s, q in stock.items())]
    (stack.tmp_path / "feeds" / f"{supplier.lower()}.csv").write_text("\n".join(lines) + "\n")


async def cycle(stack: Stack, supplier: str = "Acme") -> None:
    """One scheduled poll cycle of the supplier, then Slack is told."""
    summary = await stack.runtime.poll_cycle(supplier)
    assert summary.ok, summary.error
    await stack.deliver()


async def sell(
    stack: Stack, clock: FakeClock, sku: str, per_day: int, days: int, today: int = 0
) -> None:
    """`per_day` units a day for the `days` days before today (fulfilled: history only),
    and `today` units this morning."""
    midnight = clock.now.replace(hour=0)
    rows = [
        f"{sku}-{day},Ada,ada@example.com,{sku},{per_day},"
        f"{(midnight - timedelta(days=day) + timedelta(hours=10)).isoformat()},fulfilled"
        for day in range(1, days + 1)
    ]
    if today:
        moment = (midnight + timedelta(hours=9)).isoformat()
        rows.append(f"{sku}-today,Ada,ada@example.com,{sku},{today},{moment},fulfilled")
    await import_orders_csv(stack, [ORDERS_HEADER, *rows])


def everything(message: dict[str, Any]) -> str:
    return message["text"] + json.dumps(message["blocks"], ensure_ascii=False)


def replies(stack: Stack, message: dict[str, Any]) -> list[str]:
    return [r["text"] for r in stack.slack.thread_replies(ALERT_CHANNEL_ID, message["ts"])]


async def lamp_selling_five_a_day(stack: Stack, clock: FakeClock, acme: int) -> None:
    await stack.import_catalog(LAMP)
    await sell(stack, clock, "LAMP-02", 5, 20)
    feed(stack, "Beta", {"B-LAMP": 100})
    await cycle(stack, "Beta")
    feed(stack, "Acme", {"A-LAMP": acme})
    await cycle(stack)


async def test_at_risk_before_low_stock_then_low_then_out_in_one_message(
    stack: Stack, clock: FakeClock
) -> None:
    await lamp_selling_five_a_day(stack, clock, 12)

    # 12 left is above the threshold of 5, but at 5 a day it lasts 2.4 days.
    alert = stack.only_alert()
    assert alert["text"] == "🔮 LAMP-02 at risk at Acme: about 2 days of cover"
    shown = everything(alert)
    assert "Sells ~5/day, 12 left at Acme: about 2 days of cover" in shown
    # The same fixes as a stockout: switch early (to the alternative with most cover) ...
    assert "Switch to Beta (100 in stock" in shown
    assert replies(stack, alert) == []

    clock.advance(hours=1)
    feed(stack, "Acme", {"A-LAMP": 4})
    await cycle(stack)
    alert = stack.only_alert()
    assert alert["text"] == "⚠️ LAMP-02 low stock at Acme: 4 left (threshold 5)"
    assert replies(stack, alert) == ["Now low stock at Acme: 4 left (threshold 5)."]

    clock.advance(hours=1)
    feed(stack, "Acme", {"A-LAMP": 0})
    await cycle(stack)
    alert = stack.only_alert()
    assert alert["text"] == "🚨 LAMP-02 out of stock at Acme"
    assert replies(stack, alert) == [
        "Now low stock at Acme: 4 left (threshold 5).",
        "Now out of stock at Acme.",
    ]


async def test_at_risk_does_not_flap(stack: Stack, clock: FakeClock) -> None:
    await lamp_selling_five_a_day(stack, clock, 12)
    assert stack.only_alert()["text"] == "🔮 LAMP-02 at risk at Acme: about 2 days of cover"

    # 4 days of cover: past warn_days (3) but not past 1.5x: it stays, updated in place.
    clock.advance(hours=1)
    feed(stack, "Acme", {"A-LAMP": 20})
    await cycle(stack)
    assert stack.only_alert()["text"] == "🔮 LAMP-02 at risk at Acme: about 4 days of cover"

    # 6 days: past 1.5x warn_days, it resolves.
    clock.advance(hours=1)
    feed(stack, "Acme", {"A-LAMP": 30})
    await cycle(stack)
    assert stack.only_alert()["text"] == "✅ LAMP-02 no longer at risk at Acme (30)"

    # Back within warn_days an hour later, but not worse than it was: no new alert.
    clock.advance(hours=1)
    feed(stack, "Acme", {"A-LAMP": 14})
    await cycle(stack)
    assert len(stack.alert_messages()) == 1

    # Worse than ever: it opens again, in a new message. (Acme's 30 came back down at
    # once, so the drain reads it as a glitch: the fall runs from the restock to 20.)
    clock.advance(hours=1)
    feed(stack, "Acme", {"A-LAMP": 11})
    await cycle(stack)
    newest = stack.alert_messages()[-1]
    assert len(stack.alert_messages()) == 2
    assert newest["text"] == "🔮 LAMP-02 at risk at Acme: out in about 4 h"
    assert "Acme's stock fell 20 -> 11 in 3 h: out in about 4 h" in everything(newest)


async def test_a_supplier_draining_in_seconds_is_at_risk(stack: Stack, clock: FakeClock) -> None:
    await stack.import_catalog(LAMP)
    for units in (400, 320):
        feed(stack, "Acme", {"A-LAMP": units})
        await cycle(stack)
        clock.advance(seconds=6)
        assert stack.alert_messages() == []  # fewer than three readings tell nothing yet
    feed(stack, "Acme", {"A-LAMP": 240})
    await cycle(stack)

    alert = stack.only_alert()
    assert alert["text"] == "🔮 LAMP-02 at risk at Acme: out in about 18 s"
    assert "Acme's stock fell 400 -> 240 in 12 s: out in about 18 s" in everything(alert)


async def test_a_demand_spike_is_said_or_opens_at_risk(stack: Stack, clock: FakeClock) -> None:
    await stack.import_catalog(
        [
            CATALOG_HEADER,
            "MUG-1,Blue mug,Acme,A-MUG,1,5,4.00",
            "CAP-2,Red cap,Acme,A-CAP,1,1,2.00",
        ]
    )
    # Two a day for four weeks, then 14 this morning: far past chance and 3x the mean.
    for sku in ("MUG-1", "CAP-2"):
        await sell(stack, clock, sku, 2, 28, today=14)
    feed(stack, "Acme", {"A-MUG": 4, "A-CAP": 30})
    await cycle(stack)

    by_text = {m["text"]: m for m in stack.alert_messages()}
    mug = by_text["⚠️ MUG-1 low stock at Acme: 4 left (threshold 5)"]
    assert replies(stack, mug) == ["📈 Demand spike: 14 ordered today, usually ~2/day."]
    # 30 caps would last 15 days at 2 a day, but about 2 at today's pace.
    cap = by_text["🔮 CAP-2 at risk at Acme: about 2 days of cover"]
    assert "14 ordered today (usually ~2/day), 30 left at Acme: about 2 days of cover" in (
        everything(cap)
    )

    # Said once: the next recompute the same day adds nothing.
    await stack.runtime.watch_forecasts()
    await stack.deliver()
    assert replies(stack, mug) == ["📈 Demand spike: 14 ordered today, usually ~2/day."]


async def test_a_spike_later_in_the_day_opens_at_risk_on_a_quiet_product(
    stack: Stack, clock: FakeClock
) -> None:
    """The product is fine after the morning's poll; the orders of a rush come in
    later (no poll changes anything), and the scheduled recompute opens the alert."""
    await stack.import_catalog([CATALOG_HEADER, "CAP-2,Red cap,Acme,A-CAP,1,1,2.00"])
    await sell(stack, clock, "CAP-2", 2, 28)
    feed(stack, "Acme", {"A-CAP": 30})
    await cycle(stack)
    await stack.runtime.watch_forecasts()
    await stack.deliver()
    assert stack.alert_messages() == []  # 15 days of cover at 2 a day

    clock.advance(hours=2)
    rush = (clock.now - timedelta(hours=1)).isoformat()
    await import_orders_csv(
        stack, [ORDERS_HEADER, f"RUSH-1,Bo,bo@example.com,CAP-2,14,{rush},open"]
    )
    await stack.runtime.watch_forecasts()
    await stack.deliver()

    cap = stack.only_alert()
    assert cap["text"] == "🔮 CAP-2 at risk at Acme: about 2 days of cover"
    assert "14 ordered today (usually ~2/day), 30 left at Acme: about 2 days of cover" in (
        everything(cap)
    )
    assert replies(stack, cap) == []  # said on the message, not again in its thread


async def test_a_poll_soon_after_the_whole_recompute_recomputes_what_it_changed(
    stack: Stack, clock: FakeClock
) -> None:
    await stack.import_catalog([*LAMP[:2], "MUG-1,Blue mug,Acme,A-MUG,1,5,4.00"])
    for sku in ("LAMP-02", "MUG-1"):
        await sell(stack, clock, sku, 5, 20)
    feed(stack, "Acme", {"A-LAMP": 12, "A-MUG": 100})
    await cycle(stack)  # the first after start: every forecast (the whole one was due)
    first = await probes.kept_forecast_times(stack)
    assert list(first) == ["LAMP-02"]  # 12 at 5 a day; 100 mugs last 20 days

    # Within [forecast] recompute_every: only the product whose stock changed.
    clock.advance(hours=1)
    feed(stack, "Acme", {"A-LAMP": 12, "A-MUG": 10})
    await cycle(stack)
    assert await probes.kept_forecast_times(stack) == {
        "LAMP-02": first["LAMP-02"],
        "MUG-1": clock.now,
    }
    assert "🔮 MUG-1 at risk at Acme: about 2 days of cover" in [
        m["text"] for m in stack.alert_messages()
    ]
    # The scheduled whole recompute brings every forecast up to date.
    await stack.runtime.watch_forecasts()
    assert set((await probes.kept_forecast_times(stack)).values()) == {clock.now}


async def test_restock_dates_that_slip_are_said_and_counted(stack: Stack, clock: FakeClock) -> None:
    await stack.import_catalog([CATALOG_HEADER, "SOCK-9,Wool socks,Acme,A-SOCK,1,1,3.00"])
    promised = clock.now.date() + timedelta(days=2)
    feed(stack, "Acme", {"A-SOCK": 0}, restock=promised)
    await cycle(stack)
    alert = stack.only_alert()
    assert alert["text"] == "🚨 SOCK-9 out of stock at Acme"

    later = promised + timedelta(days=3)
    feed(stack, "Acme", {"A-SOCK": 0}, restock=later)
    await cycle(stack)
    moved = f"📅 Acme moved its restock date: {promised:%b %-d} -> {later:%b %-d}."
    assert replies(stack, alert) == [moved]
    assert await restock_slip_count(stack, "Acme", NOON - timedelta(days=1)) == 1

    # The new date passes without stock: the scheduled recompute says so, once.
    clock.advance(days=6)
    for _ in range(2):
        await stack.runtime.watch_forecasts()
        await stack.deliver()
    passed = f"📅 Acme's restock date {later:%b %-d} passed without stock."
    assert replies(stack, alert) == [moved, passed]
    assert await restock_slip_count(stack, "Acme", NOON - timedelta(days=1)) == 2
    assert await restock_slip_count(stack, "Beta", NOON - timedelta(days=1)) == 0


async def test_restock_dates_met_are_the_share_of_dates_kept(
    stack: Stack, clock: FakeClock
) -> None:
    """Four dates Acme gave, as its feed said them day by day: two kept, one moved
    later, one passed. Suppliers clear a date once they restock, so the dates the
    offers carry at the end say nothing of the two kept."""
    await stack.import_catalog(
        [
            CATALOG_HEADER,
            "SOCK-9,Wool socks,Acme,A-SOCK,1,1,3.00",
            "HAT-3,Felt hat,Acme,A-HAT,1,1,8.00",
            "BAG-4,Tote bag,Acme,A-BAG,1,1,6.00",
        ]
    )
    day = clock.now.date()
    after = lambda days: day + timedelta(days=days)  # noqa: E731

    def acme_says(sock: tuple[int, date | None], hat: tuple[int, date | None]) -> None:
        rows = [("A-SOCK", *sock), ("A-HAT", *hat), ("A-BAG", 0, after(3))]
        lines = ["sku,quantity,price,restock_date"]
        lines += [f"{sku},{units},9.99,{when or ''}" for sku, units, when in rows]
        (stack.tmp_path / "feeds" / "acme.csv").write_text("\n".join(lines) + "\n")

    acme_says(sock=(0, after(2)), hat=(0, after(2)))
    await cycle(stack)
    # A day later the socks are back, a day early, and their date is gone; the hats'
    # date moves four days later.
    clock.advance(days=1)
    acme_says(sock=(20, None), hat=(0, after(6)))
    await cycle(stack)
    # The bags' date passes without stock (the scheduled recompute sees it).
    clock.advance(days=3)
    await stack.runtime.watch_forecasts()
    # The hats come back on the fifth day, before their new date.
    clock.advance(days=1)
    acme_says(sock=(20, None), hat=(15, None))
    await cycle(stack)

    await stack.serve_http()
    answer = await stack.command("/suppliers")
    sections = [b["text"]["text"] for b in answer["blocks"] if b["type"] == "section"]
    (acme,) = [text for text in sections if text.startswith("*Acme*")]
    assert "restock dates met 2 of 4" in acme.splitlines()[-1]
    assert acme.splitlines()[0] == "*Acme* · grade *C*"  # 50% met: a C
    await stack.runtime.reviews.post_now(clock.now)
    review = stack.alert_messages()[-1]
    assert "• *Acme*: *C* (misses restock dates)" in everything(review)


async def test_stock_shows_the_forecast(stack: Stack, clock: FakeClock) -> None:
    await stack.import_catalog(
        [*LAMP, "NEW-1,New thing,Acme,A-NEW,1,1,5.00", "NONE-1,Never sold,Acme,A-NONE,1,1,1.00"]
    )
    await sell(stack, clock, "LAMP-02", 5, 20)
    await sell(stack, clock, "NEW-1", 1, 5)
    # Acme's lamps go 10 an hour: 300, 290, 280.
    for units in (300, 290, 280):
        feed(stack, "Acme", {"A-LAMP": units, "A-NEW": 50, "A-NONE": 9})
        await cycle(stack)
        clock.advance(hours=1)
    await stack.serve_http()

    lamp = everything(await stack.command("/stock", "LAMP-02"))
    assert "Sells ~5/day (smoothed daily sales)" in lamp
    assert "Supplier stock drains ~240/day" in lamp
    assert "About 1 day of cover · out around <!date^" in lamp
    assert "Forecast off by ~0.0/day on average (last 28 days)" in lamp

    new = everything(await stack.command("/stock", "NEW-1"))
    assert "Sells ~1/day (average so far) · _little data: 5 days_" in new
    assert "About 50 days of cover" in new

    never = everything(await stack.command("/stock", "NONE-1"))
    assert "No sales in the history window" in never
    assert "Days of cover: not known yet" in never
