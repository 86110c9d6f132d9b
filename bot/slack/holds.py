"""Slack's Retry-After, held for a whole method and channel.

A 429 says "no more of this method here until then", not "retry this one message
later": one "not before" per (method, channel), stored in the database so that every
delivery of every process waits for it, and one 429 costs one call.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import execute_writes
from bot.db.models import SlackHold
from bot.db.types import utcnow
from bot.db.upsert import dialect_insert


class SlackHolds:
    def __init__(self, writes: async_sessionmaker[AsyncSession]) -> None:
        self.writes = writes
        self._until: dict[tuple[str, str], datetime] = {}

    async def load(self) -> None:
        """Read the holds other processes set (call once per delivery round)."""
        now = utcnow()
        async with self.writes() as session:
            rows = (
                await session.execute(
                    select(SlackHold.method, SlackHold.channel, SlackHold.not_before).where(
                        SlackHold.not_before > now
                    )
                )
            ).all()
        self._until = {(row.method, row.channel): row.not_before for row in rows}

    def held(self, method: str, channels: set[str]) -> bool:
        now = utcnow()
        return any(self._until.get((method, c), now) > now for c in channels)

    def channels_held(self, method: str) -> set[str]:
        now = utcnow()
        return {c for (m, c), until in self._until.items() if m == method and until > now}

    def next_release(self) -> datetime | None:
        now = utcnow()
        pending = [until for until in self._until.values() if until > now]
        return min(pending) if pending else None

    async def hold(self, method: str, channel: str, until: datetime) -> None:
        key = (method, channel)
        if key in self._until and self._until[key] >= until:
            return
        self._until[key] = until
        await execute_writes(
            self.writes,
            dialect_insert(self.writes, SlackHold)
            .values(method=method, channel=channel, not_before=until)
            .on_conflict_do_update(
                index_elements=["method", "channel"], set_={"not_before": until}
            ),
        )
