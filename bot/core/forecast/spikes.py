"""Demand spikes: a day's orders far above what the product's rate explains.

A spike is a day whose units are above the Poisson 99.9% quantile of the rate (so
chance alone explains it once in a thousand days) and at least 3 times the
product's mean over the last 28 days (so a slow seller's second sale is not news).
The quantile is computed exactly (a running sum of Poisson probabilities, in log
space), which is all this needs: no SciPy at run time.
"""

from __future__ import annotations

import math

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
