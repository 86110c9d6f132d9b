"""The loop every background sender shares: woken by a kick or a deadline, one round at a
time, a failed round logged and tried again (never a cancellation swallowed)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import execute_writes
from bot.db.replicas import Membership


class Wakeup:
    """A worker's doorbell: `kick` from anywhere on the loop; `wait` until kicked or
    `seconds` have passed (None: until kicked)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def kick(self) -> None:
        self._event.set()

    async def wait(self, seconds: float | None) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._event.wait()
        self._event.clear()


async def one_round(
    work: Callable[[], Awaitable[object]], log: logging.Logger, failure: str
) -> bool:
    """Run one round; if it fails, `log` says `failure` with the traceback and False is
    returned (the caller's logger: the failure reads as its own)."""
    try:
        await work()
    except Exception:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # a cancellation the database driver wrapped: stop, don't loop
        log.exception(failure)
        return False
    return True


@dataclass(eq=False)
class ClaimingWorker:
    """What the outbox and the chart poster share: any number of processes may run one;
    each claims the rows it works on, and within a process one round runs at a time
    (`self._lock`), started early by `kick`."""

    sessions: async_sessionmaker[AsyncSession]
    writes: async_sessionmaker[AsyncSession]
    membership: Membership
    batch_size: int
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _wakeup: Wakeup = field(default_factory=Wakeup, init=False)

    def kick(self) -> None:
        """Ask the running worker to start a round now."""
        self._wakeup.kick()

    async def _write(self, *statements: Executable) -> list[Any]:
        return await execute_writes(self.writes, *statements)
