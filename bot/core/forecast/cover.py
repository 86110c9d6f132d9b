"""Days of cover and the predicted stockout of each product's active offer.

Days of cover = usable stock / the rate it goes at; the predicted stockout is now
plus those days (Stocky's "Depletion", Cogsy's "Days Left" and "OOS date"). The
stock goes at the higher of the supplier's drain (every shop buying from it) and
our own sales rate, as ours is part of theirs. What is not known stays NaN (None
to readers): no quantity, no rate, or a rate of zero (nothing says it will run out).
An offer already out of stock has no cover left: 0 days, out now.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.core.forecast.history import Bools, Floats

# Further than this is "not foreseeable", and past what a datetime can hold anyway.
MAX_COVER_DAYS = 36500.0


@dataclass(frozen=True, slots=True)
class Cover:
    """Per product; NaN where not known."""

    rate_per_day: Floats  # the rate the stock goes at
    days: Floats
    foreseeable: Bools  # a stockout date can be given


def cover(
    stock: Floats, out_of_stock: Bools, drain_per_day: Floats, sales_per_day: Floats
) -> Cover:
    rate = np.fmax(drain_per_day, sales_per_day)  # NaN only when both are
    with np.errstate(invalid="ignore", divide="ignore"):
        days = np.where(rate > 0, stock / rate, np.nan)
    days = np.where(out_of_stock, 0.0, days)
    return Cover(rate, days, ~np.isnan(days) & (days <= MAX_COVER_DAYS))
