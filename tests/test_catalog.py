"""Catalog import: all or nothing, every bad row reported with its line."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests import probes
from tests.helpers import Stack, run_cli, write_catalog

GOOD_ROWS = [
    "sku,title,supplier,supplier_sku,priority,low_stock_threshold,price",
    "MUG-1,Blue mug,Acme,A-1,1,5,4.20",
    "MUG-1,Blue mug,Beta,B-1,2,5,4.50",
    "CAP-2,Red cap,Beta,B-2,1,3,",
]


async def test_import_creates_products_and_active_offers(stack: Stack) -> None:
    report = await stack.import_catalog(GOOD_ROWS)
    assert (report.products_created, report.offers_created) == (2, 3)
    assert (await probes.product(stack, "MUG-1")).low_stock_threshold == 5
    assert await probes.active_supplier_sku(stack, "MUG-1") == "A-1"  # priority 1 is active


async def test_reimport_updates_in_place(stack: Stack) -> None:
    await stack.import_catalog(GOOD_ROWS)
    changed = [*GOOD_ROWS[:3], "CAP-2,Red baseball cap,Beta,B-2,1,4,"]
    report = await stack.import_catalog(changed)
    assert (report.products_created, report.products_updated) == (0, 1)
    assert await probes.product_count(stack) == 2
    cap = await probes.product(stack, "CAP-2")
    assert (cap.title, cap.low_stock_threshold) == ("Red baseball cap", 4)


async def test_bad_file_is_rejected_whole_with_every_line(stack: Stack, tmp_path: Path) -> None:
    rows = [
        GOOD_ROWS[0],
        "NEW-1,New product,Acme,A-9,1,5,1.00",  # fine on its own, but must not be imported
        "MUG-1,Blue mug,Acme,A-1,one,5,4.20",
        "CAP-2,,Beta,B-2,1,3,",
        "CAP-3,Green cap,Beta,B-3,1,-1,",
        "CAP-4,Grey cap,Beta,B-4,1,2,cheap",
        "NEW-1,New product,Acme,A-10,1,5,1.00",
    ]
    path = write_catalog(tmp_path, rows)
    # In a thread: the command runs its own event loop.
    result = await asyncio.to_thread(
        run_cli, "--config", str(stack.config_path), "catalog", "import", str(path)
    )
    assert result.returncode == 1
    for expected in (
        "line 3: priority must be a whole number",
        "line 4: empty title",
        "line 5: low_stock_threshold must be at least 0",
        "line 6: price must be a number",
        "line 7: NEW-1 from Acme is listed twice (first on line 2)",
        "nothing was changed",
    ):
        assert expected in result.stdout
    assert await probes.product_count(stack) == 0


async def test_missing_column_is_named(stack: Stack, tmp_path: Path) -> None:
    path = write_catalog(tmp_path, ["sku,title,supplier", "A,B,C"])
    # In a thread: the command runs its own event loop.
    result = await asyncio.to_thread(
        run_cli, "--config", str(stack.config_path), "catalog", "import", str(path)
    )
    assert result.returncode == 1
    assert "missing column(s) supplier_sku, priority, low_stock_threshold" in result.stdout
