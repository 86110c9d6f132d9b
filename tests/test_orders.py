"""Orders from a CSV file: validated whole, updated in place, closed; and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.catalog import CsvImportError
from bot.core.orders import (
    OrderImportReport,
    OrderNotFound,
    close_order,
    import_orders,
)
from bot.db.models import OrderStatus
from tests.fakes.slack_api import FakeSlackAPI
from tests.helpers import (
    ALERT_CHANNEL_ID,
    BOT_TOKEN,
    CATALOG_HEADER,
    Stack,
    cli_workdir,
    run_cli,
)
from tests.probes import order_row_ids, order_rows

ORDERS_HEADER = "order_id,customer_name,customer_email,sku,quantity,ordered_at"
CATALOG = [
    CATALOG_HEADER,
    "MUG-1,Blue mug,Acme,A-MUG,1,1,4.00",
    "MUG-1,Blue mug,Beta,B-MUG,2,1,4.40",
    "CAP-2,Red cap,Acme,A-CAP,1,1,2.00",
]
ORDERS = [
    ORDERS_HEADER,
    "1001,Ada Lovelace,ada@example.com,MUG-1,2,2024-05-01T09:00:00Z",
    "1001,Ada Lovelace,ada@example.com,CAP-2,1,2024-05-01T09:00:00Z",
    "1002,Grace Hopper,grace@example.com,mug-1,3,2024-05-02",
]


def write_orders(directory: Path, rows: list[str], name: str = "orders.csv") -> Path:
    path = directory / name
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


async def import_orders_csv(stack: Stack, rows: list[str]) -> OrderImportReport:
    """Import as `stockbot orders import` does, then deliver the alerts it raised."""
    path = write_orders(stack.tmp_path, rows)
    async with stack.runtime.writes() as session, session.begin():
        report = await import_orders(
            session,
            path,
            channel=stack.settings.slack.alert_channel,
            group_over=stack.settings.rules.group_alerts_over,
        )
    await stack.deliver()
    return report


async def order_snapshot(stack: Stack) -> dict[str, tuple]:
    """Every order with its lines, for "nothing changed" comparisons (all come from CSV
    here, so without the source)."""
    return {external_id: row[1:] for external_id, row in (await order_rows(stack)).items()}


async def test_import_creates_orders_with_their_lines(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    report = await import_orders_csv(stack, ORDERS)
    assert (report.orders_created, report.orders_updated, report.orders_unchanged) == (2, 0, 0)
    assert report.lines == 3
    assert report.products_backordered == 0  # stock is not known yet: nothing is backordered
    snapshot = await order_snapshot(stack)
    assert snapshot == {
        "1001": (
            "Ada Lovelace",
            "ada@example.com",
            datetime(2024, 5, 1, 9, tzinfo=UTC),
            OrderStatus.OPEN,
            [("CAP-2", 1, 0), ("MUG-1", 2, 0)],
        ),
        # A date alone is midnight UTC; a SKU in another case still finds its product.
        "1002": (
            "Grace Hopper",
            "grace@example.com",
            datetime(2024, 5, 2, tzinfo=UTC),
            OrderStatus.OPEN,
            [("MUG-1", 3, 0)],
        ),
    }


async def test_reimport_is_idempotent_and_updates_in_place(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    await import_orders_csv(stack, ORDERS)
    before = await order_snapshot(stack)
    ids_before = await order_row_ids(stack)

    again = await import_orders_csv(stack, ORDERS)
    assert (again.orders_created, again.orders_updated, again.orders_unchanged) == (0, 0, 2)
    assert await order_snapshot(stack) == before

    changed = [
        ORDERS_HEADER,
        "1001,Ada King,ada@example.com,MUG-1,5,2024-05-01T09:00:00Z",  # CAP-2 line dropped
        "1002,Grace Hopper,grace@example.com,MUG-1,3,2024-05-02",
    ]
    report = await import_orders_csv(stack, changed)
    assert (report.orders_created, report.orders_updated, report.orders_unchanged) == (0, 1, 1)
    after = await order_snapshot(stack)
    assert after["1001"][0] == "Ada King"
    assert after["1001"][4] == [("MUG-1", 5, 0)]
    assert after["1002"] == before["1002"]
    assert await order_row_ids(stack) == ids_before  # the same rows (2 orders), updated


async def test_bad_file_is_rejected_whole_with_every_problem(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    await import_orders_csv(stack, ORDERS)
    before = await order_snapshot(stack)
    bad = [
        ORDERS_HEADER,
        "1003,Alan Turing,alan@example.com,MUG-1,1,2024-05-03",  # fine on its own
        "1003,Alan Turing,alan@example.com,MUG-11,1,2024-05-03",
        "1004,Joan Clarke,joan@example.com,CAP-2,two,2024-05-03",
        "1005,Mary Somerville,mary@example.com,CAP-2,0,2024-05-03",
        "1006,Ada Byron,ada@example.com,CAP-2,1,yesterday",
        "1003,Alan M. Turing,alan@example.com,CAP-2,1,2024-05-03",
        "1007,Hedy Lamarr,not-an-email,CAP-2,1,2024-05-03",
        "1003,Alan Turing,alan@example.com,mug-1,2,2024-05-03",
        ",Nobody,,CAP-2,1,2024-05-03",
        "1001,Ada Lovelace,ada@example.com,MUG-1,4,2024-05-01T09:00:00Z",  # would update
    ]
    path = write_orders(stack.tmp_path, bad)
    with pytest.raises(CsvImportError) as caught:
        async with stack.runtime.writes() as session, session.begin():
            await import_orders(session, path, channel=stack.settings.slack.alert_channel)
    problems = caught.value.problems
    assert problems == [
        "line 3: unknown SKU 'MUG-11'; did you mean MUG-1?",
        "line 4: quantity must be a whole number, got 'two'",
        "line 5: quantity must be at least 1, got 0",
        "line 6: ordered_at must be an ISO 8601 date or date and time "
        "(e.g. 2024-05-01 or 2024-05-01T14:30:00Z), got 'yesterday'",
        "line 7: order 1003 has a different customer_name than on line 2",
        "line 8: customer_email is not an email address: 'not-an-email'",
        "line 9: mug-1 is listed twice for order 1003 (first on line 2)",
        "line 10: empty order_id",
    ]
    assert "nothing was changed" in str(caught.value)
    assert await order_snapshot(stack) == before


async def test_file_without_rows_or_columns_is_refused(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    empty = write_orders(stack.tmp_path, [ORDERS_HEADER], "empty.csv")
    wrong = write_orders(stack.tmp_path, ["order_id,sku,quantity", "1,MUG-1,1"], "wrong.csv")
    async with stack.runtime.sessions() as session:
        with pytest.raises(CsvImportError, match="the file has no order rows"):
            await import_orders(session, empty, channel="#stock-alerts")
        with pytest.raises(CsvImportError, match=r"missing column.*customer_name"):
            await import_orders(session, wrong, channel="#stock-alerts")


async def test_close_marks_the_order_and_unknown_ids_are_explained(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    await import_orders_csv(stack, ORDERS)
    async with stack.runtime.writes() as session, session.begin():
        closed = await close_order(session, "1002", cancelled=True, channel="#stock-alerts")
        assert (closed.status, closed.changed) == (OrderStatus.CANCELLED, True)
        again = await close_order(session, "1002", cancelled=True, channel="#stock-alerts")
        assert again.changed is False
        with pytest.raises(OrderNotFound, match="No order with ID '9999'"):
            await close_order(session, "9999", channel="#stock-alerts")
    snapshot = await order_snapshot(stack)
    assert snapshot["1002"][3] == OrderStatus.CANCELLED
    assert snapshot["1001"][3] == OrderStatus.OPEN

    # A re-import never reopens a closed order.
    await import_orders_csv(stack, ORDERS)
    assert (await order_snapshot(stack))["1002"][3] == OrderStatus.CANCELLED


# -- the command line ---------------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str | None) -> Path:
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "acme.csv").write_text("sku,quantity\nA-MUG,3\nA-CAP,40\n")
    cli_workdir(tmp_path, monkeypatch, database_url, [CATALOG[0], CATALOG[1], CATALOG[3]])
    assert run_cli("poll", "--once").returncode == 0
    return tmp_path


CLI_ORDERS = [
    ORDERS_HEADER,
    "1001,Ada Lovelace,ada@example.com,MUG-1,2,2024-05-01",
    "1002,Grace Hopper,grace@example.com,MUG-1,2,2024-05-02",
    "1003,Alan Turing,alan@example.com,MUG-1,2,2024-05-03",
]


def test_cli_import_then_close(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_orders(workdir, CLI_ORDERS)
    with FakeSlackAPI(token=BOT_TOKEN, channels={"stock-alerts": ALERT_CHANNEL_ID}) as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
        monkeypatch.setenv("SLACK_API_URL", slack.url)
        result = run_cli("orders", "import", str(path))
        assert result.returncode == 0, result.stdout + result.stderr
        assert (
            "Imported orders.csv: 3 order(s) created, 0 updated, 0 unchanged; 3 order line(s). "
            "1 product(s) now backordered." in result.stdout
        )
        assert "Backorder alerts: 1 opened, 0 updated, 0 resolved." in result.stdout
        [message] = slack.messages(ALERT_CHANNEL_ID)  # posted before the command ended
        assert message["text"] == "⏳ MUG-1 backordered at Acme · 2 orders waiting"
        assert "2 orders · 3 units waiting" in str(message["blocks"])

        again = run_cli("orders", "import", str(path))
        assert "0 order(s) created, 0 updated, 3 unchanged" in again.stdout

        closed = run_cli("orders", "close", "1003", "--cancelled")
        assert closed.returncode == 0, closed.stdout + closed.stderr
        assert "Order 1003 is now cancelled." in closed.stdout
        assert "Backorder alerts: 0 opened, 1 updated, 0 resolved." in closed.stdout
        closed = run_cli("orders", "close", "1002")
        assert "Order 1002 is now fulfilled." in closed.stdout
        assert "Backorder alerts: 0 opened, 0 updated, 1 resolved." in closed.stdout
        [message] = slack.messages(ALERT_CHANNEL_ID)
        assert message["text"] == "✅ MUG-1 every waiting order covered: 3 in stock at Acme"
        assert slack.warnings == []


def test_cli_reports_bad_files_and_unknown_orders(workdir: Path) -> None:
    bad = write_orders(
        workdir,
        [ORDERS_HEADER, "1001,Ada,ada@example.com,MUG-9,1,2024-05-01", CLI_ORDERS[2]],
        "bad.csv",
    )
    result = run_cli("orders", "import", str(bad))
    assert result.returncode == 1
    assert "Import failed" in result.stdout and "nothing was changed" in result.stdout
    assert "line 2: unknown SKU 'MUG-9'; did you mean MUG-1?" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr

    result = run_cli("orders", "close", "1001")
    assert result.returncode == 1
    assert "No order with ID '1001'" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


async def test_sku_suggestions_use_the_catalog(stack: Stack) -> None:
    """The close-match hint really comes from the catalog (not a fixed string)."""
    await stack.import_catalog(CATALOG)
    path = write_orders(stack.tmp_path, [ORDERS_HEADER, "1,A,a@example.com,XYZ-404,1,2024-05-01"])
    async with stack.runtime.sessions() as session:
        with pytest.raises(CsvImportError) as caught:
            await import_orders(session, path, channel="#stock-alerts")
    assert caught.value.problems == ["line 2: unknown SKU 'XYZ-404' (not in the catalog)"]
