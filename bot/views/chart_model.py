"""The numbers a product's stock chart is drawn from (built by `bot.views.charts`).

Plain dataclasses with no database or numpy behind them: the chart is drawn in a
child process, which loads only this and the drawing code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class StockLine:
    """One supplier's stock over time, as a step line; None where it was not known."""

    supplier: str
    active: bool
    times: tuple[datetime, ...]
    quantities: tuple[float | None, ...]


@dataclass(frozen=True, slots=True)
class ProductChart:
    sku: str
    title: str
    start: datetime  # 30 days ago, or the first stock reading when later
    now: datetime
    stock: tuple[StockLine, ...]
    sales_days: tuple[date, ...]  # the last 30 complete UTC days, oldest first
    sales: tuple[float, ...]  # units sold each of those days
    # The forecast for the active offer: its stock now, the units a day it goes at,
    # and when it runs out (None: not foreseeable, e.g. nothing sells).
    forecast_stock: float | None
    forecast_rate: float | None
    predicted_stockout: datetime | None
    little_data: bool

    @property
    def has_forecast(self) -> bool:
        return self.forecast_stock is not None and self.predicted_stockout is not None
