"""From the loaded data to every product's forecast: pure computation, no I/O, so it
can run in a worker thread for the whole catalog. The result is a table of columns
(a few megabytes for 100,000 products); ForecastResult objects are made on demand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from bot.config import ForecastSection
from bot.core.forecast.cover import cover
from bot.core.forecast.drain import ROUND_CEILINGS, Restock, drains
from bot.core.forecast.history import Bools, Floats, ForecastData, Ints, by_offer_then_time
from bot.core.forecast.rates import (
    DataQuality,
    DemandClass,
    Method,
    Rates,
    sales_rates,
    series_mask,
)
from bot.core.forecast.result import ForecastResult
from bot.core.forecast.spikes import spike_days
from bot.core.forecast.stockouts import stockout_days


@dataclass(frozen=True, slots=True)
class ForecastTable:
    """Every product's forecast as columns (rows in `product_ids` order; NaN: unknown)."""

    now: datetime
    product_ids: Ints
    rate: Floats
    method: list[Method]
    demand_class: list[DemandClass | None]
    quality: list[DataQuality]
    history_days: Ints
    mae: Floats
    offer_ids: Ints
    drain: Floats
    restocks: dict[int, tuple[Restock, ...]]  # by offer
    stock: Floats
    out: Bools
    depletion: Floats
    cover_days: Floats
    foreseeable: Bools
    at_risk: Bools

    def __len__(self) -> int:
        return len(self.product_ids)

    def result(self, row: int) -> ForecastResult:
        def known(values: Floats) -> float | None:
            value = float(values[row])
            return None if np.isnan(value) else value

        days = known(self.cover_days)
        stock = known(self.stock)
        return ForecastResult(
            product_id=int(self.product_ids[row]),
            rate_per_day=float(self.rate[row]),
            method=self.method[row],
            demand_class=self.demand_class[row],
            data_quality=self.quality[row],
            history_days=int(self.history_days[row]),
            mae=known(self.mae),
            drain_per_day=known(self.drain),
            restocks=self.restocks.get(int(self.offer_ids[row]), ()),
            stock=None if stock is None else int(stock),
            out_of_stock=bool(self.out[row]),
            depletion_per_day=known(self.depletion),
            days_of_cover=days,
            predicted_stockout=(
                self.now + timedelta(days=days)
                if days is not None and self.foreseeable[row]
                else None
            ),
            at_risk=bool(self.at_risk[row]),
        )

    def results(self) -> dict[int, ForecastResult]:
        return {int(pid): self.result(row) for row, pid in enumerate(self.product_ids)}


def readings(data: ForecastData) -> tuple[Ints, Floats, Floats]:
    """Every reading of the active offers, sorted by offer then time: the last one
    before the window, those in it, and the current quantity as of the last poll that
    saw it (when later than the last change)."""
    offers = data.offers
    current = (offers.offer_ids >= 0) & ~np.isnan(offers.seen)
    offer_ids = np.concatenate(
        [data.opening.offer_ids, data.observations.offer_ids, offers.offer_ids[current]]
    )
    seconds = np.concatenate(
        [data.opening.seconds, data.observations.seconds, offers.seen[current]]
    )
    quantity = np.concatenate(
        [data.opening.quantity, data.observations.quantity, offers.quantity[current]]
    )
    is_current = np.arange(len(offer_ids)) >= len(offer_ids) - int(current.sum())
    order = by_offer_then_time(offer_ids, seconds, is_current)
    offer_ids, seconds, quantity = offer_ids[order], seconds[order], quantity[order]
    is_current = is_current[order]
    same_before = np.append(False, offer_ids[1:] == offer_ids[:-1])
    earlier = np.append(-np.inf, seconds[:-1])
    stale = is_current & same_before & (seconds <= earlier)
    return offer_ids[~stale], seconds[~stale], quantity[~stale]


def without_spikes(sales: Floats, left_out: Bools, rates: Rates) -> Rates:
    """Smooth sellers' rates again with their past spikes left out of the history
    (bot.core.forecast.spikes): a one-day rush is not the new normal."""
    smooth = np.array([method == Method.SES for method in rates.method], dtype=np.bool_)
    if not smooth.any():
        return rates
    rows = np.flatnonzero(smooth)
    spikes = spike_days(sales[rows], series_mask(sales[rows], left_out[rows]))
    rows, spikes = rows[spikes.any(axis=1)], spikes[spikes.any(axis=1)]
    if not len(rows):
        return rates
    again = sales_rates(sales[rows], left_out[rows] | spikes)
    merged = Rates(
        rate=rates.rate.copy(),
        method=list(rates.method),
        demand_class=list(rates.demand_class),
        quality=list(rates.quality),
        history_days=rates.history_days.copy(),
        mae=rates.mae.copy(),
    )
    for column in ("rate", "history_days", "mae"):
        getattr(merged, column)[rows] = getattr(again, column)
    for at, row in enumerate(rows.tolist()):
        merged.method[row] = again.method[at]
        merged.demand_class[row] = again.demand_class[at]
        merged.quality[row] = again.quality[at]
    return merged


def compute(data: ForecastData, now: datetime, config: ForecastSection) -> ForecastTable:
    """Every product's forecast as of `now`. Pass the data without keeping it
    (`compute(await load(...), ...)`): the sales and observations are let go once
    used, which keeps the whole catalog's recompute in a few hundred megabytes."""
    left_out = stockout_days(data, now.timestamp())
    rates = without_spikes(data.sales, left_out, sales_rates(data.sales, left_out))
    del left_out
    product_ids, offers = data.product_ids, data.offers
    offer_readings = readings(data)
    del data
    found = drains(*offer_readings)
    del offer_readings
    drain = np.full(len(offers.offer_ids), np.nan)
    ceiling = np.full(len(offers.offer_ids), np.nan)
    if len(found.offer_ids):
        where = np.clip(
            np.searchsorted(found.offer_ids, offers.offer_ids), 0, len(found.offer_ids) - 1
        )
        known = (offers.offer_ids >= 0) & (found.offer_ids[where] == offers.offer_ids)
        drain = np.where(known, found.per_day[where], np.nan)
        ceiling = np.where(known, found.ceiling[where], np.nan)
    # A capped quantity only says "at least": no stock to count down from.
    capped = np.isin(offers.quantity, ROUND_CEILINGS) | (offers.quantity == ceiling)
    stock = np.where(capped | (offers.offer_ids < 0), np.nan, offers.quantity)
    ahead = cover(stock, offers.out, drain, rates.rate)
    return ForecastTable(
        now=now,
        product_ids=product_ids,
        rate=rates.rate,
        method=rates.method,
        demand_class=rates.demand_class,
        quality=rates.quality,
        history_days=rates.history_days,
        mae=rates.mae,
        offer_ids=offers.offer_ids,
        drain=drain,
        restocks=found.restocks,
        stock=stock,
        out=offers.out,
        depletion=ahead.rate_per_day,
        cover_days=ahead.days,
        foreseeable=ahead.foreseeable,
        at_risk=np.nan_to_num(ahead.days, nan=np.inf) <= config.warn_days,
    )
