"""The BigBuy adapter against a fake BigBuy API on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from suppliers.base import Availability, FeedInvalid, FeedUnavailable, StockRecord
from suppliers.bigbuy import BigBuyAdapter, BigBuyOptions
from suppliers.registry import adapter_class
from tests.adapter_helpers import (
    START,
    adapter_maker,
    assert_credential_error,
    assert_missing_variable,
    poll,
)
from tests.fakes.bigbuy_server import (
    EMPTY,
    PRICES,
    STOCK,
    VARIATION_PRICES,
    VARIATION_STOCK,
    FakeBigBuy,
    Reply,
    item,
    price,
    rate_limited,
    server_error,
    stock,
)
from tests.fakes.clock import FakeClock

API_KEY = "bb-5ecr3t-ap1-k3y-value"
ENV = {"BIGBUY_API_KEY": API_KEY}


@pytest.fixture
async def bigbuy() -> AsyncIterator[FakeBigBuy]:
    async with FakeBigBuy(api_key=API_KEY) as server:
        # Three full pages of two and a last page of one (page_size=2 below).
        server.stock = [
            item("S1", stock(5, 1, 2, warehouse=1), stock(20, 4, 6, warehouse=3)),
            item("S2", stock(0, 1, 2), stock(0, 3, 5)),
            item("S3", stock(7, 2, 3)),
            item("S4", stock(1, 1, 1)),
            item("S5", stock(3, 1, 2)),
            item("S6", stock(0, 1, 2), stock(9, 3, 4, warehouse=2)),
            item("S7", stock(2, 1, 2)),
        ]
        yield server


make_adapter = adapter_maker(
    BigBuyAdapter,
    "BigBuy",
    ENV,
    lambda bigbuy: {"base_url": bigbuy.base_url, "page_size": 2, "requests_per_second": 10},
)


# --- reading the listing -----------------------------------------------------------------------


async def test_reads_every_page_and_keeps_only_asked_skus(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    records, read = await poll(make_adapter(bigbuy, client, clock), ["S1", "S7", "NOPE"])

    assert set(records) == {"S1", "S7"}
    assert records["S1"] == StockRecord(
        "S1",
        25,
        availability=Availability.IN_STOCK,
        warehouses=(("1", 5), ("3", 20)),
        lead_time_days=1,
    )
    assert bigbuy.pages_read(STOCK) == [1, 2, 3, 4, 5]  # the 5th is the empty end
    first = bigbuy.requests_for(STOCK)[0]
    assert first.query["pageSize"] == "2"
    assert first.headers["authorization"] == f"Bearer {API_KEY}"
    assert read.complete is False
    assert read.stats.unknown_skus == {"NOPE"}


async def test_stops_paging_once_every_asked_sku_is_found(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    records, read = await poll(make_adapter(bigbuy, client, clock), ["S3", "S2"])

    assert list(records) == ["S3", "S2"]
    assert bigbuy.pages_read(STOCK) == [1, 2]
    assert read.stats.unknown_skus == set()


async def test_lead_time_prefers_entries_in_stock(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    records, _ = await poll(make_adapter(bigbuy, client, clock), ["S2", "S6"])

    assert records["S6"].lead_time_days == 3  # the faster entry has no stock
    assert records["S6"].warehouses == (("1", 0), ("2", 9))
    assert records["S2"].lead_time_days == 1  # nothing in stock: fastest of all entries
    assert records["S2"].quantity == 0
    assert records["S2"].availability is Availability.OUT_OF_STOCK


async def test_end_of_pages_as_empty_list(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    bigbuy.end_of_pages = "empty list"
    records, read = await poll(make_adapter(bigbuy, client, clock), ["S7", "NOPE"])

    assert set(records) == {"S7"}
    assert read.stats.unknown_skus == {"NOPE"}


async def test_empty_body_is_no_data_not_zero_stock(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    bigbuy.stock = []  # the first page is already BigBuy's empty 200 body

    records, read = await poll(make_adapter(bigbuy, client, clock), ["S1", "S2"])

    assert records == {}  # never quantity 0
    assert read.stats.unknown_skus == set()  # an empty listing proves nothing
    assert read.stats.rejected_count == 0


async def test_unknown_sku_is_reported_once_and_comes_back_when_listed(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    adapter = make_adapter(bigbuy, client, clock)
    _, read = await poll(adapter, ["S1", "NEW"])
    assert read.stats.unknown_skus == {"NEW"}

    _, read = await poll(adapter, ["S1", "NEW"])
    assert read.stats.unknown_skus == set()

    bigbuy.stock.append(item("NEW", stock(4)))
    records, read = await poll(adapter, ["S1", "NEW"])
    assert records["NEW"].quantity == 4
    assert read.stats.unknown_skus == set()

    bigbuy.stock.pop()
    _, read = await poll(adapter, ["S1", "NEW"])
    assert read.stats.unknown_skus == {"NEW"}  # gone again: worth telling again


async def test_page_cap_stops_and_reports_no_unknowns(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    records, read = await poll(make_adapter(bigbuy, client, clock, max_pages=2), ["S1", "S7"])

    assert set(records) == {"S1"}
    assert bigbuy.pages_read(STOCK) == [1, 2]
    assert read.stats.unknown_skus == set()  # S7 may be on a page not read


async def test_match_on_id(bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock) -> None:
    bigbuy.stock = [item("S1", stock(6), product_id=4242)]
    records, _ = await poll(make_adapter(bigbuy, client, clock, match_on="id"), ["4242"])

    assert records["4242"].quantity == 6


async def test_variations_listing_is_read_for_skus_not_in_products(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    bigbuy.listings[VARIATION_STOCK] = [item("V1-RED", stock(11))]
    adapter = make_adapter(bigbuy, client, clock, include_variations=True)

    records, read = await poll(adapter, ["S1", "V1-RED"])

    assert records["V1-RED"].quantity == 11
    assert read.stats.unknown_skus == set()
    assert bigbuy.pages_read(VARIATION_STOCK) == [1]


async def test_prices_are_read_as_decimal_when_asked(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    bigbuy.listings[PRICES] = [price("S9", 1.5), price("S1", 12.3), price("S3", "4.05")]
    records, _ = await poll(make_adapter(bigbuy, client, clock, fetch_prices=True), ["S1", "S3"])

    assert records["S1"].price == Decimal("12.3")
    assert records["S3"].price == Decimal("4.05")
    assert isinstance(records["S1"].price, Decimal)
    assert bigbuy.pages_read(PRICES) == [1, 2]  # stopped once both were priced
    assert bigbuy.requests_for(VARIATION_PRICES) == []


async def test_prices_are_not_read_by_default(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    records, _ = await poll(make_adapter(bigbuy, client, clock), ["S1"])

    assert records["S1"].price is None
    assert bigbuy.requests_for(PRICES) == []


# --- malformed ---------------------------------------------------------------------------------


async def test_malformed_items_are_set_aside_and_counted(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    bigbuy.stock = [
        "not an object",
        {"id": 1, "stocks": [stock(3)]},  # no sku
        {"id": 2, "sku": "NOSTOCKS"},
        item("NEG", stock(-3)),
        item("WORDS", stock("lots")),
        item("NOQTY", stock(None)),
        item("BADDAYS", stock(2, "soon")),
        item("OTHER", stock("garbage")),  # not asked for: not even looked at
        item("GOOD", stock(8)),
        item("GOOD", stock(99)),  # listed twice: the first wins
    ]
    skus = ["NOSTOCKS", "NEG", "WORDS", "NOQTY", "BADDAYS", "GOOD"]

    records, read = await poll(make_adapter(bigbuy, client, clock, page_size=100), skus)

    assert set(records) == {"GOOD"}
    assert records["GOOD"].quantity == 8
    assert read.stats.rejected_count == 8
    assert read.stats.rejected_skus == {"NOSTOCKS", "NEG", "WORDS", "NOQTY", "BADDAYS", "GOOD"}
    assert read.stats.unknown_skus == set()  # set aside is not unknown
    reasons = {row.line: row.reason for row in read.stats.rejected}
    assert reasons[1] == "unreadable item (not an object)"
    assert reasons[2] == "unreadable item (no SKU)"
    assert "negative quantity" in reasons[4]
    assert "handling days" in reasons[7]
    assert "listed twice" in reasons[10]


async def test_unreadable_price_sets_the_sku_aside(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    bigbuy.listings[PRICES] = [price("S1", "free"), price("S3", 2)]
    adapter = make_adapter(bigbuy, client, clock, fetch_prices=True)

    records, read = await poll(adapter, ["S1", "S3"])

    assert set(records) == {"S3"}
    assert read.stats.rejected_skus == {"S1"}


async def test_json_that_is_not_a_list_is_invalid(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    bigbuy.script(STOCK, Reply(200, {"code": 200, "message": "ok"}))

    with pytest.raises(FeedInvalid, match="other than a product list"):
        await poll(make_adapter(bigbuy, client, clock), ["S1"])


# --- throttling and failures -------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 400])
async def test_rate_limit_waits_until_the_reset(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock, status: int
) -> None:
    reset = START.timestamp() + 30
    bigbuy.script(STOCK, Reply(), rate_limited(reset, status))  # page 1 ok, then throttled

    records, _ = await poll(make_adapter(bigbuy, client, clock), ["S1", "S3"])

    assert set(records) == {"S1", "S3"}
    assert sum(clock.sleeps) == pytest.approx(30.0)  # retried right at the reset
    assert bigbuy.pages_read(STOCK) == [1, 2, 2]


async def test_empty_body_mid_listing_ends_it_without_zeros(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    bigbuy.script(STOCK, Reply(), EMPTY)  # page 2 comes back as an empty 200
    records, read = await poll(make_adapter(bigbuy, client, clock), ["S1", "S3"])

    assert set(records) == {"S1"}  # S3 (page 2) is not read as 0
    assert read.stats.unknown_skus == {"S3"}


async def test_rate_limit_too_far_away_ends_the_poll_and_holds_off(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    reset = datetime(2031, 3, 10, 13, 0, tzinfo=UTC).timestamp()
    bigbuy.script(STOCK, rate_limited(reset))
    adapter = make_adapter(bigbuy, client, clock)

    with pytest.raises(FeedUnavailable) as caught:
        await poll(adapter, ["S1"])

    message = str(caught.value)
    assert message.startswith("BigBuy said the hourly API limit is used up")
    assert "try again after 2031-03-10 13:00 UTC" in message
    calls = len(bigbuy.requests)
    clock.advance(minutes=30)
    with pytest.raises(FeedUnavailable, match="13:00 UTC"):
        await poll(adapter, ["S1"])
    assert len(bigbuy.requests) == calls  # no call before the reset

    clock.advance(minutes=31)
    records, _ = await poll(adapter, ["S1"])
    assert records["S1"].quantity == 25


async def test_rate_limit_without_reset_header_backs_off(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    bigbuy.script(STOCK, rate_limited(None))
    records, _ = await poll(make_adapter(bigbuy, client, clock), ["S1"])

    assert records["S1"].quantity == 25
    assert 0.5 in clock.sleeps


@pytest.mark.parametrize("status", [500, 502, 503, 524])
async def test_server_errors_are_retried(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock, status: int
) -> None:
    bigbuy.script(STOCK, server_error(status))
    records, _ = await poll(make_adapter(bigbuy, client, clock), ["S1"])

    assert records["S1"].quantity == 25


async def test_server_errors_give_up_after_max_attempts(
    bigbuy: FakeBigBuy, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    bigbuy.script(STOCK, *[server_error(503)] * 3)

    with pytest.raises(FeedUnavailable) as caught:
        await poll(make_adapter(bigbuy, client, clock, max_attempts=3), ["S1"])

    assert str(caught.value) == (
        "BigBuy answered 503 Service Unavailable 3 times; Stockbot will try again next poll"
    )
    assert len(bigbuy.requests_for(STOCK)) == 3
    assert [wait for wait in clock.sleeps if wait >= 0.5] == [0.5, 1.0]


async def test_connection_errors_are_retried_then_reported(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    async with FakeBigBuy(api_key=API_KEY) as gone:
        pass  # closed: nothing listens on its port any more
    adapter = make_adapter(gone, client, clock, max_attempts=2)

    with pytest.raises(FeedUnavailable, match="could not be reached"):
        await poll(adapter, ["S1"])


# --- secrets and options -----------------------------------------------------------------------


async def test_secrets_never_appear_in_errors_or_logs(
    bigbuy: FakeBigBuy,
    client: httpx.AsyncClient,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    bigbuy.script(STOCK, server_error(503))
    await poll(make_adapter(bigbuy, client, clock), ["S1"])

    wrong_key = "bb-wr0ng-ap1-k3y-value"
    bad = make_adapter(bigbuy, client, clock, env={"BIGBUY_API_KEY": wrong_key})
    with pytest.raises(FeedInvalid) as caught:
        await poll(bad, ["S1"])

    assert_credential_error(caught.value, caplog, "BIGBUY_API_KEY", (API_KEY, wrong_key))


def test_options_name_the_missing_variable() -> None:
    assert_missing_variable(
        BigBuyOptions, {"api_key_env": "MY_BB_KEY"}, {}, "api_key_env", "MY_BB_KEY"
    )


def test_options_defaults() -> None:
    options = BigBuyOptions.model_validate({}, context={"env": ENV})

    assert options.base_url == "https://api.bigbuy.eu/rest"
    assert (options.page_size, options.max_pages, options.fetch_prices) == (1000, 200, False)


def test_registered_as_a_kind() -> None:
    assert adapter_class("bigbuy") is BigBuyAdapter
