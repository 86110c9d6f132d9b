"""Slack's Retry-After, held for a whole channel: the channel's "not before".

A 429 says "no more here until then", not "retry this one message later": every call
to that channel (posts, updates, thread replies, history) waits until it passes. The
"not before" is stored in the database (one row per rate-limited method and channel,
any of which holds the channel) so that every delivery of every process waits for it,
and one 429 costs one call.

A channel has two names, as configured (#stock-alerts) and as Slack answers (C0…);
a hold covers both once the outbox has learnt the pair.
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
        # Configured channel names and the IDs Slack answered with.
        self._channel_ids: dict[str, str] = {}

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

    def learn(self, channel: str, channel_id: str) -> None:
        """`channel` (as configured) is `channel_id` in Slack."""
        if channel and channel != channel_id:
            self._channel_ids[channel] = channel_id

    def names_of(self, channel: str) -> set[str]:
        """A channel as configured and as Slack names it."""
        names = {channel}
        names |= {i for n, i in self._channel_ids.items() if n == channel}
        names |= {n for n, i in self._channel_ids.items() if i == channel}
        return names

    def canonical(self, channel: str) -> str:
        """The channel's ID when known, else its name: one key per channel."""
        return self._channel_ids.get(channel, channel)

    def held(self, channel: str) -> bool:
        return bool(self.names_of(channel) & self.channels_held())

    def channels_held(self) -> set[str]:
        """Every channel (by all its names) that no call may reach yet."""
        now = utcnow()
        held: set[str] = set()
        for (_, channel), until in self._until.items():
            if until > now:
                held |= self.names_of(channel)
        return held

    def next_release(self) -> datetime | None:
        now = utcnow()
        pending = [until for until in self._until.values() if until > now]
        return min(pending) if pending else None

    async def hold(self, method: str, channel: str, until: datetime) -> None:
        """Slack answered `method` in `channel` with 429: hold the channel until `until`."""
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
