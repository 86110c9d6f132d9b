"""How fast a supplier's stock drains, from the readings of each offer.

The "inventory delta" practice: a fall between two readings is what every shop
bought; a rise is a restock (kept with its time and size, never negative demand).
Readings that say nothing are set aside first:

- no quantity (a feed that only says "in stock") or a capped one: a round ceiling
  such as 999 or 1000, or a ceiling the offer keeps returning to, is "at least";
- a glitch: a reading that jumps away from the one before and comes back on the
  next (at least half way, and not past where it started by more than the jump) is
  dropped, so a one-poll dip to 0 is neither a sale nor a restock.

The drain is a robust slope through the readings since the last restock (Theil-Sen:
the median of the pairwise slopes), so a stray reading barely moves it, and it
works at any time scale: three readings of a steady decline are enough, seconds or
hours apart. Observations are recorded on change only, so the offer's current
reading (as of the last poll that saw it) closes the series: a flat stretch since
the last change counts as no sales.

Every offer is done at once with numpy (segments of one array per offer), so the
whole catalog takes a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from bot.core.forecast.days import SECONDS_PER_DAY
from bot.core.forecast.history import Bools, Floats, Ints

MIN_READINGS = 3
# Pairwise slopes grow with the square of the readings: the latest ones tell most.
MAX_READINGS = 64
# Windows whose pairwise slopes are held in memory at once.
WINDOWS_AT_ONCE = 4096
# What feeds cap their quantities at.
ROUND_CEILINGS = np.array([999, 1000, 9999, 10000, 99999, 100000, 999999, 1000000])


@dataclass(frozen=True, slots=True)
class Restock:
    at: datetime
    size: int


@dataclass(frozen=True, slots=True)
class Drains:
    """Per offer (`offer_ids`, sorted)."""

    offer_ids: Ints
    per_day: Floats  # NaN: not enough readings to tell
    ceiling: Floats  # the offer's own cap, NaN: none seen
    restocks: dict[int, tuple[Restock, ...]]


def _segments(offer_ids: Ints) -> tuple[Ints, Bools, Bools]:
    """(segment of each reading, same offer as the reading before, as the one after)."""
    same_before = np.append(False, offer_ids[1:] == offer_ids[:-1])
    same_after = np.append(same_before[1:], False)
    return np.cumsum(~same_before) - 1, same_before, same_after


def _shift(values: Floats, by: int) -> Floats:
    """`values` moved `by` places later (1: each gets the one before), NaN-padded."""
    moved = np.full(len(values), np.nan)
    if by > 0:
        moved[by:] = values[:-by]
    else:
        moved[:by] = values[-by:]
    return moved


def _ceilings(offer_ids: Ints, quantity: Floats) -> Floats:
    """Each offer's own ceiling: its highest value when it came back to it after being
    below (a real restock seldom lands on the same number twice); NaN if none."""
    segment, same_before, _ = _segments(offer_ids)
    count = int(segment[-1]) + 1 if len(segment) else 0
    top = np.full(count, -np.inf)
    np.maximum.at(top, segment, quantity)
    at_top = quantity == top[segment]
    returns = at_top & ~(same_before & np.append(False, at_top[:-1]))
    runs = np.bincount(segment, weights=returns, minlength=count)
    return np.where(runs >= 2, top, np.nan)


def _theil_sen(seconds: Floats, quantity: Floats, first: Ints, length: Ints) -> Floats:
    """The median pairwise slope (units a second) of each window, windows of equal
    length together, a bounded number at a time; NaN under MIN_READINGS."""
    slopes = np.full(len(first), np.nan)
    for size in np.unique(length[length >= MIN_READINGS]).tolist():
        left, right = np.triu_indices(size, 1)
        every = np.flatnonzero(length == size)
        for start in range(0, len(every), WINDOWS_AT_ONCE):
            which = every[start : start + WINDOWS_AT_ONCE]
            rows = first[which][:, None] + np.arange(size)
            times, values = seconds[rows], quantity[rows]
            span = times[:, right] - times[:, left]
            with np.errstate(invalid="ignore", divide="ignore"):
                pair = np.where(span > 0, (values[:, right] - values[:, left]) / span, np.nan)
            gaps = np.isnan(pair).any()
            slopes[which] = np.nanmedian(pair, axis=1) if gaps else np.median(pair, axis=1)
    return slopes


def drains(offer_ids: Ints, seconds: Floats, quantity: Floats) -> Drains:
    """The drain of every offer from its readings, sorted by offer then time
    (epoch seconds; quantity NaN where none was given)."""
    offers = np.unique(offer_ids)
    told = ~np.isnan(quantity)
    offer_ids, seconds, quantity = offer_ids[told], seconds[told], quantity[told]
    ceiling = np.full(len(offers), np.nan)
    if len(offer_ids):
        own = _ceilings(offer_ids, quantity)
        ceiling[np.searchsorted(offers, np.unique(offer_ids))] = own
    capped = np.isin(quantity, ROUND_CEILINGS) | (
        quantity == ceiling[np.searchsorted(offers, offer_ids)]
    )
    offer_ids, seconds, quantity = offer_ids[~capped], seconds[~capped], quantity[~capped]

    # Glitches: away from the reading before and back on the next one.
    _, same_before, same_after = _segments(offer_ids)
    before, after = _shift(quantity, 1), _shift(quantity, -1)
    jump = np.abs(quantity - before)
    with np.errstate(invalid="ignore"):
        back = (np.abs(after - quantity) >= jump / 2) & (np.abs(after - before) <= jump)
        glitch = (
            same_before
            & same_after
            & (jump > 0)
            & back
            & ((after - quantity) * (before - quantity) > 0)
        )
    offer_ids, seconds, quantity = offer_ids[~glitch], seconds[~glitch], quantity[~glitch]
    if not len(offer_ids):
        return Drains(offers, np.full(len(offers), np.nan), ceiling, {})

    # Restocks, and the window since the last one (its latest MAX_READINGS readings).
    segment, same_before, _ = _segments(offer_ids)
    count = int(segment[-1]) + 1
    index = np.arange(len(offer_ids))
    rise = same_before & (quantity > _shift(quantity, 1))
    first = np.zeros(count, dtype=np.int64)
    np.maximum.at(first, segment, np.where(rise | ~same_before, index, 0))
    last = np.zeros(count, dtype=np.int64)
    np.maximum.at(last, segment, index)
    first = np.maximum(first, last - MAX_READINGS + 1)
    length = last - first + 1
    slope = _theil_sen(seconds, quantity, first, length)
    # Two readings with no change between them are a stretch without sales.
    pair = length == 2
    flat = pair & (quantity[first] == quantity[last]) & (seconds[last] > seconds[first])
    slope = np.where(flat, 0.0, slope)
    per_day = np.full(len(offers), np.nan)
    # A rising or flat window drains nothing (+ 0.0 turns -0.0 into 0.0).
    draining = np.maximum(0.0, -slope) * SECONDS_PER_DAY + 0.0
    per_day[np.searchsorted(offers, offer_ids[~same_before])] = draining

    restocks: dict[int, list[Restock]] = {}
    sizes = quantity - _shift(quantity, 1)
    for at in np.flatnonzero(rise).tolist():
        moment = datetime.fromtimestamp(float(seconds[at]), UTC)
        restocks.setdefault(int(offer_ids[at]), []).append(Restock(moment, int(sizes[at])))
    return Drains(offers, per_day, ceiling, {k: tuple(v) for k, v in restocks.items()})
