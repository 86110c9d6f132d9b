"""Keeping calls to one service apart: a steady pace, and holds the service asked for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from transport.errors import ServicePaused, ServiceUnavailable
from transport.policy import FetchPolicy


class Pacer:
    """Spaces requests at least 1/rate seconds apart, on the policy's clock."""

    def __init__(self, requests_per_second: float, policy: FetchPolicy) -> None:
        self._interval = timedelta(seconds=1 / requests_per_second)
        self._policy = policy
        self._next: datetime | None = None

    async def wait(self) -> None:
        now = self._policy.clock()
        start = max(now, self._next or now)
        if start > now:
            await self._policy.sleep((start - now).total_seconds())
        # Computed from the slot, not the clock after sleeping: a test clock may stand still.
        self._next = start + self._interval


@dataclass(frozen=True, slots=True)
class _Hold:
    """No calls before `until`; `paused` marks a used-up quota (ServicePaused)."""

    until: datetime
    message: str
    paused: bool


class Holds:
    """Whether the service asked us to stay away, and until when."""

    def __init__(self, policy: FetchPolicy) -> None:
        self._policy = policy
        self._hold: _Hold | None = None

    def check(self) -> None:
        """Raise, without any network call, while the service asked us to stay away."""
        hold = self._hold
        if hold is None:
            return
        if self._policy.clock() >= hold.until:
            self._hold = None
            return
        if hold.paused:
            raise ServicePaused(hold.message, hold.until)
        raise ServiceUnavailable(hold.message)

    def wait_until(self, until: datetime, message: str) -> None:
        """The service asked for a wait longer than a poll sits through."""
        self._hold = _Hold(until, message, paused=False)

    def pause(self, until: datetime, message: str) -> ServicePaused:
        """A used-up quota: no calls until `until`; returns the exception to raise now."""
        self._hold = _Hold(until, message, paused=True)
        return ServicePaused(message, until)
