"""Migration 0005: a product's open stock and backorder alerts become its one alert;
resolved history is kept, resolutions become Slack mrkdwn with their mentions intact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.migration_helpers import assert_refused, empty_database, upgrade_old_data

pytestmark = pytest.mark.database  # repeated on PostgreSQL by scripts/test-postgres.sh

_COLUMNS = (
    "id, kind, state, dedup_key, product_id, supplier_id, group_id, is_group, summary, details,"
    " opened_at, changed_at, resolution, slack_channel, slack_ts, needs_sync, delivery_attempts"
)
# What revision 0004 held: MUG-1 with an open stockout (posted) and an open backorder
# alert (posted too: two messages), CAP-2 with an open low-stock alert, one resolved
# switch from before, and a storm group whose only member is the merged backorder.
OLD_DATA = [
    "INSERT INTO suppliers (id, name, consecutive_failures) VALUES (1, 'Acme', 0)",
    "INSERT INTO products (id, sku, title, low_stock_threshold) VALUES"
    " (1, 'MUG-1', 'Mug', 5), (2, 'CAP-2', 'Cap', 5)",
    f"INSERT INTO alerts ({_COLUMNS}) VALUES"
    " (1, 'out_of_stock', 'acknowledged', 'out_of_stock:product:1', 1, 1, NULL, false, '',"
    ' \'{"quantity": 0, "availability": "out_of_stock", "threshold": 5,'
    " \"supplier_id\": 1}', '2026-11-20 09:00:00', '2026-11-20 09:00:00', NULL, 'C0ALERTS',"
    " '1.1', false, 0),"
    " (5, 'backorder', 'resolved', 'group:backorder:supplier:1:x', NULL, 1, NULL, true, '',"
    " '{}', '2026-11-20 09:00:00', '2026-11-20 09:00:00', NULL, 'C0ALERTS', '1.5', false, 0)",
    "UPDATE alerts SET state = 'open' WHERE id = 5",
    f"INSERT INTO alerts ({_COLUMNS}) VALUES"
    " (2, 'backorder', 'open', 'backorder:product:1', 1, 1, 5, false, '',"
    ' \'{"orders": 3, "units": 7, "oldest": "2026-11-19T09:00:00+00:00",'
    " \"supplier_id\": 1}', '2026-11-21 09:00:00', '2026-11-21 09:00:00', NULL, 'C0ALERTS',"
    " NULL, false, 0),"
    " (3, 'low_stock', 'open', 'low_stock:product:2', 2, 1, NULL, false, '', '{}',"
    " '2026-11-21 09:00:00', '2026-11-21 09:00:00', NULL, 'C0ALERTS', '1.3', false, 0),"
    " (4, 'out_of_stock', 'resolved', 'out_of_stock:product:2', 2, 1, NULL, false, '', '{}',"
    " '2026-11-01 09:00:00', '2026-11-01 09:00:00',"
    " 'Switched from A&B to <Beta> by <@U0BOSS>. Back in stock.', 'C0ALERTS', '1.4', false, 0)",
]


@pytest.fixture
async def engine(tmp_path: Path, database_url: str | None) -> AsyncEngine:
    return await empty_database(tmp_path, database_url)


async def test_a_products_open_alerts_become_one(engine: AsyncEngine) -> None:
    try:
        await upgrade_old_data(engine, "0004", OLD_DATA)

        async with engine.begin() as connection:
            rows = await connection.execute(
                text(
                    "SELECT id, kind, state, dedup_key, needs_sync, resolution FROM alerts"
                    " ORDER BY id"
                )
            )
            alerts = {row.id: row for row in rows}
            details = await connection.scalar(text("SELECT details FROM alerts WHERE id = 1"))
        mug = alerts[1]  # the older one stays, in the worse state, with both figures
        assert (mug.kind, mug.state, mug.dedup_key) == ("out_of_stock", "acknowledged", "product:1")
        assert mug.needs_sync  # its message is redrawn with the orders waiting
        figures = details if isinstance(details, dict) else json.loads(details)
        assert (figures["quantity"], figures["orders"], figures["units"]) == (0, 3, 7)
        merged = alerts[2]
        assert (merged.state, merged.needs_sync) == ("resolved", True)
        assert merged.resolution == "is now followed in one message with its other problems"
        cap = alerts[3]  # a lone alert is only re-keyed; its message stays as it is
        assert (cap.kind, cap.state, cap.dedup_key, cap.needs_sync) == (
            "low_stock",
            "open",
            "product:2",
            False,
        )
        # History kept, now Slack mrkdwn: outside text escaped, the mention a mention.
        assert alerts[4].resolution == (
            "Switched from A&amp;B to &lt;Beta&gt; by <@U0BOSS>. Back in stock."
        )
        assert alerts[5].state == "resolved"  # the group's only member was merged

        # One open alert per product from now on: a second one for MUG-1 is refused.
        await assert_refused(
            engine,
            f"INSERT INTO alerts ({_COLUMNS}) VALUES (9, 'backorder', 'open',"
            " 'product:1', 1, 1, NULL, false, '', '{}', '2026-11-22 09:00:00',"
            " '2026-11-22 09:00:00', NULL, 'C0ALERTS', NULL, true, 0)",
        )
    finally:
        await engine.dispose()
