"""Alembic environment: runs on a connection handed over by `bot.db.upgrade`."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from bot.config import normalise_database_url
from bot.db import create_engine, include_name
from bot.db.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=include_name,
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
