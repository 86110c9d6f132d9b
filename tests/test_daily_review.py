"""The daily picture, end to end: the daily review in the alert channel (once a day,
across restarts and replicas), `stockbot review`, the supplier scorecards of
`/suppliers`, and the App Home dashboard. History is scripted as polls, orders and
past stock readings; times are chosen, not waited for."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.core import orders
from bot.runtime import Runtime
from tests.helpers import CATALOG_HEADER, Stack, run_cli
from tests.probes import (
    arrange_home_viewer,
    arrange_offer_stock,
    arrange_stock_history,
    poll_outcomes,
    review_days,
)

BERLIN = ZoneInfo("Europe/Berlin")
ALICE = "U0ALICE"
ORDERS_HEADER = "order_id,customer_name,customer_email,sku,quantity,ordered_at,status"
SPARES = 10

CATALOG = [
    CATALOG_HEADER,
    "LAMP-1,Desk lamp,Acme,A-LAMP,1,2,9.99",
    "MUG-1,Blue mug,Acme,A-MUG,1,2,4.00",
    "DESK-1,Oak desk,Acme,A-DESK,1,1,120.00",
    "DESK-1,Oak desk,Beta,B-DESK,2,1,125.00",
    *[f"PART-{i},Spare part {i},Acme,A-PART{i},1,0,1.00" for i in range(SPARES)],
]


@pytest.fixture
def extra_config() -> str:
    return '\n[review]\ntime = "09:00"\ntimezone = "Europe/Berlin"\n'


def everything(message: dict[str, Any]) -> str:
    """All the text a person reads in a message or a view."""
    return message.get("text", "") + json.dumps(message.get("blocks", []), ensure_ascii=False)


async def import_orders(stack: Stack, rows: list[str]) -> None:
    """As `stockbot orders import` does."""
    path = stack.tmp_path / "orders.csv"
    path.write_text("\n".join([ORDERS_HEADER, *rows]) + "\n", encoding="utf-8")
    async with stack.runtime.writes() as session, session.begin():
        await orders.import_orders(session, path, channel=stack.settings.slack.alert_channel)
    await stack.deliver()


async def a_shop_with_a_history(stack: Stack) -> None:
    """LAMP-1 sells 5 a day and has 12 left (at risk); MUG-1 and the spare parts are
    out, MUG-1 with a customer waiting and a restock date that passed; Alice switched
    DESK-1 to Beta."""
    await stack.import_catalog(CATALOG)
    stack.write_feed(
        "Acme",
        {"A-LAMP": 12, "A-MUG": 0, "A-DESK": 0, **{f"A-PART{i}": 0 for i in range(SPARES)}},
    )
    await stack.poll("Acme")
    stack.write_feed("Beta", {"B-DESK": 30})
    await stack.poll("Beta")
    today = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)
    sales = [
        f"H{day},Ada,ada@example.com,LAMP-1,5,{(today - timedelta(days=day)).isoformat()},fulfilled"
        for day in range(1, 21)
    ]
    # Three days and an hour ago, whatever the time of day the suite runs.
    placed = datetime.now(UTC) - timedelta(days=3, hours=1)
    waiting = f"W1,Bo,bo@example.com,MUG-1,2,{placed.isoformat()},open"
    await import_orders(stack, [*sales, waiting])
    await arrange_offer_stock(stack, "A-MUG", restock_date=today.date() - timedelta(days=2))
    # The scheduled forecast job notes the date Acme gave, and that it is gone.
    await stack.runtime.watch_forecasts()
    await stack.runtime.fixes.switch(ALICE, sku="DESK-1", supplier_name="Beta")
    await stack.deliver()


def reviews(stack: Stack) -> list[dict[str, Any]]:
    return [m for m in stack.alert_messages() if m["text"].startswith("Daily review")]


async def test_the_review_says_what_needs_attention(stack: Stack) -> None:
    await a_shop_with_a_history(stack)
    await stack.runtime.reviews.post_now()

    (review,) = reviews(stack)
    assert review["text"] == "Daily review: 1 at risk, 11 out of stock, 1 with backorders"
    sections = [b["text"]["text"] for b in review["blocks"] if b["type"] == "section"]
    at_risk, out, backorders, restocks, suppliers, team = sections
    assert at_risk.splitlines() == [
        "*At risk, out within 3 days (1)*",
        "• `LAMP-1` Desk lamp",
        "   12 left at Acme, goes ~5.0/day: about 2 days",
        "   $49.95/day of sales at risk",
    ]
    assert out.startswith("*Out of stock (11)*\n• `MUG-1` Blue mug: out at Acme for <1h")
    assert out.splitlines()[-1] == "…and 3 more"
    assert len(out.splitlines()) == 1 + 8 + 1
    assert backorders.splitlines() == [
        "*Backorders, oldest first (1)*",
        "• `MUG-1` Blue mug: 1 order, 2 units, oldest 3d",
    ]
    due = datetime.now(UTC).date() - timedelta(days=2)
    assert restocks.splitlines() == [
        "*Restock dates passed (1)*",
        f"• `MUG-1` Blue mug: due {due:%d %b} at Acme, still out",
    ]
    # Both feeds were read every time; Acme missed the one restock date it gave.
    assert suppliers.splitlines() == [
        "*Suppliers, last 30 days (2)*",
        "• *Acme*: *D* (misses restock dates)",
        "• *Beta*: *A*",
    ]
    assert team.splitlines() == [
        "*Team, last 24 h (1)*",
        f"• <@{ALICE}> switched `DESK-1` to Beta",
    ]
    assert stack.slack.warnings == []


async def test_stockbot_review_prints_it_without_slack(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    await a_shop_with_a_history(stack)
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    # In its own thread, as its own process would: the command runs its own event loop.
    result = await asyncio.to_thread(run_cli, "--config", str(stack.config_path), "review")
    assert result.returncode == 0, result.stdout
    assert "the review is shown here" in result.stdout
    assert "Daily review ·" in result.stdout
    assert "• `LAMP-1` Desk lamp\n   12 left at Acme, goes ~5.0/day: about 2 days" in result.stdout
    assert "…and 3 more" in result.stdout
    assert reviews(stack) == []
    # It was today's: the schedule does not post another one today.
    assert await review_days(stack) == [datetime.now(BERLIN).date()]


def berlin(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), BERLIN).astimezone(UTC)


async def test_the_review_goes_out_once_a_day_across_restarts_and_replicas(
    stack: Stack,
) -> None:
    await stack.import_catalog(CATALOG)
    day = datetime.now(BERLIN).date() + timedelta(days=1)
    assert not await stack.runtime.reviews.post_if_due(berlin(day, 8, 59))
    assert await stack.runtime.reviews.post_if_due(berlin(day, 9, 0))
    assert not await stack.runtime.reviews.post_if_due(berlin(day, 9, 1))
    assert len(reviews(stack)) == 1

    # The bot restarts, and a second replica starts on the same database.
    await stack.runtime.close()
    stack.runtime = await Runtime.start(stack.settings, per_channel_interval=0)
    replica = await Runtime.start(stack.settings, per_channel_interval=0)
    try:
        both = (stack.runtime.reviews, replica.reviews)
        later = await asyncio.gather(*(r.post_if_due(berlin(day, 11)) for r in both))
        assert later == [False, False]
        tomorrow = day + timedelta(days=1)
        next_day = await asyncio.gather(*(r.post_if_due(berlin(tomorrow, 9, 5)) for r in both))
        assert sorted(next_day) == [False, True]
    finally:
        await replica.close()
    assert len(reviews(stack)) == 2
    assert await review_days(stack) == [day, day + timedelta(days=1)]


async def test_a_review_slack_refused_is_posted_on_the_next_tick(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    day = datetime.now(BERLIN).date() + timedelta(days=1)
    stack.slack.fail_next("chat.postMessage", status=200, error="not_in_channel")
    with pytest.raises(Exception, match="not_in_channel"):
        await stack.runtime.reviews.post_if_due(berlin(day, 9, 0))
    assert reviews(stack) == []
    assert await stack.runtime.reviews.post_if_due(berlin(day, 9, 1))
    assert len(reviews(stack)) == 1


# --- the supplier scorecard -----------------------------------------------------------------


async def test_suppliers_shows_each_scorecard_from_the_history(stack: Stack) -> None:
    await stack.import_catalog(CATALOG[:5])  # the lamp, the mug and the desk
    # Beta's feed is read three times out of four.
    for _ in range(3):
        stack.write_feed("Beta", {"B-DESK": 30})
        assert (await stack.poll("Beta")).ok
    (stack.tmp_path / "feeds" / "beta.csv").unlink()
    assert not (await stack.poll("Beta")).ok
    assert await poll_outcomes(stack, "Beta") == [True, True, True, False]

    # Acme is not polled here: its last 10 days, as its polls recorded them.
    now = datetime.now(UTC)
    ago = lambda days: now - timedelta(days=days)  # noqa: E731
    price = Decimal("9.99")
    await arrange_stock_history(
        stack,
        "A-LAMP",  # out for 2 days; its price went up once
        [(ago(10), 5, price), (ago(8), 0, price), (ago(6), 20, price), (ago(5), 18, price + 2)],
        quantity=18,
        availability="in_stock",
        changed_at=ago(5),
    )
    await arrange_stock_history(
        stack,
        "A-MUG",  # out for 3 days
        [(ago(7), 0, price), (ago(4), 30, price)],
        quantity=30,
        availability="in_stock",
        changed_at=ago(5),
    )
    await arrange_stock_history(
        stack,
        "A-DESK",  # out for the last 5 days
        [(ago(9), 4, price), (ago(5), 0, price)],
        quantity=0,
        availability="out_of_stock",
        changed_at=ago(5),
    )

    await stack.serve_http()
    answer = await stack.command("/suppliers")
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == "Supplier grades: Acme C, Beta D"
    acme, beta = [b["text"]["text"] for b in answer["blocks"] if b["type"] == "section"]
    assert acme.splitlines() == [
        "*Acme* · grade *C*",
        "no polls yet · data changed 5 days ago",
        "2 stockouts, 10.0 days out",
        "no restock date due · 1 price change",  # restock dates: see test_at_risk.py
    ]
    assert beta.splitlines()[:2] == ["*Beta* · grade *D*", "feed up 75% · data changed <1 h ago"]
    assert beta.splitlines()[2:] == [
        "0 stockouts, 0.0 days out",
        "no restock date due · 0 price changes",
    ]


# --- App Home -------------------------------------------------------------------------------


async def test_the_home_tab_is_published_when_opened_and_refreshed_at_most_once_a_minute(
    stack: Stack,
) -> None:
    await a_shop_with_a_history(stack)
    sender = await stack.serve_http()
    response = await sender.event({"type": "app_home_opened", "user": ALICE, "tab": "home"})
    assert response.status_code == 200
    await stack.slack.wait_for_async("views.publish")
    opened = datetime.now(UTC)
    home = stack.slack.home_view(ALICE)
    assert home is not None
    text = everything(home)
    for seen in ("At risk, out within 3 days (1)", "`LAMP-1` Desk lamp", "Out of stock (11)"):
        assert seen in text
    assert "Backorders, oldest first (1)" in text
    assert "• *Acme*: *D* (misses restock dates)" in text
    assert "None yet." in text  # no daily review so far

    # After polls: not again within the minute, then once.
    home_tabs = stack.runtime.home
    assert await home_tabs.refresh_due(opened + timedelta(seconds=30)) == 0
    assert await home_tabs.refresh_due(opened + timedelta(seconds=61)) == 1
    assert await home_tabs.refresh_due(opened + timedelta(seconds=90)) == 0
    assert len(stack.slack.calls_to("views.publish", ok=True)) == 2
    # Someone who looked long ago is left alone.
    assert await home_tabs.refresh_due(opened + timedelta(hours=2)) == 0
    # The Messages tab has no dashboard.
    await sender.event({"type": "app_home_opened", "user": "U0BOB", "tab": "messages"})
    await stack.slack.wait_for_async("views.publish")  # Alice's, long done
    assert stack.slack.home_view("U0BOB") is None


async def test_a_poll_refreshes_the_home_tab_of_a_recent_viewer(stack: Stack) -> None:
    # As `stockbot run` does: a worker refreshes the Home tabs after polls.
    worker = asyncio.create_task(stack.runtime.home.run())
    try:
        await a_shop_with_a_history(stack)  # nobody has looked yet: nothing published
        assert stack.slack.calls_to("views.publish") == []
        now = datetime.now(UTC)
        looked, shown = now - timedelta(minutes=5), now - timedelta(minutes=2)
        await arrange_home_viewer(stack, ALICE, looked, shown)
        stack.write_feed(
            "Acme",
            {"A-LAMP": 12, "A-MUG": 40, "A-DESK": 0, **{f"A-PART{i}": 0 for i in range(SPARES)}},
        )
        await stack.poll("Acme")
        call = await stack.slack.wait_for_async("views.publish")
        assert call.params["user_id"] == ALICE
        home = stack.slack.home_view(ALICE)
        assert home is not None
        assert "Out of stock (10)" in everything(home)  # the mug is back
    finally:
        worker.cancel()


# --- switching, by cover and reliability ----------------------------------------------------


class TestSwitchRanking:
    @pytest.fixture
    def extra_config(self) -> str:
        return '\n[[suppliers]]\nname = "Gamma"\nkind = "csv_feed"\nurl = "feeds/gamma.csv"\n'

    async def an_empty_lamp(self, stack: Stack, beta: int, gamma: int) -> None:
        await stack.import_catalog(
            [
                CATALOG_HEADER,
                "LAMP-1,Desk lamp,Acme,A-LAMP,1,2,9.99",
                "LAMP-1,Desk lamp,Beta,B-LAMP,2,2,9.99",
                "LAMP-1,Desk lamp,Gamma,G-LAMP,3,2,9.99",
            ]
        )
        stack.write_feed("Beta", {"B-LAMP": beta})
        await stack.poll("Beta")
        stack.write_feed("Gamma", {"G-LAMP": gamma})
        await stack.poll("Gamma")

    async def menu(self, stack: Stack) -> tuple[str, list[str]]:
        stack.write_feed("Acme", {"A-LAMP": 0})
        await stack.poll("Acme")
        message = stack.only_alert()
        actions = next(b for b in message["blocks"] if b["type"] == "actions")["elements"]
        button = next(e for e in actions if e["action_id"] == "switch_supplier")
        pick = next(e for e in actions if e["action_id"] == "switch_supplier_pick")
        return button["text"]["text"], [o["text"]["text"] for o in pick["options"]]

    async def test_the_alternative_with_more_cover_comes_first(self, stack: Stack) -> None:
        await self.an_empty_lamp(stack, beta=3, gamma=60)
        today = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)
        await import_orders(
            stack,
            [
                f"H{d},Ada,a@example.com,LAMP-1,1,{(today - timedelta(days=d)).isoformat()},"
                "fulfilled"
                for d in range(1, 21)
            ],
        )
        button, menu = await self.menu(stack)
        assert button == "Switch to Gamma (60 in stock, same price)"
        assert menu == ["Beta · lasts 3 days, reliable · 3 · $9.99"]

    async def test_a_supplier_whose_feed_fails_comes_after_a_reliable_one(
        self, stack: Stack
    ) -> None:
        await self.an_empty_lamp(stack, beta=50, gamma=50)
        (stack.tmp_path / "feeds" / "beta.csv").unlink()
        for _ in range(2):
            assert not (await stack.poll("Beta")).ok
        button, menu = await self.menu(stack)
        assert button == "Switch to Gamma (50 in stock, same price)"
        assert menu == ["Beta · feed up 33% · 50 · $9.99"]
