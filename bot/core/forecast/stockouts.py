"""Days a product could not be sold: out of stock at its active supplier all day long.

Such a day says nothing about demand, so it is left out of the series instead of
counting as a zero (Inventory Planner's "use stockouts history"). An observation's
state (quantity 0 or a stockout availability) holds until the next observation;
a day counts only if the state is known from its start (an observation before it)
and no moment of it had stock. A state that is not known is never read as "out".
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from bot.core.forecast.days import SECONDS_PER_DAY
from bot.core.forecast.history import Bools, Floats, ForecastData, Ints, Window

Int16s = npt.NDArray[np.int16]
# Observations handled at a time: bounded memory for any history.
CHUNK = 262_144


def _rows_of(offer_ids: Ints, active_offers: Ints) -> Ints:
    """The product row of each observation's offer (-1: not an active offer)."""
    if not len(active_offers):
        return np.full(len(offer_ids), -1, dtype=np.int64)
    order = np.argsort(active_offers, kind="stable")
    ranked = active_offers[order]
    where = np.clip(np.searchsorted(ranked, offer_ids), 0, len(ranked) - 1)
    return np.where(ranked[where] == offer_ids, order[where], -1).astype(np.int64)


def _mark_selling(
    reach: Int16s, window: Window, rows: Ints, since: Floats, until: Floats, selling: Bools
) -> None:
    """Mark the days the selling intervals [since, until) touch: for the column each
    starts in, the furthest column it reaches (carried along afterwards)."""
    days = reach.shape[1]
    keep = selling & (rows >= 0) & (until > since)
    first = np.floor(since[keep] / SECONDS_PER_DAY).astype(np.int64) - window.first_day
    last = np.ceil(until[keep] / SECONDS_PER_DAY).astype(np.int64) - 1 - window.first_day
    first, last = np.clip(first, 0, days - 1), np.clip(last, -1, days - 1)
    spans = (first <= last) & (last >= 0)
    np.maximum.at(reach, (rows[keep][spans], first[spans]), last[spans].astype(np.int16))


def stockout_days(data: ForecastData, now: float) -> Bools:
    """(products, days): True where the product's active offer was out all day."""
    window = data.window
    products, days = data.sales.shape
    start = window.first_day * SECONDS_PER_DAY
    active = data.offers.offer_ids
    # For each product and column an interval with stock starts in, the furthest
    # column it reaches (int16: a fifth of the memory of counting).
    reach = np.full((products, days), -1, dtype=np.int16, order="F")  # as the sales
    known_from = np.full(products, np.inf)

    # Each observed state holds until the offer's next observation, the last until now.
    observed = data.observations
    total = len(observed.offer_ids)
    for low in range(0, total, CHUNK):
        high = min(low + CHUNK, total)
        offer_ids, seconds = observed.offer_ids[low:high], observed.seconds[low:high]
        following = observed.offer_ids[low + 1 : high + 1]
        same_next = np.zeros(high - low, dtype=np.bool_)
        same_next[: len(following)] = following == offer_ids[: len(following)]
        until = np.full(high - low, now)
        until[same_next] = observed.seconds[low + 1 : high + 1][same_next[: len(following)]]
        rows = _rows_of(offer_ids, active)
        _mark_selling(reach, window, rows, seconds, until, ~observed.out[low:high])
        before = observed.offer_ids[low - 1] if low else -1
        opens = np.append(offer_ids[0] != before, offer_ids[1:] != offer_ids[:-1]) & (rows >= 0)
        known_from[rows[opens]] = np.minimum(known_from[rows[opens]], seconds[opens])

    # The state before the window holds from its start to the offer's first observation.
    opening = data.opening
    rows = _rows_of(opening.offer_ids, active)
    at = np.clip(np.searchsorted(observed.offer_ids, opening.offer_ids), 0, max(total - 1, 0))
    has_next = (observed.offer_ids[at] == opening.offer_ids) if total else np.zeros(0, bool)
    until = np.where(has_next, observed.seconds[at] if total else now, now)
    since = np.full(len(rows), start)
    _mark_selling(reach, window, rows, since, until, ~opening.out)
    known_from[rows[rows >= 0]] = start

    np.maximum.accumulate(reach, axis=1, out=reach)
    sold_some_time = reach >= np.arange(days, dtype=np.int16)
    del reach
    day_starts = (window.first_day + np.arange(days)) * SECONDS_PER_DAY
    known = day_starts[None, :] >= known_from[:, None]
    return known & ~sold_some_time
