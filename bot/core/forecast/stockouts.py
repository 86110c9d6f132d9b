"""Days a product could not be sold: out of stock at its active supplier all day long.

Such a day says nothing about demand, so it is left out of the series instead of
counting as a zero (Inventory Planner's "use stockouts history"). An observation's
state (quantity 0 or a stockout availability) holds until the next observation;
a day counts only if the state is known from its start (an observation before it)
and no moment of it had stock. A state that is not known is never read as "out".
"""

from __future__ import annotations

import numpy as np

from bot.core.forecast.days import SECONDS_PER_DAY
from bot.core.forecast.history import Bools, ForecastData, Ints, Observations


def _rows_of(offer_ids: Ints, active_offers: Ints) -> Ints:
    """The product row of each observation's offer (-1: not an active offer)."""
    order = np.argsort(active_offers, kind="stable")
    ranked = active_offers[order]
    where = np.clip(np.searchsorted(ranked, offer_ids), 0, max(len(ranked) - 1, 0))
    if not len(ranked):
        return np.full(len(offer_ids), -1, dtype=np.int64)
    return np.where(ranked[where] == offer_ids, order[where], -1).astype(np.int64)


def _opening_at_start(opening: Observations, start: float) -> Observations:
    """Each offer's state before the window, as if observed when the window opens."""
    return Observations(
        opening.offer_ids, np.full(len(opening.seconds), start), opening.quantity, opening.out
    )


def stockout_days(data: ForecastData, now: float) -> Bools:
    """(products, days): True where the product's active offer was out all day."""
    window = data.window
    products, days = data.sales.shape
    start = window.first_day * SECONDS_PER_DAY
    first = _opening_at_start(data.opening, start)
    offer_ids = np.concatenate([first.offer_ids, data.observations.offer_ids])
    seconds = np.concatenate([first.seconds, data.observations.seconds])
    out = np.concatenate([first.out, data.observations.out])
    order = np.lexsort((seconds, offer_ids))
    offer_ids, seconds, out = offer_ids[order], seconds[order], out[order]
    rows = _rows_of(offer_ids, data.offers.offer_ids)

    # Each state holds until the offer's next observation, the last one until now.
    same_next = np.append(offer_ids[1:] == offer_ids[:-1], False)
    until = np.where(same_next, np.append(seconds[1:], now), now)
    had_stock = np.zeros((products, days + 1), dtype=np.int64)
    selling = (~out) & (rows >= 0) & (until > seconds)
    first_col = np.floor(seconds[selling] / SECONDS_PER_DAY).astype(np.int64) - window.first_day
    last_col = np.ceil(until[selling] / SECONDS_PER_DAY).astype(np.int64) - 1 - window.first_day
    first_col, last_col = np.clip(first_col, 0, days), np.clip(last_col, -1, days - 1)
    spans = first_col <= last_col
    np.add.at(had_stock, (rows[selling][spans], first_col[spans]), 1)
    np.add.at(had_stock, (rows[selling][spans], last_col[spans] + 1), -1)
    sold_some_time = np.cumsum(had_stock, axis=1)[:, :days] > 0

    # Known from the start of the day: the offer's first observation is no later.
    known_from = np.full(products, np.inf)
    starts = np.append(True, offer_ids[1:] != offer_ids[:-1]) & (rows >= 0)
    known_from[rows[starts]] = seconds[starts]
    day_starts = (window.first_day + np.arange(days)) * SECONDS_PER_DAY
    known = day_starts[None, :] >= known_from[:, None]
    return known & ~sold_some_time
