"""What every service behind a Slack action shares: where it reads, where it writes,
and whom it tells after a change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

T = TypeVar("T")


@dataclass
class Service:
    # For reads.
    sessions: async_sessionmaker[AsyncSession]
    # For transactions that write: they queue for SQLite's write lock up front instead
    # of failing with "database is locked" when a poll commits between read and write.
    writes: async_sessionmaker[AsyncSession]
    # Called after every committed change, e.g. to wake the Slack delivery worker.
    on_change: Callable[[], None]

    async def _change(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work` in one transaction, then tell `on_change`."""
        async with self.writes() as session, session.begin():
            result = await work(session)
        self.on_change()
        return result
