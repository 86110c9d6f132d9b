"""Engine, sessions and migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Executable, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Execution option: "IMMEDIATE" for a transaction that reads, then writes a lot
# (a poll), "DEFERRED" (the default) otherwise.
SQLITE_BEGIN = "stockbot_sqlite_begin"
# PostgreSQL advisory lock key held while migrating (any constant of our own).
MIGRATE_LOCK = 0x5707B07


def create_engine(database_url: str) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own implicit BEGIN is replaced by ours (see _sqlite_begin).
        dbapi_connection.isolation_level = None
        # WAL lets Slack handlers read while a poll writes; foreign keys are off by default.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # The poll's staging table is temporary: keep it in memory, not in a temp file.
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _sqlite_begin(connection: Connection) -> None:
        # Our own BEGIN makes DDL transactional too, and lets long writers ask for
        # IMMEDIATE: it takes the write lock up front, so concurrent writers queue
        # for busy_timeout instead of one failing with "database is locked" when
        # it upgrades a read to a write after the other committed.
        mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def writer_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for transactions that write: they take SQLite's write lock when they
    begin, so a writer waits its turn (busy_timeout) instead of failing with "database
    is locked" when another committed between its reads and its first write."""
    return session_factory(engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"}))


async def execute_writes(
    writes: async_sessionmaker[AsyncSession], *statements: Executable
) -> list[Any]:
    """Run `statements` in one write transaction; the rows the last one returns.

    Shielded: a cancelled caller (a worker stopping) lets the transaction finish.
    Cut short inside the driver, it could leave SQLite's write lock on a connection
    that nobody closes, and every later writer waits for it in vain.
    """

    async def run() -> list[Any]:
        async with writes() as session, session.begin():
            connection = await session.connection()
            rows: list[Any] = []
            for statement in statements:
                result = await connection.execute(statement)
                rows = list(result.scalars()) if result.returns_rows else []
            return rows

    return await asyncio.shield(run())


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (idempotent; run at every start)."""

    def _run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    # Processes starting together migrate one after the other: SQLite's write lock
    # taken up front, or a PostgreSQL lock held until this transaction ends.
    writer = engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
    async with writer.begin() as connection:
        if engine.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATE_LOCK}
            )
        await connection.run_sync(_run)


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    def _read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(_read)
