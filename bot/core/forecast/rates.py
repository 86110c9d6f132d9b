"""How fast a product sells: Syntetos-Boylan classification, then SES or TSB.

Published methods, computed for every product at once (numpy, one step per day):

- Classification (Syntetos, Boylan and Croston 2005, JORS 56:495-503): ADI, the
  average number of days per sale, and CV², the squared coefficient of variation
  of the sale sizes. ADI > 1.32 is intermittent, CV² > 0.49 erratic; both, lumpy.
- Smooth and erratic demand (a sale most days): simple exponential smoothing,
  ŷ(t+1) = α·y(t) + (1-α)·ŷ(t), the level started at the first value.
- Intermittent and lumpy demand: TSB (Teunter, Syntetos and Babai 2011, EJOR
  214(3)): every day p ← α_p·d + (1-α_p)·p (d = 1 on a sale day, else 0); on sale
  days z ← α_d·y + (1-α_d)·z; ŷ = p·z. Unlike Croston it decays when sales stop.
- Fewer than 14 days of history: the mean, labelled "little data".

Initialisation matches statsforecast's (the oracle in tests/test_forecast_oracle.py):
each smoothed quantity starts at its series' first value, so p starts at 1 and z at
the first sale's size. A series starts at the product's first sale in the window
(as the M5 benchmarks do) and skips the days it was out of stock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from bot.core.forecast.history import Bools, Floats, Ints

ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
SES_ALPHA = 0.1
TSB_ALPHA_D = 0.1
TSB_ALPHA_P = 0.1
MIN_HISTORY_DAYS = 14


class Method(enum.StrEnum):
    SES = "ses"
    TSB = "tsb"
    MEAN = "mean"
    NONE = "none"  # no sale in the window: the rate is zero


class DemandClass(enum.StrEnum):
    SMOOTH = "smooth"
    ERRATIC = "erratic"
    INTERMITTENT = "intermittent"
    LUMPY = "lumpy"


class DataQuality(enum.StrEnum):
    ENOUGH = "enough history"
    LITTLE_DATA = "little data"
    NO_SALES = "no sales"


@dataclass(frozen=True, slots=True)
class Rates:
    """Per product (rows as the input)."""

    rate: Floats  # units per day expected tomorrow
    method: list[Method]
    demand_class: list[DemandClass | None]
    quality: list[DataQuality]
    history_days: Ints  # days in the series (from the first sale, in stock)
    # (products, days): each day's one-day-ahead forecast, made from earlier days only;
    # NaN where the series had not started or the day is left out.
    one_step: Floats


def series_mask(sales: Floats, left_out: Bools) -> Bools:
    """(products, days): the days in each series, from its first sale, skipping
    the days left out."""
    counted = ~left_out
    started = np.cumsum((sales > 0) & counted, axis=1) > 0
    return started & counted


def ses(values: Floats, mask: Bools, alpha: float) -> tuple[Floats, Floats]:
    """(the forecast after the last day, each day's one-step forecast); arrays are
    (days, products), `mask` the days in each series."""
    days, products = values.shape
    level = np.full(products, np.nan)
    one_step = np.full((days, products), np.nan)
    for day in range(days):
        inside, y = mask[day], values[day]
        fresh = inside & np.isnan(level)
        one_step[day] = np.where(inside & ~fresh, level, np.nan)
        level = np.where(fresh, y, level)
        level = np.where(inside, alpha * y + (1 - alpha) * level, level)
    return level, one_step


def tsb(values: Floats, mask: Bools, alpha_d: float, alpha_p: float) -> tuple[Floats, Floats]:
    """TSB as `ses` lays it out; every series starts with a sale."""
    days, products = values.shape
    probability = np.full(products, np.nan)
    size = np.full(products, np.nan)
    one_step = np.full((days, products), np.nan)
    for day in range(days):
        inside, y = mask[day], values[day]
        sale = inside & (y > 0)
        fresh = inside & np.isnan(probability)
        one_step[day] = np.where(inside & ~fresh, probability * size, np.nan)
        probability = np.where(fresh, 1.0, probability)
        size = np.where(fresh, y, size)
        probability = np.where(inside, alpha_p * sale + (1 - alpha_p) * probability, probability)
        size = np.where(sale, alpha_d * y + (1 - alpha_d) * size, size)
    return probability * size, one_step


def running_mean(values: Floats, mask: Bools) -> tuple[Floats, Floats]:
    """The mean of each series, and each day's mean of the days before it."""
    counted = np.where(mask, values, 0.0)
    totals, counts = np.cumsum(counted, axis=0), np.cumsum(mask, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        before = (totals - counted) / (counts - mask)
        mean = totals[-1] / counts[-1]
    one_step = np.where(mask & (counts > 1), before, np.nan)
    return mean, one_step


def classify(values: Floats, mask: Bools) -> tuple[Floats, Floats]:
    """(ADI, CV²) of each series (days, products); NaN without a sale."""
    sales = mask & (values > 0)
    days, count = mask.sum(axis=0), sales.sum(axis=0)
    sizes = np.where(sales, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        adi = days / count
        mean = sizes.sum(axis=0) / count
        variance = (sizes**2).sum(axis=0) / count - mean**2
        cv2 = np.maximum(variance, 0.0) / mean**2
    return adi, cv2


def demand_class(adi: float, cv2: float) -> DemandClass:
    if adi > ADI_CUTOFF:
        return DemandClass.LUMPY if cv2 > CV2_CUTOFF else DemandClass.INTERMITTENT
    return DemandClass.ERRATIC if cv2 > CV2_CUTOFF else DemandClass.SMOOTH


def sales_rates(sales: Floats, left_out: Bools) -> Rates:
    """Each product's daily sales rate from its (products, days) history."""
    mask = series_mask(sales, left_out).T.copy()
    values = np.ascontiguousarray(sales.T)
    adi, cv2 = classify(values, mask)
    ses_rate, ses_step = ses(values, mask, SES_ALPHA)
    tsb_rate, tsb_step = tsb(values, mask, TSB_ALPHA_D, TSB_ALPHA_P)
    mean_rate, mean_step = running_mean(values, mask)
    history = mask.sum(axis=0)
    sold: Bools = np.asarray(mask.any(axis=0))
    little: Bools = np.less(history, MIN_HISTORY_DAYS)
    intermittent = adi > ADI_CUTOFF
    use_tsb = sold & ~little & intermittent
    use_ses = sold & ~little & ~intermittent
    use_mean = sold & little
    rate = np.select([use_tsb, use_ses, use_mean], [tsb_rate, ses_rate, mean_rate], 0.0)
    one_step = np.select(
        [use_tsb[None, :], use_ses[None, :], use_mean[None, :]],
        [tsb_step, ses_step, mean_step],
        np.nan,
    )
    methods: list[Method] = []
    classes: list[DemandClass | None] = []
    qualities: list[DataQuality] = []
    for has_sales, few, tsb_used, a, c in zip(
        sold.tolist(), little.tolist(), use_tsb.tolist(), adi.tolist(), cv2.tolist(), strict=True
    ):
        if not has_sales:
            methods.append(Method.NONE)
            classes.append(None)
            qualities.append(DataQuality.NO_SALES)
        elif few:
            methods.append(Method.MEAN)
            classes.append(demand_class(a, c))
            qualities.append(DataQuality.LITTLE_DATA)
        else:
            methods.append(Method.TSB if tsb_used else Method.SES)
            classes.append(demand_class(a, c))
            qualities.append(DataQuality.ENOUGH)
    return Rates(rate, methods, classes, qualities, history, np.ascontiguousarray(one_step.T))
