"""What a forecast says about one product: the read model surfaces build on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.forecast.drain import Restock
from bot.core.forecast.rates import DataQuality, DemandClass, Method


@dataclass(frozen=True, slots=True)
class ForecastResult:
    """None is "not known", never zero."""

    product_id: int
    # Our own sales: units a day expected from tomorrow on (0.0 without a sale).
    rate_per_day: float
    method: Method
    demand_class: DemandClass | None
    data_quality: DataQuality
    history_days: int  # days the rate learnt from (from the first sale, in stock)
    # Mean absolute error of the one-day-ahead forecasts over the last 28 days.
    mae: float | None
    # The active offer's supplier stock: units a day every shop takes from it.
    drain_per_day: float | None
    restocks: tuple[Restock, ...]  # of the active offer, in the history window
    stock: int | None  # the active offer's quantity (None: not told, or capped)
    out_of_stock: bool
    depletion_per_day: float | None  # the higher of the drain and our rate
    days_of_cover: float | None
    predicted_stockout: datetime | None
    at_risk: bool  # predicted to run out within [forecast] warn_days
