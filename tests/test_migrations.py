"""Migrations against a database holding data: nothing lost on SQLite (whose batch mode
rebuilds tables) or PostgreSQL, and the models are what the migrations build."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import include_name, upgrade
from bot.db.models import Base
from tests.migration_helpers import assert_refused, empty_database, upgrade_old_data

pytestmark = pytest.mark.database  # repeated on PostgreSQL by scripts/test-postgres.sh

# What revision 0003 held: a CSV order and a webhook order, each with a line, and a
# customer notice about the CSV one (both reference orders, ON DELETE CASCADE). Ids are
# given throughout, as PostgreSQL's sequences do not count rows inserted with theirs.
OLD_DATA = [
    "INSERT INTO suppliers (id, name, consecutive_failures) VALUES (1, 'Acme', 0)",
    "INSERT INTO products (id, sku, title, low_stock_threshold) VALUES (1, 'MUG-1', 'Mug', 0)",
    "INSERT INTO orders (id, external_id, source, customer_name, customer_email, ordered_at,"
    " status) VALUES (1, '1001', 'csv', 'Ada', 'ada@example.com', '2026-11-20 09:00:00',"
    " 'open'), (2, '9003', 'shopify', 'Jon', '', '2026-11-21 09:00:00', 'fulfilled')",
    "INSERT INTO order_lines (id, order_id, product_id, quantity, backordered)"
    " VALUES (1, 1, 1, 2, 1), (2, 2, 1, 1, 0)",
    "INSERT INTO customer_notifications (id, alert_key, customer_email, message_hash,"
    " order_id, product_id, status, created_by, created_at) VALUES (1, 'product:1',"
    " 'ada@example.com', 'h', 1, 1, 'sent', 'U0ALICE', '2026-11-22 09:00:00')",
]


@pytest.fixture
async def engine(tmp_path: Path, database_url: str | None) -> AsyncEngine:
    return await empty_database(tmp_path, database_url)


async def test_orders_are_keyed_by_source_and_existing_ones_kept(engine: AsyncEngine) -> None:
    try:
        await upgrade_old_data(engine, "0003", OLD_DATA)

        async with engine.begin() as connection:
            orders = await connection.execute(
                text("SELECT id, source, external_id, status, close_reason FROM orders ORDER BY id")
            )
            assert orders.all() == [
                (1, "csv", "1001", "open", None),
                (2, "shopify", "9003", "fulfilled", None),
            ]
            lines = await connection.execute(text("SELECT order_id FROM order_lines ORDER BY id"))
            assert lines.scalars().all() == [1, 2]
            notices = await connection.execute(text("SELECT order_id FROM customer_notifications"))
            assert notices.scalars().all() == [1]
            # Another source may use the same id; the same source may not.
            await connection.execute(
                text(
                    "INSERT INTO orders (id, external_id, source, customer_name, customer_email,"
                    " ordered_at, status) VALUES (3, '1001', 'My Woo', '', '',"
                    " '2026-11-23 09:00:00', 'open')"
                )
            )
        await assert_refused(
            engine,
            "INSERT INTO orders (id, external_id, source, customer_name,"
            " customer_email, ordered_at, status) VALUES (4, '1001', 'csv', '', '',"
            " '2026-11-23 09:00:00', 'open')",
        )
        # Foreign keys are enforced again once the migration is done.
        await assert_refused(
            engine,
            "INSERT INTO order_lines (id, order_id, product_id, quantity,"
            " backordered) VALUES (3, 99, 1, 1, 0)",
        )
    finally:
        await engine.dispose()


async def test_the_migrations_build_what_the_models_describe(engine: AsyncEngine) -> None:
    def differences(connection: Connection) -> list[object]:
        # Objects migration 0008 makes in SQL (search tables, trigram index) are not models.
        options = {"compare_type": False, "include_name": include_name}
        context = MigrationContext.configure(connection, opts=options)
        return list(compare_metadata(context, Base.metadata))

    try:
        await upgrade(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()


def test_the_cheap_head_check_finds_the_heads_alembic_finds() -> None:
    """Start-up reads the scripts' revision lines instead of importing Alembic: both must
    agree, whatever the migrations' chain becomes."""
    from alembic.script import ScriptDirectory

    from bot.db import alembic_config, script_heads

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert script_heads() == frozenset(heads)
    assert len(heads) == 1
