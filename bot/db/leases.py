"""Leases: work that one process at a time does, whichever process that is.

A lease row names its holder (a `Replica.id`); it is free when nobody holds it or its
holder stopped beating (see `bot.db.replicas`). Taking it is one conditional UPDATE,
which PostgreSQL and SQLite both decide atomically: of two processes racing, one wins.

- `exclusive(name)` waits for the lease: no two polls of one supplier at once, from
  the bot or the command line.
- `run_if_due(name, every, job)` runs `job` only if nobody ran it in the last `every`:
  each replica's scheduler ticks, and one of them does the work.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import execute_writes
from bot.db.models import Lease
from bot.db.replicas import Membership
from bot.db.types import utcnow
from bot.db.upsert import dialect_insert

T = TypeVar("T")

# How often a waiting process asks again.
WAIT_STEP = 0.25


def poll_lease(supplier: str) -> str:
    """The lease a poll of `supplier` holds, from the bot or the command line."""
    return f"poll:{supplier}"


class Leases:
    def __init__(self, writes: async_sessionmaker[AsyncSession], membership: Membership) -> None:
        self.writes = writes
        self.membership = membership

    async def take(
        self, name: str, *, due_every: timedelta | None = None, counts_as_run: bool = True
    ) -> bool:
        """Take the lease now if it is free (and, with `due_every`, due); True if taken.
        Unless `counts_as_run` is False, taking it counts as a run for `due_every`."""
        now = utcnow()
        conditions = [Lease.name == name, self.membership.free(Lease.holder, now)]
        if due_every is not None:
            conditions.append(
                or_(Lease.last_run_at.is_(None), Lease.last_run_at <= now - due_every)
            )
        values = {"holder": self.membership.id, "taken_at": now}
        if counts_as_run:
            values["last_run_at"] = now
        taken = await execute_writes(
            self.writes,
            dialect_insert(self.writes, Lease).values(name=name).on_conflict_do_nothing(),
            update(Lease).where(*conditions).values(values).returning(Lease.name),
        )
        return bool(taken)

    async def release(self, name: str) -> None:
        await execute_writes(
            self.writes,
            update(Lease)
            .where(Lease.name == name, Lease.holder == self.membership.id)
            .values(holder=None),
        )

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str, *, counts_as_run: bool = True) -> AsyncIterator[None]:
        """Hold the lease for the block, waiting while another process holds it."""
        # Another process holds it: nothing in this one to wait on but time.
        while not await self.take(name, counts_as_run=counts_as_run):  # noqa: ASYNC110
            await asyncio.sleep(WAIT_STEP)
        try:
            yield
        finally:
            await asyncio.shield(self.release(name))

    async def run_if_due(
        self, name: str, every: timedelta, job: Callable[[], Awaitable[T]]
    ) -> T | None:
        """Run `job` unless another process holds it or ran it less than `every` ago."""
        if not await self.take(name, due_every=every):
            return None
        try:
            return await job()
        finally:
            await asyncio.shield(self.release(name))
