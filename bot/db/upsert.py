"""INSERT … ON CONFLICT, which SQLite and PostgreSQL both speak, through their dialects."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


def dialect_insert(where: AsyncSession | async_sessionmaker[AsyncSession], table: Any) -> Any:
    """An INSERT with `.on_conflict_do_nothing()` / `.on_conflict_do_update()`."""
    bind = where.get_bind() if isinstance(where, AsyncSession) else where.kw["bind"]
    name = bind.dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(table)
