"""How fast a supplier's stock drains, from the observations of one offer.

The "inventory delta" practice: a fall between two readings is what every shop
bought; a rise is a restock (kept with its time and size, never negative demand).
Readings that say nothing are set aside first:

- no quantity (a feed that only says "in stock") or a capped one: a round ceiling
  such as 999 or 1000, or a ceiling the offer keeps returning to, is "at least";
- a glitch: a reading that jumps away and comes back on the next reading (at least
  half way, and not past where it started by more than the jump) is dropped, so a
  one-poll dip to 0 is neither a sale nor a restock.

The drain is a robust slope through the readings since the last restock (Theil-Sen:
the median of the pairwise slopes), so a stray reading barely moves it, and it
works at any time scale: three readings of a steady decline are enough, seconds or
hours apart. Observations are recorded on change only, so the offer's current
reading (as of the last poll that saw it) closes the series: a flat stretch since
the last change counts as no sales.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.core.forecast.days import SECONDS_PER_DAY

MIN_READINGS = 3
# Pairwise slopes grow with the square of the readings: the latest ones tell most.
MAX_READINGS = 64


@dataclass(frozen=True, slots=True)
class Restock:
    at: datetime
    size: int


@dataclass(frozen=True, slots=True)
class Drain:
    per_day: float | None  # None: not enough readings to tell
    restocks: tuple[Restock, ...]
    readings: int  # readings since the last restock the slope is drawn through


def is_round_ceiling(quantity: float) -> bool:
    """999, 1000, 9999, 10000, …: what feeds cap their quantities at."""
    value = int(quantity)
    if value != quantity or value < 999:
        return False
    text = str(value)
    return text.strip("9") == "" or text.rstrip("0") == "1"


def offer_ceiling(quantities: Sequence[float]) -> float | None:
    """The offer's own ceiling: its highest value when it came back to it after being
    below (a real restock seldom lands on exactly the same number twice)."""
    known = [q for q in quantities if q == q]  # NaN: no quantity
    if not known:
        return None
    top = max(known)
    runs = sum(
        1
        for index, value in enumerate(known)
        if value == top and (index == 0 or known[index - 1] != top)
    )
    return top if runs >= 2 else None


def usable(times: Sequence[float], quantities: Sequence[float | None]) -> list[tuple[float, float]]:
    """The readings with a quantity that is not capped, in time order."""
    known = [(t, q) for t, q in zip(times, quantities, strict=True) if q is not None and q == q]
    if not known:
        return []
    ceiling = offer_ceiling([q for _, q in known])
    return [(t, q) for t, q in known if q != ceiling and not is_round_ceiling(q)]


def without_glitches(readings: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Drop each reading that jumps away from the one before and comes back on the next."""
    kept: list[tuple[float, float]] = []
    for index, (moment, quantity) in enumerate(readings):
        if kept and index + 1 < len(readings):
            before, after = kept[-1][1], readings[index + 1][1]
            jump = abs(quantity - before)
            # Back at least half way, and not past the start by more than the jump.
            back = abs(after - quantity) >= jump / 2 and abs(after - before) <= jump
            if quantity != before and back and (after - quantity) * (before - quantity) > 0:
                continue
        kept.append((moment, quantity))
    return kept


def theil_sen(readings: Sequence[tuple[float, float]]) -> float:
    """The median of the slopes between every two readings (units per second)."""
    slopes = [
        (q2 - q1) / (t2 - t1)
        for index, (t1, q1) in enumerate(readings)
        for t2, q2 in readings[index + 1 :]
        if t2 > t1
    ]
    return statistics.median(slopes) if slopes else 0.0


def supplier_drain(times: Sequence[float], quantities: Sequence[float | None]) -> Drain:
    """The drain of one offer from its readings (epoch seconds, quantities), oldest first."""
    readings = without_glitches(usable(times, quantities))
    restocks: list[Restock] = []
    since = 0
    for index in range(1, len(readings)):
        rise = readings[index][1] - readings[index - 1][1]
        if rise > 0:
            moment = datetime.fromtimestamp(readings[index][0], UTC)
            restocks.append(Restock(moment, int(rise)))
            since = index
    window = readings[since:][-MAX_READINGS:]
    if len(window) < MIN_READINGS:
        # Two readings with no change between them are a stretch without sales.
        flat = len(window) == 2 and window[0][1] == window[1][1] and window[1][0] > window[0][0]
        return Drain(0.0 if flat else None, tuple(restocks), len(window))
    slope = theil_sen(window)
    return Drain(max(0.0, -slope) * SECONDS_PER_DAY, tuple(restocks), len(window))
