"""From the loaded data to each product's ForecastResult: pure computation, no I/O,
so it can run in a worker thread for the whole catalog."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from bot.config import ForecastSection
from bot.core.forecast.accuracy import mean_absolute_error
from bot.core.forecast.cover import cover
from bot.core.forecast.drain import Drain, is_round_ceiling, offer_ceiling, supplier_drain
from bot.core.forecast.history import ForecastData, Observations
from bot.core.forecast.rates import sales_rates
from bot.core.forecast.result import ForecastResult
from bot.core.forecast.stockouts import stockout_days


def _groups(observations: Observations) -> dict[int, tuple[list[float], list[float]]]:
    """(times, quantities) of each offer, oldest first."""
    offer_ids = observations.offer_ids
    if not len(offer_ids):
        return {}
    starts = np.flatnonzero(np.append(True, offer_ids[1:] != offer_ids[:-1]))
    ends = np.append(starts[1:], len(offer_ids))
    seconds, quantity = observations.seconds.tolist(), observations.quantity.tolist()
    return {
        int(offer_ids[start]): (seconds[start:end], quantity[start:end])
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True)
    }


def _readings(
    data: ForecastData,
) -> dict[int, tuple[list[float], list[float]]]:
    """Every reading of each active offer: the last one before the window, those in it,
    and its current quantity as of the last poll that saw it."""
    opening, recent = _groups(data.opening), _groups(data.observations)
    offers = data.offers
    readings: dict[int, tuple[list[float], list[float]]] = {}
    for row, offer_id in enumerate(offers.offer_ids.tolist()):
        if offer_id < 0:
            continue
        times, quantities = opening.get(offer_id, ([], []))
        more = recent.get(offer_id, ([], []))
        times, quantities = times + more[0], quantities + more[1]
        seen = float(offers.seen[row])
        if not np.isnan(seen) and (not times or seen > times[-1]):
            times.append(seen)
            quantities.append(float(offers.quantity[row]))
        readings[offer_id] = (times, quantities)
    return readings


def _stock(quantity: float, quantities: list[float]) -> int | None:
    """The current quantity, unless unknown or capped (then it only says "at least")."""
    if np.isnan(quantity) or is_round_ceiling(quantity) or quantity == offer_ceiling(quantities):
        return None
    return int(quantity)


def compute(
    data: ForecastData, now: datetime, config: ForecastSection
) -> dict[int, ForecastResult]:
    """Each product's forecast, by product id."""
    left_out = stockout_days(data, now.timestamp())
    rates = sales_rates(data.sales, left_out)
    mae = mean_absolute_error(data.sales, rates.one_step)
    readings = _readings(data)
    offers = data.offers
    results: dict[int, ForecastResult] = {}
    no_drain = Drain(None, (), 0)
    for row, product_id in enumerate(data.product_ids.tolist()):
        offer_id = int(offers.offer_ids[row])
        times, quantities = readings.get(offer_id, ([], []))
        drain = supplier_drain(times, quantities) if offer_id >= 0 else no_drain
        stock = _stock(float(offers.quantity[row]), quantities) if offer_id >= 0 else None
        out = bool(offers.out[row])
        rate = float(rates.rate[row])
        ahead = cover(stock, out, drain.per_day, rate, now)
        error = float(mae[row])
        results[product_id] = ForecastResult(
            product_id=product_id,
            rate_per_day=rate,
            method=rates.method[row],
            demand_class=rates.demand_class[row],
            data_quality=rates.quality[row],
            history_days=int(rates.history_days[row]),
            mae=None if np.isnan(error) else error,
            drain_per_day=drain.per_day,
            restocks=drain.restocks,
            stock=stock,
            out_of_stock=out,
            depletion_per_day=ahead.rate_per_day,
            days_of_cover=ahead.days,
            predicted_stockout=ahead.stockout_at,
            at_risk=ahead.days is not None and ahead.days <= config.warn_days,
        )
    return results
