"""Demand spikes: a day's orders far above what the product's rate explains.

A spike is a day whose units are above the Poisson 99.9% quantile of the rate (so
chance alone explains it once in a thousand days) and at least 3 times the
product's mean over the last 28 days (so a slow seller's second sale is not news).
A past spike is left out of the sales history the rate learns from (as a stockout
day is), unless it lasts LASTING_DAYS in a row: then it is the new normal. Only
smooth sellers' rates leave spikes out (`compute`): for intermittent and lumpy
demand, big occasional orders are the pattern TSB is built for.
The quantile is computed exactly (a running sum of Poisson probabilities, in log
space), which is all this needs: no SciPy at run time.
"""

from __future__ import annotations

import math

import numpy as np

from bot.core.forecast.history import Bools, Floats

SPIKE_QUANTILE = 0.999
SPIKE_FACTOR = 3.0
SPIKE_MEAN_DAYS = 28


def poisson_quantile(rate: float, q: float = SPIKE_QUANTILE) -> int:
    """The smallest k with P(X <= k) >= q for X ~ Poisson(rate) (scipy's `ppf`)."""
    if rate <= 0:
        return 0
    total, k = 0.0, 0
    log_rate = math.log(rate)
    while True:
        total += math.exp(k * log_rate - rate - math.lgamma(k + 1))
        # Past the mode with the sum still short of q only by rounding: stop there.
        if total >= q or (k > rate and total >= q - 1e-12):
            return k
        k += 1


def is_spike(today: float, rate: float, mean_28: float) -> bool:
    """Today's units are a spike against a known rate and 28-day mean (both > 0:
    without a baseline nothing can be called unusual)."""
    if rate <= 0 or mean_28 <= 0:
        return False
    return today > poisson_quantile(rate) and today >= SPIKE_FACTOR * mean_28


# Products handled at a time: bounded memory for any catalog.
ROWS_AT_ONCE = 16384
# Counted days a baseline needs (as many as a rate needs to be more than "little data").
BASELINE_DAYS = 14
# A spike that lasts this many days in a row is a new level, not a spike.
LASTING_DAYS = 3


def spike_days(sales: Floats, counted: Bools) -> Bools:
    """(products, days): the past days that were spikes against the `counted` days
    (in the series, in stock) among the 28 before them, whose mean stands for the
    rate; runs of LASTING_DAYS or more are not spikes. Without BASELINE_DAYS counted
    days before it, a day has no baseline and is no spike."""
    products, days = sales.shape
    found = np.zeros((products, days), dtype=np.bool_)
    ends = np.arange(days)
    starts = np.maximum(0, ends - SPIKE_MEAN_DAYS)
    for low in range(0, products, ROWS_AT_ONCE):
        inside = counted[low : low + ROWS_AT_ONCE]
        block = np.where(inside, sales[low : low + ROWS_AT_ONCE], 0.0)
        zero = np.zeros((len(block), 1))
        totals = np.concatenate([zero, np.cumsum(block, axis=1)], axis=1)
        known = np.concatenate([zero, np.cumsum(inside, axis=1)], axis=1)
        count = known[:, ends] - known[:, starts]
        with np.errstate(invalid="ignore", divide="ignore"):
            means = (totals[:, ends] - totals[:, starts]) / count
        candidate = (
            inside
            & (count >= BASELINE_DAYS)
            & (means > 0)
            & (block >= SPIKE_FACTOR * np.nan_to_num(means))
        )
        rows, cols = np.nonzero(candidate)
        if len(rows):
            # One quantile per distinct rate: there are few (sums of whole units / days).
            distinct, which = np.unique(means[rows, cols], return_inverse=True)
            quantiles = np.array([poisson_quantile(float(r)) for r in distinct])
            spike = block[rows, cols] > quantiles[which]
            found[low + rows[spike], cols[spike]] = True
    lasting = found[:, : days - 2] & found[:, 1 : days - 1] & found[:, 2:]
    for shift in range(LASTING_DAYS):
        found[:, shift : days - LASTING_DAYS + 1 + shift] &= ~lasting
    return found
