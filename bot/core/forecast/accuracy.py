"""Forecast accuracy: the mean absolute error of the one-day-ahead forecasts over the
last 28 days, and the record of each day's forecast as it was made.

Each day's one-day-ahead forecast is the method's value from the days before it
only (fixed smoothing constants: nothing is fitted on the days it is judged on), so
the error is an out-of-sample one. The forecast for today is also kept in
`demand_forecasts` as it was said, for later scorecards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.forecast.history import Bools, Floats
from bot.db.bulk import write_many
from bot.db.models import DemandForecast
from bot.db.upsert import dialect_insert

MAE_DAYS = 28


@dataclass(slots=True)
class ErrorTally:
    """Absolute errors of one-day-ahead forecasts over the last MAE_DAYS days, summed
    per product for each of several methods as the days go by (no per-day array)."""

    sums: list[Floats]
    counts: Floats

    @classmethod
    def start(cls, products: int, methods: int) -> ErrorTally:
        return cls([np.zeros(products) for _ in range(methods)], np.zeros(products))

    @staticmethod
    def judges(day: int, days: int) -> bool:
        return day >= days - MAE_DAYS

    def add(self, made: Bools, actual: Floats, forecasts: Sequence[Floats]) -> None:
        """One day: where a forecast was `made`, each method's against `actual`."""
        for total, forecast in zip(self.sums, forecasts, strict=True):
            total += np.where(made, np.abs(forecast - actual), 0.0)
        self.counts += made

    def mae(self) -> list[Floats]:
        """Each method's MAE per product; NaN where no forecast was judged."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return [total / self.counts for total in self.sums]


async def record_forecasts(
    session: AsyncSession,
    rows: Sequence[tuple[int, float, str]],
    day: date,
    made_at: datetime,
    keep_since: date,
) -> int:
    """Keep (product id, units, method) as the forecasts for `day`: the first made for
    a day stands. Records before `keep_since` go. Returns how many were new.

    Only the products without one for `day` yet are written: the recomputes after the
    day's first (every changed poll, every few minutes) write next to nothing, and the
    key (day first) keeps the lookups and the clean-up off the 90 days kept. The rows
    go to the driver in one executemany: SQLAlchemy's per-row parameter handling cost
    three times SQLite's own insert of a day's ~80,000 forecasts."""
    recorded = set(
        await session.scalars(select(DemandForecast.product_id).where(DemandForecast.day == day))
    )
    new = [
        {"product_id": pid, "units": units, "method": method, "day": day, "made_at": made_at}
        for pid, units, method in rows
        if pid not in recorded
    ]
    keep = dialect_insert(session, DemandForecast.__table__).on_conflict_do_nothing()
    await write_many(await session.connection(), keep, new)
    # Counted, as drivers' executemany row counts differ (and another replica may
    # have kept some of the same since).
    added = 0
    if new:
        count = select(func.count()).select_from(DemandForecast).where(DemandForecast.day == day)
        added = (await session.scalar(count) or 0) - len(recorded)
    await session.execute(delete(DemandForecast).where(DemandForecast.day < keep_since))
    return added
