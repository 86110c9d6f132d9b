"""Timeouts, retry limits and the test hooks (sleep, jitter, clock) of outbound calls;
`CallLimits`, the `[[suppliers]]` / `[[stores]]` keys that set them."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import httpx
from pydantic import BaseModel, Field

CHUNK_SIZE = 64 * 1024


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Timeouts and retry behaviour; `sleep`, `jitter` and `clock` are test hooks."""

    timeout: float = 30.0  # seconds to wait for each read (and write/pool)
    connect_timeout: float = 10.0
    max_attempts: int = 4
    base_delay: float = 1.0  # first backoff step; doubles per attempt
    max_delay: float = 30.0  # cap on one backoff step
    max_retry_after: float = 60.0  # longer server-requested waits end the call
    chunk_size: int = CHUNK_SIZE
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    jitter: Callable[[], float] = random.random  # uniform in [0, 1)
    clock: Callable[[], datetime] = field(default=utc_now)

    def httpx_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, connect=self.connect_limit)

    @property
    def connect_limit(self) -> float:
        return min(self.connect_timeout, self.timeout)

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff: spreads retries of many bots apart."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return self.jitter() * ceiling

    def limited(
        self, timeout: float, max_attempts: int, max_wait: float | None = None
    ) -> FetchPolicy:
        """This policy with the limits a user configured; the test hooks stay."""
        longest = self.max_retry_after if max_wait is None else max_wait
        return replace(self, timeout=timeout, max_attempts=max_attempts, max_retry_after=longest)


class CallLimits(BaseModel):
    """Timeouts, attempts and pace; subclasses may change the defaults."""

    timeout: float = Field(30.0, gt=0, le=600)  # seconds to wait for each answer
    max_attempts: int = Field(4, ge=1, le=10)  # tries per request before giving up
    requests_per_second: float = Field(1.0, gt=0, le=50)
    # The longest wait the service may ask for (Retry-After, rate-limit reset)
    # that Stockbot sits through within one poll; longer ones end the poll.
    max_wait: float = Field(60.0, ge=0, le=3600)

    def policy(self, base: FetchPolicy | None = None) -> FetchPolicy:
        """`base` (a test's hooks, or the defaults) with these limits."""
        return (base or FetchPolicy()).limited(self.timeout, self.max_attempts, self.max_wait)
