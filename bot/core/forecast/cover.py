"""Days of cover and the predicted stockout of a product's active offer.

Days of cover = usable stock / the rate it goes at; the predicted stockout is now
plus those days (Stocky's "Depletion", Cogsy's "Days Left" and "OOS date"). The
stock goes at the higher of the supplier's drain (every shop buying from it) and
our own sales rate, as ours is part of theirs. What is not known stays None: no
quantity, no rate, or a rate of zero (nothing suggests it will run out).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Further than this is "not foreseeable", and past what a datetime can hold anyway.
MAX_COVER_DAYS = 36500.0


@dataclass(frozen=True, slots=True)
class Cover:
    rate_per_day: float | None  # the rate the stock goes at
    days: float | None
    stockout_at: datetime | None


def depletion_rate(drain_per_day: float | None, sales_per_day: float | None) -> float | None:
    known = [rate for rate in (drain_per_day, sales_per_day) if rate is not None]
    return max(known) if known else None


def cover(
    stock: float | None,
    out_of_stock: bool,
    drain_per_day: float | None,
    sales_per_day: float | None,
    now: datetime,
) -> Cover:
    rate = depletion_rate(drain_per_day, sales_per_day)
    if out_of_stock:
        return Cover(rate, 0.0, now)  # already out
    if stock is None or rate is None or rate <= 0:
        return Cover(rate, None, None)
    days = stock / rate
    if days > MAX_COVER_DAYS:
        return Cover(rate, days, None)
    return Cover(rate, days, now + timedelta(days=days))
