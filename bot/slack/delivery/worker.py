"""The loop every background sender shares: woken by a kick or a deadline, one round at a
time, a failed round logged and tried again (never a cancellation swallowed)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable


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
