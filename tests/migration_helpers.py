"""What the data migration tests share: a database holding old rows, upgraded, and
checks that the upgraded schema refuses what it should."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import normalise_database_url
from bot.db import create_engine, upgrade
from bot.db.models import Base


async def empty_database(tmp_path: Path, database_url: str | None) -> AsyncEngine:
    """An engine on an empty database, to migrate step by step: a SQLite file of its own,
    or the test's PostgreSQL database emptied (its copy comes migrated)."""
    url = database_url or f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(normalise_database_url(url))
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    return engine


async def upgrade_old_data(engine: AsyncEngine, revision: str, old_data: Sequence[str]) -> None:
    """The schema at `revision` filled by the `old_data` statements, then upgraded to
    the newest revision."""
    await upgrade(engine, revision)
    async with engine.begin() as connection:
        for statement in old_data:
            await connection.execute(text(statement))

    await upgrade(engine)


async def assert_refused(engine: AsyncEngine, statement: str) -> None:
    """The database refuses `statement` (a key or constraint)."""
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text(statement))
