"""Who is running: every process registers a `Replica` row and beats every few seconds.

Leases and claimed alerts name their holder by replica id. They are free again once
that replica has not beaten for `takeover_after` (SIGKILLed, frozen, unplugged), so
another process takes over its suppliers and deliveries without anyone's help.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Executable, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from bot.db import execute_writes
from bot.db.models import Replica
from bot.db.types import utcnow
from bot.db.upsert import dialect_insert

log = logging.getLogger(__name__)

# Rows of replicas gone this long are deleted by whoever starts next.
FORGET_AFTER = timedelta(days=1)


def new_replica_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class Membership:
    """This process's identity, and how long a silent replica keeps what it holds."""

    id: str
    takeover_after: timedelta

    def free(self, holder: InstrumentedAttribute[str | None], now: datetime) -> ColumnElement[bool]:
        """`holder` is nobody, this process, or a replica that stopped beating."""
        others_alive = select(Replica.id).where(
            Replica.seen_at > now - self.takeover_after, Replica.id != self.id
        )
        return or_(holder.is_(None), holder.not_in(others_alive))

    def gone(self, holder: InstrumentedAttribute[str | None], now: datetime) -> ColumnElement[bool]:
        """`holder` is nobody, or a replica that stopped beating: unlike `free`, a claim of
        this very process still holds (it is at work on it now)."""
        alive = select(Replica.id).where(Replica.seen_at > now - self.takeover_after)
        return or_(holder.is_(None), holder.not_in(alive))

    def claim_oldest(
        self,
        key: InstrumentedAttribute[int],
        holder: InstrumentedAttribute[str | None],
        condition: ColumnElement[bool],
        *skip: ColumnElement[bool],
    ) -> Executable:
        """An UPDATE … RETURNING that makes this process the `holder` of the row with the
        lowest `key` meeting `condition` that no live process holds (and no `skip` rules
        out); it returns that key, or nothing. Rows another transaction is claiming right
        now are skipped, not waited for."""
        now = utcnow()
        oldest = (
            select(key)
            .where(condition, self.free(holder, now), *skip)
            .order_by(key)
            .limit(1)
            .with_for_update(skip_locked=True)
            .correlate(None)
        )
        table = key.class_
        return (
            update(table)
            .where(key == oldest.scalar_subquery(), condition, self.free(holder, now))
            .values({holder.key: self.id})
            .returning(key)
        )


async def claimed(
    claim: Callable[[set[int]], Awaitable[int | None]], tried: set[int], limit: int
) -> AsyncIterator[int]:
    """The ids `claim` hands out (e.g. through `Membership.claim_oldest`), each added to
    `tried` (which `claim` skips) until `tried` holds `limit` ids or nothing is left."""
    while len(tried) < limit:
        claimed_id = await claim(tried)
        if claimed_id is None:
            return
        tried.add(claimed_id)
        yield claimed_id


class Heartbeat:
    """Keeps this process's `Replica` row fresh while it runs."""

    def __init__(self, writes: async_sessionmaker[AsyncSession], membership: Membership) -> None:
        self.writes = writes
        self.membership = membership
        # Several beats per takeover period: one late beat must not look like a death.
        self.every = membership.takeover_after.total_seconds() / 4
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        now = utcnow()
        await execute_writes(
            self.writes,
            delete(Replica).where(Replica.seen_at < now - FORGET_AFTER),
            self._beat(now),
        )
        self._task = asyncio.create_task(self._run(), name="replica heartbeat")

    async def beat(self) -> None:
        await execute_writes(self.writes, self._beat(utcnow()))

    def _beat(self, now: datetime) -> Executable:
        return (
            dialect_insert(self.writes, Replica)
            .values(
                id=self.membership.id,
                host=socket.gethostname()[:200],
                pid=os.getpid(),
                started_at=now,
                seen_at=now,
            )
            .on_conflict_do_update(index_elements=["id"], set_={"seen_at": now})
        )

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.beat()
            except Exception:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                log.warning("replica heartbeat failed; trying again", exc_info=True)

    async def stop(self) -> None:
        """Stop beating and leave: what this process held is free at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
        await execute_writes(self.writes, delete(Replica).where(Replica.id == self.membership.id))
