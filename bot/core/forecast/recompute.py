"""Recomputing every product's forecast, off the event loop.

The work runs in a worker thread with its own event loop and database engine: the
bulk loading (a few set-based queries, streamed) and the numpy work never hold up
Slack handlers or polls. Each run also keeps today's one-day-ahead forecasts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from bot.config import ForecastSection
from bot.core.forecast.accuracy import record_forecasts
from bot.core.forecast.compute import ForecastTable, compute
from bot.core.forecast.days import day_date, day_number
from bot.core.forecast.history import load
from bot.core.forecast.rates import Method
from bot.db import create_engine, session_factory, writer_session_factory


@dataclass(frozen=True, slots=True)
class RecomputeReport:
    forecasts: ForecastTable  # `.result(row)` / `.results()` for ForecastResults
    recorded: int  # today's forecasts newly kept
    load_seconds: float
    compute_seconds: float
    record_seconds: float

    @property
    def at_risk(self) -> list[int]:
        """The products predicted to run out within [forecast] warn_days."""
        return self.forecasts.product_ids[self.forecasts.at_risk].tolist()


async def recompute(
    database_url: str,
    now: datetime,
    config: ForecastSection,
    *,
    record: bool = True,
    products: Collection[int] | None = None,
) -> RecomputeReport:
    """Every product's forecast as of `now` (or only those of `products`), computed in
    a worker thread."""
    wanted = None if products is None else sorted(products)
    return await asyncio.to_thread(_in_worker, database_url, now, config, record, wanted)


def _in_worker(
    database_url: str,
    now: datetime,
    config: ForecastSection,
    record: bool,
    wanted: list[int] | None,
) -> RecomputeReport:
    return asyncio.run(_recompute(database_url, now, config, record, wanted))


async def _recompute(
    database_url: str,
    now: datetime,
    config: ForecastSection,
    record: bool,
    wanted: list[int] | None,
) -> RecomputeReport:
    engine = create_engine(database_url)
    try:
        started = time.perf_counter()
        async with session_factory(engine)() as session:
            data = [await load(session, wanted, now, config.history_days)]
        loaded = time.perf_counter()
        results = compute(data.pop(), now, config)  # handed over, not kept: see compute
        computed = time.perf_counter()
        recorded = 0
        if record:
            today = day_number(now)
            # A product without a sale in the window has nothing to judge yet.
            rows = [
                (pid, rate, str(method))
                for pid, rate, method in zip(
                    results.product_ids.tolist(), results.rate.tolist(), results.method, strict=True
                )
                if method != Method.NONE
            ]
            async with writer_session_factory(engine)() as session, session.begin():
                recorded = await record_forecasts(
                    session,
                    rows,
                    day_date(today),
                    now,
                    keep_since=day_date(today - config.history_days),
                )
        done = time.perf_counter()
    finally:
        await engine.dispose()
    return RecomputeReport(results, recorded, loaded - started, computed - loaded, done - computed)
