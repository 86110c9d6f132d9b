"""Alerts you can read and act on from a phone: one message per product problem, short,
current, with real mentions; `/stock` triage; substitutes that say if they cover the
orders waiting. Everything is asserted as a person sees it in the fake Slack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.config import load_settings
from bot.db.models import AlertState
from bot.errors import ConfigError
from tests.alert_menu import choose, open_substitute_modal, substitute_suggestions
from tests.helpers import ALERT_CHANNEL_ID, CATALOG_HEADER, Stack, menu_choice
from tests.probes import alert_states
from tests.test_orders import ORDERS_HEADER, import_orders_csv

BOSS = "U0BOSS"
# Acme and Beta come with the test config; five more make six suppliers for one lamp.
MORE_SUPPLIERS = ("Globex", "Initech", "Umbrella", "Wayne", "Hooli")


@pytest.fixture
def extra_config() -> str:
    tables = "".join(
        f'\n[[suppliers]]\nname = "{name}"\nkind = "csv_feed"\nurl = "feeds/{name.lower()}.csv"\n'
        for name in MORE_SUPPLIERS
    )
    return f'\n[catalog]\ncurrency = "EUR"\n\n[access]\nallowed_users = ["{BOSS}"]\n{tables}'


def feed(stack: Stack, supplier: str, rows: dict[str, tuple[int | str, str]]) -> None:
    """A supplier's feed: supplier SKU -> (quantity, price)."""
    lines = ["sku,quantity,price"] + [f"{sku},{q},{p}" for sku, (q, p) in rows.items()]
    (stack.tmp_path / "feeds" / f"{supplier.lower()}.csv").write_text("\n".join(lines) + "\n")


def everything(message: dict[str, Any]) -> str:
    return message["text"] + json.dumps(message["blocks"], ensure_ascii=False)


def elements(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def element(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    return next(e for e in elements(message) if e["action_id"] == action_id)


def replies(stack: Stack, message: dict[str, Any]) -> list[str]:
    return [r["text"] for r in stack.slack.thread_replies(ALERT_CHANNEL_ID, message["ts"])]


LAMP_TITLE = "Brass desk lamp with a long title that phones would wrap twice"
LAMP = [
    CATALOG_HEADER,
    f"LAMP-02,{LAMP_TITLE},Acme,A-LAMP,1,5,10.00",
    f"LAMP-02,{LAMP_TITLE},Globex,G-LAMP,2,5,11.00",
]


async def lamp_at_acme(stack: Stack, units: int) -> dict[str, Any]:
    """The lamp's one alert message once Globex has none and Acme has `units`."""
    await stack.import_catalog(LAMP)
    feed(stack, "Globex", {"G-LAMP": (0, "11.00")})
    await stack.poll("Globex")
    feed(stack, "Acme", {"A-LAMP": (units, "10.00")})
    await stack.poll("Acme")
    return stack.only_alert()


async def test_low_stock_out_of_stock_backorders_resolved_is_one_message(stack: Stack) -> None:
    first = await lamp_at_acme(stack, 3)
    assert first["text"] == "⚠️ LAMP-02 low stock at Acme: 3 left (threshold 5)"

    feed(stack, "Acme", {"A-LAMP": (0, "10.00")})
    await stack.poll("Acme")
    out = stack.only_alert()
    assert out["ts"] == first["ts"]
    assert out["text"] == "🚨 LAMP-02 out of stock at Acme"
    assert replies(stack, first) == ["Now out of stock at Acme."]

    await import_orders_csv(
        stack,
        [
            ORDERS_HEADER,
            "5001,Ada,ada@example.com,LAMP-02,1,2024-05-01",
            "5002,Grace,grace@example.com,LAMP-02,2,2024-05-02",
            "5003,Alan,alan@example.com,LAMP-02,4,2024-05-03",
        ],
    )
    waiting = stack.only_alert()
    assert waiting["text"] == "🚨 LAMP-02 out of stock at Acme · 3 orders waiting"
    assert "3 orders · 7 units waiting" in everything(waiting)
    assert replies(stack, first)[-1] == "3 orders (7 units) are now waiting."

    feed(stack, "Acme", {"A-LAMP": (3, "10.00")})  # covers 5001 and 5002 only
    await stack.poll("Acme")
    backordered = stack.only_alert()
    assert backordered["text"] == "⏳ LAMP-02 backordered at Acme · 1 order waiting"
    assert replies(stack, first)[-1] == (
        "Now backordered at Acme: 3 in stock · 1 order (4 units) waiting."
    )

    feed(stack, "Acme", {"A-LAMP": (50, "10.00")})
    await stack.poll("Acme")
    resolved = stack.only_alert()
    assert resolved["ts"] == first["ts"]
    assert resolved["text"] == "✅ LAMP-02 every waiting order covered: 50 in stock at Acme"
    assert len(resolved["blocks"]) == 1  # collapsed to one line
    # One top-level message from first alert to resolution; the story is in its thread.
    assert len(stack.alert_messages()) == 1
    assert stack.slack.warnings == []


async def storm(stack: Stack) -> dict[str, Any]:
    """40 products run out and 15 are short of their orders in one poll."""
    rows = [CATALOG_HEADER] + [f"P-{i:02},Product {i},Acme,A-{i},1,0,1.00" for i in range(55)]
    await stack.import_catalog(rows)
    feed(stack, "Acme", {f"A-{i}": (20, "1.00") for i in range(55)})
    await stack.poll("Acme")
    # Orders for the 15 last products (and for two that will run out): covered for now.
    orders = [ORDERS_HEADER] + [
        f"{7000 + i},Customer {i},c{i}@example.com,P-{i:02},12,2024-05-01" for i in range(40, 55)
    ]
    orders += [f"{8000 + i},Buyer {i},b{i}@example.com,P-{i:02},3,2024-05-02" for i in (0, 1)]
    await import_orders_csv(stack, orders)
    assert [m["text"] for m in stack.alert_messages()] == []
    feed(stack, "Acme", {f"A-{i}": ((0 if i < 40 else 2), "1.00") for i in range(55)})
    summary = await stack.poll("Acme", accept_drop=True)
    assert summary.alerts_opened == 55
    return stack.only_alert()


async def test_a_storm_is_one_group_listing_each_product_once_with_what_waits(
    stack: Stack,
) -> None:
    group = await storm(stack)
    assert group["text"] == (
        "🚨 55 products at Acme: 40 out of stock, 15 backordered · 17 orders waiting"
    )
    assert len(group["text"]) < 100
    body = everything(group)
    for i in range(40):  # the message lists as many as fit, each product once
        assert body.count(f"`P-{i:02}`") <= 1
    lines = group["blocks"][2]["text"]["text"].splitlines()
    # Worst first: out of stock with orders waiting, then out of stock, then backorders.
    assert lines[0].startswith("🚨 `P-00` Product 0 · stock 0 · *1 order · 3 units waiting*")
    assert lines[2].startswith("🚨 `P-02` Product 2 · stock 0")
    backorder_lines = [line for line in lines if line.startswith("⏳")]
    assert backorder_lines and all("1 order · 10 units waiting" in ln for ln in backorder_lines)
    assert {e["action_id"] for e in elements(group)} == {
        "acknowledge_alert",
        "snooze_alert",
        "open_group_list",
    }

    sender = await stack.serve_http()
    await sender.block_action(
        "open_group_list", user_id="U0ANYONE", channel_id=ALERT_CHANNEL_ID, message=group
    )
    view = (await stack.slack.wait_for_async("views.open")).params["view"]
    listed = json.dumps(view["blocks"], ensure_ascii=False)
    assert all(listed.count(f"`P-{i:02}`") == 1 for i in range(55))

    await sender.block_action(
        "acknowledge_alert", user_id=BOSS, channel_id=ALERT_CHANNEL_ID, message=group
    )
    await stack.slack.wait_for_async(
        lambda c: c.method == "chat.postMessage" and c.params.get("thread_ts")
    )
    assert set(await alert_states(stack)) == {
        AlertState.ACKNOWLEDGED
    }  # the group and its 55 products
    assert replies(stack, group) == [f"Acknowledged by <@{BOSS}> (all 55 open products)."]

    snooze_all = element(stack.only_alert(), "snooze_alert")
    assert snooze_all["placeholder"]["text"] == "Snooze all…"
    await sender.block_action(
        "snooze_alert",
        user_id=BOSS,
        channel_id=ALERT_CHANNEL_ID,
        message=stack.only_alert(),
        selected_option_value=snooze_all["options"][0]["value"],
    )
    await stack.slack.wait_for_async(
        lambda c: c.method == "chat.postMessage" and c.params.get("thread_ts"), count=2
    )
    assert set(await alert_states(stack)) == {AlertState.SNOOZED}
    assert replies(stack, group)[-1] == f"Snoozed for 1 hour by <@{BOSS}> (all 55 open products)."
    assert len(stack.alert_messages()) == 1


async def test_an_open_alert_follows_its_alternatives(stack: Stack) -> None:
    before = await lamp_at_acme(stack, 0)
    assert "switch_supplier" not in {e["action_id"] for e in elements(before)}
    assert "No stock at Globex" in everything(before)

    statements: list[str] = []
    engine = stack.runtime.engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        feed(stack, "Globex", {"G-LAMP": (30, "11.00")})
        await stack.poll("Globex")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    after = stack.only_alert()
    assert after["ts"] == before["ts"]
    switch = element(after, "switch_supplier")
    assert switch["text"]["text"] == "Switch to Globex (30 in stock, +10%)"
    assert "*Globex*: 30 in stock · €11.00 (+10%)" in everything(after)
    # Set-based: the alerts to re-render are marked by one statement (plus one for groups).
    marking = [s for s in statements if s.startswith("UPDATE alerts") and "EXISTS" in s]
    assert len(marking) <= 2

    updates = len(stack.slack.calls_to("chat.update"))
    for _ in range(3):  # nothing changed: no re-render
        await stack.poll("Globex")
    assert len(stack.slack.calls_to("chat.update")) == updates

    feed(stack, "Globex", {"G-LAMP": (0, "11.00")})
    await stack.poll("Globex")
    gone = stack.only_alert()
    assert "switch_supplier" not in {e["action_id"] for e in elements(gone)}
    assert len(stack.slack.calls_to("chat.update")) == updates + 1


LONG_TITLE = f"{'Brass desk lamp ' * 9}40 cm"  # 149 characters
SIX = [CATALOG_HEADER] + [
    f"LAMP-02,{LONG_TITLE},{supplier},{supplier[0]}-LAMP,{priority},5,{price}"
    for priority, (supplier, price) in enumerate(
        [
            ("Acme", "10.00"),
            ("Globex", "11.00"),
            ("Initech", "10.00"),
            ("Umbrella", "12.50"),
            ("Wayne", "9.00"),
            ("Hooli", "9.50"),
            ("Beta", "9.50"),
        ],
        start=1,
    )
]


async def six_suppliers(stack: Stack) -> dict[str, Any]:
    await stack.import_catalog(SIX)
    for supplier, stock, price in (
        ("Globex", 30, "11.00"),
        ("Initech", 12, "10.00"),
        ("Umbrella", 8, "12.50"),
        ("Wayne", 5, "9.00"),
        ("Hooli", 0, "9.50"),
        ("Beta", "unknown", "9.50"),
    ):
        feed(stack, supplier, {f"{supplier[0]}-LAMP": (stock, price)})
        await stack.poll(supplier)
    feed(stack, "Acme", {"A-LAMP": (0, "10.00")})
    await stack.poll("Acme")
    return stack.only_alert()


async def test_a_phone_sized_message_with_six_suppliers(stack: Stack) -> None:
    message = await six_suppliers(stack)
    # The lock screen: SKU and problem in one line under 100 characters.
    assert message["text"] == "🚨 LAMP-02 out of stock at Acme"
    header = message["blocks"][0]["text"]["text"]
    assert header == "🚨 LAMP-02 out of stock"  # the SKU, not the 150-character title
    body = message["blocks"][1]["text"]["text"]
    assert body.startswith("*Brass desk lamp Brass desk lamp")
    assert "Stock *0* at Acme (threshold 5)" in body
    alternatives = message["blocks"][2]["text"]["text"].splitlines()
    assert alternatives == [
        "*Alternatives*",
        "• *Globex*: 30 in stock · €11.00 (+10%)",
        "• *Initech*: 12 in stock · €10.00 (same price)",
        "• *Umbrella*: 8 in stock · €12.50 (+25%)",
        "+1 more in stock",
        "No stock at Hooli, Beta (unknown)",
    ]
    # One row: the one-click switch, another in-stock supplier, acknowledge, and a menu.
    assert [b["type"] for b in message["blocks"]].count("actions") == 1
    assert [e["action_id"] for e in elements(message)] == [
        "switch_supplier",
        "switch_supplier_pick",
        "acknowledge_alert",
        "alert_menu",
    ]
    assert [o["text"]["text"] for o in element(message, "alert_menu")["options"]] == [
        "Snooze 1 hour",
        "Snooze 4 hours",
        "Snooze 24 hours",
        "Substitute…",
    ]

    sender = await stack.serve_http()
    await sender.block_action(
        "acknowledge_alert", user_id=BOSS, channel_id=ALERT_CHANNEL_ID, message=message
    )
    await stack.slack.wait_for_async(
        lambda c: c.method == "chat.postMessage" and c.params.get("thread_ts")
    )
    acknowledged = everything(await stack.updated_alert("Acknowledged by"))
    assert "Opened <!date^" in acknowledged  # the opened time stays
    assert f"👀 Acknowledged by <@{BOSS}>" in acknowledged

    feed(stack, "Acme", {"A-LAMP": (50, "10.00")})
    await stack.poll("Acme")
    resolved = stack.only_alert()
    assert resolved["text"] == "✅ LAMP-02 back in stock at Acme (50)"
    assert [b["type"] for b in resolved["blocks"]] == ["section"]
    assert resolved["blocks"][0]["text"]["text"] == "✅ `LAMP-02` back in stock at Acme (50)"
    assert stack.slack.warnings == []


async def test_the_menu_snoozes_and_opens_the_substitute_dialog(stack: Stack) -> None:
    message = await six_suppliers(stack)
    await stack.serve_http()
    await choose(stack, message, BOSS, "Snooze 4 hours")
    await stack.slack.wait_for_async(
        lambda c: c.method == "chat.postMessage" and c.params.get("thread_ts")
    )
    assert replies(stack, message) == [f"Snoozed for 4 hours by <@{BOSS}>."]
    view = await open_substitute_modal(stack, message, BOSS)
    assert view["callback_id"] == "substitute_product_modal"
    refused = await stack.click(
        "alert_menu",
        message,
        "U0STRANGER",
        selected_option_value=menu_choice(message, "Snooze 1 hour"),
    )
    assert refused["text"].startswith("Sorry, you are not allowed")


async def test_who_switched_is_a_real_mention(stack: Stack) -> None:
    message = await six_suppliers(stack)
    await stack.serve_http()
    await stack.click("switch_supplier", message, BOSS)
    await stack.slack.wait_for_async(
        lambda c: c.method == "chat.postMessage" and c.params.get("thread_ts")
    )
    resolved = await stack.updated_alert("switched")
    assert resolved["text"] == f"✅ LAMP-02 switched to Globex by <@{BOSS}>"
    assert "&lt;@" not in everything(resolved)
    assert replies(stack, message)[-1] == (
        f"Switched from Acme to Globex by <@{BOSS}> (chosen in Slack)."
    )


async def test_outside_text_stays_escaped(stack: Stack) -> None:
    await stack.import_catalog(
        [
            CATALOG_HEADER,
            "<!channel>,Mugs & <@U0EVIL> cups,Acme,A-X,1,5,1.00",
        ]
    )
    feed(stack, "Acme", {"A-X": (0, "1.00")})
    await stack.poll("Acme")
    message = stack.only_alert()
    assert message["text"] == "🚨 &lt;!channel&gt; out of stock at Acme"
    assert "Mugs &amp; &lt;@U0EVIL&gt; cups" in everything(message)
    assert "<@U0EVIL>" not in everything(message)


async def test_stock_alone_lists_the_worst_first_with_counts(stack: Stack) -> None:
    rows = [CATALOG_HEADER] + [f"A-{i:02},Aardvark {i},Acme,A-{i},1,5,1.00" for i in range(22)]
    rows += ["Z-OUT,Zebra out,Acme,Z-OUT,1,5,1.00", "Z-BIG,Zebra big,Acme,Z-BIG,1,5,1.00"]
    await stack.import_catalog(rows)
    stock = {f"A-{i}": (20, "1.00") for i in range(22)} | {"Z-OUT": (20, "1.00")}
    feed(stack, "Acme", stock | {"Z-BIG": (25, "1.00")})
    await stack.poll("Acme")
    orders = [ORDERS_HEADER] + [
        f"{9000 + i},Customer {i},c{i}@example.com,Z-BIG,1,2024-05-01" for i in range(180)
    ]
    await import_orders_csv(stack, orders)
    feed(stack, "Acme", {f"A-{i}": (3, "1.00") for i in range(22)} | {"Z-OUT": (0, "1.00")})
    await stack.poll("Acme", accept_drop=True)  # Z-BIG missing: out of stock, 180 waiting

    await stack.serve_http()
    answer = await stack.command("/stock", "", user_id="U0ANYONE")
    assert answer["text"] == "Open alerts: 2 out of stock (1 with orders waiting), 22 low stock"
    lines = answer["blocks"][1]["text"]["text"].splitlines()
    assert lines[0].startswith("🚨 `Z-BIG` Zebra big · missing from feed at Acme")
    assert "*180 orders · 180 units waiting*" in lines[0]
    assert lines[1].startswith("🚨 `Z-OUT` Zebra out · 0 at Acme")
    assert all(line.startswith("⚠️ `A-") for line in lines[2:])
    assert "Showing 20 of 24" in json.dumps(answer["blocks"])


async def test_substitutes_that_cover_the_waiting_units_come_first(stack: Stack) -> None:
    await stack.import_catalog(
        [
            CATALOG_HEADER,
            "MUG-1,Blue mug,Acme,A-MUG,1,5,4.00",
            "CUP-A,A cup,Acme,A-CUPA,1,0,4.00",
            "CUP-B,B cup,Acme,A-CUPB,1,0,4.50",
            "CUP-C,C cup,Acme,A-CUPC,1,0,3.50",
        ]
    )
    stock = {"A-CUPA": (3, "4.00"), "A-CUPB": (500, "4.50"), "A-CUPC": (12, "3.50")}
    feed(stack, "Acme", {"A-MUG": (0, "4.00")} | stock)
    await stack.poll("Acme")
    await import_orders_csv(
        stack,
        [ORDERS_HEADER]
        + [f"{6000 + i},C {i},c{i}@example.com,MUG-1,133,2024-05-0{i + 1}" for i in range(3)],
    )
    message = stack.only_alert()
    await stack.serve_http()
    view = await open_substitute_modal(stack, message, BOSS)
    assert await substitute_suggestions(stack, view, BOSS, "cup") == [
        "CUP-B · B cup · covers all 399 waiting · €4.50",
        "CUP-C · C cup · 12 in stock, not enough for 399 · €3.50",
        "CUP-A · A cup · 3 in stock, not enough for 399 · €4.00",
    ]


def test_the_catalog_currency_is_an_iso_4217_code(tmp_path: Path) -> None:
    base = (
        '[slack]\nalert_channel = "#a"\n'
        '[[suppliers]]\nname = "A"\nkind = "csv_feed"\nurl = "a.csv"\n'
    )
    path = tmp_path / "stockbot.toml"
    path.write_text(base)
    assert load_settings(path).catalog.currency == "USD"
    path.write_text(base + '[catalog]\ncurrency = "eur"\n')
    assert load_settings(path).catalog.currency == "EUR"
    path.write_text(base + '[catalog]\ncurrency = "EURO"\n')
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    assert "catalog.currency: expected an ISO 4217 currency code" in str(refused.value)


async def test_the_notification_line_stays_short_whatever_the_names(stack: Stack) -> None:
    sku, supplier_sku = "S" * 200, "X-1"
    await stack.import_catalog([CATALOG_HEADER, f"{sku},{'T' * 300},Acme,{supplier_sku},1,5,1.00"])
    feed(stack, "Acme", {supplier_sku: (2, "1.00")})
    await stack.poll("Acme")
    message = stack.only_alert()
    assert len(message["text"]) < 100
    # The SKU gives way, the problem stays readable.
    assert message["text"].startswith("⚠️ SSSS")
    assert message["text"].endswith("… low stock at Acme: 2 left (threshold 5)")
    assert stack.slack.warnings == []
