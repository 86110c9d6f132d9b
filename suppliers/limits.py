"""How much one poll of a supplier may read, and how it says it read too much.

A feed is bounded four ways: bytes once inflated, characters per line, rows,
and time (`poll_timeout`). Going past any of them fails the read with a plain
reason, so nothing from it is applied and one feed-problem alert is raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from transport import ServiceUnusable, duration_text

# suppliers.base builds on this module, so its FeedInvalid is named by what it is.
FeedInvalid = ServiceUnusable

KB = 1024
MB = 1024 * KB
USED_NOTHING = "nothing from this read was used"


def size_text(size: int) -> str:
    """1048576 -> "1 MB", 2048 -> "2 KB"."""
    if size % MB == 0:
        return f"{size // MB:,} MB"
    return f"{size // KB:,} KB" if size % KB == 0 else f"{size:,} bytes"


@dataclass(frozen=True, slots=True)
class FeedLimits:
    """The bounds of one read of a feed; `subject` starts every message."""

    subject: str  # e.g. "Supplier feed at https://acme.example/stock.csv"
    max_bytes: int = 256 * MB
    max_line_chars: int = 1 * MB
    max_rows: int = 1_000_000

    def too_big(self, compressed: bool) -> FeedInvalid:
        size = size_text(self.max_bytes)
        grows = f"inflates past {size}" if compressed else f"is larger than {size}"
        return FeedInvalid(
            f"{self.subject} {grows} (the max_feed_mb setting); {USED_NOTHING}. "
            "If the feed really is that big, raise max_feed_mb"
        )

    def line_too_long(self) -> FeedInvalid:
        return FeedInvalid(
            f"{self.subject} has a line longer than {size_text(self.max_line_chars)} "
            f"(the max_line_kb setting), so it is not a usable stock feed; {USED_NOTHING}"
        )

    def too_many_rows(self) -> FeedInvalid:
        return FeedInvalid(
            f"{self.subject} has more than {self.max_rows:,} rows (the max_rows setting); "
            f"{USED_NOTHING}. If the feed really is that long, raise max_rows"
        )


def too_slow(subject: str, seconds: float) -> FeedInvalid:
    """A read stopped at its deadline (`poll_timeout`)."""
    return FeedInvalid(
        f"{subject} took longer than {duration_text(seconds)} to read (the poll_timeout "
        f"setting), so the poll was stopped; {USED_NOTHING}. A feed that sends very slowly "
        "can hold a poll forever; if this one is just big, raise poll_timeout"
    )


class Deadline:
    """The end of a read's time; the adapter's work runs under `bounding()`."""

    def __init__(self, seconds: float, subject: str) -> None:
        self.seconds = seconds
        self.subject = subject
        self.at = asyncio.get_running_loop().time() + seconds

    @asynccontextmanager
    async def bounding(self) -> AsyncIterator[None]:
        """Cancel the work inside once the deadline passes, as a FeedInvalid.

        Only the adapter's own awaits go inside, never the caller's database
        work between batches, so a cancellation cannot land in the middle of it.
        """
        if asyncio.get_running_loop().time() >= self.at:
            raise too_slow(self.subject, self.seconds)
        try:
            async with asyncio.timeout_at(self.at) as scope:
                yield
        except TimeoutError:
            if not scope.expired():
                raise
            raise too_slow(self.subject, self.seconds) from None
