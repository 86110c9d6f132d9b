"""Forecast accuracy: the mean absolute error of the one-day-ahead forecasts over the
last 28 days, and the record of each day's forecast as it was made.

Each day's one-day-ahead forecast is the method's value from the days before it
only (fixed smoothing constants: nothing is fitted on the days it is judged on), so
the error is an out-of-sample one. The forecast for today is also kept in
`demand_forecasts` as it was said, for later scorecards.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import numpy as np
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.forecast.history import Floats
from bot.db.models import DemandForecast

MAE_DAYS = 28
# Rows per INSERT: well under either driver's parameter limit (5 columns a row).
INSERT_BATCH = 5000


def mean_absolute_error(sales: Floats, one_step: Floats, days: int = MAE_DAYS) -> Floats:
    """(products,) MAE over the last `days` columns with a forecast; NaN without one."""
    actual, forecast = sales[:, -days:], one_step[:, -days:]
    judged = ~np.isnan(forecast)
    errors = np.where(judged, np.abs(forecast - actual), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return errors.sum(axis=1) / judged.sum(axis=1)


async def record_forecasts(
    session: AsyncSession,
    rows: Sequence[tuple[int, float, str]],
    day: date,
    made_at: datetime,
    keep_since: date,
) -> int:
    """Keep (product id, units, method) as the forecasts for `day`: the first made for
    a day stands. Records before `keep_since` go. Returns how many were new."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    added = 0
    for start in range(0, len(rows), INSERT_BATCH):
        values = [
            {"product_id": pid, "day": day, "units": units, "method": method, "made_at": made_at}
            for pid, units, method in rows[start : start + INSERT_BATCH]
        ]
        result = await session.execute(
            insert(DemandForecast).values(values).on_conflict_do_nothing()
        )
        added += max(0, getattr(result, "rowcount", 0) or 0)
    await session.execute(delete(DemandForecast).where(DemandForecast.day < keep_since))
    return added
