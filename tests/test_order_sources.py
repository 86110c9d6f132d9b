"""Orders from every source in one database, each source its own id space: CSV imports,
and per configured store its signed webhooks and its order poll (fake Shopify and
WooCommerce servers), which must read and file an order alike."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.core.orders import import_orders
from bot.db.models import AlertKind, Order, OrderStatus
from bot.db.types import utcnow
from bot.runtime import Runtime
from tests.fakes import shopify_server, woocommerce_server
from tests.fakes.shopify_server import FakeShopify
from tests.fakes.smtp_server import FakeSMTPServer
from tests.fakes.woocommerce_server import FakeWooCommerce
from tests.helpers import ALERT_CHANNEL_ID, CATALOG_HEADER, Stack, run_cli
from tests.probes import OrderRow, latest_alert, orders_by_source
from tests.webhook_helpers import (
    SHOPIFY,
    TOKEN,
    WOOCOMMERCE,
    StoreHooks,
    shopify_store,
    store_config_problems,
    woocommerce_store,
)

STORE, WOO, SECOND = "My Shopify", "My Woo", "Outlet"
CATALOG = [
    CATALOG_HEADER,
    "MUG-1,Blue mug,Acme,A-MUG,1,1,4.00",
    "CAP-2,Red cap,Acme,A-CAP,1,1,2.00",
]
ORDERS_HEADER = "order_id,customer_name,customer_email,sku,quantity,ordered_at"


pytestmark = pytest.mark.usefixtures("store_env")


@pytest.fixture
async def second_shop() -> AsyncIterator[FakeShopify]:
    async with FakeShopify(token=TOKEN) as server:
        yield server


@pytest.fixture
def extra_config(
    request: pytest.FixtureRequest,
    shop: FakeShopify,
    woo: FakeWooCommerce,
    smtp: FakeSMTPServer,
    second_shop: FakeShopify,
) -> str:
    """Both stores (one of each kind) and email, so the notify preview opens;
    `parametrize("extra_config", ["two shops"], indirect=True)` adds a second Shopify."""
    second = shopify_store(SECOND, second_shop)
    return (
        (second if getattr(request, "param", "") == "two shops" else "")
        + f"""
[email]
smtp_host = "127.0.0.1"
smtp_port = {smtp.port}
from_address = "orders@example.com"
starttls = false
"""
        + shopify_store(STORE, shop)
        + woocommerce_store(WOO, woo)
    )


# --- helpers -------------------------------------------------------------------------------


def shop_domain(shop: FakeShopify) -> str:
    """What Shopify sends as X-Shopify-Shop-Domain: the shop's host (here with its port)."""
    return urlsplit(shop.shop_url).netloc


def woo_source(woo: FakeWooCommerce) -> str:
    """What WooCommerce sends as X-WC-Webhook-Source: the site's home URL."""
    return woo.site_url + "/"


async def ready(stack: Stack, mugs: int = 10) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {"A-MUG": mugs, "A-CAP": 50})
    await stack.poll("Acme")
    await stack.serve_http()


async def import_csv(stack: Stack, *rows: str) -> None:
    path = stack.tmp_path / "orders.csv"
    path.write_text("\n".join([ORDERS_HEADER, *rows]) + "\n", encoding="utf-8")
    async with stack.runtime.writes() as session, session.begin():
        await import_orders(session, path, channel=stack.settings.slack.alert_channel)
    await stack.deliver()


async def webhook(
    stack: Stack, hooks: StoreHooks, origin: str, raw: dict[str, Any], topic: str | None
) -> dict[str, Any]:
    """The answer to a delivery from the store at `origin` (accepted)."""
    response = await hooks.deliver(stack, raw, topic=topic, origin=origin)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def shopify_webhook(
    stack: Stack, shop: FakeShopify, raw: dict[str, Any], topic: str = "orders/create"
) -> dict[str, Any]:
    return await webhook(stack, SHOPIFY, shop_domain(shop), raw, topic)


async def woo_webhook(
    stack: Stack, woo: FakeWooCommerce, raw: dict[str, Any], topic: str = "order.created"
) -> dict[str, Any]:
    return await webhook(stack, WOOCOMMERCE, woo_source(woo), raw, topic)


async def poll(stack: Stack, store: str) -> tuple[int, int, int, int]:
    """(created, updated, closed, ignored) of one store's order poll."""
    report = await stack.runtime.poll_store_orders(store)
    await stack.deliver()
    return report.created, report.updated, report.closed, report.ignored


async def row(stack: Stack, source: str, external_id: str | int) -> OrderRow:
    return (await orders_by_source(stack))[(source, str(external_id))]


def cli(stack: Stack, *args: str) -> Any:
    return asyncio.to_thread(run_cli, "--config", str(stack.config_path), *args)


# --- 1. one id space per source ------------------------------------------------------------


async def test_a_woocommerce_order_never_rewrites_a_csv_order_with_the_same_id(
    stack: Stack, woo: FakeWooCommerce
) -> None:
    await ready(stack)
    await import_csv(stack, "1001,Ada Lovelace,ada@example.com,MUG-1,1,2026-11-20")
    raw = woocommerce_server.order(301, ("CAP-2", 4), email="mallory@evil.example")
    raw["id"] = 1001

    assert (await woo_webhook(stack, woo, raw))["result"] == "created"

    rows = await orders_by_source(stack)
    assert set(rows) == {("csv", "1001"), (WOO, "1001")}
    assert rows[("csv", "1001")].customer_email == "ada@example.com"
    assert rows[("csv", "1001")].lines == [("MUG-1", 1, 0)]
    assert rows[(WOO, "1001")].customer_email == "mallory@evil.example"


async def test_a_woocommerce_deletion_never_cancels_a_shopify_order(
    stack: Stack, shop: FakeShopify, woo: FakeWooCommerce
) -> None:
    await ready(stack)
    raw = shopify_server.order(1, ("MUG-1", 1))
    raw["id"] = 9003
    assert (await shopify_webhook(stack, shop, raw))["result"] == "created"

    answer = await woo_webhook(stack, woo, {"id": 9003}, topic="order.deleted")

    assert (answer["result"], answer["detail"]) == ("ignored", "order not known")
    assert (await row(stack, STORE, 9003)).status == OrderStatus.OPEN


@pytest.mark.parametrize("kind", ["shopify", "woocommerce"])
async def test_a_store_poll_closes_an_order_its_webhook_created(
    stack: Stack, shop: FakeShopify, woo: FakeWooCommerce, kind: str
) -> None:
    await ready(stack)
    if kind == "shopify":
        name, raw = STORE, shopify_server.order(1001, ("MUG-1", 2))
        assert (await shopify_webhook(stack, shop, raw))["result"] == "created"
    else:
        name, raw = WOO, woocommerce_server.order(1, ("MUG-1", 2))
        assert (await woo_webhook(stack, woo, raw))["result"] == "created"
    # The webhook filed it under the store's name, as the poll does.
    assert (await row(stack, name, raw["id"])).status == OrderStatus.OPEN

    # Shipped: the store no longer lists it.
    assert await poll(stack, name) == (0, 0, 1, 0)
    assert (await row(stack, name, raw["id"])).status == OrderStatus.FULFILLED


async def test_a_webhook_from_a_shop_without_a_stores_table_changes_nothing(
    stack: Stack, woo: FakeWooCommerce
) -> None:
    await ready(stack)
    raw = shopify_server.order(1001, ("MUG-1", 2))
    response = await SHOPIFY.deliver(stack, raw, origin="another-shop.myshopify.com")
    assert response.status_code == 200  # answered, or Shopify would keep sending it
    assert response.json()["result"] == "ignored"
    assert "another-shop.myshopify.com" in response.json()["detail"]

    response = await WOOCOMMERCE.deliver(
        stack, woocommerce_server.order(1, ("MUG-1", 1)), origin="https://elsewhere.example/"
    )
    assert response.json()["result"] == "ignored"
    assert "https://elsewhere.example/" in response.json()["detail"]
    assert await orders_by_source(stack) == {}


async def test_orders_filed_before_stores_were_told_apart_join_their_store(
    stack: Stack, shop: FakeShopify
) -> None:
    """Webhook orders used to be filed under "shopify" whatever the store: the store's
    webhook and poll adopt them instead of creating a second order."""
    await ready(stack, mugs=0)
    listed, gone = shopify_server.order(1001, ("MUG-1", 1)), shopify_server.order(1002)
    async with stack.runtime.writes() as session, session.begin():
        for raw in (listed, gone):
            session.add(Order(external_id=str(raw["id"]), source="shopify", ordered_at=utcnow()))
    # A start-up files them under the only Shopify store.
    restarted = await Runtime.start(stack.settings, per_channel_interval=0)
    try:
        shop.orders = [listed]
        report = await restarted.poll_store_orders(STORE)
    finally:
        await restarted.close()
    assert (report.created, report.updated, report.closed) == (0, 1, 1)
    rows = await orders_by_source(stack)
    assert set(rows) == {(STORE, str(listed["id"])), (STORE, str(gone["id"]))}
    assert rows[(STORE, str(listed["id"]))].lines == [("MUG-1", 1, 1)]
    assert rows[(STORE, str(gone["id"]))].status == OrderStatus.FULFILLED


@pytest.mark.parametrize("extra_config", ["two shops"], indirect=True)
async def test_with_two_shops_an_old_order_joins_the_shop_that_reports_it(
    stack: Stack, shop: FakeShopify, second_shop: FakeShopify
) -> None:
    await ready(stack, mugs=0)
    raw = shopify_server.order(1001, ("MUG-1", 1))
    async with stack.runtime.writes() as session, session.begin():
        session.add(Order(external_id=str(raw["id"]), source="shopify", ordered_at=utcnow()))
    # Which shop it came from is not known at start-up: the first to report it takes it.
    assert {source for source, _ in await orders_by_source(stack)} == {"shopify"}
    raw["customer"]["first_name"] = "Annie"
    response = await SHOPIFY.deliver(stack, raw, origin=shop_domain(second_shop))
    assert response.json()["result"] == "updated"
    rows = await orders_by_source(stack)
    assert set(rows) == {(SECOND, str(raw["id"]))}
    assert rows[(SECOND, str(raw["id"]))].lines == [("MUG-1", 1, 1)]


async def test_close_takes_the_csv_order_by_default_and_asks_which_when_unclear(
    stack: Stack, shop: FakeShopify, woo: FakeWooCommerce
) -> None:
    await ready(stack, mugs=0)
    await import_csv(stack, "1001,Ada Lovelace,ada@example.com,MUG-1,1,2026-11-20")
    for number in (1001, 9003):
        raw = woocommerce_server.order(1, ("MUG-1", 1))
        raw["id"] = number
        assert (await woo_webhook(stack, woo, raw))["result"] == "created"
    raw = shopify_server.order(1, ("MUG-1", 1))
    raw["id"] = 9003
    assert (await shopify_webhook(stack, shop, raw))["result"] == "created"

    closed = await cli(stack, "orders", "close", "1001")
    assert closed.returncode == 0, closed.stdout + closed.stderr
    assert "Order 1001 is now fulfilled." in closed.stdout
    assert f"{WOO} also has an order 1001" in closed.stdout
    assert (await row(stack, "csv", 1001)).status == OrderStatus.FULFILLED
    assert (await row(stack, WOO, 1001)).status == OrderStatus.OPEN

    unclear = await cli(stack, "orders", "close", "9003")
    assert unclear.returncode == 1
    assert f"Order ID '9003' is used by several sources: {STORE}, {WOO}" in unclear.stdout
    assert "--source" in unclear.stdout
    assert "Traceback" not in unclear.stdout + unclear.stderr

    chosen = await cli(stack, "orders", "close", "9003", "--source", WOO, "--cancelled")
    assert chosen.returncode == 0, chosen.stdout + chosen.stderr
    assert f"Order 9003 from {WOO} is now cancelled." in chosen.stdout
    assert (await row(stack, WOO, 9003)).status == OrderStatus.CANCELLED
    assert (await row(stack, STORE, 9003)).status == OrderStatus.OPEN

    missing = await cli(stack, "orders", "close", "1001", "--source", STORE)
    assert missing.returncode == 1
    assert f"No order with ID '1001' from {STORE}" in missing.stdout
    assert f"csv, {WOO}" in missing.stdout


# --- 3. line items without a SKU, customers without an email -------------------------------


async def test_protected_customer_data_and_sku_less_lines_are_a_real_order(
    stack: Stack, shop: FakeShopify
) -> None:
    await ready(stack, mugs=0)
    stockout = await latest_alert(stack, AlertKind.OUT_OF_STOCK)
    assert stockout is not None and stockout.slack_ts is not None
    message = stack.slack.message(ALERT_CHANNEL_ID, stockout.slack_ts)
    # As a store without protected-data access gets it: no SKU, no customer, no email.
    raw = shopify_server.order(1001, ("", 2), email="")
    raw["line_items"][0]["variant_id"] = shop.variants["MUG-1"].number
    raw["customer"] = None

    answer = await shopify_webhook(stack, shop, raw)

    assert answer["result"] == "created"
    placed = await row(stack, STORE, raw["id"])
    assert (placed.customer_email, placed.status) == ("", OrderStatus.OPEN)
    assert placed.lines == [("MUG-1", 2, 2)]  # tracked and backordered
    # The poll reads it the same way.
    shop.orders = [raw]
    assert await poll(stack, STORE) == (0, 0, 0, 0)
    assert await row(stack, STORE, raw["id"]) == placed

    # Emailing the waiting customers (Ada has an address): the preview says this one
    # cannot be emailed.
    await import_csv(stack, "1001,Ada Lovelace,ada@example.com,MUG-1,1,2026-11-20")
    sender = stack.sender
    assert sender is not None
    response = await sender.block_action(
        "notify_customers",
        value=str(stockout.id),
        user_id="U0ALICE",
        channel_id=ALERT_CHANNEL_ID,
        message=message,
        trigger_id="trig-protected",
    )
    assert response.status_code == 200
    call = await stack.slack.wait_for_async(lambda c: c.method == "views.open")
    preview = json.dumps(call.params["view"]["blocks"], ensure_ascii=False)
    assert "ada@example.com" in preview
    assert f"No email address on order {raw['id']}: they will not be emailed" in preview


# --- 5. what a poll may and may not conclude -----------------------------------------------


async def test_an_unreadable_order_in_the_listing_is_not_closed(
    stack: Stack, shop: FakeShopify
) -> None:
    await ready(stack)
    raw = shopify_server.order(1001, ("MUG-1", 2))
    shop.orders = [raw]
    assert await poll(stack, STORE) == (1, 0, 0, 0)

    broken = copy.deepcopy(raw)
    broken["created_at"] = "last tuesday"
    shop.orders = [broken]
    assert await poll(stack, STORE) == (0, 0, 0, 1)  # listed, unreadable: left as it was

    assert (await row(stack, STORE, raw["id"])).status == OrderStatus.OPEN


async def test_a_pending_woocommerce_order_comes_back_when_it_is_paid(
    stack: Stack, woo: FakeWooCommerce
) -> None:
    """The poll lists processing and on-hold orders only: a pending (unpaid) order the
    webhook told of is not listed, so the poll closes it; once paid, the store says
    so and it waits again."""
    await ready(stack, mugs=1)
    pending = woocommerce_server.order(1, ("MUG-1", 2), status="pending")
    woo.orders = [pending]
    assert (await woo_webhook(stack, woo, pending))["result"] == "created"
    assert (await row(stack, WOO, pending["id"])).lines == [("MUG-1", 2, 1)]
    assert await poll(stack, WOO) == (0, 0, 1, 0)
    assert (await row(stack, WOO, pending["id"])).status == OrderStatus.FULFILLED

    paid = {**pending, "status": "processing", "date_modified_gmt": "2026-11-21T09:00:00"}
    woo.orders = [paid]
    answer = await woo_webhook(stack, woo, paid, topic="order.updated")
    assert (answer["result"], answer["detail"]) == ("updated", "reopened")
    reopened = await row(stack, WOO, pending["id"])
    assert (reopened.status, reopened.lines) == (OrderStatus.OPEN, [("MUG-1", 2, 1)])
    assert await poll(stack, WOO) == (0, 0, 0, 0)  # and the poll agrees


async def test_a_poll_listing_an_order_as_open_reopens_it_unless_a_person_closed_it(
    stack: Stack, woo: FakeWooCommerce
) -> None:
    await ready(stack)
    first, second = (woocommerce_server.order(n, ("MUG-1", 1)) for n in (1, 2))
    for raw in (first, second):
        assert (await woo_webhook(stack, woo, raw))["result"] == "created"
    # #1 was completed in the store, then set back to processing by its owner; #2 was
    # closed by hand (shipped outside the store, which still lists it as processing).
    completed = {**first, "status": "completed"}
    assert (await woo_webhook(stack, woo, completed, topic="order.updated"))["result"] == ("closed")
    # A late webhook with the old news does not undo the store's word...
    assert (await woo_webhook(stack, woo, first, topic="order.updated"))["result"] == ("unchanged")
    assert (await row(stack, WOO, first["id"])).status == OrderStatus.FULFILLED
    closed = await cli(stack, "orders", "close", str(second["id"]))
    assert closed.returncode == 0, closed.stdout + closed.stderr

    # ...but the store's own listing, read afresh, does.
    woo.orders = [first, second]
    assert await poll(stack, WOO) == (0, 1, 0, 0)
    assert (await row(stack, WOO, first["id"])).status == OrderStatus.OPEN
    assert (await row(stack, WOO, second["id"])).status == OrderStatus.FULFILLED


def test_config_reserves_the_csv_source(tmp_path: Path) -> None:
    problems = store_config_problems(
        tmp_path,
        """
[[stores]]
name = "csv"
kind = "woocommerce"
site_url = "https://shop.example.com"
consumer_key_env = "WC_CONSUMER_KEY"
consumer_secret_env = "WC_CONSUMER_SECRET"
""",
    )
    assert any(problem.startswith("stores[0].name:") and "csv" in problem for problem in problems)
