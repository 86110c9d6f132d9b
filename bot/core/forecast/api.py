"""The read API: forecasts of some products, now, from what the database holds."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import ForecastSection
from bot.core.forecast.compute import compute
from bot.core.forecast.history import load
from bot.core.forecast.result import ForecastResult

DEFAULTS = ForecastSection()


async def forecasts(
    session: AsyncSession,
    product_ids: Iterable[int],
    now: datetime,
    config: ForecastSection = DEFAULTS,
) -> dict[int, ForecastResult]:
    """The forecasts of these products (those that exist), by product id. Loads in
    bulk: a few queries whatever the number of products. For the whole catalog, use
    `bot.core.forecast.recompute`, which keeps the work off the event loop."""
    data = load(session, list(product_ids), now, config.history_days)
    return compute(await data, now, config).results()


async def forecast_for(
    session: AsyncSession, product_id: int, now: datetime, config: ForecastSection = DEFAULTS
) -> ForecastResult | None:
    """One product's forecast; None when there is no such product."""
    return (await forecasts(session, [product_id], now, config)).get(product_id)
