"""Seeing stockouts coming: how fast each product sells and its supplier drains,
and when its active offer will run out.

One module per job:
- `days`: UTC day numbers, in Python and SQL.
- `history`: bulk loading of sales, active offers and stock observations.
- `stockouts`: the days a product could not be sold (left out of its history).
- `rates`: Syntetos-Boylan classification; SES, TSB or the mean.
- `accuracy`: the 28-day MAE of one-day-ahead forecasts; the kept forecasts.
- `drain`: the supplier's drain (Theil-Sen), restocks, glitches, capped readings.
- `cover`: days of cover and the predicted stockout.
- `compute`, `result`, `api`, `recompute`: putting it together (a columnar
  ForecastTable); one product's ForecastResult; the read API; the whole catalog off
  the event loop.
"""

from bot.core.forecast.api import forecast_for, forecasts
from bot.core.forecast.compute import ForecastTable
from bot.core.forecast.drain import Restock
from bot.core.forecast.rates import DataQuality, DemandClass, Method
from bot.core.forecast.recompute import RecomputeReport, recompute
from bot.core.forecast.result import ForecastResult

__all__ = [
    "DataQuality",
    "DemandClass",
    "ForecastResult",
    "ForecastTable",
    "Method",
    "RecomputeReport",
    "Restock",
    "forecast_for",
    "forecasts",
    "recompute",
]
