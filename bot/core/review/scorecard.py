"""How each supplier did over the last 30 days, and its grade.

Figures, per supplier (None is "not known", never zero):
- feed uptime: the share of polls that succeeded (`supplier_polls`);
- hours since its data last changed (the newest `offers.changed_at`);
- stockouts: how many times one of its offers ran out, and the offer-days spent out;
- restock-date reliability: of the restock dates it gave that were settled in the
  window (kept, moved later, passed without stock), the share met (stock came back
  by the end of that day), from `restock_reliability`;
- price changes: how many times an offer's price changed.

The grade is the worst of three (thresholds below, also in the README):

| grade | feed uptime | restock dates met | offer-days out of stock |
|---|---|---|---|
| A | 99% or more | 90% or more | 5% or less |
| B | 95% or more | 75% or more | 10% or less |
| C | 85% or more | 50% or more | 25% or less |
| D | below | below | above |

A figure that is not known (no polls, no restock date due) does not count; with
none known there is no grade.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Numeric, Select, and_, case, func, literal, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot.core.availability import STOCKOUT
from bot.db.models import (
    Offer,
    RestockKept,
    RestockSlip,
    StockObservation,
    Supplier,
    SupplierPoll,
)
from bot.db.types import UTCDateTime

WINDOW = timedelta(days=30)

GRADES = ("A", "B", "C", "D")
UPTIME_GRADES = (99.0, 95.0, 85.0)  # percent of polls, at least, for A, B, C
RESTOCK_GRADES = (90.0, 75.0, 50.0)  # percent of restock dates met, at least
OUT_GRADES = (5.0, 10.0, 25.0)  # percent of offer-days out of stock, at most


@dataclass(frozen=True, slots=True)
class RestockRecord:
    """Restock dates a supplier gave that have passed, and how many it met."""

    promised: int = 0
    met: int = 0

    @property
    def percent(self) -> float | None:
        return None if self.promised == 0 else 100.0 * self.met / self.promised


@dataclass(frozen=True, slots=True)
class Reliability:
    """What switching needs to know of a supplier: is its feed up, does it keep dates."""

    polls: int = 0
    polls_ok: int = 0
    restocks: RestockRecord = RestockRecord()

    @property
    def uptime(self) -> float | None:
        return None if self.polls == 0 else 100.0 * self.polls_ok / self.polls

    @property
    def reliable(self) -> bool:
        """No known figure below a B."""
        return _grade_of(self.uptime, self.restocks.percent, None)[0] in (None, "A", "B")


@dataclass(frozen=True, slots=True)
class Scorecard:
    supplier_id: int
    supplier: str
    reliability: Reliability
    offers: int
    last_change_at: datetime | None
    stockouts: int
    days_out: float
    price_changes: int
    now: datetime

    @property
    def uptime(self) -> float | None:
        return self.reliability.uptime

    @property
    def restocks(self) -> RestockRecord:
        return self.reliability.restocks

    @property
    def hours_since_change(self) -> float | None:
        if self.last_change_at is None:
            return None
        return max((self.now - self.last_change_at).total_seconds() / 3600, 0.0)

    @property
    def out_percent(self) -> float | None:
        """Offer-days out of stock, as a share of all its offer-days in the window."""
        if self.offers == 0:
            return None
        return min(100.0 * self.days_out / (self.offers * WINDOW.days), 100.0)

    @property
    def grade(self) -> str | None:
        return _grade_of(self.uptime, self.restocks.percent, self.out_percent)[0]

    @property
    def weakest(self) -> str | None:
        """What keeps the grade down, in a few words (None for an A or no grade)."""
        return _grade_of(self.uptime, self.restocks.percent, self.out_percent)[1]


def _step(value: float | None, limits: Sequence[float], *, higher_is_better: bool) -> int | None:
    if value is None:
        return None
    for index, limit in enumerate(limits):
        if (value >= limit) if higher_is_better else (value <= limit):
            return index
    return len(limits)


def _grade_of(
    uptime: float | None, restocks: float | None, out: float | None
) -> tuple[str | None, str | None]:
    steps = [
        (_step(uptime, UPTIME_GRADES, higher_is_better=True), "feed often down"),
        (_step(restocks, RESTOCK_GRADES, higher_is_better=True), "misses restock dates"),
        (_step(out, OUT_GRADES, higher_is_better=False), "often out of stock"),
    ]
    known = [(step, why) for step, why in steps if step is not None]
    if not known:
        return None, None
    worst, why = max(known, key=lambda item: item[0])
    return GRADES[worst], (why if worst > 0 else None)


def _out(
    quantity: InstrumentedAttribute[int | None], availability: InstrumentedAttribute[str]
) -> Any:
    return case((or_(quantity == 0, availability.in_(sorted(STOCKOUT))), 1), else_=0)


def _history(since: datetime, offer_ids: Sequence[int] | None = None) -> Select[Any]:
    """Each observation in the window beside the one before it and the time of the next."""
    obs = StockObservation
    out = _out(obs.quantity, obs.availability)
    order: dict[str, Any] = {"partition_by": obs.offer_id, "order_by": (obs.observed_at, obs.id)}
    return (
        select(
            Offer.supplier_id,
            obs.offer_id,
            obs.observed_at,
            out.label("out"),
            func.lag(out).over(**order).label("was_out"),
            obs.price,
            func.lag(obs.price, type_=Numeric(12, 2)).over(**order).label("was_price"),
            func.lead(obs.observed_at, type_=UTCDateTime()).over(**order).label("until"),
        )
        .join(Offer, Offer.id == obs.offer_id)
        .where(obs.observed_at >= since)
        .where(obs.offer_id.in_(offer_ids) if offer_ids is not None else true())
    )


async def restock_reliability(
    session: AsyncSession, now: datetime, supplier_ids: Sequence[int] | None = None
) -> dict[int, RestockRecord]:
    """Per supplier: the restock dates it gave that were settled in the last 30 days
    (kept, moved later, or passed without stock), and how many it met (stock back by
    the end of that day). Read from what `bot.core.problems.restock_slips` recorded as
    it happened: a date counts once, whatever became of it. The one place this figure
    is made."""
    since = now - WINDOW
    missed = select(RestockSlip.supplier_id, RestockSlip.offer_id, RestockSlip.promised).where(
        RestockSlip.detected_at >= since
    )
    kept = select(RestockKept.supplier_id, RestockKept.offer_id, RestockKept.promised).where(
        RestockKept.back_at >= since
    )
    if supplier_ids is not None:
        missed = missed.where(RestockSlip.supplier_id.in_(supplier_ids))
        kept = kept.where(RestockKept.supplier_id.in_(supplier_ids))
    dates: dict[int, set[tuple[int, date]]] = defaultdict(set)
    met: dict[int, set[tuple[int, date]]] = defaultdict(set)
    for supplier_id, offer_id, day in (await session.execute(missed)).tuples():
        dates[supplier_id].add((offer_id, day))
    for supplier_id, offer_id, day in (await session.execute(kept)).tuples():
        dates[supplier_id].add((offer_id, day))
        met[supplier_id].add((offer_id, day))
    return {
        sid: RestockRecord(promised=len(given), met=len(met[sid])) for sid, given in dates.items()
    }


async def reliabilities(
    session: AsyncSession, supplier_ids: Sequence[int], now: datetime
) -> dict[int, Reliability]:
    """Feed uptime and restock dates met of these suppliers (cheap: no stock history
    beyond the offers whose restock date passed)."""
    polls = await _polls(session, now - WINDOW, supplier_ids)
    restocks = await restock_reliability(session, now, supplier_ids)
    return {
        sid: Reliability(*polls.get(sid, (0, 0)), restocks.get(sid, RestockRecord()))
        for sid in supplier_ids
    }


async def _polls(
    session: AsyncSession, since: datetime, supplier_ids: Sequence[int] | None
) -> dict[int, tuple[int, int]]:
    query = (
        select(
            SupplierPoll.supplier_id,
            func.count(),
            func.sum(case((SupplierPoll.ok, 1), else_=0)),
        )
        .where(SupplierPoll.at >= since)
        .group_by(SupplierPoll.supplier_id)
    )
    if supplier_ids is not None:
        query = query.where(SupplierPoll.supplier_id.in_(supplier_ids))
    rows = (await session.execute(query)).tuples()
    return {sid: (int(total), int(ok or 0)) for sid, total, ok in rows}


async def scorecards(session: AsyncSession, now: datetime) -> list[Scorecard]:
    """Every supplier's scorecard over the last 30 days, by name."""
    since = now - WINDOW
    suppliers = (await session.execute(select(Supplier.id, Supplier.name))).tuples().all()
    polls = await _polls(session, since, None)
    restocks = await restock_reliability(session, now)
    offers = dict(
        (await session.execute(select(Offer.supplier_id, func.count()).group_by(Offer.supplier_id)))
        .tuples()
        .all()
    )
    changed = dict(
        (
            await session.execute(
                select(Offer.supplier_id, func.max(Offer.changed_at)).group_by(Offer.supplier_id)
            )
        )
        .tuples()
        .all()
    )
    history = _history(since).subquery()
    went_out = and_(history.c.out == 1, history.c.was_out == 0)
    price_changed = and_(
        history.c.was_price.is_not(None),
        history.c.price.is_not(None),
        history.c.price != history.c.was_price,
    )
    # Out from a reading that says so to the next reading, or to now.
    out_days = _days_between(
        session, history.c.observed_at, func.coalesce(history.c.until, literal(now, UTCDateTime()))
    )
    counted = (
        await session.execute(
            select(
                history.c.supplier_id,
                func.sum(case((went_out, 1), else_=0)),
                func.sum(case((price_changed, 1), else_=0)),
                func.sum(case((history.c.out == 1, out_days), else_=0.0)),
            ).group_by(history.c.supplier_id)
        )
    ).tuples()
    events = {
        sid: (int(outs or 0), int(prices or 0), float(days or 0))
        for sid, outs, prices, days in counted
    }
    days_out = await _out_all_along(session, since)
    for sid, (_, _, days) in events.items():
        days_out[sid] = days_out.get(sid, 0.0) + days
    return [
        Scorecard(
            supplier_id=sid,
            supplier=name,
            reliability=Reliability(*polls.get(sid, (0, 0)), restocks.get(sid, RestockRecord())),
            offers=offers.get(sid, 0),
            last_change_at=changed.get(sid),
            stockouts=events.get(sid, (0, 0, 0.0))[0],
            days_out=days_out.get(sid, 0.0),
            price_changes=events.get(sid, (0, 0, 0.0))[1],
            now=now,
        )
        for sid, name in sorted(suppliers, key=lambda row: row[1].casefold())
    ]


def _days_between(session: AsyncSession, start: Any, end: Any) -> Any:
    """Days from `start` to `end`, in SQL (each database has its own date arithmetic)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start) / 86400.0
    return func.julianday(end) - func.julianday(start)


async def _out_all_along(session: AsyncSession, since: datetime) -> dict[int, float]:
    """Offers out of stock now that have not changed since the window began: out the
    whole window (no reading in it says so)."""
    rows = await session.execute(
        select(Offer.supplier_id, func.count())
        .where(_out(Offer.quantity, Offer.availability) == 1, Offer.changed_at < since)
        .group_by(Offer.supplier_id)
    )
    return {supplier_id: float(count * WINDOW.days) for supplier_id, count in rows.tuples()}
