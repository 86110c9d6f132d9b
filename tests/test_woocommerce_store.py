"""The WooCommerce store adapter against a fake WooCommerce REST API on 127.0.0.1."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pydantic
import pytest

from stores.base import (
    InventoryUpdate,
    PushResult,
    StoreOrder,
    StoreOrderLine,
    StoreRejected,
    StoreUnavailable,
)
from stores.registry import store_class
from stores.woocommerce import WooCommerceOptions, WooCommerceStore, verify_webhook
from tests.adapter_helpers import adapter_maker
from tests.fakes.clock import FakeClock
from tests.fakes.woocommerce_server import (
    ORDERS,
    PRODUCTS,
    UPDATES,
    FakeWooCommerce,
    order,
    unavailable,
    wc_error,
)
from tests.webhook_helpers import assert_signature_checked

KEY = "ck_4f1e9b0c5ecretkey0000000000000000000"
SECRET = "cs_9a8b7c6d5ecretsecret00000000000000000"
ENV = {"WC_KEY": KEY, "WC_SECRET": SECRET}


@pytest.fixture
async def woo() -> AsyncIterator[FakeWooCommerce]:
    async with FakeWooCommerce(key=KEY, secret=SECRET) as server:
        yield server


make_store = adapter_maker(
    WooCommerceStore,
    "Woo shop",
    ENV,
    lambda woo: {
        "site_url": woo.site_url,
        "consumer_key_env": "WC_KEY",
        "consumer_secret_env": "WC_SECRET",
        "requests_per_second": 50,
    },
)


async def read_orders(store: WooCommerceStore) -> list[StoreOrder]:
    return [order async for order in store.open_orders()]


def long_waits(clock: FakeClock) -> list[float]:
    """Sleeps other than the 1/50 s request pacing."""
    return [seconds for seconds in clock.sleeps if seconds != pytest.approx(0.02)]


def test_options_need_both_credential_variables() -> None:
    raw = {"site_url": "https://shop.example.com", "consumer_key_env": "K"}
    with pytest.raises(pydantic.ValidationError, match="consumer_secret_env"):
        WooCommerceOptions.model_validate(raw, context={"env": {"K": "x"}})
    options = WooCommerceOptions.model_validate(
        {**raw, "consumer_secret_env": "S"}, context={"env": {"K": "x", "S": "y"}}
    )
    assert options.statuses == ["processing", "on-hold"]
    assert store_class("woocommerce") is WooCommerceStore
    with pytest.raises(KeyError, match="known kinds: shopify, woocommerce"):
        store_class("magento")


# --- orders --------------------------------------------------------------------------------


@pytest.mark.parametrize("link_header", [True, False])
async def test_reads_every_page_of_open_orders(
    link_header: bool, woo: FakeWooCommerce, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    woo.page_size = 2
    woo.link_header = link_header
    woo.orders = [
        order(1, ("MUG", 2), ("", 1)),
        order(2, ("TEE", 1), status="on-hold"),
        order(3, ("CAP", 1), status="completed"),
        order(4, ("MUG", 1)),
        order(5, ("TEE", 3)),
        order(6, ("CAP", 2), status="processing"),
    ]

    orders = await read_orders(make_store(woo, client, clock))

    assert [o.name for o in orders] == ["#1", "#2", "#4", "#5", "#6"]
    assert orders[0] == StoreOrder(
        external_id="701",
        name="#1",
        customer_name="Bo Berg",
        customer_email="bo@example.com",
        ordered_at=datetime(2026, 11, 21, 8, 30, tzinfo=UTC),
        status="open",
        lines=(StoreOrderLine("MUG", 2),),  # the SKU-less line cannot be matched
    )
    pages = [request.query["page"] for request in woo.requests_for(ORDERS, "GET")]
    assert pages == ["1", "2", "3"]
    first = woo.requests_for(ORDERS, "GET")[0].query
    assert first["status"] == "processing,on-hold"
    assert first["per_page"] == "100"


async def test_stops_at_max_pages(
    woo: FakeWooCommerce, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    woo.page_size = 1
    woo.orders = [order(n, ("MUG", 1)) for n in range(1, 6)]

    orders = await read_orders(make_store(woo, client, clock, max_pages=3))

    assert len(orders) == 3


async def test_503_with_retry_after_is_honoured(
    woo: FakeWooCommerce, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    woo.orders = [order(1, ("MUG", 1))]
    woo.script(ORDERS, unavailable(retry_after="7"))

    orders = await read_orders(make_store(woo, client, clock))

    assert [o.name for o in orders] == ["#1"]
    assert long_waits(clock) == [7.0]


async def test_persistent_5xx_gives_up_readably(
    woo: FakeWooCommerce, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    woo.script(ORDERS, *[wc_error(500, "internal", "boom")] * 3)

    with pytest.raises(StoreUnavailable, match="500 Internal Server Error 3 times"):
        await read_orders(make_store(woo, client, clock, max_attempts=3))


async def test_wrong_keys_never_show_in_errors_or_logs(
    woo: FakeWooCommerce,
    client: httpx.AsyncClient,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    woo.key = "ck_someone_else"
    caplog.set_level(logging.DEBUG)
    basic = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()

    with pytest.raises(StoreRejected) as caught:
        await read_orders(make_store(woo, client, clock))

    message = str(caught.value)
    assert "refused access (401 Unauthorized)" in message
    assert "WC_KEY" in message
    for secret in (KEY, SECRET, basic):
        assert secret not in message
        assert secret not in caplog.text


async def test_server_echoing_the_key_is_redacted(
    woo: FakeWooCommerce, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    woo.script(ORDERS, wc_error(400, "rest_invalid_param", f"Bad consumer_key {KEY}"))

    with pytest.raises(StoreRejected) as caught:
        await read_orders(make_store(woo, client, clock))

    assert str(caught.value) == "WooCommerce answered 400 Bad Request: Bad consumer_key [hidden]"


# --- inventory -----------------------------------------------------------------------------


async def test_push_updates_simple_products_and_variations(
    woo: FakeWooCommerce, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    woo.add_product("MUG", stock=3)
    parent = woo.add_product("TEE", stock=None)
    variation = woo.add_product("TEE-RED-M", stock=1, parent_id=parent)

    results = await make_store(woo, client, clock).push_inventory(
        [
            InventoryUpdate("MUG", 8),
            InventoryUpdate("TEE-RED-M", 0, backorders_allowed=True),
            InventoryUpdate("NOPE", 1),
        ]
    )

    assert results == [
        PushResult("MUG", True),
        PushResult("TEE-RED-M", True),
        PushResult("NOPE", False, "no product with SKU NOPE in WooCommerce"),
    ]
    mug = woo.item("MUG")
    assert (mug["stock_quantity"], mug["stock_status"], mug["backorders"]) == (8, "instock", "no")
    assert mug["manage_stock"] is True
    tee = woo.item("TEE-RED-M")
    assert (tee["stock_quantity"], tee["stock_status"], tee["backorders"]) == (
        0,
        "onbackorder",
        "notify",
    )
    paths = [request.path for request in woo.requests_for(PRODUCTS, "PUT")]
    assert paths == [f"{PRODUCTS}/100", f"{PRODUCTS}/{parent}/variations/{variation}"]


async def test_out_of_stock_without_backorders(
    woo: FakeWooCommerce, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    woo.add_product("MUG", stock=3)

    await make_store(woo, client, clock).push_inventory([InventoryUpdate("MUG", 0)])

    assert woo.item("MUG")["stock_status"] == "outofstock"


async def test_error_body_becomes_a_readable_push_error(
    woo: FakeWooCommerce, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    woo.add_product("MUG", stock=3)
    woo.add_product("CAP", stock=3)
    woo.script(UPDATES, wc_error(400, "woocommerce_rest_invalid_stock", "Stock is locked."))

    results = await make_store(woo, client, clock).push_inventory(
        [InventoryUpdate("MUG", 1), InventoryUpdate("CAP", 2)]
    )

    assert results == [
        PushResult("MUG", False, "WooCommerce answered 400 Bad Request: Stock is locked."),
        PushResult("CAP", True),
    ]
    assert woo.item("MUG")["stock_quantity"] == 3


async def test_push_retries_after_503(
    woo: FakeWooCommerce, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    woo.add_product("MUG", stock=3)
    woo.script(PRODUCTS, unavailable(retry_after="4"))

    results = await make_store(woo, client, clock).push_inventory([InventoryUpdate("MUG", 5)])

    assert results == [PushResult("MUG", True)]
    assert woo.item("MUG")["stock_quantity"] == 5
    assert long_waits(clock) == [4.0]


def test_webhook_signature() -> None:
    assert_signature_checked(verify_webhook, b'{"id":701,"status":"processing"}')


# --- order notes -----------------------------------------------------------------------------


async def test_order_notes_are_private_and_written_once(
    woo: FakeWooCommerce, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    woo.orders = [order(1001, ("MUG", 1))]
    order_id = str(woo.orders[0]["id"])
    store = make_store(woo, client, clock)
    line = "Stockbot: told the customer their order is on its way"

    await store.write_order_note(order_id, line, ["stockbot-back-in-stock"])
    await store.write_order_note(order_id, line, [])  # a retry: not added twice

    [note] = woo.notes[int(order_id)]
    assert note["note"] == line
    assert note["customer_note"] is False  # staff only: WooCommerce emails no one
    posted = woo.requests_for(f"{ORDERS}/{order_id}/notes", "POST")
    assert [r.body for r in posted] == [{"note": line, "customer_note": False}]


async def test_order_notes_for_an_unknown_order_say_so(
    woo: FakeWooCommerce, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    store = make_store(woo, client, clock)
    with pytest.raises(StoreRejected, match="Invalid ID"):
        await store.write_order_note("999", "Stockbot: emailed", [])
