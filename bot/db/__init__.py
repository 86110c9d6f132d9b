"""Engine, sessions and migrations."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Executable, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.errors import DatabaseUnavailable

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Execution option: "IMMEDIATE" for a transaction that reads, then writes a lot
# (a poll), "DEFERRED" (the default) otherwise.
SQLITE_BEGIN = "stockbot_sqlite_begin"
# PostgreSQL advisory lock key held while migrating (any constant of our own).
MIGRATE_LOCK = 0x5707B07


# A server that does not answer at all must not hold a start-up for a minute.
CONNECT_TIMEOUT_SECONDS = 10
# How long an SQLite writer waits for another process's write lock (`sqlite_lock_wait`).
SQLITE_LOCK_WAIT_SECONDS = 30.0


def create_engine(
    database_url: str, *, sqlite_lock_wait: float = SQLITE_LOCK_WAIT_SECONDS
) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_async_engine(
            url, pool_pre_ping=True, connect_args={"timeout": CONNECT_TIMEOUT_SECONDS}
        )
    if url.database and url.database != ":memory:":
        try:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailable(_unreachable(url, exc)) from None
    engine = create_async_engine(url, connect_args={"timeout": sqlite_lock_wait})
    busy_timeout_ms = max(1, round(sqlite_lock_wait * 1000))

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own implicit BEGIN is replaced by ours (see _sqlite_begin).
        dbapi_connection.isolation_level = None
        # WAL lets Slack handlers read while a poll writes; foreign keys are off by default.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
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
    # Alembic loads only when something is to migrate: most starts find the database
    # at head (`upgrade` checks that without it), and it is slow to import.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


_REVISION = re.compile(r"^revision\b[^=]*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\b[^=]*=(.*)$", re.MULTILINE)
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")


@functools.cache
def script_heads() -> frozenset[str]:
    """The newest revision(s) among the migration scripts (read once per process), from
    the scripts' own `revision` and `down_revision` lines: no Alembic import needed.
    tests/test_migrations.py checks that Alembic finds the same heads."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = script.read_text(encoding="utf-8")
        revision = _REVISION.search(source)
        if revision is None:
            continue
        revisions.add(revision.group(1))
        down = _DOWN_REVISION.search(source)
        if down is not None:
            parents.update(_QUOTED.findall(down.group(1)))
    return frozenset(revisions - parents)


def _stored_heads(connection: Connection) -> frozenset[str]:
    """The revision(s) the database is at, as Alembic records them (none when new)."""
    if not inspect(connection).has_table("alembic_version"):
        return frozenset()
    rows = connection.execute(text("SELECT version_num FROM alembic_version"))
    return frozenset(str(row[0]) for row in rows)


def _unreachable(url: URL, exc: BaseException) -> str:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    check = (
        "that its folder exists and Stockbot may write there"
        if url.get_backend_name() == "sqlite"
        else "that its server is running and that the user and password are right"
    )
    return (
        f"the database {url.render_as_string(hide_password=True)} could not be opened "
        f"({reason}). Check {check}, and DATABASE_URL (or database_url in the configuration)."
    )


def is_lock_timeout(exc: BaseException) -> bool:
    """SQLite gave up waiting for another process's write lock ("database is locked")."""
    return isinstance(exc, DBAPIError) and "database is locked" in str(exc.orig)


async def ensure_reachable(engine: AsyncEngine) -> None:
    """Open one connection, so that an unreachable database is one plain sentence
    (DatabaseUnavailable) rather than a driver's traceback."""
    try:
        async with engine.connect():
            pass
    except (OSError, DBAPIError) as exc:
        raise DatabaseUnavailable(_unreachable(engine.url, exc)) from None


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (idempotent; run at every start)."""
    await ensure_reachable(engine)

    def _run(connection: Connection) -> None:
        # Every start lands here: when the stored revision is already the head, one
        # query answers, without Alembic loading env.py and its migration machinery.
        if revision == "head" and _stored_heads(connection) == script_heads():
            return
        from alembic import command

        command.upgrade(alembic_config(connection), revision)

    if engine.dialect.name != "sqlite":
        async with engine.begin() as connection:
            # Processes starting together migrate one after the other: a PostgreSQL
            # lock held until this transaction ends. (SQLite serves one bot process.)
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATE_LOCK}
            )
            await connection.run_sync(_run)
        return
    async with engine.connect() as connection:
        await connection.run_sync(_without_foreign_key_actions, _run)


def _without_foreign_key_actions(connection: Connection, run: Callable[[Connection], None]) -> None:
    """Run SQLite migrations with foreign keys off, then check them before committing.

    SQLite changes a table's constraints by rebuilding it (Alembic's batch mode: copy,
    DROP, rename), and while foreign keys are on, the DROP deletes the rows that refer
    to the old table (ON DELETE CASCADE): an order's lines would go with it. The pragma
    only takes effect outside a transaction, so it is set on the driver's connection
    before ours begins, and restored whatever happens."""
    driver = connection.connection.dbapi_connection
    if driver is None:  # never: `connection` holds one while it is open
        raise RuntimeError("no database connection to migrate")

    def pragma(value: str) -> None:
        cursor = driver.cursor()
        try:
            cursor.execute(f"PRAGMA foreign_keys={value}")
        finally:
            cursor.close()

    pragma("OFF")
    try:
        with connection.begin():
            before = _stored_heads(connection)
            run(connection)
            # A full check reads every table: only worth it when something was migrated.
            if _stored_heads(connection) != before:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:  # rolls the migration back
                    raise RuntimeError(f"the migration left rows pointing nowhere: {broken[:5]}")
    finally:
        pragma("ON")


async def current_revision(engine: AsyncEngine) -> str | None:
    def _read(connection: Connection) -> str | None:
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(_read)


def include_name(name: str | None, type_: Any, _parents: Any) -> bool:
    # Made by migration 0008 in SQL, not by the models (SQLite's FTS5 search table and its
    # shadow tables, PostgreSQL's trigram index): autogenerate must not offer to drop them.
    if type_ == "table":
        return not (name or "").startswith("product_search")
    return not (type_ == "index" and name == "ix_products_search_trgm")
