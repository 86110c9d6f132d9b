"""A fake clock shared by the adapter tests: `sleep` moves time instead of waiting."""

from __future__ import annotations

from datetime import datetime, timedelta


class FakeClock:
    """The adapter's (and a fake server's) clock; `sleep` moves it instead of waiting."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
