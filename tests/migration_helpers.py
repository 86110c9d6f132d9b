"""What the data migration tests share: a database holding old rows, upgraded, and
checks that the upgraded schema refuses what it should."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import upgrade


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
