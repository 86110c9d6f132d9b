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

from bot.core.forecast.accuracy import ErrorTally
from bot.core.forecast.history import Bools, Floats, Ints

ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
SES_ALPHA = 0.1
TSB_ALPHA_D = 0.1
TSB_ALPHA_P = 0.1
MIN_HISTORY_DAYS = 14
METHODS_JUDGED = 3  # SES, TSB and the mean, each judged as if it were chosen


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
    # Mean absolute error of the one-day-ahead forecasts over the last MAE_DAYS days
    # (bot.core.forecast.accuracy); NaN without one.
    mae: Floats


def series_mask(sales: Floats, left_out: Bools) -> Bools:
    """(products, days): the days in each series, from its first sale, skipping
    the days left out."""
    counted = ~left_out
    started = np.logical_or.accumulate((sales > 0) & counted, axis=1)
    return started & counted


@dataclass(slots=True)
class _Smoothers:
    """Each method's state for every product at once; NaN until its series starts."""

    level: Floats  # SES
    probability: Floats  # TSB
    size: Floats  # TSB
    total: Floats  # mean
    days: Floats  # days in the series so far
    sales: Floats  # sale days so far
    squares: Floats  # sum of squared sale sizes (for CV²)

    @classmethod
    def start(cls, products: int) -> _Smoothers:
        nan, zero = np.full(products, np.nan), np.zeros(products)
        return cls(nan, nan.copy(), nan.copy(), zero, zero.copy(), zero.copy(), zero.copy())


def smooth(values: Floats, mask: Bools, errors: ErrorTally) -> _Smoothers:
    """Run SES, TSB and the running mean over (days, products) `values`, one day at a
    time, on the days `mask` keeps; `errors` is told each day's one-day-ahead
    forecasts (made from the days before only) and what sold."""
    days, products = values.shape
    state = _Smoothers.start(products)
    for day in range(days):
        inside, y = mask[day], values[day].astype(np.float64)
        sale = inside & (y > 0)
        fresh = inside & np.isnan(state.level)
        if errors.judges(day, days):
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = state.total / state.days
            errors.add(inside & ~fresh, y, (state.level, state.probability * state.size, mean))
        # Each smoothed quantity starts at its series' first value (as statsforecast).
        level = np.where(fresh, y, state.level)
        state.level = np.where(inside, SES_ALPHA * y + (1 - SES_ALPHA) * level, level)
        probability = np.where(fresh, 1.0, state.probability)
        state.probability = np.where(
            inside, TSB_ALPHA_P * sale + (1 - TSB_ALPHA_P) * probability, probability
        )
        size = np.where(fresh, y, state.size)
        state.size = np.where(sale, TSB_ALPHA_D * y + (1 - TSB_ALPHA_D) * size, size)
        state.total += np.where(inside, y, 0.0)
        state.days += inside
        state.sales += sale
        state.squares += np.where(sale, y * y, 0.0)
    return state


def classify(state: _Smoothers) -> tuple[Floats, Floats]:
    """(ADI, CV²) of each series: days per sale, and the squared coefficient of
    variation of the sale sizes; NaN without a sale."""
    with np.errstate(invalid="ignore", divide="ignore"):
        adi = state.days / state.sales
        mean = state.total / state.sales
        variance = state.squares / state.sales - mean**2
        cv2 = np.maximum(variance, 0.0) / mean**2
    return adi, cv2


def demand_class(adi: float, cv2: float) -> DemandClass:
    if adi > ADI_CUTOFF:
        return DemandClass.LUMPY if cv2 > CV2_CUTOFF else DemandClass.INTERMITTENT
    return DemandClass.ERRATIC if cv2 > CV2_CUTOFF else DemandClass.SMOOTH


def sales_rates(sales: Floats, left_out: Bools) -> Rates:
    """Each product's daily sales rate from its (products, days) history, with the
    MAE of its method's one-day-ahead forecasts over the last MAE_DAYS days."""
    # Transposed views, not copies: a day's column is read in place.
    mask = series_mask(sales, left_out).T
    errors = ErrorTally.start(len(sales), METHODS_JUDGED)
    state = smooth(sales.T, mask, errors)
    del mask
    adi, cv2 = classify(state)
    history = state.days.astype(np.int64)
    sold: Bools = np.asarray(state.sales > 0)
    little: Bools = np.less(history, MIN_HISTORY_DAYS)
    intermittent = adi > ADI_CUTOFF
    use_tsb = sold & ~little & intermittent
    use_ses = sold & ~little & ~intermittent
    use_mean = sold & little
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rate = state.total / state.days
    rate = np.select(
        [use_tsb, use_ses, use_mean], [state.probability * state.size, state.level, mean_rate], 0.0
    )
    # METHODS_JUDGED's order: SES, TSB, mean.
    mae = np.select([use_ses, use_tsb, use_mean], list(errors.mae()), np.nan)
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
    return Rates(rate, methods, classes, qualities, history, mae)
