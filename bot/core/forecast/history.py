"""Loading what a forecast needs, in bulk: a few set-based queries for any number of
products (the whole catalog without an ID list), streamed into numpy arrays.

- Sales: units of non-cancelled order lines per product and UTC `ordered_at` day
  (the day worked out in SQL, summed as the rows stream in). Fulfilled orders are
  sales like open ones; cancelled ones are history but not demand.
- The active offer of each product, with its current stock.
- The stock observations of those offers (each recorded change), as epoch seconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import BigInteger, Select, and_, case, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.availability import STOCKOUT
from bot.core.forecast.days import (
    day_number,
    day_start,
    epoch_day,
    epoch_seconds,
)
from bot.db.chunks import chunks
from bot.db.models import (
    Offer,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    StockObservation,
    offer_last_seen,
)

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.floating[Any]]
Bools = npt.NDArray[np.bool_]

# Rows fetched at a time: bounded memory whatever the catalog's size.
PARTITION = 50_000
# A sale's product and day go in one number, product * DAY_KEYS + day: UTC day
# numbers stay under it until the year 2149.
DAY_KEYS = 65536


@dataclass(frozen=True, slots=True)
class Window:
    """The complete UTC days a forecast learns from: `days` of them, up to yesterday."""

    first_day: int
    days: int

    @classmethod
    def before(cls, now: datetime, days: int) -> Window:
        return cls(day_number(now) - days, days)

    @property
    def start(self) -> datetime:
        return day_start(self.first_day)

    @property
    def end(self) -> datetime:
        """Midnight starting today: today is not over, so not history yet."""
        return day_start(self.first_day + self.days)


@dataclass(frozen=True, slots=True)
class ActiveOffers:
    """Each product's active offer (rows in product order; -1: no active offer)."""

    offer_ids: Ints
    quantity: Floats  # NaN: the supplier did not say
    out: Bools  # quantity 0 or a stockout availability
    seen: Floats  # epoch seconds of the last poll that saw it; NaN: never


@dataclass(frozen=True, slots=True)
class Observations:
    """Stock observations sorted by offer then time; one offer's rows are contiguous."""

    offer_ids: Ints
    seconds: Floats
    quantity: Floats  # NaN: no quantity given (e.g. only "in stock")
    out: Bools


@dataclass(frozen=True, slots=True)
class ForecastData:
    product_ids: Ints  # sorted
    window: Window
    sales: Floats  # (products, days) units sold per day (float32)
    offers: ActiveOffers
    observations: Observations  # of the active offers, since the window's start
    # The state of each active offer when the window starts (last observation before).
    opening: Observations


def _out_flag(quantity: Any, availability: Any) -> Any:
    return case((or_(quantity == 0, availability.in_(sorted(STOCKOUT))), 1), else_=0)


# Builds one query: for every product (None) or for a chunk of product IDs.
QueryFor = Callable[[list[int] | None], Select[Any]]


async def _rows(
    session: AsyncSession, query_for: QueryFor, ids: Ints | None
) -> AsyncIterator[Sequence[Sequence[Any]]]:
    """The rows in partitions, for every product (`ids` None) or for `ids` in chunks."""
    queries = (
        [query_for(None)] if ids is None else [query_for(chunk) for chunk in chunks(ids.tolist())]
    )
    for query in queries:
        async for part in _driver_rows(session, query):
            yield part


async def _driver_rows(
    session: AsyncSession, query: Select[Any]
) -> AsyncIterator[Sequence[Sequence[Any]]]:
    """Plain tuples straight from the driver's cursor, a partition at a time.

    Measured on a million rows, SQLAlchemy's result rows cost three times the query
    itself; these queries' values are numbers only, so the driver's tuples will do.
    The statement is SQLAlchemy's, rendered with its values inline (all of them
    numbers, dates and fixed strings: nothing typed by a person)."""
    connection = await session.connection()
    dialect = connection.dialect
    sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    if dialect.name == "postgresql":  # asyncpg: a cursor needs a transaction
        async with driver.transaction():
            cursor = await driver.cursor(sql)
            while rows := await cursor.fetch(PARTITION):
                yield [tuple(row) for row in rows]
        return
    async with driver.execute(sql) as cursor:  # aiosqlite
        while rows := await cursor.fetchmany(PARTITION):
            yield rows


def _only(query: Select[Any], column: Any, chunk: list[int] | None) -> Select[Any]:
    return query if chunk is None else query.where(column.in_(chunk))


async def product_ids(session: AsyncSession, wanted: Sequence[int] | None) -> Ints:
    """The catalog's product IDs (or those of `wanted` that exist), sorted."""
    found: list[int] = []
    ids = None if wanted is None else np.unique(np.asarray(wanted, dtype=np.int64))
    query = select(Product.id)
    async for part in _rows(session, lambda chunk: _only(query, Product.id, chunk), ids):
        found.extend(row[0] for row in part)
    return np.unique(np.asarray(found, dtype=np.int64))


async def load_sales(session: AsyncSession, ids: Ints, window: Window, every: bool) -> Floats:
    """Units sold per product (rows as `ids`) and day of the window."""
    # Whole units: float32 holds them exactly, in half the memory. Laid out a day
    # after another (Fortran order): the forecasts step through the days, each over
    # every product, so a day's units are read contiguously.
    sales = np.zeros((len(ids), window.days), dtype=np.float32, order="F")
    # Summed here rather than by a GROUP BY: SQLite's would build a temporary B-tree
    # as large as the result, and the rows cost the same either way. Each row comes as
    # two numbers, (product, day) in one, as the driver's tuples cost by the value.
    key = cast(OrderLine.product_id, BigInteger) * DAY_KEYS + epoch_day(Order.ordered_at)
    query = (
        select(key, OrderLine.quantity)
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            Order.status != OrderStatus.CANCELLED,
            Order.ordered_at >= window.start,
            Order.ordered_at < window.end,
        )
    )
    scope = None if every else ids
    async for part in _rows(session, lambda c: _only(query, OrderLine.product_id, c), scope):
        block = np.asarray(part, dtype=np.int64).reshape(-1, 2)
        products, days = np.divmod(block[:, 0], DAY_KEYS)
        rows = np.searchsorted(ids, products)
        cols = days - window.first_day
        keep = (rows < len(ids)) & (cols >= 0) & (cols < window.days)
        keep[keep] &= ids[rows[keep]] == products[keep]
        np.add.at(sales, (rows[keep], cols[keep]), block[keep, 1])
    return sales


async def load_active_offers(session: AsyncSession, ids: Ints, every: bool) -> ActiveOffers:
    offer_ids = np.full(len(ids), -1, dtype=np.int64)
    quantity = np.full(len(ids), np.nan)
    out = np.zeros(len(ids), dtype=np.bool_)
    seen = np.full(len(ids), np.nan)
    query = select(
        Product.id,
        Offer.id,
        Offer.quantity,
        _out_flag(Offer.quantity, Offer.availability),
        epoch_seconds(offer_last_seen()),
    ).join(Offer, Offer.id == Product.active_offer_id)
    scope = None if every else ids
    async for part in _rows(session, lambda chunk: _only(query, Product.id, chunk), scope):
        block = np.asarray(part, dtype=np.float64).reshape(-1, 5)  # None becomes NaN
        rows = np.searchsorted(ids, block[:, 0].astype(np.int64))
        offer_ids[rows] = block[:, 1].astype(np.int64)
        quantity[rows] = block[:, 2]
        out[rows] = block[:, 3] > 0
        seen[rows] = np.round(block[:, 4], 3)  # milliseconds, as _collect
    return ActiveOffers(offer_ids, quantity, out, seen)


async def _collect(session: AsyncSession, query_for: QueryFor, ids: Ints | None) -> Observations:
    """Observation rows as arrays, sorted by offer then time; each partition becomes
    compact columns at once, so a million rows stay a few tens of megabytes."""
    offers: list[Ints] = []
    seconds: list[Floats] = []
    quantity: list[Floats] = []
    out: list[Bools] = []
    async for part in _rows(session, query_for, ids):
        block = np.asarray(part, dtype=np.float64).reshape(-1, 3)
        offer_and_out = block[:, 0].astype(np.int64)  # see _COLUMNS
        offers.append(offer_and_out >> 1)
        # SQLite keeps milliseconds; its julianday() double is off by tens of µs.
        seconds.append(np.round(block[:, 1], 3))
        quantity.append(block[:, 2].copy())
        out.append((offer_and_out & 1) > 0)
        del block, offer_and_out
    found = Observations(
        np.concatenate(offers) if offers else np.zeros(0, dtype=np.int64),
        np.concatenate(seconds) if seconds else np.zeros(0),
        np.concatenate(quantity) if quantity else np.zeros(0),
        np.concatenate(out) if out else np.zeros(0, dtype=np.bool_),
    )
    del offers, seconds, quantity, out
    order = by_offer_then_time(found.offer_ids, found.seconds)
    return Observations(
        found.offer_ids[order], found.seconds[order], found.quantity[order], found.out[order]
    )


def by_offer_then_time(offer_ids: Ints, seconds: Floats, later: Bools | None = None) -> Ints:
    """The order that sorts rows by offer, then time, then `later` (False first), ties
    kept as they came: `np.lexsort((later, seconds, offer_ids))`.

    Rows mostly come grouped by offer and in time order within each, so a stable sort
    by offer alone (Timsort: linear over runs already in order) is checked and used
    when it puts every offer's rows in order: a million readings in milliseconds
    instead of a third of a second."""
    order = np.argsort(offer_ids, kind="stable")
    offers, times = offer_ids[order], seconds[order]
    same = offers[1:] == offers[:-1]
    step = times[1:] - times[:-1]
    in_order = step > 0
    if later is None:
        in_order |= step == 0
    else:
        flags = later[order]
        in_order |= (step == 0) & (flags[1:] >= flags[:-1])
    if (in_order | ~same).all():
        return order
    keys = (seconds, offer_ids) if later is None else (later, seconds, offer_ids)
    return np.lexsort(keys)


# An observation as three numbers, as the driver's tuples cost by the value: the offer
# and whether it was out of stock in one (offer * 2 + out), the time, the quantity.
_COLUMNS = (
    cast(StockObservation.offer_id, BigInteger) * 2
    + _out_flag(StockObservation.quantity, StockObservation.availability),
    epoch_seconds(StockObservation.observed_at),
    StockObservation.quantity,
)
_ACTIVE = Product.active_offer_id == StockObservation.offer_id


def _recent(since: datetime) -> QueryFor:
    """The active offers' observations since `since`."""
    query = select(*_COLUMNS).join(Product, _ACTIVE).where(StockObservation.observed_at >= since)
    return lambda chunk: _only(query, Product.id, chunk)


def _opening(since: datetime) -> QueryFor:
    """The last observation of each active offer before `since`: its state then."""

    def query_for(chunk: list[int] | None) -> Select[Any]:
        latest = _only(
            select(
                StockObservation.offer_id.label("offer_id"),
                func.max(StockObservation.observed_at).label("observed_at"),
            )
            .join(Product, _ACTIVE)
            .where(StockObservation.observed_at < since)
            .group_by(StockObservation.offer_id),
            Product.id,
            chunk,
        ).subquery()
        return select(*_COLUMNS).join(
            latest,
            and_(
                latest.c.offer_id == StockObservation.offer_id,
                latest.c.observed_at == StockObservation.observed_at,
            ),
        )

    return query_for


async def load(
    session: AsyncSession, wanted: Sequence[int] | None, now: datetime, history_days: int
) -> ForecastData:
    """Everything the forecasts of `wanted` (None: every product) need, in bulk."""
    ids = await product_ids(session, wanted)
    scope = None if wanted is None else ids
    window = Window.before(now, history_days)
    return ForecastData(
        ids,
        window,
        await load_sales(session, ids, window, scope is None),
        await load_active_offers(session, ids, scope is None),
        await _collect(session, _recent(window.start), scope),
        await _collect(session, _opening(window.start), scope),
    )
