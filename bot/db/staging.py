"""Scratch tables that bulk work (catalog import, feed reconcile) loads rows into."""

from __future__ import annotations

from sqlalchemy import Connection, Table
from sqlalchemy.ext.asyncio import AsyncConnection


async def recreate(connection: AsyncConnection, table: Table) -> None:
    """Create `table` empty; a failed run's copy can outlive it on a pooled connection."""

    def drop_and_create(sync: Connection) -> None:
        table.drop(sync, checkfirst=True)
        table.create(sync)

    await connection.run_sync(drop_and_create)
