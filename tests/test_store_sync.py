"""Storefront sync end to end: supplier polls and switches -> stock pushed to a fake
Shopify; store orders polled into the database, read as their webhooks read them;
failed pushes retried and reported."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.config import load_settings
from bot.core import store_orders, store_sync
from bot.core.fixes.switching import switch_supplier
from bot.db.models import (
    AlertKind,
    AlertState,
    OrderStatus,
)
from bot.db.types import utcnow
from bot.errors import ConfigError
from bot.scheduler import build_scheduler
from tests.fakes import woocommerce_server as woocommerce
from tests.fakes.shopify_server import GRAPHQL, LOCATION, FakeShopify, Reply, order
from tests.helpers import CATALOG_HEADER, CONFIG, Stack, run_cli
from tests.probes import (
    alerts_of_kind,
    backordered_units,
    order_rows,
    orders_by_source,
    product_id,
    store_inventory,
)
from tests.webhook_helpers import (
    SHOPIFY,
    WC_KEY,
    WC_SECRET,
    WOOCOMMERCE,
    shopify_store,
    store_config_problems,
    woocommerce_store,
)

STORE = "My Shopify"
WOO = "My Woo"
CATALOG = [
    CATALOG_HEADER,
    "MUG-1,Blue mug,Acme,A-MUG,1,1,4.00",
    "MUG-1,Blue mug,Beta,B-MUG,2,1,4.40",
    "CAP-2,Red cap,Acme,A-CAP,1,1,2.00",
]


pytestmark = pytest.mark.usefixtures("store_env")


@pytest.fixture
async def woo() -> AsyncIterator[woocommerce.FakeWooCommerce]:
    async with woocommerce.FakeWooCommerce(key=WC_KEY, secret=WC_SECRET) as server:
        server.add_product("MUG-1", stock=0)
        server.add_product("CAP-2", stock=0)
        yield server


@pytest.fixture
def woo_statuses() -> list[str]:
    """The WooCommerce order statuses the poll lists."""
    return ["processing", "on-hold"]


@pytest.fixture
def extra_config(
    request: pytest.FixtureRequest,
    shop: FakeShopify,
    woo: woocommerce.FakeWooCommerce,
    woo_statuses: list[str],
) -> str:
    """The Shopify store; `parametrize("extra_config", ["woocommerce"], indirect=True)`
    configures the WooCommerce one instead."""
    if getattr(request, "param", "shopify") == "woocommerce":
        return woocommerce_store(WOO, woo, statuses=woo_statuses)
    return shopify_store(
        STORE, shop, api_version="2025-01", backorder_policy=True, poll_interval="15m"
    )


def stock(shop: FakeShopify, sku: str) -> tuple[int | None, str]:
    """(quantity at the location, inventory policy) as the fake store holds them."""
    variant = shop.variants[sku]
    return shop.quantities.get((variant.item_gid, LOCATION)), variant.inventory_policy


async def push(stack: Stack, *, later: timedelta = timedelta(0)) -> list[store_sync.PushReport]:
    reports = await store_sync.push_due(
        stack.runtime.sessions,
        stack.runtime.stores,
        channel=stack.settings.slack.alert_channel,
        now=utcnow() + later,
    )
    await stack.deliver()
    return reports


async def poll_orders(stack: Stack) -> store_orders.OrderPollReport:
    report = await stack.runtime.poll_store_orders(STORE)
    await stack.deliver()
    return report


async def out_of_stock_with_webhooks(stack: Stack) -> None:
    """The catalog with nothing in stock, and the web server up for store webhooks."""
    await polled(stack, mugs=0, caps=0)
    await stack.serve_http()


async def polled(stack: Stack, mugs: int, caps: int) -> None:
    """The catalog imported, and Acme polled with `mugs` mugs and `caps` caps in stock."""
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {"A-MUG": mugs, "A-CAP": caps})
    await stack.poll("Acme")


def all_text(message: dict[str, Any]) -> str:
    return message.get("text", "") + json.dumps(message.get("blocks", []), ensure_ascii=False)


async def test_backordered_product_is_pushed_sellable_then_denied_after_restock(
    stack: Stack, shop: FakeShopify
) -> None:
    await polled(stack, mugs=5, caps=3)
    reports = await push(stack)
    assert [(r.store, r.pushed, r.failed) for r in reports] == [(STORE, 2, 0)]
    assert stock(shop, "MUG-1") == (5, "DENY")
    assert stock(shop, "CAP-2") == (3, "DENY")
    # Nothing changed: nothing is sent again.
    assert (await push(stack))[0].pushed == 0

    shop.orders = [order(1001, ("MUG-1", 2))]
    await poll_orders(stack)
    stack.write_feed("Acme", {"A-MUG": 0, "A-CAP": 3})
    await stack.poll("Acme")
    rows = await store_inventory(stack)
    assert rows["MUG-1"].needs_push and rows["MUG-1"].wanted_backorders
    assert not rows["CAP-2"].needs_push
    assert (await push(stack))[0].pushed == 1
    assert stock(shop, "MUG-1") == (0, "CONTINUE")

    stack.write_feed("Acme", {"A-MUG": 10, "A-CAP": 3})
    await stack.poll("Acme")
    await push(stack)
    assert stock(shop, "MUG-1") == (10, "DENY")
    rows = await store_inventory(stack)
    assert (rows["MUG-1"].pushed_available, rows["MUG-1"].pushed_backorders) == (10, False)
    assert not rows["MUG-1"].needs_push
    assert await alerts_of_kind(stack, AlertKind.STORE_PUSH) == []


async def test_switching_supplier_pushes_the_new_suppliers_quantity(
    stack: Stack, shop: FakeShopify
) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {"A-MUG": 0, "A-CAP": 3})
    stack.write_feed("Beta", {"B-MUG": 7})
    await stack.poll("Acme")
    await stack.poll("Beta")
    await push(stack)
    assert stock(shop, "MUG-1") == (0, "DENY")  # out of stock, but nobody is waiting

    mug = await product_id(stack, "MUG-1")
    async with stack.runtime.writes() as session, session.begin():
        result = await switch_supplier(
            session,
            product_id=mug,
            actor="U123",
            channel=stack.settings.slack.alert_channel,
            supplier_name="Beta",
        )
        assert result.changed
    await push(stack)
    assert stock(shop, "MUG-1") == (7, "DENY")


async def test_store_down_keeps_the_update_and_reports_it_until_it_gets_through(
    stack: Stack, shop: FakeShopify
) -> None:
    await polled(stack, mugs=5, caps=3)
    shop.script(GRAPHQL, Reply(503, {"errors": "Service unavailable"}))  # max_attempts = 1

    report = (await push(stack))[0]
    assert (report.pushed, report.failed, report.alert_opened) == (0, 2, True)
    rows = await store_inventory(stack)
    assert all(row.needs_push and row.attempts == 1 for row in rows.values())
    assert rows["MUG-1"].next_attempt_at is not None and rows["MUG-1"].last_error
    assert shop.quantities == {}
    message = stack.only_alert()
    assert message["text"].startswith(f"🛒 Store update failed: {STORE}.")
    text = all_text(message)
    assert "Store update failed" in text and STORE in text
    assert "MUG-1" in text and "CAP-2" in text

    # Not due yet: the backoff holds the retry back.
    assert (await push(stack))[0].pushed == 0

    # The store is back and the retry is due: the update goes through, the alert resolves.
    report = (await push(stack, later=timedelta(hours=2)))[0]
    assert (report.pushed, report.failed, report.alert_resolved) == (2, 0, True)
    assert stock(shop, "MUG-1") == (5, "DENY")
    rows = await store_inventory(stack)
    assert not any(row.needs_push or row.attempts for row in rows.values())
    [alert] = await alerts_of_kind(stack, AlertKind.STORE_PUSH)
    assert alert.state == AlertState.RESOLVED
    assert alert.supplier_id is None and alert.dedup_key == f"store_push:store:{STORE}"
    assert "Resolved" in all_text(stack.only_alert())


async def test_store_orders_become_orders_and_unlisted_ones_close(
    stack: Stack, shop: FakeShopify
) -> None:
    await polled(stack, mugs=3, caps=3)
    shop.orders = [
        order(1001, ("MUG-1", 2), created_at="2026-11-20T10:00:00Z"),
        order(1002, ("MUG-1", 2), ("UNKNOWN-9", 1), created_at="2026-11-21T10:00:00Z"),
        order(1003, ("UNKNOWN-9", 1)),
    ]
    report = await poll_orders(stack)
    assert (report.listed, report.created, report.ignored) == (3, 2, 1)

    assert {key: row.lines for key, row in (await orders_by_source(stack)).items()} == {
        (STORE, str(450789469 + 1001)): [("MUG-1", 2, 0)],
        (STORE, str(450789469 + 1002)): [("MUG-1", 2, 1)],  # 3 in stock, 4 ordered
    }
    assert {row.status for row in (await order_rows(stack)).values()} == {OrderStatus.OPEN}
    # Customers now wait for MUG-1: the store keeps selling it at 0.
    rows = await store_inventory(stack)
    assert rows["MUG-1"].wanted_backorders

    shop.orders = shop.orders[1:2]  # #1001 was fulfilled in the store
    report = await poll_orders(stack)
    assert report.closed == 1
    orders = await order_rows(stack)
    assert {external_id: row.status for external_id, row in orders.items()} == {
        str(450789469 + 1001): OrderStatus.FULFILLED,
        str(450789469 + 1002): OrderStatus.OPEN,
    }
    waiting = orders[str(450789469 + 1002)].lines[0][2]
    assert waiting == 0  # the stock freed by #1001 now covers #1002
    rows = await store_inventory(stack)
    assert not rows["MUG-1"].wanted_backorders


async def test_the_schedule_polls_each_store_and_pushes_every_minute(stack: Stack) -> None:
    jobs = {job.id: job for job in build_scheduler(stack.runtime).get_jobs()}
    assert jobs[f"store_orders:{STORE}"].trigger.interval == timedelta(minutes=15)
    assert jobs["store_push"].trigger.interval == timedelta(minutes=1)
    assert jobs["store_push"].max_instances == 1


async def test_poll_once_also_pushes_stock(
    stack: Stack, shop: FakeShopify, monkeypatch: pytest.MonkeyPatch
) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {"A-MUG": 4, "A-CAP": 3})
    monkeypatch.setenv("STOCKBOT_CONFIG", str(stack.config_path))
    # In a thread: the fake store and fake Slack answer from this test's event loop.
    result = await asyncio.to_thread(run_cli, "poll", "--once", "--supplier", "Acme")
    assert result.returncode == 0, result.stderr
    assert f"Store {STORE}: 2 stock update(s) sent" in result.stdout
    assert stock(shop, "MUG-1") == (4, "DENY")


@pytest.mark.parametrize("extra_config", ["woocommerce"], indirect=True)
async def test_woocommerce_store_gets_orders_and_stock(
    stack: Stack, woo: woocommerce.FakeWooCommerce
) -> None:
    await polled(stack, mugs=5, caps=3)
    await push(stack)
    assert (woo.item("MUG-1")["stock_quantity"], woo.item("MUG-1")["backorders"]) == (5, "no")

    woo.orders = [woocommerce.order(1, ("MUG-1", 2))]
    report = await stack.runtime.poll_store_orders(WOO)
    assert report.created == 1
    stack.write_feed("Acme", {"A-MUG": 0, "A-CAP": 3})
    await stack.poll("Acme")
    reports = await push(stack)
    assert [(r.store, r.pushed, r.failed) for r in reports] == [(WOO, 1, 0)]
    mug = woo.item("MUG-1")
    assert (mug["stock_quantity"], mug["backorders"]) == (0, "notify")

    woo.orders = []  # shipped
    assert (await stack.runtime.poll_store_orders(WOO)).closed == 1
    await push(stack)
    assert woo.item("MUG-1")["backorders"] == "no"


async def test_a_partly_fulfilled_order_waits_for_the_same_units_by_webhook_and_by_poll(
    stack: Stack, shop: FakeShopify
) -> None:
    await out_of_stock_with_webhooks(stack)
    placed = [order(number, ("MUG-1", 3), ("CAP-2", 2)) for number in (1001, 1002)]
    for raw in placed:
        # Two of the three mugs have shipped; one cap was taken off the order in an edit.
        raw["fulfillment_status"] = "partial"
        mug, cap = raw["line_items"]
        mug.update(fulfillable_quantity=1, fulfillment_status="partial")
        cap.update(current_quantity=1, fulfillable_quantity=1)
        # Protected customer data: no customer, the email only as the contact email.
        raw.update(email="", contact_email="ann@example.com", customer=None)
        raw["billing_address"] = {"first_name": "Ann", "last_name": "Lee"}
    by_webhook, by_poll = (str(raw["id"]) for raw in placed)

    # #1001: its webhook first.
    domain = urlsplit(shop.shop_url).netloc  # X-Shopify-Shop-Domain names the store
    response = await SHOPIFY.deliver(
        stack, placed[0], topic="orders/partially_fulfilled", origin=domain
    )
    assert response.json()["result"] == "created"
    told = (await order_rows(stack))[by_webhook]
    assert told.lines == [("CAP-2", 1, 1), ("MUG-1", 1, 1)]
    assert (told.customer_name, told.customer_email) == ("Ann Lee", "ann@example.com")

    # Then the poll lists both: #1001 stays as its webhook left it, #1002 is read alike.
    shop.orders = placed
    report = await poll_orders(stack)
    assert (report.created, report.updated) == (1, 0)
    rows = await order_rows(stack)
    assert rows[by_webhook] == told
    assert rows[by_poll] == told  # the store's source too: the poll's is the webhook's
    # And #1002's webhook after the poll has nothing to change.
    response = await SHOPIFY.deliver(stack, placed[1], topic="orders/updated", origin=domain)
    assert response.json()["result"] == "unchanged"
    assert await backordered_units(stack) == {"CAP-2": 2, "MUG-1": 2}


@pytest.mark.parametrize("extra_config", ["woocommerce"], indirect=True)
@pytest.mark.parametrize("woo_statuses", [["processing", "on-hold", "completed", "refunded"]])
async def test_a_refunded_woocommerce_order_is_cancelled_by_webhook_and_by_poll(
    stack: Stack, woo: woocommerce.FakeWooCommerce
) -> None:
    await out_of_stock_with_webhooks(stack)
    woo.orders = [woocommerce.order(1, ("MUG-1", 2)), woocommerce.order(2, ("MUG-1", 1))]
    for raw in woo.orders:
        response = await WOOCOMMERCE.deliver(stack, raw, origin=woo.site_url + "/")
        assert response.json()["result"] == "created"
    assert (await stack.runtime.poll_store_orders(WOO)).updated == 0

    for raw in woo.orders:
        raw["status"] = "refunded"
    # #1 is told by its webhook, #2 read by the poll.
    response = await WOOCOMMERCE.deliver(
        stack, woo.orders[0], topic="order.updated", origin=woo.site_url + "/"
    )
    assert response.json()["result"] == "closed"
    assert (await stack.runtime.poll_store_orders(WOO)).closed == 1
    orders = await order_rows(stack)
    assert {external_id: row.status for external_id, row in orders.items()} == {
        "701": OrderStatus.CANCELLED,
        "702": OrderStatus.CANCELLED,
    }
    assert orders["701"].lines == [("MUG-1", 2, 0)] and orders["702"].lines == [("MUG-1", 1, 0)]


def test_a_store_config_error_names_the_store_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOPIFY_ADMIN_TOKEN")
    found = store_config_problems(
        tmp_path,
        """
[[stores]]
name = "My Shopify"
kind = "shopify"
shop_url = "https://my-shop.myshopify.com"
token_env = "SHOPIFY_ADMIN_TOKEN"
location_id = "somewhere"
api_version = "2026-07"
""",
    )
    problems = "\n".join(found)
    assert "stores[0].token_env: environment variable SHOPIFY_ADMIN_TOKEN is not set" in problems
    assert "stores[0].location_id:" in problems
    assert (
        "stores[0].api_version: '2026-07' is not a Shopify API version Stockbot knows" in problems
    )


def test_stores_are_optional_and_their_names_unique(tmp_path: Path) -> None:
    path = tmp_path / "stockbot.toml"
    path.write_text(CONFIG.format(group_over=10), encoding="utf-8")
    assert load_settings(path).stores == []
    table = """
[[stores]]
name = "Woo"
kind = "woocommerce"
site_url = "https://shop.example.com"
consumer_key_env = "SHOPIFY_ADMIN_TOKEN"
consumer_secret_env = "SHOPIFY_ADMIN_TOKEN"
"""
    path.write_text(CONFIG.format(group_over=10) + table + table, encoding="utf-8")
    with pytest.raises(ConfigError, match="store name 'Woo' is used twice"):
        load_settings(path)
