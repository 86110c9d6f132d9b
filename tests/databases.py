"""One database migrated per test session; each test starts from a copy of it.

Running the migrations costs far more than copying their result: SQLite tests get a
copy of the migrated file, PostgreSQL tests a database cloned from a migrated template
(CREATE DATABASE … TEMPLATE). The bot's start-up migration then finds the copy at head.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Protocol

import asyncpg

from bot import db
from bot.config import normalise_database_url

# Where a config without database_url keeps its SQLite file: beside the config file.
DEFAULT_SQLITE_NAME = "stockbot.db"


async def migrate(url: str) -> None:
    engine = db.create_engine(normalise_database_url(url))
    try:
        await db.upgrade(engine)
    finally:
        await engine.dispose()


class DatabaseTemplate(Protocol):
    async def create(self, tmp_path: Path) -> str | None:
        """A fresh migrated database for one test: its URL, or None for the default SQLite
        file beside a config in tmp_path."""

    async def drop(self, url: str | None) -> None: ...

    def close(self) -> None: ...


class SqliteTemplate:
    def __init__(self, directory: Path) -> None:
        self.path = directory / DEFAULT_SQLITE_NAME
        asyncio.run(migrate(f"sqlite:///{self.path}"))
        # The last connection closed checkpointed the write-ahead log into the file.
        assert not self.path.with_name(self.path.name + "-wal").exists()

    async def create(self, tmp_path: Path) -> str | None:
        shutil.copyfile(self.path, tmp_path / DEFAULT_SQLITE_NAME)
        return None

    async def drop(self, url: str | None) -> None:
        """The copy goes with the test's tmp_path."""

    def close(self) -> None:
        """The template goes with pytest's temporary folders."""


class PostgresTemplate:
    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name = f"stockbot_template_{uuid.uuid4().hex[:12]}"
        asyncio.run(self._admin(f'CREATE DATABASE "{self.name}"'))
        asyncio.run(migrate(self._url(self.name)))

    def _url(self, name: str) -> str:
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    async def _admin(self, statement: str) -> None:
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(statement)
        finally:
            await admin.close()

    async def create(self, tmp_path: Path) -> str | None:
        name = f"stockbot_test_{uuid.uuid4().hex[:12]}"
        await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"')
        return self._url(name)

    async def drop(self, url: str | None) -> None:
        assert url is not None
        await self._admin(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')

    def close(self) -> None:
        asyncio.run(self._admin(f'DROP DATABASE "{self.name}" WITH (FORCE)'))
