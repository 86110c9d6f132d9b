"""The CJ Dropshipping adapter against a fake CJ API on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pydantic
import pytest

from suppliers.base import (
    Availability,
    FeedInvalid,
    FeedRead,
    FeedUnavailable,
    StockRecord,
    SupplierPaused,
)
from suppliers.cj_dropshipping import CjDropshippingAdapter, CjDropshippingOptions
from suppliers.registry import adapter_class
from tests.adapter_helpers import adapter_maker, assert_credential_error, assert_missing_variable
from tests.adapter_helpers import poll as poll_adapter
from tests.fakes.cj_server import (
    LOGIN,
    REFRESH,
    STOCK_BY_SKU,
    STOCK_BY_VID,
    VARIANT_BY_VID,
    FakeCJ,
    Reply,
    envelope,
    envelope_reply,
    warehouse,
)
from tests.fakes.clock import FakeClock

API_KEY = "CJ4471@api@5ecr3t-k3y-value"
ENV = {"CJ_API_KEY": API_KEY}


@pytest.fixture
async def cj(clock: FakeClock) -> AsyncIterator[FakeCJ]:
    async with FakeCJ(api_key=API_KEY, clock=clock) as server:
        server.stock["V1"] = [warehouse("CN", 700), warehouse("US", 12)]
        server.stock["V2"] = [warehouse("CN", 0)]
        yield server


make_adapter = adapter_maker(
    CjDropshippingAdapter,
    "CJ",
    ENV,
    lambda cj: {"base_url": cj.base_url, "requests_per_second": 10},
)


async def poll(
    adapter: CjDropshippingAdapter, skus: list[str]
) -> tuple[dict[str, StockRecord], FeedRead]:
    return await poll_adapter(adapter, skus, batch_size=1)


# --- reading stock -------------------------------------------------------------------------


async def test_sums_warehouses_and_keeps_the_split(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    records, read = await poll(make_adapter(cj, client, clock), ["V1", "V2"])

    assert records["V1"] == StockRecord(
        "V1", 712, None, availability=Availability.IN_STOCK, warehouses=(("CN", 700), ("US", 12))
    )
    assert records["V2"].quantity == 0
    assert records["V2"].availability is Availability.OUT_OF_STOCK
    assert read.complete is False  # a SKU left out is not a stockout
    stock_calls = cj.requests_for(STOCK_BY_VID)
    assert [call.query["vid"] for call in stock_calls] == ["V1", "V2"]
    assert all(call.headers["cj-access-token"].startswith("cj-access-") for call in stock_calls)
    assert cj.requests_for(VARIANT_BY_VID) == []  # prices are opt-in


async def test_only_asked_skus_are_read_and_each_once(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    records, _ = await poll(make_adapter(cj, client, clock), ["V2", "", "V2", " "])

    assert list(records) == ["V2"]
    assert len(cj.requests_for(STOCK_BY_VID)) == 1


async def test_sku_type_sku_uses_query_by_sku_and_variant_key_spelling(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    cj.stock_by_sku["CJSKU-RED-M"] = [
        {"countryCode": "CN", "totalInventory": 40, "cjInventory": 30, "factoryInventory": 10},
        {"countryCode": "DE", "cjInventoryNum": 3, "factoryInventoryNum": 2},  # no total
    ]
    adapter = make_adapter(cj, client, clock, sku_type="sku")

    records, read = await poll(adapter, ["CJSKU-RED-M"])

    assert records["CJSKU-RED-M"].quantity == 45
    assert records["CJSKU-RED-M"].warehouses == (("CN", 40), ("DE", 5))
    assert cj.requests_for(STOCK_BY_SKU)[0].query == {"sku": "CJSKU-RED-M"}
    assert read.stats.rejected_count == 0


async def test_inventory_by_pid_shape_is_understood(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    cj.stock["V9"] = {
        "inventories": [{"countryCode": "CN", "totalInventoryNum": 99}],
        "variantInventories": [
            {"vid": "V9", "inventory": [{"countryCode": "US", "totalInventory": 4}]}
        ],
    }
    records, _ = await poll(make_adapter(cj, client, clock), ["V9"])

    assert records["V9"].quantity == 99


async def test_rows_of_one_country_are_merged(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    cj.stock["V8"] = [warehouse("CN", 10), warehouse("US", 1), warehouse("CN", 5, areaId="2")]
    records, _ = await poll(make_adapter(cj, client, clock), ["V8"])

    assert records["V8"].warehouses == (("CN", 15), ("US", 1))
    assert records["V8"].quantity == 16


async def test_prices_are_fetched_as_decimal_when_asked(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    cj.prices["V1"] = "12.34"
    cj.prices["V2"] = 7.1  # a JSON number must not go through float
    records, _ = await poll(make_adapter(cj, client, clock, fetch_prices=True), ["V1", "V2"])

    assert records["V1"].price == Decimal("12.34")
    assert isinstance(records["V1"].price, Decimal)
    assert records["V2"].price == Decimal("7.1")
    assert [call.query["vid"] for call in cj.requests_for(VARIANT_BY_VID)] == ["V1", "V2"]


# --- tokens -----------------------------------------------------------------------------------


async def test_token_is_cached_across_polls(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    adapter = make_adapter(cj, client, clock)
    for _ in range(3):
        await poll(adapter, ["V1"])
        clock.advance(minutes=15)

    assert len(cj.requests_for(LOGIN)) == 1
    assert cj.requests_for(LOGIN)[0].body == {"apiKey": API_KEY}
    assert cj.requests_for(REFRESH) == []


async def test_rejected_token_is_renewed_once_and_the_call_retried(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    adapter = make_adapter(cj, client, clock)
    await poll(adapter, ["V1"])
    cj.revoke_access_tokens()  # the next stock call answers 1600001
    clock.advance(minutes=1)

    records, _ = await poll(adapter, ["V1"])

    assert records["V1"].quantity == 712
    assert len(cj.requests_for(REFRESH)) == 1
    assert len(cj.requests_for(LOGIN)) == 1
    assert len(cj.requests_for(STOCK_BY_VID)) == 3  # ok, 1600001, retried ok


async def test_expired_token_without_refresh_logs_in_again(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    cj.access_lifetime = timedelta(hours=1)  # shorter than the renewal margin: never trusted
    cj.refresh_lifetime = timedelta(hours=1)
    adapter = make_adapter(cj, client, clock)
    await poll(adapter, ["V1"])
    clock.advance(hours=2)

    records, _ = await poll(adapter, ["V1"])

    assert records["V1"].quantity == 712
    assert len(cj.requests_for(LOGIN)) == 2
    assert cj.login_violations == 0


async def test_token_near_expiry_is_refreshed_before_use(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    cj.access_lifetime = timedelta(days=3)
    adapter = make_adapter(cj, client, clock)
    await poll(adapter, ["V1"])
    clock.advance(days=2, hours=20)  # four hours before expiry

    await poll(adapter, ["V1"])

    assert len(cj.requests_for(REFRESH)) == 1
    assert len(cj.requests_for(LOGIN)) == 1
    first, second = cj.requests_for(STOCK_BY_VID)
    assert first.headers["cj-access-token"] != second.headers["cj-access-token"]
    assert len(cj.requests_for(STOCK_BY_VID)) == 2  # no call was wasted on a dying token


async def test_get_access_token_is_not_called_twice_within_five_minutes(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    adapter = make_adapter(cj, client, clock)
    await poll(adapter, ["V1"])
    cj.revoke_access_tokens()
    cj.revoke_refresh_tokens()  # so only a new login would help
    clock.advance(minutes=1)

    with pytest.raises(FeedUnavailable, match="once every 5 minutes") as caught:
        await poll(adapter, ["V1"])
    clock.advance(minutes=1)
    with pytest.raises(FeedUnavailable):
        await poll(adapter, ["V1"])

    assert "try again after 12:05 UTC" in str(caught.value)
    assert len(cj.requests_for(LOGIN)) == 1
    clock.advance(minutes=4)
    records, _ = await poll(adapter, ["V1"])
    assert records["V1"].quantity == 712
    assert len(cj.requests_for(LOGIN)) == 2
    assert cj.login_violations == 0


async def test_failed_login_is_not_retried_within_the_poll(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    cj.script(LOGIN, Reply(503, b"busy"))
    adapter = make_adapter(cj, client, clock)

    with pytest.raises(FeedUnavailable, match="503"):
        await poll(adapter, ["V1"])

    assert len(cj.requests_for(LOGIN)) == 1


# --- throttling, busy, quota -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "expected_wait"),
    [
        (200, {}, 0.5),  # body-level throttle, no hint: the first backoff step
        (429, {"Retry-After": "7"}, 7.0),
        (429, {}, 0.5),
    ],
)
async def test_rate_limit_waits_and_retries(
    cj: FakeCJ,
    client: httpx.AsyncClient,
    clock: FakeClock,
    status: int,
    headers: dict[str, str],
    expected_wait: float,
) -> None:
    adapter = make_adapter(cj, client, clock)
    cj.script(STOCK_BY_VID, envelope_reply(1600200, status, headers))

    records, _ = await poll(adapter, ["V1"])

    assert records["V1"].quantity == 712
    assert expected_wait in clock.sleeps
    assert len(cj.requests_for(STOCK_BY_VID)) == 2


async def test_system_busy_is_retried_at_most_three_times(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    adapter = make_adapter(cj, client, clock, max_attempts=10)
    cj.script(STOCK_BY_VID, *[envelope_reply(1600000)] * 5)

    with pytest.raises(FeedUnavailable, match="system is busy 4 times") as caught:
        await poll(adapter, ["V1"])

    assert len(cj.requests_for(STOCK_BY_VID)) == 4
    assert "try again next poll" in str(caught.value)


async def test_system_busy_then_success(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    adapter = make_adapter(cj, client, clock)
    cj.script(STOCK_BY_VID, envelope_reply(1600000), envelope_reply(1600000))

    records, _ = await poll(adapter, ["V1"])

    assert records["V1"].quantity == 712


async def test_server_errors_are_retried_with_backoff(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    adapter = make_adapter(cj, client, clock)
    cj.script(STOCK_BY_VID, Reply(502, b"bad gateway"), Reply(524, b"timeout"))

    records, _ = await poll(adapter, ["V1"])

    assert records["V1"].quantity == 712
    assert [wait for wait in clock.sleeps if wait >= 0.5] == [0.5, 1.0]


async def test_quota_used_up_pauses_until_midnight_without_network(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    adapter = make_adapter(cj, client, clock)
    cj.quota = 1

    with pytest.raises(SupplierPaused) as caught:
        await poll(adapter, ["V1", "V2"])

    midnight = datetime(2031, 3, 11, tzinfo=UTC)
    assert caught.value.until == midnight
    assert str(caught.value) == (
        "CJ Dropshipping says the daily API quota is used up; "
        "Stockbot will try again after 00:00 UTC"
    )
    calls = len(cj.requests)
    clock.advance(hours=6)
    with pytest.raises(SupplierPaused):
        await poll(adapter, ["V1", "V2"])
    assert len(cj.requests) == calls  # refused without touching the network

    clock.now = midnight + timedelta(seconds=1)
    cj.quota = None
    records, _ = await poll(adapter, ["V1", "V2"])
    assert set(records) == {"V1", "V2"}


# --- unknown and malformed --------------------------------------------------------------------


async def test_unknown_variant_is_reported_once_and_not_asked_again(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    adapter = make_adapter(cj, client, clock)

    records, read = await poll(adapter, ["V1", "GONE"])
    assert set(records) == {"V1"}
    assert read.stats.unknown_skus == {"GONE"}

    records, read = await poll(adapter, ["V1", "GONE"])
    assert set(records) == {"V1"}
    assert read.stats.unknown_skus == set()
    assert [call.query["vid"] for call in cj.requests_for(STOCK_BY_VID)] == ["V1", "GONE", "V1"]


async def test_unknown_sku_of_a_failed_poll_is_reported_again(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    adapter = make_adapter(cj, client, clock)
    cj.script(STOCK_BY_VID, envelope_reply(1602000), *[Reply(503, b"down")] * 4)

    with pytest.raises(FeedUnavailable):
        await poll(adapter, ["GONE", "V1"])  # the bot drops this poll's results

    _, read = await poll(adapter, ["GONE", "V1"])
    assert read.stats.unknown_skus == {"GONE"}


@pytest.mark.parametrize("code", [1602001, 1600300])
async def test_other_not_found_codes_are_unknown_skus(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock, code: int
) -> None:
    cj.script(STOCK_BY_VID, envelope_reply(code))
    _, read = await poll(make_adapter(cj, client, clock), ["V1"])

    assert read.stats.unknown_skus == {"V1"}


@pytest.mark.parametrize("code", [1602003, 1602002])
async def test_a_delisted_variant_is_discontinued_and_the_rest_are_read(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock, code: int
) -> None:
    cj.script(STOCK_BY_VID, envelope_reply(code))  # the first SKU asked
    records, read = await poll(make_adapter(cj, client, clock), ["DELISTED", "V1", "V2"])

    assert records["DELISTED"] == StockRecord("DELISTED", 0, availability=Availability.DISCONTINUED)
    assert records["V1"].quantity == 712
    assert records["V2"].quantity == 0
    assert read.stats.unknown_skus == set()
    assert read.stats.rejected_count == 0


async def test_a_read_timeout_on_cjs_side_is_retried(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    cj.script(STOCK_BY_VID, envelope_reply(1600301))
    records, _ = await poll(make_adapter(cj, client, clock), ["V1"])

    assert records["V1"].quantity == 712
    assert len(cj.requests_for(STOCK_BY_VID)) == 2


@pytest.mark.parametrize("code", [1600004, 1600005, 1600006, 1601000])
async def test_login_refusals_point_at_the_api_key_variable(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock, code: int
) -> None:
    cj.script(LOGIN, envelope_reply(code))
    with pytest.raises(FeedInvalid) as caught:
        await poll(make_adapter(cj, client, clock), ["V1"])

    message = str(caught.value)
    assert "API key in the environment variable CJ_API_KEY" in message
    assert str(code) in message
    assert cj.requests_for(STOCK_BY_VID) == []


@pytest.mark.parametrize(
    ("sku_type", "skus", "hint"),
    [
        ("vid", ["CJNSFS0010247", "CJNSFS0010248", "CJYD2231907"], 'set sku_type = "sku"'),
        (
            "sku",
            [
                "7874B45D-E971-4DC8-8F59-40AAC96D8D0A",
                "1C4F3A20-5B0D-4E3E-9D3C-0F0E4B7C2A11",
                "5E5D1D2B0A8F4C37B7E19B5C0C1E2D3F",
            ],
            'set sku_type = "vid"',
        ),
        ("vid", ["MUG-1", "CAP-2", "HAT-3"], "Check the supplier SKUs"),
    ],
)
async def test_most_skus_not_found_is_one_setup_problem_not_stockouts(
    cj: FakeCJ,
    client: httpx.AsyncClient,
    clock: FakeClock,
    sku_type: str,
    skus: list[str],
    hint: str,
) -> None:
    adapter = make_adapter(cj, client, clock, sku_type=sku_type)

    with pytest.raises(FeedInvalid) as caught:
        await poll(adapter, skus)

    message = str(caught.value)
    assert "does not know 3 of the 3 SKUs" in message
    assert hint in message
    # Nothing was remembered as unknown: once the setup is fixed, all are asked again.
    for sku in skus:
        cj.stock[sku] = cj.stock_by_sku[sku] = [warehouse("CN", 5)]
    records, _ = await poll(adapter, skus)
    assert set(records) == set(skus)


async def test_a_few_skus_not_found_are_still_reported_one_by_one(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    adapter = make_adapter(cj, client, clock)
    records, read = await poll(adapter, ["V1", "V2", "GONE"])

    assert set(records) == {"V1", "V2"}
    assert read.stats.unknown_skus == {"GONE"}


async def test_a_not_found_sku_is_asked_again_hourly(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    adapter = make_adapter(cj, client, clock)
    await poll(adapter, ["V1", "GONE"])
    clock.advance(minutes=59)
    await poll(adapter, ["V1", "GONE"])
    asked = [call.query["vid"] for call in cj.requests_for(STOCK_BY_VID)]
    assert asked == ["V1", "GONE", "V1"]

    cj.stock["GONE"] = [warehouse("CN", 4)]  # listed again
    clock.advance(minutes=1)
    records, read = await poll(adapter, ["V1", "GONE"])
    assert records["GONE"].quantity == 4
    assert read.stats.unknown_skus == set()


async def test_the_recheck_interval_is_a_setting(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    adapter = make_adapter(cj, client, clock, recheck_not_found=7200)
    await poll(adapter, ["GONE"])
    clock.advance(hours=1)
    await poll(adapter, ["GONE"])
    clock.advance(hours=1)
    await poll(adapter, ["GONE"])
    assert [call.query["vid"] for call in cj.requests_for(STOCK_BY_VID)] == ["GONE", "GONE"]


async def test_a_not_found_sku_is_asked_again_when_the_catalog_changes(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    adapter = make_adapter(cj, client, clock)
    await poll(adapter, ["V1", "GONE"])
    cj.stock["GONE"] = [warehouse("CN", 4)]

    records, _ = await poll(adapter, ["V1", "V2", "GONE"])  # a product was added

    assert records["GONE"].quantity == 4


async def test_malformed_answers_are_set_aside_and_counted(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    cj.stock["NOFIGURE"] = [warehouse("CN", 5), {"countryCode": "US"}]
    cj.stock["NEGATIVE"] = [warehouse("CN", "-3")]
    cj.stock["WORDS"] = [warehouse("CN", "lots")]
    cj.stock["EMPTY"] = []
    cj.stock["NOTROW"] = ["CN:5"]
    cj.script(STOCK_BY_VID, Reply(200, envelope(200, None)))  # data: null, for "NULL"
    adapter = make_adapter(cj, client, clock)
    skus = ["NULL", "NOFIGURE", "NEGATIVE", "WORDS", "EMPTY", "NOTROW", "V1"]

    records, read = await poll(adapter, skus)

    assert set(records) == {"V1"}
    assert read.stats.rejected_count == 6
    assert read.stats.rejected_skus == set(skus) - {"V1"}
    reasons = {row.sku: row.reason for row in read.stats.rejected}
    assert "no stock figure" in reasons["NOFIGURE"]
    assert "negative quantity" in reasons["NEGATIVE"]
    assert "not a number" in reasons["WORDS"]
    assert "no warehouses" in reasons["EMPTY"]
    assert "not an object" in reasons["NOTROW"]
    assert read.stats.unknown_skus == set()


async def test_unreadable_price_sets_the_sku_aside(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    cj.prices["V1"] = "cheap"
    records, read = await poll(make_adapter(cj, client, clock, fetch_prices=True), ["V1"])

    assert records == {}
    assert read.stats.rejected_skus == {"V1"}
    assert "price" in read.stats.rejected[0].reason


async def test_web_page_instead_of_json_is_invalid(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    cj.script(STOCK_BY_VID, Reply(200, b"<!DOCTYPE html><html>login</html>"))

    with pytest.raises(FeedInvalid, match="web page"):
        await poll(make_adapter(cj, client, clock), ["V1"])


# --- secrets, pacing, options -----------------------------------------------------------------


async def test_secrets_never_appear_in_errors_or_logs(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = make_adapter(cj, client, clock)
    cj.script(STOCK_BY_VID, envelope_reply(1600200), Reply(503, b"down"))
    await poll(good, ["V1"])
    cj.revoke_access_tokens()
    clock.advance(minutes=10)
    await poll(good, ["V1"])  # renews the token, logging why

    wrong_key = "CJ4471@api@wr0ng-k3y-value"
    bad = make_adapter(cj, client, clock, env={"CJ_API_KEY": wrong_key})
    with pytest.raises(FeedInvalid) as caught:
        await poll(bad, ["V1"])

    secrets = [API_KEY, wrong_key, *cj.issued_tokens]
    message = assert_credential_error(caught.value, caplog, "CJ_API_KEY", secrets)
    assert "did not accept the API key" in message


async def test_supplier_message_is_redacted(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    cj.script(STOCK_BY_VID, Reply(200, envelope(1609999, message=f"bad request for {API_KEY}")))

    with pytest.raises(FeedInvalid, match="error 1609999") as caught:
        await poll(make_adapter(cj, client, clock), ["V1"])

    assert API_KEY not in str(caught.value)
    assert "[hidden]" in str(caught.value)


async def test_missing_key_is_reported_before_any_call(
    cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    adapter = make_adapter(cj, client, clock, env={"CJ_API_KEY": "x"})
    adapter.env = {}

    with pytest.raises(FeedInvalid, match="CJ_API_KEY"):
        await poll(adapter, ["V1"])
    assert cj.requests == []


async def test_requests_are_paced(cj: FakeCJ, client: httpx.AsyncClient, clock: FakeClock) -> None:
    adapter = make_adapter(cj, client, clock, requests_per_second=1.0)

    await poll(adapter, ["V1", "V2"])

    # Login, then two stock calls: each waits for its one-second slot.
    assert clock.sleeps == [1.0, 1.0]


def test_options_name_the_missing_variable() -> None:
    assert_missing_variable(CjDropshippingOptions, {}, {}, "api_key_env", "CJ_API_KEY")


def test_options_defaults_and_checks() -> None:
    options = CjDropshippingOptions.model_validate({}, context={"env": ENV})
    assert options.base_url == "https://developers.cjdropshipping.com/api2.0/v1"
    assert (options.sku_type, options.fetch_prices, options.requests_per_second) == (
        "vid",
        False,
        1.0,
    )
    with pytest.raises(pydantic.ValidationError, match="fetch_prices needs"):
        CjDropshippingOptions.model_validate(
            {"sku_type": "sku", "fetch_prices": True}, context={"env": ENV}
        )
    with pytest.raises(pydantic.ValidationError, match="base_url"):
        CjDropshippingOptions.model_validate({"base_url": "ftp://x"}, context={"env": ENV})
    with pytest.raises(pydantic.ValidationError, match="extra"):
        CjDropshippingOptions.model_validate({"api_key": API_KEY}, context={"env": ENV})


def test_registered_as_a_kind() -> None:
    assert adapter_class("cj_dropshipping") is CjDropshippingAdapter
