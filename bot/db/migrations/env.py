"""Alembic environment: runs on a connection handed over by `bot.db.upgrade`."""

from __future__ import annotations

import asyncio

from alembic import context
from alembic.runtime.environment import NameFilterParentNames, NameFilterType
from sqlalchemy import Connection

from bot.config import normalise_database_url
from bot.db import create_engine
from bot.db.models import Base

target_metadata = Base.metadata


def _include_name(name: str | None, type_: NameFilterType, _parents: NameFilterParentNames) -> bool:
    # Made by migration 0004 in SQL, not by the models (SQLite's FTS5 search table and its
    # shadow tables, PostgreSQL's trigram index): autogenerate must not offer to drop them.
    if type_ == "table":
        return not (name or "").startswith("product_search")
    return not (type_ == "index" and name == "ix_products_search_trgm")


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=_include_name,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_url(url: str) -> None:
    engine = create_engine(normalise_database_url(url))
    async with engine.begin() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    # Developer use: `alembic -x url=sqlite:///dev.db revision --autogenerate -m "..."`.
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    asyncio.run(_run_from_url(url or "sqlite:///stockbot-dev.db"))
