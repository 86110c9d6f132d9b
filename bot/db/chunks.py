"""Cutting long ID lists into chunks, so no `IN (...)` exceeds a driver's parameter limit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

# Values per `IN (...)`: well under SQLite's 32,766 and asyncpg's 32,767 parameters.
CHUNK = 500


def chunks(values: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    """The values in lists of at most `size`, in order."""
    items = list(values)
    for start in range(0, len(items), size):
        yield items[start : start + size]
