"""What a product's stock chart shows: the last 30 days of its stock at each supplier,
our daily sales, and the forecast down to the predicted stockout.

A read model: plain numbers and names, loaded with a few queries; drawing it is the
surface's business (bot.slack.render.chart_image).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import ForecastSection
from bot.core.availability import is_stockout
from bot.core.forecast import DataQuality, ForecastResult, forecast_for
from bot.core.forecast.days import day_date
from bot.core.forecast.history import Window, load_sales
from bot.db.models import Offer, Product, StockObservation, Supplier
from bot.views.chart_model import ProductChart, StockLine

CHART_DAYS = 30
# Lines a phone can tell apart: the active supplier and the next ones by priority.
MAX_SUPPLIERS = 4
# The shortest time a chart spans.
MIN_SPAN = timedelta(minutes=1)


def _quantity(quantity: int | None, availability: str) -> float | None:
    """What the chart plots: 0 for a stockout, None for "not told"."""
    if quantity is not None:
        return float(quantity)
    return 0.0 if is_stockout(availability) else None


async def _stock_line(
    session: AsyncSession, offer: Offer, supplier: str, active: bool, start: datetime, now: datetime
) -> StockLine:
    before = await session.execute(
        select(StockObservation.quantity, StockObservation.availability)
        .where(StockObservation.offer_id == offer.id, StockObservation.observed_at < start)
        .order_by(StockObservation.observed_at.desc(), StockObservation.id.desc())
        .limit(1)
    )
    rows = await session.execute(
        select(
            StockObservation.observed_at, StockObservation.quantity, StockObservation.availability
        )
        .where(StockObservation.offer_id == offer.id, StockObservation.observed_at >= start)
        .order_by(StockObservation.observed_at, StockObservation.id)
    )
    times: list[datetime] = []
    quantities: list[float | None] = []
    opening = before.first()
    if opening is not None:
        times.append(start)
        quantities.append(_quantity(opening[0], opening[1]))
    for observed_at, quantity, availability in rows:
        times.append(observed_at)
        quantities.append(_quantity(quantity, availability))
    # The stock now, drawn up to the right edge.
    times.append(now)
    quantities.append(_quantity(offer.quantity, offer.availability))
    return StockLine(supplier, active, tuple(times), tuple(quantities))


def _forecast_numbers(
    result: ForecastResult | None,
) -> tuple[float | None, float | None, datetime | None]:
    if result is None or result.stock is None:
        return None, None, None
    if result.out_of_stock:
        return 0.0, result.depletion_per_day, result.predicted_stockout
    return float(result.stock), result.depletion_per_day, result.predicted_stockout


async def product_chart(
    session: AsyncSession,
    product_id: int,
    now: datetime,
    config: ForecastSection | None = None,
) -> ProductChart | None:
    """The chart of one product; None when there is no such product."""
    product = await session.get(Product, product_id)
    if product is None:
        return None
    start = now - timedelta(days=CHART_DAYS)
    offers = list(
        (
            await session.execute(
                select(Offer, Supplier.name)
                .join(Supplier, Supplier.id == Offer.supplier_id)
                .where(Offer.product_id == product_id)
                .order_by(Offer.priority, Supplier.name)
            )
        ).tuples()
    )
    # The active offer first: its line is the one the forecast continues.
    offers.sort(key=lambda row: row[0].id != product.active_offer_id)
    lines = [
        await _stock_line(session, offer, name, offer.id == product.active_offer_id, start, now)
        for offer, name in offers[:MAX_SUPPLIERS]
    ]
    # From the first stock reading when that is later: a product watched for an hour
    # gets an hour's chart, not a 30-day one with everything at its right edge.
    first = min((line.times[0] for line in lines), default=start)
    start = max(start, min(first, now - MIN_SPAN))
    window = Window.before(now, CHART_DAYS)
    sales = await load_sales(session, np.array([product_id], dtype=np.int64), window, False)
    result = await forecast_for(session, product_id, now, config or ForecastSection())
    stock, rate, stockout = _forecast_numbers(result)
    return ProductChart(
        sku=product.sku,
        title=product.title,
        start=start,
        now=now,
        stock=tuple(lines),
        sales_days=tuple(day_date(window.first_day + i) for i in range(window.days)),
        sales=tuple(float(units) for units in sales[0]),
        forecast_stock=stock,
        forecast_rate=rate,
        predicted_stockout=stockout,
        little_data=result is not None and result.data_quality == DataQuality.LITTLE_DATA,
    )
