"""Watching forecasts for trouble: after polls and every few minutes, recompute every
product's forecast (off the event loop), keep what the at-risk alert state needs,
and bring the products' alerts in line through the one stock-changed follow-up.

What is kept (`ProductForecast`) is only the products at or near risk (predicted
stockout within 1.5x [forecast] warn_days) or with a demand spike today, so the
table stays small and each run rewrites it whole. Restock dates that slipped are
found and said in the same run (`bot.core.problems.restock_slips`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import ForecastSection
from bot.core.forecast.compute import ForecastTable
from bot.core.forecast.days import day_number, day_start
from bot.core.forecast.recompute import recompute
from bot.core.forecast.spikes import SPIKE_MEAN_DAYS, is_spike
from bot.core.problems import restock_slips
from bot.core.stock_changes import stock_changed
from bot.db.chunks import chunks
from bot.db.models import (
    Offer,
    Order,
    OrderLine,
    OrderStatus,
    ProductForecast,
    StockObservation,
    offer_last_seen,
)

# An at-risk alert resolves only once the prediction is past this many warn_days.
HYSTERESIS = 1.5


@dataclass(slots=True)
class WatchReport:
    products: int = 0
    at_risk: int = 0
    spikes: int = 0
    slips: int = 0
    opened: int = 0
    resolved: int = 0
    seconds: float = 0.0
    kept: list[int] = field(default_factory=list)  # products with a kept forecast
    # Products whose alert opened in this run (e.g. at risk): for a chart in its thread.
    opened_product_ids: set[int] = field(default_factory=set)


async def watch(
    sessions: async_sessionmaker[AsyncSession],
    writes: async_sessionmaker[AsyncSession],
    database_url: str,
    now: datetime,
    config: ForecastSection,
    *,
    channel: str,
    group_over: int | None = None,
    on_change: Callable[[], None] | None = None,
    products: Collection[int] | None = None,
) -> WatchReport:
    """Recompute, keep the forecasts of products at or near risk, evaluate their alerts.

    With `products` (e.g. those a poll changed), only theirs: the others keep what the
    last whole run kept."""
    recomputed = await recompute(database_url, now, config, products=products)
    table = recomputed.forecasts
    report = WatchReport(products=len(table))
    report.seconds = recomputed.load_seconds + recomputed.compute_seconds
    # Read first, then write in one short transaction (it holds SQLite's write lock).
    async with sessions() as session:
        rows = await _kept(session, table, now, config)
    async with writes() as session, session.begin():
        if products is None:
            before = set(await session.scalars(select(ProductForecast.product_id)))
            await session.execute(delete(ProductForecast))
        else:
            before = set()
            for ids in chunks(sorted(products)):
                scope = ProductForecast.product_id.in_(ids)
                kept = select(ProductForecast.product_id).where(scope)
                before.update(await session.scalars(kept))
                await session.execute(delete(ProductForecast).where(scope))
        for start in range(0, len(rows), 5000):
            await session.execute(insert(ProductForecast), rows[start : start + 5000])
        report.kept = sorted(row["product_id"] for row in rows)
        report.at_risk = sum(1 for row in rows if row["opens"])
        report.spikes = sum(1 for row in rows if row["spike_units"])
        report.slips = len(await restock_slips.check(session, now))
        touched = before | set(report.kept)
        if touched:
            # Many new alerts at once (a first run on a big catalog) share a message.
            result = await stock_changed(
                session, touched, channel=channel, now=now, group_over=group_over
            )
            report.opened, report.resolved = result.opened, result.resolved
            report.opened_product_ids = result.opened_product_ids
    if on_change is not None:
        on_change()
    return report


async def _today(session: AsyncSession, now: datetime) -> dict[int, tuple[int, float]]:
    """Products ordered today: (units today, mean units a day over the 28 days before)."""
    today = day_number(now)
    units = select(OrderLine.product_id, func.sum(OrderLine.quantity)).join(
        Order, Order.id == OrderLine.order_id
    )
    counted = Order.status != OrderStatus.CANCELLED
    ordered = dict(
        (pid, int(total))
        for pid, total in await session.execute(
            units.where(
                counted, Order.ordered_at >= day_start(today), Order.ordered_at <= now
            ).group_by(OrderLine.product_id)
        )
    )
    before: dict[int, float] = {}
    for ids in chunks(sorted(ordered)):
        for pid, total in await session.execute(
            units.where(
                counted,
                OrderLine.product_id.in_(ids),
                Order.ordered_at >= day_start(today - SPIKE_MEAN_DAYS),
                Order.ordered_at < day_start(today),
            ).group_by(OrderLine.product_id)
        ):
            before[pid] = int(total) / SPIKE_MEAN_DAYS
    return {pid: (units_today, before.get(pid, 0.0)) for pid, units_today in ordered.items()}


Fall = tuple[int | None, int | None, float | None]


async def _falls(
    session: AsyncSession, table: ForecastTable, rows: list[int], since: datetime
) -> dict[int, Fall]:
    """For each row, the supplier's fall its drain is read from: the first reading
    since the last restock (in the history window), the current stock, and the
    seconds between. A few queries for any number of rows."""
    offers = {int(table.offer_ids[row]): row for row in rows}
    first: dict[int, tuple[int, datetime]] = {}
    seen: dict[int, datetime | None] = {}
    for ids in chunks(sorted(offers)):
        readings = await session.execute(
            select(
                StockObservation.offer_id, StockObservation.quantity, StockObservation.observed_at
            )
            .where(
                StockObservation.offer_id.in_(ids),
                StockObservation.quantity.is_not(None),
                StockObservation.observed_at >= since,
            )
            .order_by(StockObservation.offer_id, StockObservation.observed_at)
        )
        for offer_id, quantity, moment in readings:
            restocks = table.restocks.get(offer_id, ())
            if offer_id not in first and (not restocks or moment >= restocks[-1].at):
                first[offer_id] = (quantity, moment)
        seen.update(
            (await session.execute(select(Offer.id, offer_last_seen()).where(Offer.id.in_(ids))))
            .tuples()
            .all()
        )
    found: dict[int, Fall] = {}
    for offer_id, row in offers.items():
        stock, start, last = table.stock[row], first.get(offer_id), seen.get(offer_id)
        if start is None or last is None or np.isnan(stock):
            found[row] = (None, None, None)
        else:
            found[row] = (start[0], int(stock), max(0.0, (last - start[1]).total_seconds()))
    return found


async def _kept(
    session: AsyncSession, table: ForecastTable, now: datetime, config: ForecastSection
) -> list[dict[str, Any]]:
    """The rows to keep: products at or near risk, and today's spikes."""
    warn = float(config.warn_days)
    days = table.cover_days.copy()
    spikes: dict[int, int] = {}
    for pid, (units, mean_28) in (await _today(session, now)).items():
        row = int(np.searchsorted(table.product_ids, pid))
        if row >= len(table) or table.product_ids[row] != pid:
            continue
        if not is_spike(units, float(table.rate[row]), mean_28):
            continue
        spikes[row] = units
        # At today's pace the stock lasts this long: that may put it at risk.
        stock = table.stock[row]
        if not np.isnan(stock):
            days[row] = np.fmin(days[row], stock / units)  # fmin: NaN loses
    near = np.nan_to_num(days, nan=np.inf) <= warn * HYSTERESIS
    kept = sorted(set(np.flatnonzero(near).tolist()) | set(spikes))
    # Where the supplier's drain sets the pace, the alert says how far its stock fell.
    draining = [row for row in kept if np.nan_to_num(table.drain[row]) > table.rate[row]]
    falls = await _falls(session, table, draining, now - timedelta(days=config.history_days))
    rows: list[dict[str, Any]] = []
    for row in kept:
        cover = None if np.isnan(days[row]) else float(days[row])
        drain = None if np.isnan(table.drain[row]) else float(table.drain[row])
        rate = float(table.rate[row])
        fell = falls.get(row, (None, None, None))
        stock = table.stock[row]
        rows.append(
            {
                "product_id": int(table.product_ids[row]),
                "computed_at": now,
                "days_of_cover": cover,
                "opens": cover is not None and cover <= warn,
                "holds": cover is not None and cover <= warn * HYSTERESIS,
                "rate_per_day": rate,
                "drain_per_day": drain,
                "stock": None if np.isnan(stock) else int(stock),
                "fell_from": fell[0],
                "fell_to": fell[1],
                "fell_seconds": fell[2],
                "spike_units": spikes.get(row),
            }
        )
    return rows
