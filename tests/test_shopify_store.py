"""The Shopify store adapter against a fake Shopify Admin API on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pydantic
import pytest

from stores.base import InventoryUpdate, PushResult, StoreOrder, StoreOrderLine, StoreRejected
from stores.registry import store_class
from stores.shopify import ShopifyOptions, ShopifyStore, verify_webhook
from tests.adapter_helpers import adapter_maker
from tests.fakes.clock import FakeClock
from tests.fakes.shopify_server import (
    GRAPHQL,
    LOCATION,
    ORDERS,
    FakeShopify,
    Reply,
    graphql_path,
    graphql_throttled,
    order,
    orders_path,
    rest_throttled,
)
from tests.webhook_helpers import assert_signature_checked

TOKEN = "shpat_0123456789abcdef5ecret"
ENV = {"SHOPIFY_TOKEN": TOKEN}


@pytest.fixture
async def shop() -> AsyncIterator[FakeShopify]:
    async with FakeShopify(token=TOKEN) as server:
        yield server


make_store = adapter_maker(
    ShopifyStore,
    "My shop",
    ENV,
    lambda shop: {
        "shop_url": shop.shop_url,
        "token_env": "SHOPIFY_TOKEN",
        "location_id": 4242,
        "requests_per_second": 50,
    },
)


async def read_orders(store: ShopifyStore) -> list[StoreOrder]:
    return [order async for order in store.open_orders()]


# --- options -------------------------------------------------------------------------------


def test_options_check_the_token_variable_and_normalise_the_location() -> None:
    raw = {"shop_url": "https://demo.myshopify.com/", "token_env": "T", "location_id": "77"}
    options = ShopifyOptions.model_validate(raw, context={"env": {"T": "x"}})
    assert options.location_id == "gid://shopify/Location/77"
    assert options.base_url == "https://demo.myshopify.com"
    assert store_class("shopify") is ShopifyStore

    with pytest.raises(pydantic.ValidationError, match="SHOP_TOKEN is not set"):
        ShopifyOptions.model_validate({**raw, "token_env": "SHOP_TOKEN"}, context={"env": {}})
    with pytest.raises(pydantic.ValidationError, match="Extra inputs"):
        ShopifyOptions.model_validate({**raw, "token": TOKEN}, context={"env": {"T": "x"}})


@pytest.mark.parametrize("version", ["2026-07", "2023-10", "2025-02", "unstable"])
def test_an_api_version_stockbot_does_not_know_is_refused(version: str) -> None:
    # Stockbot builds its requests for the versions it knows; another one may have a
    # different shape (as inventorySetQuantities changed in 2026-04), so it is refused.
    raw = {"shop_url": "https://demo.myshopify.com", "token_env": "T", "location_id": 1}
    with pytest.raises(pydantic.ValidationError) as caught:
        ShopifyOptions.model_validate({**raw, "api_version": version}, context={"env": {"T": "x"}})
    [error] = caught.value.errors()
    assert error["loc"] == ("api_version",)
    assert f"{version!r} is not a Shopify API version Stockbot knows" in error["msg"]
    assert "2025-01" in error["msg"] and "2026-04" in error["msg"]


# --- orders --------------------------------------------------------------------------------


async def test_reads_three_pages_following_page_info_links(
    shop: FakeShopify, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    shop.page_size = 2
    shop.orders = [order(1001 + n, (f"SKU-{n}", n + 1)) for n in range(5)]

    orders = await read_orders(make_store(shop, client, clock))

    assert [o.name for o in orders] == ["#1001", "#1002", "#1003", "#1004", "#1005"]
    assert orders[0] == StoreOrder(
        external_id="450790470",
        name="#1001",
        customer_name="Ann Lee",
        customer_email="ann@example.com",
        ordered_at=datetime(2026, 11, 20, 15, 15, tzinfo=UTC),
        status="open",
        lines=(StoreOrderLine("SKU-0", 1),),
    )
    queries = [request.query for request in shop.requests_for(ORDERS)]
    assert len(queries) == 3
    assert queries[0] == {"status": "open", "fulfillment_status": "unfulfilled", "limit": "250"}
    # Later pages use the Link URL as given: the fake refuses filters beside page_info.
    assert all(set(query) == {"limit", "page_info"} for query in queries[1:])


async def test_stops_at_max_pages(
    shop: FakeShopify, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    shop.page_size = 1
    shop.orders = [order(1001 + n, ("A", 1)) for n in range(5)]

    store = make_store(shop, client, clock, max_pages=2)
    orders = await read_orders(store)

    assert len(orders) == 2
    assert len(shop.requests_for(ORDERS)) == 2
    assert store.orders_complete is False  # the rest may still be open

    shop.orders = shop.orders[:2]
    assert len(await read_orders(store)) == 2
    assert store.orders_complete is True


async def test_rest_429_waits_as_retry_after_says(
    shop: FakeShopify, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    shop.orders = [order(1001, ("A", 1))]
    shop.script(ORDERS, rest_throttled("2.0"))

    orders = await read_orders(make_store(shop, client, clock))

    assert [o.name for o in orders] == ["#1001"]
    assert clock.sleeps == [2.0]  # Shopify's fractional Retry-After, not a backoff guess
    assert len(shop.requests_for(ORDERS)) == 2


async def test_slows_down_when_the_call_bucket_is_nearly_full(
    shop: FakeShopify, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    shop.page_size = 1
    shop.orders = [order(1001, ("A", 1)), order(1002, ("B", 1))]
    shop.call_limit = "38/40"

    await read_orders(make_store(shop, client, clock))

    assert clock.sleeps == [pytest.approx((38 - 32) / 2.0)]


async def test_unreadable_order_is_listed_as_unknown_not_fatal(
    shop: FakeShopify, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    broken = order(1001, ("A", 1))
    del broken["created_at"]
    shop.orders = [broken, order(1002, ("B", 2))]

    orders = await read_orders(make_store(shop, client, clock))

    # Still listed (so never taken for gone), but nothing is read from it.
    assert orders[0] == StoreOrder(external_id="450790470", name="#1001", status="unknown")
    assert [(o.name, o.status) for o in orders[1:]] == [("#1002", "open")]


async def test_lines_without_a_sku_are_read_through_their_variant(
    shop: FakeShopify, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    mug = shop.add_variant("MUG-1")
    cap = shop.add_variant("CAP-2")
    first = order(1001, ("", 2), ("CAP-2", 1))
    first["line_items"][0]["variant_id"] = mug.number
    second = order(1002, ("", 1), ("", 4), ("", 1))
    second["line_items"][0]["variant_id"] = cap.number
    second["line_items"][1]["variant_id"] = 77  # a variant deleted since
    second["line_items"][2]["variant_id"] = None  # a custom item
    shop.orders = [first, second]
    store = make_store(shop, client, clock)

    orders = await store.fill_skus(await read_orders(store))

    assert [o.lines for o in orders] == [
        (StoreOrderLine("MUG-1", 2), StoreOrderLine("CAP-2", 1)),
        (StoreOrderLine("CAP-2", 1),),
    ]
    assert shop.operations() == ["VariantSkus"]  # one look-up for the whole listing
    ids = shop.requests_for(GRAPHQL)[0].body["variables"]["ids"]
    assert sorted(ids) == sorted([cap.gid, mug.gid, "gid://shopify/ProductVariant/77"])
    # Nothing to look up: no request.
    assert await store.fill_skus(orders) == orders
    assert len(shop.requests_for(GRAPHQL)) == 1


async def test_bad_token_is_a_readable_error_without_the_token(
    shop: FakeShopify, client: httpx.AsyncClient, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    shop.token = "another-token"
    caplog.set_level(logging.DEBUG)

    with pytest.raises(StoreRejected) as caught:
        await read_orders(make_store(shop, client, clock))

    message = str(caught.value)
    assert "refused access (401 Unauthorized)" in message
    assert "SHOPIFY_TOKEN" in message
    assert TOKEN not in message
    assert TOKEN not in caplog.text


async def test_server_echoing_the_token_is_redacted(
    shop: FakeShopify, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    shop.script(ORDERS, Reply(422, {"errors": {"token": [f"{TOKEN} is not allowed here"]}}))

    with pytest.raises(StoreRejected) as caught:
        await read_orders(make_store(shop, client, clock))

    assert "422" in str(caught.value)
    assert "[hidden]" in str(caught.value)
    assert TOKEN not in str(caught.value)


# --- inventory -----------------------------------------------------------------------------


async def test_push_sets_quantity_and_backorder_policy(
    shop: FakeShopify, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    variant = shop.add_variant("TEE-RED-M")
    store = make_store(shop, client, clock)

    results = await store.push_inventory([InventoryUpdate("TEE-RED-M", 0, True)])

    assert results == [PushResult("TEE-RED-M", True, None)]
    assert shop.quantities[(variant.item_gid, LOCATION)] == 0
    assert variant.inventory_policy == "CONTINUE"

    results = await store.push_inventory([InventoryUpdate("TEE-RED-M", 12, True)])

    assert results == [PushResult("TEE-RED-M", True, None)]
    assert shop.quantities[(variant.item_gid, LOCATION)] == 12
    assert variant.inventory_policy == "DENY"
    assert shop.operations() == [
        "VariantBySku",
        "SetQuantities",
        "SetPolicy",
        "VariantBySku",
        "SetQuantities",
        "SetPolicy",
    ]


@pytest.mark.parametrize(
    ("version", "compare_fields"),
    [
        ("2025-01", {"ignoreCompareQuantity": True}),
        ("2026-01", {"ignoreCompareQuantity": True}),
        # 2026-04 removed the compare fields: each quantity says what it changes from,
        # null opting out of the check.
        ("2026-04", {"changeFromQuantity": None}),
    ],
)
async def test_the_inventory_mutation_has_the_configured_versions_shape(
    version: str,
    compare_fields: dict[str, Any],
    shop: FakeShopify,
    client: httpx.AsyncClient,
    clock: FakeClock,
) -> None:
    variant = shop.add_variant("A")
    store = make_store(shop, client, clock, api_version=version)

    results = await store.push_inventory([InventoryUpdate("A", 7)])

    assert results == [PushResult("A", True, None)]
    assert shop.quantities[(variant.item_gid, LOCATION)] == 7
    [_, mutation, *_] = shop.requests_for(graphql_path(version))
    given = mutation.body["variables"]["input"]
    [quantity] = given["quantities"]
    sent = {**{k: v for k, v in given.items() if k != "quantities"}, **quantity}
    assert sent == {
        "name": "available",
        "reason": "correction",
        "inventoryItemId": variant.item_gid,
        "locationId": LOCATION,
        "quantity": 7,
        **compare_fields,
    }
    shop.orders = [order(1001, ("A", 1))]
    assert len(await read_orders(store)) == 1
    assert len(shop.requests_for(orders_path(version))) == 1


@pytest.mark.parametrize(
    ("version", "input_fields", "quantity_fields", "refusal"),
    [
        ("2026-04", {"ignoreCompareQuantity": True}, {}, "invalid value for ignoreCompare"),
        ("2026-04", {}, {}, "changeFromQuantity is required"),
        ("2025-01", {}, {"changeFromQuantity": None}, "invalid value for changeFromQuantity"),
        ("2025-01", {}, {}, "compareQuantity is required"),
    ],
)
async def test_the_fake_refuses_another_versions_inventory_mutation(
    version: str,
    input_fields: dict[str, Any],
    quantity_fields: dict[str, Any],
    refusal: str,
    shop: FakeShopify,
    client: httpx.AsyncClient,
) -> None:
    variant = shop.add_variant("A")
    quantity = {"inventoryItemId": variant.item_gid, "locationId": LOCATION, "quantity": 3}
    given = {"name": "available", "reason": "correction", **input_fields}
    given["quantities"] = [{**quantity, **quantity_fields}]
    response = await client.post(
        shop.shop_url + graphql_path(version),
        json={
            "query": "mutation SetQuantities($input: InventorySetQuantitiesInput!) "
            "{ inventorySetQuantities(input: $input) { userErrors { field message } } }",
            "variables": {"input": given},
        },
        headers={"X-Shopify-Access-Token": TOKEN},
    )
    assert refusal in response.text
    assert shop.quantities == {}


async def test_push_leaves_policy_alone_when_disabled_or_unchanged(
    shop: FakeShopify, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    shop.add_variant("A", policy="DENY")
    shop.add_variant("B", policy="DENY")

    await make_store(shop, client, clock).push_inventory([InventoryUpdate("A", 5)])
    await make_store(shop, client, clock, backorder_policy=False).push_inventory(
        [InventoryUpdate("B", 0, True)]
    )

    assert "SetPolicy" not in shop.operations()
    assert shop.variants["B"].inventory_policy == "DENY"


async def test_unknown_sku_and_user_errors_are_reported_per_sku(
    shop: FakeShopify, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    shop.add_variant("KNOWN")
    shop.locations = {"gid://shopify/Location/1"}  # the configured one is gone

    results = await make_store(shop, client, clock).push_inventory(
        [InventoryUpdate("NOPE", 3), InventoryUpdate("KNOWN", 3)]
    )

    assert results[0] == PushResult("NOPE", False, "no variant with SKU NOPE in Shopify")
    assert not results[1].ok
    assert results[1].error == (
        "Shopify refused the change: The specified location could not be found."
    )


@pytest.mark.parametrize("status", [200, 429])
async def test_graphql_throttle_waits_for_the_cost_bucket(
    status: int, shop: FakeShopify, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    variant = shop.add_variant("A")
    shop.script(GRAPHQL, Reply(), graphql_throttled(status=status, available=4.0))

    results = await make_store(shop, client, clock).push_inventory([InventoryUpdate("A", 7)])

    assert results == [PushResult("A", True, None)]
    assert shop.quantities[(variant.item_gid, LOCATION)] == 7
    # (cost - available) / restoreRate; the 0.02s steps are the 50 requests/s pacing.
    waits = [seconds for seconds in clock.sleeps if seconds != pytest.approx(0.02)]
    assert waits == [pytest.approx((10 - 4) / 50.0)]
    assert shop.operations() == ["VariantBySku", "SetQuantities", "SetQuantities"]


async def test_store_down_fails_the_rest_without_asking_again(
    shop: FakeShopify, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    shop.add_variant("A")
    shop.add_variant("B")
    shop.script(GRAPHQL, *[Reply(503, {"errors": "unavailable"})] * 2)

    results = await make_store(shop, client, clock, max_attempts=2).push_inventory(
        [InventoryUpdate("A", 1), InventoryUpdate("B", 1)]
    )

    assert [result.ok for result in results] == [False, False]
    assert "503 Service Unavailable" in (results[0].error or "")
    assert results[1].error == results[0].error
    assert len(shop.requests_for(GRAPHQL)) == 2


async def test_missing_token_fails_before_any_request(
    shop: FakeShopify, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    store = make_store(shop, client, clock)
    store.env = {}

    with pytest.raises(StoreRejected, match="SHOPIFY_TOKEN, which is not set"):
        await store.push_inventory([InventoryUpdate("A", 1)])
    assert shop.requests == []


def test_webhook_signature() -> None:
    assert_signature_checked(verify_webhook, b'{"inventory_item_id":39072856,"available":5}')


# --- order notes -----------------------------------------------------------------------------


async def test_order_notes_add_tags_and_append_one_line_once(
    shop: FakeShopify, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    shop.orders = [order(1001, ("TEE-RED-M", 1))]
    order_id = str(shop.orders[0]["id"])
    gid = f"gid://shopify/Order/{order_id}"
    shop.notes[gid] = "Gift wrap, please."
    store = make_store(shop, client, clock)
    line = "Stockbot: told the new restock date, 1 August 2031"

    await store.write_order_note(order_id, line, ["stockbot-backordered"])
    # A retry after a lost answer: the tag is kept once, the line is not added twice.
    await store.write_order_note(order_id, line, ["stockbot-backordered", "stockbot-date-updated"])

    assert shop.notes[gid] == f"Gift wrap, please.\n{line}"
    assert shop.tags[gid] == ["stockbot-backordered", "stockbot-date-updated"]
    assert shop.operations() == [
        "AddOrderTags",
        "OrderNote",
        "UpdateOrderNote",
        "AddOrderTags",
        "OrderNote",
    ]


async def test_order_notes_for_an_unknown_order_are_refused_plainly(
    shop: FakeShopify, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    store = make_store(shop, client, clock)
    with pytest.raises(StoreRejected, match="Shopify refused the change: Order does not exist"):
        await store.write_order_note("999", "Stockbot: emailed", ["stockbot-backordered"])
    with pytest.raises(StoreRejected, match="Shopify has no order 999"):
        await store.write_order_note("999", "Stockbot: emailed", [])
