"""The Printful adapter against a fake Printful API on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import httpx
import pydantic
import pytest

from suppliers.base import Availability, FeedInvalid, FeedUnavailable, StockRecord
from suppliers.printful import PrintfulAdapter, PrintfulOptions
from suppliers.registry import adapter_class
from tests.adapter_helpers import (
    START,
    adapter_maker,
    assert_credential_error,
    assert_missing_variable,
    poll,
)
from tests.fakes.api_server import Reply
from tests.fakes.clock import FakeClock
from tests.fakes.printful_server import (
    FakePrintful,
    technique,
    v1_path,
    v1_variant,
    v2_path,
)
from tests.fakes.supplier_server import http_date

TOKEN = "pf-pr1vate-t0ken-value"
ENV = {"PRINTFUL_TOKEN": TOKEN}


@pytest.fixture
async def printful(clock: FakeClock) -> AsyncIterator[FakePrintful]:
    async with FakePrintful(token=TOKEN, clock=clock) as server:
        server.v2[101] = [technique("dtg", usa="in stock", europe="out of stock")]
        server.v2[102] = [technique("dtg", usa="out of stock")]
        server.v2[103] = [technique("dtg", usa="discontinued")]
        yield server


make_adapter = adapter_maker(
    PrintfulAdapter, "Printful", ENV, lambda printful: {"base_url": printful.base_url}
)


def availability(records: dict[str, StockRecord]) -> dict[str, Availability]:
    return {sku: record.availability for sku, record in records.items()}


# --- v2 ----------------------------------------------------------------------------------------


async def test_v2_availability_in_the_default_region(
    printful: FakePrintful, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    records, read = await poll(make_adapter(printful, client, clock), ["101", "102", "103"])

    assert availability(records) == {
        "101": Availability.IN_STOCK,
        "102": Availability.OUT_OF_STOCK,
        "103": Availability.DISCONTINUED,
    }
    assert all(record.quantity is None for record in records.values())  # never invented
    assert records["101"] == StockRecord("101", None, availability=Availability.IN_STOCK)
    assert printful.paths() == [v2_path(101), v2_path(102), v2_path(103)]
    assert printful.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert read.complete is False


async def test_v2_region_and_technique_options(
    printful: FakePrintful, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    printful.v2[104] = [
        technique("embroidery", europe="in stock"),
        technique("dtg", europe="temporary out of stock"),
    ]
    any_technique = make_adapter(printful, client, clock, region="Europe")
    dtg_only = make_adapter(printful, client, clock, region="europe", technique="dtg")

    records, _ = await poll(any_technique, ["101", "104"])
    assert availability(records) == {
        "101": Availability.OUT_OF_STOCK,
        "104": Availability.IN_STOCK,  # orderable with one technique is orderable
    }
    records, _ = await poll(dtg_only, ["104"])
    assert availability(records) == {"104": Availability.OUT_OF_STOCK}


# --- v1 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("in_stock", Availability.IN_STOCK),
        ("stocked_on_demand", Availability.IN_STOCK),
        ("out_of_stock", Availability.OUT_OF_STOCK),
        ("temporary_out_of_stock", Availability.OUT_OF_STOCK),
        ("supplier_out_of_stock", Availability.OUT_OF_STOCK),
        ("discontinued", Availability.DISCONTINUED),
    ],
)
async def test_v1_statuses(
    printful: FakePrintful,
    client: httpx.AsyncClient,
    clock: FakeClock,
    status: str,
    expected: Availability,
) -> None:
    printful.v1[201] = v1_variant(201, "13.50", US=status, EU="in_stock")

    records, _ = await poll(make_adapter(printful, client, clock, api_version=1), ["201"])

    assert records["201"].availability is expected
    assert records["201"].quantity is None
    assert records["201"].price == Decimal("13.50")
    assert printful.paths() == [v1_path(201)]


async def test_v1_product_shape_and_in_stock_flag(
    printful: FakePrintful, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    variants = [v1_variant(301, "9.95", US="out_of_stock"), v1_variant(302, 10, US="in_stock")]
    printful.script(v1_path(302), Reply(200, {"code": 200, "result": {"variants": variants}}))
    flag_only = v1_variant(303, "1.00")
    del flag_only["availability_status"]
    flag_only["in_stock"] = False
    printful.v1[303] = flag_only
    adapter = make_adapter(printful, client, clock, api_version=1)

    records, _ = await poll(adapter, ["302", "303"])

    assert records["302"].availability is Availability.IN_STOCK
    assert records["302"].price == Decimal(10)
    assert records["303"].availability is Availability.OUT_OF_STOCK


# --- unknown and malformed ---------------------------------------------------------------------


@pytest.mark.parametrize("api_version", [1, 2])
async def test_unknown_variant_is_reported_once_and_not_asked_again(
    printful: FakePrintful, client: httpx.AsyncClient, clock: FakeClock, api_version: int
) -> None:
    printful.v1[101] = v1_variant(101, US="in_stock")
    printful.v1[102] = v1_variant(102, US="in_stock")
    printful.v1[103] = v1_variant(103, US="in_stock")
    adapter = make_adapter(printful, client, clock, api_version=api_version)
    skus = ["101", "102", "103", "999", "not-a-number"]

    records, read = await poll(adapter, skus)
    assert set(records) == {"101", "102", "103"}
    assert read.stats.unknown_skus == {"999", "not-a-number"}
    calls = len(printful.requests)
    assert calls == 4  # "not-a-number" cannot be a variant id: not even asked

    records, read = await poll(adapter, skus)
    assert set(records) == {"101", "102", "103"}
    assert read.stats.unknown_skus == set()
    assert len(printful.requests) == calls + 3


@pytest.mark.parametrize("api_version", [1, 2])
async def test_mostly_unknown_variants_are_a_setup_problem(
    printful: FakePrintful, client: httpx.AsyncClient, clock: FakeClock, api_version: int
) -> None:
    printful.v1[101] = v1_variant(101, US="in_stock")
    adapter = make_adapter(printful, client, clock, api_version=api_version)

    with pytest.raises(FeedInvalid) as caught:
        await poll(adapter, ["101", "MUG-RED", "MUG-BLUE"])
    assert "does not know 2 of the 3 SKUs" in str(caught.value)
    assert "catalog variant ids" in str(caught.value)


async def test_malformed_answers_are_set_aside_and_counted(
    printful: FakePrintful, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    printful.v2[401] = [technique("dtg", usa="maybe later")]
    printful.v2[402] = [technique("dtg", europe="in stock")]  # not sold in the USA
    printful.v2[403] = "dtg"
    printful.script(v2_path(404), Reply(200, {"data": []}))
    printful.script(v2_path(405), Reply(200, b""))
    skus = ["401", "402", "403", "404", "405", "101"]

    records, read = await poll(make_adapter(printful, client, clock), skus)

    assert set(records) == {"101"}
    assert read.stats.rejected_count == 5
    assert read.stats.rejected_skus == {"401", "402", "403", "404", "405"}
    reasons = {row.sku: row.reason for row in read.stats.rejected}
    assert 'unknown availability "maybe later"' in reasons["401"]
    assert 'no availability for region "usa" (regions listed: europe)' in reasons["402"]
    assert "techniques" in reasons["403"]
    assert read.stats.unknown_skus == set()


async def test_web_page_is_invalid(
    printful: FakePrintful, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    printful.script(v2_path(101), Reply(200, b"<html><body>Maintenance</body></html>"))

    with pytest.raises(FeedInvalid, match="web page"):
        await poll(make_adapter(printful, client, clock), ["101"])


# --- throttling --------------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", ["3", http_date(START + timedelta(seconds=3))])
async def test_429_honours_retry_after(
    printful: FakePrintful, client: httpx.AsyncClient, clock: FakeClock, retry_after: str
) -> None:
    printful.script(v2_path(101), Reply(429, {"status": 429}, {"Retry-After": retry_after}))

    records, _ = await poll(make_adapter(printful, client, clock), ["101"])

    assert records["101"].availability is Availability.IN_STOCK
    assert clock.sleeps == [3.0]
    assert printful.paths() == [v2_path(101)] * 2


async def test_leaky_bucket_overflow_is_waited_out(
    printful: FakePrintful, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    printful.rate_limit(capacity=3, per_seconds=6)  # drains one call every 2 seconds
    for variant_id in range(501, 507):
        printful.v2[variant_id] = [technique("dtg", usa="in stock")]
    adapter = make_adapter(printful, client, clock, requests_per_second=2, max_attempts=3)

    records, _ = await poll(adapter, [str(variant_id) for variant_id in range(501, 507)])

    assert len(records) == 6
    assert printful.throttled > 0  # the pace was too fast for the bucket ...
    assert 1.0 in clock.sleeps  # ... and its Retry-After was honoured


async def test_retry_after_beyond_max_wait_ends_the_poll_and_holds_off(
    printful: FakePrintful, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    printful.script(v2_path(101), Reply(429, {"status": 429}, {"Retry-After": "600"}))
    adapter = make_adapter(printful, client, clock, max_wait=60)

    with pytest.raises(FeedUnavailable) as caught:
        await poll(adapter, ["101"])

    assert str(caught.value) == (
        "Printful answered 429 Too Many Requests (too many requests) and asked Stockbot to "
        "wait 10 minutes; Stockbot will try again after 2031-03-10 12:10 UTC"
    )
    calls = len(printful.requests)
    clock.advance(minutes=5)
    with pytest.raises(FeedUnavailable):
        await poll(adapter, ["101"])
    assert len(printful.requests) == calls
    clock.advance(minutes=6)
    records, _ = await poll(adapter, ["101"])
    assert "101" in records


async def test_timeouts_are_retried_then_reported(
    printful: FakePrintful, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    def too_slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(too_slow)) as slow_client:
        adapter = make_adapter(printful, slow_client, clock, timeout=5, max_attempts=2)
        with pytest.raises(FeedUnavailable) as caught:
            await poll(adapter, ["101"])

    assert str(caught.value) == (
        "Printful did not answer within 5 seconds 2 times; Stockbot will try again next poll"
    )


async def test_requests_are_paced(
    printful: FakePrintful, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await poll(make_adapter(printful, client, clock), ["101", "102", "103"])

    assert clock.sleeps == [1.0, 1.0]  # the default: one call a second


# --- secrets and options -----------------------------------------------------------------------


async def test_secrets_never_appear_in_errors_or_logs(
    printful: FakePrintful,
    client: httpx.AsyncClient,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    printful.script(v2_path(101), Reply(502, b"bad gateway"))
    await poll(make_adapter(printful, client, clock), ["101"])

    wrong = "pf-wr0ng-t0ken-value"
    with pytest.raises(FeedInvalid) as caught:
        await poll(make_adapter(printful, client, clock, env={"PRINTFUL_TOKEN": wrong}), ["101"])

    assert_credential_error(caught.value, caplog, "PRINTFUL_TOKEN", (TOKEN, wrong))


def test_options_name_the_missing_variable() -> None:
    assert_missing_variable(PrintfulOptions, {}, {"OTHER": "x"}, "token_env", "PRINTFUL_TOKEN")


def test_region_defaults_follow_the_api_version() -> None:
    v2 = PrintfulOptions.model_validate({}, context={"env": ENV})
    v1 = PrintfulOptions.model_validate({"api_version": 1}, context={"env": ENV})
    chosen = PrintfulOptions.model_validate({"region": " EU "}, context={"env": ENV})

    assert (v2.selling_region, v1.selling_region, chosen.selling_region) == ("usa", "US", "EU")
    assert v2.base_url == "https://api.printful.com"
    with pytest.raises(pydantic.ValidationError):
        PrintfulOptions.model_validate({"api_version": 3}, context={"env": ENV})


def test_registered_as_a_kind() -> None:
    assert adapter_class("printful") is PrintfulAdapter
