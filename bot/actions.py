"""What people do from Slack, as services: each opens its own transaction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import alerts, lookup
from bot.alerts import AlertActionError
from bot.delivery import Deliverer

__all__ = ["AlertActionError", "StaffActions"]


@dataclass
class StaffActions:
    sessions: async_sessionmaker[AsyncSession]
    deliverer: Deliverer

    async def acknowledge(self, alert_id: int, user_id: str) -> None:
        async with self.sessions() as session, session.begin():
            await alerts.acknowledge(session, alert_id, user_id)
        self.deliverer.kick()

    async def snooze(self, alert_id: int, user_id: str, choice: str) -> None:
        async with self.sessions() as session, session.begin():
            await alerts.snooze(session, alert_id, user_id, choice)
        self.deliverer.kick()

    async def stock(self, query: str) -> lookup.Answer:
        async with self.sessions() as session:
            return await lookup.lookup(session, query)

    async def wake_snoozed(self) -> int:
        async with self.sessions() as session, session.begin():
            woken = await alerts.wake_snoozed(session)
        if woken:
            self.deliverer.kick()
        return woken
