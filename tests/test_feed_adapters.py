"""CSV/JSON feed adapters and the fetch layer, against a real loopback server."""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest

from suppliers.base import (
    Availability,
    FeedInvalid,
    FeedRead,
    FeedUnavailable,
    ReadBounds,
    StockRecord,
    Validators,
)
from suppliers.csv_feed import CsvFeedAdapter, sniff_delimiter
from suppliers.feed_adapter import FeedAdapterBase
from suppliers.json_feed import JsonFeedAdapter
from suppliers.parsing import (
    parse_decimal,
    parse_price,
    parse_quantity,
    parse_restock_date,
)
from suppliers.registry import adapter_class
from tests.fakes.supplier_server import (
    FakeSupplierServer,
    Reply,
    disconnect,
    gzip_bomb,
    gzip_of,
    html_page,
    http_date,
    redirect,
    server_error,
    stall,
    too_many_requests,
    trickle,
    truncated,
)
from transport import FetchPolicy

SECRET = "s3cr3t-t0ken-value"
QUERY_SECRET = "qu3ry-s3cr3t"
FIXED_NOW = datetime(2031, 1, 1, 12, 0, 0, tzinfo=UTC)


# --- fixtures and helpers ---------------------------------------------------------------


@pytest.fixture
def supplier_server() -> Iterator[FakeSupplierServer]:
    with FakeSupplierServer() as server:
        yield server


class SleepRecorder:
    """Stands in for asyncio.sleep: remembers the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


def make_adapter(
    adapter_type: type[FeedAdapterBase],
    url: str,
    client: httpx.AsyncClient,
    *,
    sleeps: SleepRecorder | None = None,
    env: dict[str, str] | None = None,
    base_dir: Path | None = None,
    chunk_size: int = 64 * 1024,
    **options: Any,
) -> FeedAdapterBase:
    context = {"env": env or {}, "base_dir": base_dir}
    parsed = adapter_type.Options.model_validate({"url": url, **options}, context=context)
    policy = FetchPolicy(
        base_delay=0.01,
        sleep=sleeps or SleepRecorder(),
        jitter=lambda: 1.0,  # deterministic: always the full backoff step
        clock=lambda: FIXED_NOW,
        chunk_size=chunk_size,
    )
    return adapter_type("acme", parsed, client, env, policy=policy)


async def read_all(
    adapter: FeedAdapterBase,
    validators: Validators | None = None,
    batch_size: int = 5000,
    bounds: ReadBounds | None = None,
) -> tuple[list[StockRecord], FeedRead]:
    bounds = bounds or ReadBounds()
    async with adapter.open(validators, batch_size=batch_size, bounds=bounds) as read:
        records = [record async for batch in read.batches() for record in batch]
    return records, read


async def read_csv(
    server: FakeSupplierServer, client: httpx.AsyncClient, body: str | bytes, **options: Any
) -> tuple[list[StockRecord], FeedRead]:
    server.set_feed("/stock.csv", body.encode() if isinstance(body, str) else body)
    adapter = make_adapter(CsvFeedAdapter, server.url("/stock.csv"), client, **options)
    return await read_all(adapter)


def by_sku(records: list[StockRecord]) -> dict[str, StockRecord]:
    return {record.supplier_sku: record for record in records}


def quantities(records: list[StockRecord]) -> list[tuple[str, int | None]]:
    """(supplier SKU, quantity) of each record, in feed order."""
    return [(record.supplier_sku, record.quantity) for record in records]


def reasons(read: FeedRead) -> dict[int, str]:
    return {row.line: row.reason for row in read.stats.rejected}


# --- value parsing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12", 12),
        (" 12 ", 12),
        ("12.0", 12),
        ("12,0", 12),
        ("1,000", 1000),
        (">50", 50),
        ("50+", 50),
        ("", None),
        ("n/a", None),
        ("Unknown", None),
        (None, None),
        (7, 7),
        (Decimal("3.0"), 3),
    ],
)
def test_parse_quantity_accepts(raw: object, expected: int | None) -> None:
    assert parse_quantity(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("-3", "negative quantity"),
        ("<5", "upper limit"),
        ("lots", "not a number"),
        ("12.5", "not a whole number"),
        ("NaN", "not a number"),
        (True, "not a number"),
        ("99999999999", "implausibly large"),
    ],
)
def test_parse_quantity_rejects(raw: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_quantity(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12.50", Decimal("12.50")),
        ("12,5", Decimal("12.5")),
        ("1.234,50", Decimal("1234.50")),
        ("1,234.50", Decimal("1234.50")),
        ("€ 1.234,50", Decimal("1234.50")),
        ("$19.99", Decimal("19.99")),
        ("19,99 EUR", Decimal("19.99")),
        ("0,125", Decimal("0.125")),
        ("", None),
        (Decimal("9.90"), Decimal("9.90")),
    ],
)
def test_parse_price(raw: object, expected: Decimal | None) -> None:
    assert parse_price(raw) == expected


@pytest.mark.parametrize("raw", ["cheap", "-5", "1.2.3", "12abc34"])
def test_parse_price_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match="price"):
        parse_price(raw)


def test_parse_decimal_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a number"):
        parse_decimal("1,2,3")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-12-01", date(2026, 12, 1)),
        ("2026-12-01T00:00:00Z", date(2026, 12, 1)),
        ("2026-12-01 18:30:00+02:00", date(2026, 12, 1)),
        ("", None),
        ("TBA", None),
    ],
)
def test_parse_restock_date(raw: str, expected: date | None) -> None:
    assert parse_restock_date(raw) == expected


def test_parse_restock_date_refuses_ambiguous_day_month() -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_restock_date("01/12/2026")


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [("sku,qty", ","), ("sku;qty;price", ";"), ("sku\tqty", "\t"), ("sku|qty", "|"), ("sku", ",")],
)
def test_sniff_delimiter(header: str, delimiter: str) -> None:
    assert sniff_delimiter(header + "\n") == delimiter


def test_sniff_delimiter_ignores_quoted_text() -> None:
    assert sniff_delimiter('"a;b;c;d",qty,price\n') == ","


# --- CSV parsing over HTTP --------------------------------------------------------------


async def test_header_aliases_are_matched_loosely(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = "Product Code,AvailableQuantity,wholesale-price,ETA\nA-1,5,9.90,2026-12-01\nB-2,0,,\n"
    records, read = await read_csv(supplier_server, client, body)
    assert records == [
        StockRecord("A-1", 5, Decimal("9.90"), date(2026, 12, 1), Availability.IN_STOCK),
        StockRecord("B-2", 0, None, None, Availability.OUT_OF_STOCK),
    ]
    assert read.stats.rows_read == 2
    assert read.stats.rejected_count == 0


async def test_mapping_overrides_aliases(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    # "stock" would match the quantity alias; the mapping says to use "Bestand".
    body = "Artikel,stock,Bestand\nA-1,99,3\n"
    records, _ = await read_csv(
        supplier_server, client, body, mapping={"sku": "Artikel", "quantity": "bestand"}
    )
    assert quantities(records) == [("A-1", 3)]


async def test_semicolon_delimiter_bom_and_decimal_commas(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = "\ufeffSKU;Stock;Price\nA-1;12,0;12,5\nB-2;3;1.234,50\n".encode()
    records, _ = await read_csv(supplier_server, client, body)
    assert by_sku(records)["A-1"].quantity == 12
    assert by_sku(records)["A-1"].price == Decimal("12.5")
    assert by_sku(records)["B-2"].price == Decimal("1234.50")


async def test_latin1_encoding_option(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = "sku;qty;name\nCAFÉ-1;4;Crème\n".encode("latin-1")
    records, _ = await read_csv(supplier_server, client, body, encoding="latin-1")
    assert by_sku(records)["CAFÉ-1"].quantity == 4


async def test_empty_quantity_is_unknown_not_zero(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = "sku,qty\nEMPTY,\nNA,n/a\nZERO,0\n"
    records, read = await read_csv(supplier_server, client, body)
    found = by_sku(records)
    assert found["EMPTY"].quantity is None
    assert found["EMPTY"].availability is Availability.UNKNOWN
    assert found["NA"].quantity is None
    assert found["ZERO"].quantity == 0
    assert found["ZERO"].availability is Availability.OUT_OF_STOCK
    assert read.stats.rejected_count == 0


async def test_bad_rows_are_set_aside_and_the_rest_parsed(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = (
        "sku,qty,price\n"
        "GOOD-1,5,1.00\n"
        "NEG,-3,1.00\n"
        "GARBAGE,lots,1.00\n"
        ",4,1.00\n"
        "LOW,<5,1.00\n"
        "MANY,>50,1.00\n"
        "BADPRICE,2,cheap\n"
        "GOOD-2,7,2.00\n"
    )
    records, read = await read_csv(supplier_server, client, body)
    assert quantities(records) == [
        ("GOOD-1", 5),
        ("MANY", 50),
        ("GOOD-2", 7),
    ]
    assert read.stats.rows_read == 8
    assert read.stats.rejected_count == 5
    rejected = reasons(read)
    assert "negative quantity" in rejected[3]
    assert 'quantity "lots" is not a number' in rejected[4]
    assert rejected[5] == "empty SKU"
    assert "upper limit" in rejected[6]
    assert 'price "cheap" is not a number' in rejected[8]
    # Rejected rows still name their SKU so they are not mistaken for vanished ones.
    assert read.stats.rejected_skus == {"NEG", "GARBAGE", "LOW", "BADPRICE"}


async def test_duplicate_skus_keep_the_first_row(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = "sku,qty\n A-1 ,5\nB-2,1\nA-1,9\n"
    records, read = await read_csv(supplier_server, client, body)
    assert by_sku(records)["A-1"].quantity == 5
    assert len(records) == 2
    assert reasons(read) == {4: 'duplicate SKU "A-1" (first seen on line 2)'}


async def test_quoted_newlines_across_chunk_boundaries(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    # Tiny chunks make the quoted field span several reads; line numbers stay physical.
    body = 'sku,name,qty\nA-1,"two\nline, ""quoted"" name",4\nB-2,plain,x\nC-3,"3\n4\n5",6\n'
    supplier_server.set_feed("/stock.csv", body.encode())
    adapter = make_adapter(CsvFeedAdapter, supplier_server.url("/stock.csv"), client, chunk_size=5)
    records, read = await read_all(adapter)
    assert quantities(records) == [("A-1", 4), ("C-3", 6)]
    assert list(reasons(read)) == [4]  # B-2 starts on physical line 4


async def test_truncated_last_line_is_rejected(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = "sku,qty,price\nA-1,5,1.00\nB-2,7,2.00\nC-3,1"
    records, read = await read_csv(supplier_server, client, body)
    assert [r.supplier_sku for r in records] == ["A-1", "B-2"]
    assert "has 2 fields but the header has 3" in reasons(read)[4]
    assert read.stats.rejected_skus == {"C-3"}


async def test_unterminated_quote_at_end_is_rejected(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = 'sku,qty,note\nA-1,5,ok\nB-2,7,"cut'
    records, read = await read_csv(supplier_server, client, body)
    assert [r.supplier_sku for r in records] == ["A-1"]
    assert "unreadable CSV" in reasons(read)[3]


async def test_missing_quantity_column_names_what_was_found(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    with pytest.raises(FeedInvalid) as caught:
        await read_csv(supplier_server, client, "sku,Bestand,Preis\nA,1,2\n")
    message = str(caught.value)
    assert "has no quantity column" in message
    assert "looked for qty, quantity, stock, AvailableQuantity, QOH, inventory" in message
    assert 'found "sku, Bestand, Preis"' in message


async def test_empty_feed_is_invalid(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    with pytest.raises(FeedInvalid, match="is empty"):
        await read_csv(supplier_server, client, b"")


async def test_batches_respect_batch_size(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = "sku,qty\n" + "".join(f"S{i},{i}\n" for i in range(25))
    supplier_server.set_feed("/stock.csv", body.encode())
    adapter = make_adapter(CsvFeedAdapter, supplier_server.url("/stock.csv"), client)
    async with adapter.open(batch_size=10) as read:
        sizes = [len(batch) async for batch in read.batches()]
    assert sizes == [10, 10, 5]


async def test_large_streamed_feed(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    rows = 100_000
    body = "sku;qty;price\n" + "".join(f"SKU-{i};{i % 50};{i % 97},99\n" for i in range(rows))
    supplier_server.set_feed("/big.csv", body.encode(), chunked=True)
    adapter = make_adapter(CsvFeedAdapter, supplier_server.url("/big.csv"), client)
    count = total = 0
    async with adapter.open(batch_size=5000) as read:
        async for batch in read.batches():
            assert len(batch) <= 5000
            count += len(batch)
            total += sum(record.quantity or 0 for record in batch)
    assert count == rows
    assert total == sum(i % 50 for i in range(rows))
    assert read.stats.rows_read == rows
    assert read.stats.rejected_count == 0


async def test_abandoning_a_read_halfway_closes_cleanly(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = "sku,qty\n" + "".join(f"S{i},1\n" for i in range(50_000))
    supplier_server.set_feed("/stock.csv", body.encode())
    adapter = make_adapter(CsvFeedAdapter, supplier_server.url("/stock.csv"), client)
    async with adapter.open(batch_size=100) as read:
        batches = read.batches()
        first = await anext(batches)
        with pytest.raises(RuntimeError, match="only be iterated once"):
            read.batches()
    assert len(first) == 100
    records, _ = await read_all(adapter)  # the shared client still works
    assert len(records) == 50_000


# --- fetching: caching, retries, errors ---------------------------------------------------


async def test_second_poll_with_validators_is_not_modified(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    feed = supplier_server.set_feed("/stock.csv", b"sku,qty\nA,1\n")
    adapter = make_adapter(CsvFeedAdapter, supplier_server.url("/stock.csv"), client)
    records, first = await read_all(adapter)
    assert len(records) == 1
    assert first.validators == Validators(feed.etag, feed.last_modified)

    records, second = await read_all(adapter, first.validators)
    assert second.not_modified is True
    assert records == []
    sent = supplier_server.requests_for("/stock.csv")[-1].headers
    assert sent["if-none-match"] == feed.etag
    assert sent["if-modified-since"] == feed.last_modified
    assert second.validators == first.validators


async def test_if_modified_since_alone_gives_not_modified(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    feed = supplier_server.set_feed("/stock.csv", b"sku,qty\nA,1\n")
    adapter = make_adapter(CsvFeedAdapter, supplier_server.url("/stock.csv"), client)
    _, read = await read_all(adapter, Validators(last_modified=feed.last_modified))
    assert read.not_modified is True


async def test_changed_feed_is_read_again_with_new_validators(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    supplier_server.set_feed("/stock.csv", b"sku,qty\nA,1\n")
    adapter = make_adapter(CsvFeedAdapter, supplier_server.url("/stock.csv"), client)
    _, first = await read_all(adapter)
    new = supplier_server.set_feed(
        "/stock.csv", b"sku,qty\nA,2\n", last_modified=FIXED_NOW + timedelta(days=1)
    )
    records, second = await read_all(adapter, first.validators)
    assert second.not_modified is False
    assert records[0].quantity == 2
    assert second.validators.etag == new.etag


async def test_429_retry_after_seconds_is_honoured(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    supplier_server.set_feed("/stock.csv", b"sku,qty\nA,1\n")
    supplier_server.script("/stock.csv", too_many_requests("7"))
    url = supplier_server.url("/stock.csv")
    records, _ = await read_all(make_adapter(CsvFeedAdapter, url, client, sleeps=sleeps))
    assert len(records) == 1
    assert sleeps.waits == [7.0]
    assert len(supplier_server.requests_for("/stock.csv")) == 2


async def test_429_retry_after_http_date_is_honoured(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    supplier_server.set_feed("/stock.csv", b"sku,qty\nA,1\n")
    later = http_date(FIXED_NOW + timedelta(seconds=42))
    supplier_server.script("/stock.csv", too_many_requests(later))
    url = supplier_server.url("/stock.csv")
    records, _ = await read_all(make_adapter(CsvFeedAdapter, url, client, sleeps=sleeps))
    assert len(records) == 1
    assert sleeps.waits == [42.0]


async def test_429_asking_for_too_long_a_wait_gives_up(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    supplier_server.set_feed("/stock.csv", b"sku,qty\nA,1\n")
    supplier_server.script("/stock.csv", too_many_requests("3600"))
    url = supplier_server.url("/stock.csv")
    with pytest.raises(FeedUnavailable) as caught:
        await read_all(make_adapter(CsvFeedAdapter, url, client, sleeps=sleeps))
    assert str(caught.value) == (
        f"Supplier feed at {url} answered 429 Too Many Requests and asked us to wait "
        "60 minutes; will try again after 2031-01-01 13:00 UTC"
    )
    assert sleeps.waits == []
    assert len(supplier_server.requests_for("/stock.csv")) == 1


async def test_500_then_success_backs_off_once(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    supplier_server.set_feed("/stock.csv", b"sku,qty\nA,1\n")
    supplier_server.script("/stock.csv", server_error(500), disconnect())
    url = supplier_server.url("/stock.csv")
    records, _ = await read_all(make_adapter(CsvFeedAdapter, url, client, sleeps=sleeps))
    assert [r.supplier_sku for r in records] == ["A"]
    assert sleeps.waits == [0.01, 0.02]  # exponential: base, then double


async def test_persistent_503_is_unavailable_with_a_readable_message(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    supplier_server.set_feed("/stock.csv", b"sku,qty\nA,1\n")
    supplier_server.script("/stock.csv", *[server_error(503)] * 4)
    url = supplier_server.url("/stock.csv")
    with pytest.raises(FeedUnavailable) as caught:
        await read_all(make_adapter(CsvFeedAdapter, url, client, sleeps=sleeps))
    assert str(caught.value) == (
        f"Supplier feed at {url} answered 503 Service Unavailable 4 times; will try again next poll"
    )
    assert sleeps.waits == [0.01, 0.02, 0.04]


async def test_timeouts_are_retried_then_unavailable(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    supplier_server.set_feed("/stock.csv", b"sku,qty\nA,1\n")
    supplier_server.script("/stock.csv", stall(2), stall(2))
    url = supplier_server.url("/stock.csv")
    adapter = make_adapter(CsvFeedAdapter, url, client, sleeps=sleeps, timeout=0.2, max_attempts=2)
    with pytest.raises(FeedUnavailable) as caught:
        await read_all(adapter)
    assert str(caught.value) == (
        f"Supplier feed at {url} did not answer within 0.2 seconds 2 times; "
        "will try again next poll"
    )
    assert len(sleeps.waits) == 1


async def test_timeout_then_success(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    supplier_server.set_feed("/stock.csv", b"sku,qty\nA,1\n")
    supplier_server.script("/stock.csv", stall(2))
    url = supplier_server.url("/stock.csv")
    adapter = make_adapter(CsvFeedAdapter, url, client, sleeps=sleeps, timeout=0.2)
    records, _ = await read_all(adapter)
    assert len(records) == 1
    assert sleeps.waits == [0.01]


async def test_unreachable_server_is_unavailable(client: httpx.AsyncClient) -> None:
    with FakeSupplierServer() as server:  # started and stopped: nothing listens there now
        url = server.url("/stock.csv")
    adapter = make_adapter(CsvFeedAdapter, url, client, max_attempts=2)
    with pytest.raises(FeedUnavailable, match=r"could not be reached .* 2 times"):
        await read_all(adapter)


@pytest.mark.parametrize("chunked", [False, True])
async def test_truncated_body_is_invalid_not_partial(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient, chunked: bool
) -> None:
    body = "sku,qty\n" + "".join(f"S{i},1\n" for i in range(20_000))
    supplier_server.set_feed("/stock.csv", body.encode(), chunked=chunked)
    supplier_server.script("/stock.csv", truncated())
    adapter = make_adapter(CsvFeedAdapter, supplier_server.url("/stock.csv"), client)
    with pytest.raises(FeedInvalid, match="was cut off before the end"):
        await read_all(adapter)


@pytest.mark.parametrize(
    "reply",
    [html_page(), html_page(content_type="text/plain")],
    ids=["html-content-type", "html-body"],
)
async def test_web_page_instead_of_feed_is_invalid(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient, reply: Reply
) -> None:
    supplier_server.set_feed("/stock.csv", b"sku,qty\nA,1\n")
    supplier_server.script("/stock.csv", reply)
    adapter = make_adapter(CsvFeedAdapter, supplier_server.url("/stock.csv"), client)
    with pytest.raises(FeedInvalid, match="answered with a web page instead of a stock feed"):
        await read_all(adapter)


async def test_not_found_says_to_check_the_url(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    adapter = make_adapter(CsvFeedAdapter, supplier_server.url("/nope.csv"), client, sleeps=sleeps)
    with pytest.raises(FeedInvalid, match="answered 404 Not Found - check the URL"):
        await read_all(adapter)
    assert sleeps.waits == []


async def test_gzip_content_encoding(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    supplier_server.set_feed("/stock.csv", b"sku,qty\nA,1\nB,2\n", content_encoding="gzip")
    adapter = make_adapter(CsvFeedAdapter, supplier_server.url("/stock.csv"), client)
    records, _ = await read_all(adapter)
    assert quantities(records) == [("A", 1), ("B", 2)]
    assert supplier_server.requests_for("/stock.csv")[0].headers["accept-encoding"]


async def test_gzip_file(supplier_server: FakeSupplierServer, client: httpx.AsyncClient) -> None:
    # Two gzip members back to back, as `cat a.gz b.gz` produces.
    body = gzip.compress(b"sku,qty\nA,1\n") + gzip.compress(b"B,2\n")
    supplier_server.set_feed("/stock.csv.gz", body, content_type="application/gzip")
    adapter = make_adapter(CsvFeedAdapter, supplier_server.url("/stock.csv.gz"), client)
    records, _ = await read_all(adapter)
    assert quantities(records) == [("A", 1), ("B", 2)]


async def test_truncated_gzip_file_is_invalid(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = gzip.compress(b"sku,qty\n" + b"A,1\n" * 1000)
    supplier_server.set_feed("/stock.csv.gz", body[:-20], content_type="application/gzip")
    adapter = make_adapter(CsvFeedAdapter, supplier_server.url("/stock.csv.gz"), client)
    with pytest.raises(FeedInvalid, match="cut off"):
        await read_all(adapter)


# --- local files --------------------------------------------------------------------------


async def test_local_file_relative_to_base_dir(tmp_path: Path, client: httpx.AsyncClient) -> None:
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "stock.csv").write_text("sku|qty\nA|3\n")
    adapter = make_adapter(CsvFeedAdapter, "feeds/stock.csv", client, base_dir=tmp_path)
    assert adapter.options.url == str(tmp_path / "feeds" / "stock.csv")
    records, first = await read_all(adapter)
    assert quantities(records) == [("A", 3)]

    records, second = await read_all(adapter, first.validators)
    assert second.not_modified is True
    assert records == []


async def test_local_gzip_file_by_file_url(tmp_path: Path, client: httpx.AsyncClient) -> None:
    path = tmp_path / "stock.csv.gz"
    path.write_bytes(gzip.compress(b"sku,qty\nA,8\n"))
    records, _ = await read_all(make_adapter(CsvFeedAdapter, path.as_uri(), client))
    assert records[0].quantity == 8


async def test_just_written_local_file_is_always_read_again(
    tmp_path: Path, client: httpx.AsyncClient
) -> None:
    # Rewritten within one clock tick at the same size, a file looks unchanged
    # by mtime and size, so fresh files get no validators at all.
    path = tmp_path / "stock.csv"
    path.write_text("sku,qty\nA,5\n")
    parsed = CsvFeedAdapter.Options.model_validate({"url": str(path)})
    adapter = CsvFeedAdapter("acme", parsed, client)  # real clock
    _, first = await read_all(adapter)
    assert first.validators == Validators()
    path.write_text("sku,qty\nA,0\n")
    records, second = await read_all(adapter, first.validators)
    assert second.not_modified is False
    assert records[0].quantity == 0


async def test_missing_local_file_is_unavailable(tmp_path: Path, client: httpx.AsyncClient) -> None:
    adapter = make_adapter(CsvFeedAdapter, "absent.csv", client, base_dir=tmp_path)
    with pytest.raises(FeedUnavailable, match=r"absent\.csv does not exist"):
        await read_all(adapter)


def test_unsupported_scheme_fails_validation() -> None:
    with pytest.raises(pydantic.ValidationError, match="ftp:// feeds are not supported"):
        CsvFeedAdapter.Options.model_validate({"url": "ftp://example.com/stock.csv"})


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "../../../../../../etc/passwd", "/etc/passwd", "~/stock.csv"]
)
def test_local_feeds_must_stay_in_the_feeds_folder(tmp_path: Path, url: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        CsvFeedAdapter.Options.model_validate({"url": url}, context={"base_dir": tmp_path})
    (error,) = caught.value.errors()
    assert error["loc"] == ("url",)
    assert f"outside the feeds folder {tmp_path}" in error["msg"]


def test_feeds_dir_narrows_where_local_feeds_may_be(tmp_path: Path) -> None:
    context = {"base_dir": tmp_path, "feeds_dir": tmp_path / "feeds"}
    parsed = CsvFeedAdapter.Options.model_validate({"url": "feeds/a.csv"}, context=context)
    assert parsed.url == str(tmp_path / "feeds" / "a.csv")
    with pytest.raises(pydantic.ValidationError, match="outside the feeds folder"):
        CsvFeedAdapter.Options.model_validate({"url": "a.csv"}, context=context)


def test_a_symlink_out_of_the_feeds_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "stock.csv").symlink_to("/etc/passwd")
    with pytest.raises(pydantic.ValidationError, match="outside the feeds folder"):
        CsvFeedAdapter.Options.model_validate({"url": "stock.csv"}, context={"base_dir": tmp_path})


async def test_a_feed_swapped_for_a_symlink_later_is_not_read(
    tmp_path: Path, client: httpx.AsyncClient
) -> None:
    path = tmp_path / "stock.csv"
    path.write_text("sku,qty\nA,1\n")
    adapter = make_adapter(CsvFeedAdapter, "stock.csv", client, base_dir=tmp_path)
    path.unlink()
    path.symlink_to("/etc/passwd")
    with pytest.raises(FeedInvalid, match="outside the feeds folder"):
        await read_all(adapter)


async def test_errors_quote_only_a_short_excerpt_of_the_feed(
    tmp_path: Path, client: httpx.AsyncClient
) -> None:
    (tmp_path / "passwd").write_text(
        "root\x1b[31m:x:0:0:root:/root:/bin/bash:" + "y" * 200 + "\ndaemon:x:1:1\n"
    )
    adapter = make_adapter(CsvFeedAdapter, "passwd", client, base_dir=tmp_path)
    with pytest.raises(FeedInvalid) as caught:
        await read_all(adapter)
    message = str(caught.value)
    found = message.split("; found ")[1].split(". If it has")[0]
    assert found.startswith('"root\\x1b[31m:x:0:0:')  # control characters shown, not sent
    assert len(found) <= 60
    assert "\x1b" not in message


# --- headers and secrets -------------------------------------------------------------------


async def test_headers_env_sends_the_secret_header(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    supplier_server.set_feed("/stock.csv", b"sku,qty\nA,1\n")
    adapter = make_adapter(
        CsvFeedAdapter,
        supplier_server.url("/stock.csv"),
        client,
        env={"ACME_TOKEN": SECRET},
        headers={"X-Shop": "demo"},
        headers_env={"Authorization": "ACME_TOKEN"},
    )
    await read_all(adapter)
    sent = supplier_server.requests_for("/stock.csv")[0].headers
    assert sent["authorization"] == SECRET
    assert sent["x-shop"] == "demo"
    assert SECRET not in repr(adapter.options)
    assert SECRET not in str(adapter.describe())


def test_missing_env_var_fails_validation_naming_the_key() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        CsvFeedAdapter.Options.model_validate(
            {"url": "https://example.com/s.csv", "headers_env": {"Authorization": "ACME_TOKEN"}},
            context={"env": {"OTHER": "x"}},
        )
    (error,) = caught.value.errors()
    assert error["loc"] == ("headers_env", "Authorization")
    assert "environment variable ACME_TOKEN is not set" in error["msg"]


@pytest.mark.parametrize(
    ("reply", "error", "retry_logs"),
    [(Reply(401, {}, b"denied"), FeedInvalid, 0), (server_error(503), FeedUnavailable, 3)],
)
async def test_secrets_never_appear_in_errors_or_logs(
    supplier_server: FakeSupplierServer,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    reply: Reply,
    error: type[Exception],
    retry_logs: int,
) -> None:
    supplier_server.script("/stock.csv", *[reply] * 4)
    url = supplier_server.url("/stock.csv") + f"?key={QUERY_SECRET}"
    adapter = make_adapter(
        CsvFeedAdapter,
        url,
        client,
        env={"ACME_TOKEN": SECRET},
        headers_env={"X-Api-Key": "ACME_TOKEN"},
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(error) as caught:
        await read_all(adapter)
    assert supplier_server.requests_for("/stock.csv")[0].headers["x-api-key"] == SECRET
    assert supplier_server.url("/stock.csv") in str(caught.value)
    assert SECRET not in str(caught.value)
    assert QUERY_SECRET not in str(caught.value)
    assert SECRET not in caplog.text  # all loggers, httpx and httpcore included
    # httpx itself logs full URLs at INFO; our own log lines drop the query.
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("suppliers")]
    assert len(ours) == retry_logs
    assert not [line for line in ours if QUERY_SECRET in line]


async def test_env_var_missing_at_poll_time_is_reported(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    parsed = CsvFeedAdapter.Options.model_validate(
        {"url": supplier_server.url("/s.csv"), "headers_env": {"Authorization": "ACME_TOKEN"}}
    )
    adapter = CsvFeedAdapter("acme", parsed, client, env={})
    with pytest.raises(FeedInvalid, match=r"environment variable ACME_TOKEN .* is not set"):
        await read_all(adapter)
    assert supplier_server.requests == []


# --- JSON -------------------------------------------------------------------------------


async def read_json(
    server: FakeSupplierServer, client: httpx.AsyncClient, body: str | bytes, **options: Any
) -> tuple[list[StockRecord], FeedRead]:
    server.set_feed("/stock.json", body.encode() if isinstance(body, str) else body, "text/json")
    adapter = make_adapter(JsonFeedAdapter, server.url("/stock.json"), client, **options)
    return await read_all(adapter)


async def test_json_nested_records_path(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = """{"meta": {"count": 3}, "data": {"products": [
        {"SKU": "A-1", "AvailableQuantity": 5, "wholesalePrice": 12.5, "eta": null},
        {"SKU": "B-2", "AvailableQuantity": null, "price": "9,90"},
        {"SKU": 1234, "qty": "0", "restock_date": "2026-12-01T00:00:00Z"}
    ]}}"""
    records, read = await read_json(supplier_server, client, body, records_path="data.products")
    assert records == [
        StockRecord("A-1", 5, Decimal("12.5"), None, Availability.IN_STOCK),
        StockRecord("B-2", None, Decimal("9.90"), None, Availability.UNKNOWN),
        StockRecord("1234", 0, None, date(2026, 12, 1), Availability.OUT_OF_STOCK),
    ]
    assert isinstance(records[0].price, Decimal)
    assert read.stats.rows_read == 3


async def test_json_bad_items_are_rejected_by_index(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = (
        '[{"sku": "A", "qty": 1}, "oops", {"sku": "B", "qty": -3}, {"qty": 4},'
        ' {"sku": "A", "qty": 2}, {"sku": "C", "qty": 2.5}, {"sku": "D", "qty": 6}]'
    )
    records, read = await read_json(supplier_server, client, body)
    assert quantities(records) == [("A", 1), ("D", 6)]
    assert reasons(read) == {
        2: "item is text, not an object",
        3: 'SKU "B": negative quantity "-3"',
        4: "no SKU",
        5: 'duplicate SKU "A" (first seen on item 1)',
        6: 'SKU "C": quantity "2.5" is not a whole number',
    }


async def test_json_mapping_with_nested_path(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = '[{"id": "A", "stock": {"available": 4, "reserved": 1}}]'
    records, _ = await read_json(
        supplier_server, client, body, mapping={"sku": "id", "quantity": "stock.available"}
    )
    assert quantities(records) == [("A", 4)]


@pytest.mark.parametrize(
    "body", ['[{"sku": "A", "qty": 1}, {"sku": "B", "q', "not json at all", ""]
)
async def test_json_garbage_or_truncated_is_invalid(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient, body: str
) -> None:
    with pytest.raises(FeedInvalid, match="is not valid JSON or was cut off"):
        await read_json(supplier_server, client, body)


async def test_json_wrong_records_path_is_invalid_not_empty(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = '{"data": {"items": [{"sku": "A", "qty": 1}]}, "meta": {}}'
    with pytest.raises(FeedInvalid) as caught:
        await read_json(supplier_server, client, body, records_path="data.products")
    assert 'no list of products at "data.products" (top-level keys: "data, meta")' in str(
        caught.value
    )


async def test_json_object_without_a_list_of_products_needs_records_path(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    with pytest.raises(FeedInvalid, match=r"no list of products .* set records_path"):
        await read_json(supplier_server, client, '{"products": [], "count": 0}')


@pytest.mark.parametrize(
    "body",
    [
        '{"meta": {"count": 2, "tags": ["new"]}, "products": [{"sku": "A", "qty": 1,'
        ' "warehouses": [{"id": 1, "qty": 1}]}, {"sku": "B", "qty": 0}], "next": null}',
        '{"data": {"page": 1, "items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 0}]}}',
        '{"item": {"note": "a key named item"},'
        ' "list": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 0}]}',
    ],
)
async def test_json_finds_the_one_list_of_products_inside_an_object(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient, body: str
) -> None:
    records, read = await read_json(supplier_server, client, body)
    assert quantities(records) == [("A", 1), ("B", 0)]
    assert read.stats.rejected_count == 0


async def test_json_with_two_lists_of_products_names_both_and_the_setting(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = '{"products": [{"sku": "A", "qty": 1}], "meta": {"archived": [{"sku": "Z", "qty": 0}]}}'
    with pytest.raises(FeedInvalid) as caught:
        await read_json(supplier_server, client, body)
    message = str(caught.value)
    assert '"products"' in message and '"meta.archived"' in message
    assert "records_path" in message


async def test_json_without_any_quantity_key_is_invalid(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    with pytest.raises(FeedInvalid, match=r'has no quantity key: .* found "sku, Menge"'):
        await read_json(supplier_server, client, '[{"sku": "A", "Menge": 1}]')


async def test_json_large_gzipped_feed(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    items = ",".join(f'{{"sku":"S{i}","qty":{i % 7 + 1},"price":"{i}.50"}}' for i in range(20_000))
    body = gzip.compress(f'{{"products":[{items}]}}'.encode())
    supplier_server.set_feed("/stock.json.gz", body, content_type="application/x-gzip")
    url = supplier_server.url("/stock.json.gz")
    adapter = make_adapter(JsonFeedAdapter, url, client, records_path="products")
    records, read = await read_all(adapter, batch_size=1000)
    assert len(records) == 20_000
    assert records[-1] == StockRecord(
        "S19999", 19999 % 7 + 1, Decimal("19999.50"), None, Availability.IN_STOCK
    )
    assert read.stats.rejected_count == 0


# --- bounds: size, lines, rows, time, and the event loop ------------------------------------


@pytest.mark.parametrize(
    ("fill", "reason"),
    [(b"\0", "has a line longer than 1 MB"), (b"\n", "has more than 1,000,000 rows")],
)
async def test_gzip_bomb_is_refused_early(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient, fill: bytes, reason: str
) -> None:
    # About 1 MB on the wire, 1 GiB inflated: one endless line, or only blank lines.
    supplier_server.set_feed("/stock.csv.gz", gzip_bomb(1 << 30, fill), "application/gzip")
    adapter = make_adapter(CsvFeedAdapter, supplier_server.url("/stock.csv.gz"), client)
    with pytest.raises(FeedInvalid, match=reason):
        await read_all(adapter)


@pytest.mark.parametrize("encoding", ["content-encoding", "gzip file"])
async def test_feed_inflating_past_the_size_limit_is_refused(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient, encoding: str
) -> None:
    # 2.25 MB of one ordinary row repeated, gzipped to a few KB.
    body = gzip_of(b"A-1000,17,9.99\n", 150_000, head=b"sku,qty,price\n")
    if encoding == "gzip file":
        supplier_server.set_feed("/stock.csv", body, "application/gzip")
    else:
        supplier_server.set_feed("/stock.csv", body, content_encoding="gzip", encoded=True)
    adapter = make_adapter(CsvFeedAdapter, supplier_server.url("/stock.csv"), client, max_feed_mb=1)
    with pytest.raises(FeedInvalid, match="inflates past 1 MB"):
        await read_all(adapter)


async def test_feed_larger_than_the_size_limit_is_refused(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = b"sku,qty\n" + b"".join(b"S%07d,1\n" % i for i in range(200_000))  # 2 MB
    with pytest.raises(FeedInvalid, match="is larger than 1 MB"):
        await read_csv(supplier_server, client, body, max_feed_mb=1)


async def test_rows_past_the_row_limit_are_refused(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = "sku,qty\n" + "".join(f"S{i},1\n" for i in range(30))
    with pytest.raises(FeedInvalid, match="has more than 20 rows"):
        await read_csv(supplier_server, client, body, max_rows=20)
    body = "[" + ",".join(f'{{"sku": "S{i}", "qty": 1}}' for i in range(30)) + "]"
    with pytest.raises(FeedInvalid, match="has more than 20 rows"):
        await read_json(supplier_server, client, body, max_rows=20)


async def test_line_limit_is_a_setting(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = "sku,qty,note\nA,1," + "x" * 3000 + "\nB,2,short\n"
    with pytest.raises(FeedInvalid, match="has a line longer than 2 KB"):
        await read_csv(supplier_server, client, body, max_line_kb=2)
    records, _ = await read_csv(supplier_server, client, body, max_line_kb=4)
    assert [r.supplier_sku for r in records] == ["A", "B"]


async def test_the_event_loop_keeps_turning_while_a_big_feed_is_parsed(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    # 2 MB of one duplicate row from 2 KB on the wire: all set aside, so not even a
    # database write would hand control back to the loop.
    body = gzip_of(b"A,1\n", 500_000, head=b"sku,qty\n")
    supplier_server.set_feed("/stock.csv", body, content_encoding="gzip", encoded=True)
    url = supplier_server.url("/stock.csv")
    adapter = make_adapter(CsvFeedAdapter, url, client, chunk_size=16 * 1024)
    done = asyncio.Event()
    most_rows_between_turns = 0

    async def watch(read: FeedRead) -> None:
        """Another task: how many rows were parsed between two of its turns?"""
        nonlocal most_rows_between_turns
        seen = 0  # nothing was parsed when this task was created
        while True:
            rows = read.stats.rows_read
            most_rows_between_turns = max(most_rows_between_turns, rows - seen)
            seen = rows
            if done.is_set():
                return
            await asyncio.sleep(0)

    async with adapter.open() as read:
        watcher = asyncio.create_task(watch(read))
        try:
            async for _ in read.batches():
                pass
        finally:
            done.set()
            await watcher
    assert read.stats.rejected_count == 500_000 - 1
    # A turn for others every 16 KiB chunk (4,096 rows), not once for the whole feed.
    assert most_rows_between_turns <= 5_000


async def test_a_trickling_feed_is_stopped_at_the_time_limit(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    # A byte every 0.2 s never trips the 5-second read timeout.
    supplier_server.set_feed("/stock.csv", b"sku,qty\n" + b"A,1\n" * 500)
    supplier_server.script("/stock.csv", trickle(0.2))
    adapter = make_adapter(CsvFeedAdapter, supplier_server.url("/stock.csv"), client, timeout=5)
    with pytest.raises(FeedInvalid) as caught:
        await read_all(adapter, bounds=ReadBounds(seconds=1))
    assert "took longer than 1 second" in str(caught.value)
    assert "poll_timeout" in str(caught.value)


# --- redirects ------------------------------------------------------------------------------


async def test_a_redirect_to_another_host_sends_no_credentials(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    with FakeSupplierServer() as other:
        other.set_feed("/moved.csv", b"sku,qty\nA,7\n")
        location = other.url("/moved.csv", host="localhost")
        supplier_server.script("/stock.csv", redirect(location))
        adapter = make_adapter(
            CsvFeedAdapter,
            supplier_server.url("/stock.csv"),
            client,
            env={"ACME_TOKEN": SECRET, "ACME_AUTH": f"Bearer {SECRET}"},
            headers={"X-Shop": "demo"},
            headers_env={"X-Api-Key": "ACME_TOKEN", "Authorization": "ACME_AUTH"},
        )
        records, _ = await read_all(adapter)
        moved = other.requests_for("/moved.csv")[0].headers
    assert quantities(records) == [("A", 7)]
    assert supplier_server.requests_for("/stock.csv")[0].headers["x-api-key"] == SECRET
    assert "x-api-key" not in moved
    assert "authorization" not in moved
    assert moved["x-shop"] == "demo"  # plain headers are not secrets


async def test_a_redirect_on_the_same_origin_keeps_the_credentials(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    supplier_server.set_feed("/stock.csv", b"sku,qty\nA,1\n")
    supplier_server.script("/old.csv", redirect("/stock.csv", 301))
    adapter = make_adapter(
        CsvFeedAdapter,
        supplier_server.url("/old.csv"),
        client,
        env={"ACME_TOKEN": SECRET},
        headers_env={"X-Api-Key": "ACME_TOKEN"},
    )
    records, _ = await read_all(adapter)
    assert len(records) == 1
    assert supplier_server.requests_for("/stock.csv")[0].headers["x-api-key"] == SECRET


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("file:///etc/passwd", "redirected to a file: address"),
        ("ftp://127.0.0.1/stock.csv", "redirected to a ftp: address"),
        ("http://169.254.169.254/latest/meta-data/", "link-local address 169.254.169.254"),
        ("http://[fe80::1]:8080/stock.csv", "link-local address fe80::1"),
    ],
)
async def test_redirects_off_the_web_are_refused(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient, location: str, reason: str
) -> None:
    supplier_server.script("/stock.csv", *[redirect(location)] * 4)
    adapter = make_adapter(CsvFeedAdapter, supplier_server.url("/stock.csv"), client, timeout=1)
    with pytest.raises(FeedInvalid) as caught:
        await read_all(adapter)
    assert reason in str(caught.value)
    assert len(supplier_server.requests_for("/stock.csv")) == 1  # refused, not retried


# --- unreadable SKUs ------------------------------------------------------------------------


async def test_a_garbled_sku_means_the_feed_cannot_prove_skus_missing(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = b"sku,qty\nA-1,5\nB-\xff2,3\nC-3,0\n"
    records, read = await read_csv(supplier_server, client, body)
    assert [r.supplier_sku for r in records] == ["A-1", "C-3"]
    assert read.complete is False
    assert read.incomplete_reason is not None
    assert "1 row's SKU could not be read" in read.incomplete_reason


async def test_rows_with_a_readable_sku_or_none_at_all_keep_the_feed_complete(
    supplier_server: FakeSupplierServer, client: httpx.AsyncClient
) -> None:
    body = "sku,qty\nA-1,5\nB-2,-3\n,4\nC-3,0\n"
    _, read = await read_csv(supplier_server, client, body)
    assert read.stats.rejected_count == 2
    assert read.complete is True
    assert read.incomplete_reason is None


# --- registry and description -------------------------------------------------------------


def test_registry_knows_both_feed_kinds() -> None:
    assert adapter_class("csv_feed") is CsvFeedAdapter
    assert adapter_class("json_feed") is JsonFeedAdapter


async def test_describe_hides_query_and_credentials(client: httpx.AsyncClient) -> None:
    adapter = make_adapter(CsvFeedAdapter, f"https://user:{SECRET}@x.example/s.csv?k=1", client)
    assert adapter.describe() == {"kind": "csv_feed", "source": "https://x.example/s.csv"}
