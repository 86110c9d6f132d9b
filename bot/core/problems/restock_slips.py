"""Restock dates that slip: a supplier's date moved later, or passed without stock.

Each offer's restock date is remembered as first promised (`RestockPromise`). When
the supplier moves it later, or the day passes and the offer still has no stock,
that is a slip: counted once per promise and kind (`RestockSlip`, unique, so two
replicas or a rerun never count it twice) and said in the thread of the product's
open alert. When stock comes back by the end of the promised day, the date was
kept (`RestockKept`, unique the same way). Slips and kept dates together are the
scorecard's "restock dates met" (`bot.core.review.scorecard.restock_reliability`);
`restock_slips` counts the slips per supplier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.availability import Availability, is_stockout
from bot.core.problems.evaluate import open_product_alerts
from bot.core.problems.states import NAME_LIMIT
from bot.core.text import clip, escape
from bot.db.models import (
    Alert,
    AlertNote,
    Offer,
    Product,
    RestockKept,
    RestockPromise,
    RestockSlip,
    StockObservation,
    Supplier,
)
from bot.db.upsert import dialect_insert

MOVED = "moved"
PASSED = "passed"


@dataclass(frozen=True, slots=True)
class Slip:
    product_id: int
    supplier_id: int
    kind: str
    promised: date
    new_date: date | None
    note: str


async def restock_slips(session: AsyncSession, supplier_id: int, since: datetime) -> int:
    """How many of `supplier_id`'s restock dates slipped since `since` (moved later or
    passed without stock; each promise counts once per kind)."""
    count = await session.scalar(
        select(func.count())
        .select_from(RestockSlip)
        .where(RestockSlip.supplier_id == supplier_id, RestockSlip.detected_at >= since)
    )
    return int(count or 0)


def _watched() -> Select[tuple[Offer, str, str]]:
    promised = select(RestockPromise.offer_id)
    return (
        select(Offer, Supplier.name, Product.sku)
        .join(Supplier, Supplier.id == Offer.supplier_id)
        .join(Product, Product.id == Offer.product_id)
        .where(or_(Offer.restock_date.is_not(None), Offer.id.in_(promised)))
        .order_by(Offer.id)
    )


def _note(supplier: str, kind: str, promised: date, new_date: date | None) -> str:
    name = escape(clip(supplier, NAME_LIMIT))
    if kind == MOVED:
        return f"📅 {name} moved its restock date: {promised:%b %-d} -> {new_date:%b %-d}."
    return f"📅 {name}'s restock date {promised:%b %-d} passed without stock."


def end_of(day: date) -> datetime:
    """The end of a promised day (UTC): stock back before then met the date."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


async def check(session: AsyncSession, now: datetime) -> list[Slip]:
    """Find the slips and kept dates since the last check, count them, and note each
    slip in its product's open alert thread. Returns the new slips."""
    today = now.date()
    promises = {p.offer_id: p for p in await session.scalars(select(RestockPromise))}
    found: list[Slip] = []
    for offer, supplier, _sku in (await session.execute(_watched())).tuples():
        promise = promises.get(offer.id)
        has_stock = not is_stockout(offer.availability) and offer.quantity != 0
        if promise is None:
            if offer.restock_date is None or has_stock:
                continue
            # A new promise; one given for a day already gone is missed at once.
            promise = RestockPromise(offer_id=offer.id, promised=offer.restock_date, since=now)
            session.add(promise)
        if offer.restock_date is not None and offer.restock_date > promise.promised:
            found += await _count(session, offer, supplier, MOVED, promise.promised, now)
            promise.promised, promise.since = offer.restock_date, now
        elif has_stock:
            await _restocked(session, offer, supplier, promise, now)
        elif promise.promised < today:
            found += await _count(session, offer, supplier, PASSED, promise.promised, now)
        elif offer.restock_date is not None and offer.restock_date < promise.promised:
            promise.promised = offer.restock_date  # sooner: nothing slipped
    await _tell(session, found, now)
    return found


async def _restocked(
    session: AsyncSession, offer: Offer, supplier: str, promise: RestockPromise, now: datetime
) -> None:
    """Stock came back: the date was kept if that was by the end of the promised day
    (the first reading in stock since the promise says when; else now). A late return
    the checks did not see pass is counted as passed here, without a thread note (the
    stock is back)."""
    back_at = await session.scalar(
        select(func.min(StockObservation.observed_at)).where(
            StockObservation.offer_id == offer.id,
            StockObservation.observed_at >= promise.since,
            or_(
                StockObservation.quantity > 0,
                StockObservation.quantity.is_(None)
                & (StockObservation.availability == Availability.IN_STOCK),
            ),
        )
    )
    back_at = back_at or now
    if back_at < end_of(promise.promised):
        await _once(session, RestockKept, offer, promise.promised, back_at=back_at)
    else:
        await _count(session, offer, supplier, PASSED, promise.promised, now)
    await session.execute(delete(RestockPromise).where(RestockPromise.offer_id == offer.id))


async def _count(
    session: AsyncSession, offer: Offer, supplier: str, kind: str, promised: date, now: datetime
) -> list[Slip]:
    new_date = offer.restock_date if kind == MOVED else None
    added = await _once(
        session,
        RestockSlip,
        offer,
        promised,
        product_id=offer.product_id,
        kind=kind,
        new_date=new_date,
        detected_at=now,
    )
    if added is None:
        return []
    note = _note(supplier, kind, promised, new_date)
    return [Slip(offer.product_id, offer.supplier_id, kind, promised, new_date, note)]


async def _once(
    session: AsyncSession,
    model: type[RestockKept] | type[RestockSlip],
    offer: Offer,
    promised: date,
    **values: object,
) -> int | None:
    """Record what became of `offer`'s promise, unless it is already (unique per
    promise): the new row's id, or None."""
    insert = dialect_insert(session, model).values(
        supplier_id=offer.supplier_id, offer_id=offer.id, promised=promised, **values
    )
    return await session.scalar(insert.on_conflict_do_nothing().returning(model.id))


async def _tell(session: AsyncSession, slips: list[Slip], now: datetime) -> None:
    """Each slip in the thread of its product's open alert (one without is counted only)."""
    if not slips:
        return
    products = {slip.product_id for slip in slips}
    alerts = {
        alert.product_id: alert
        for alert in await session.scalars(
            open_product_alerts().where(Alert.product_id.in_(products))
        )
    }
    for slip in slips:
        alert = alerts.get(slip.product_id)
        if alert is not None and alert.group_id is None:
            session.add(AlertNote(alert_id=alert.id, text=slip.note, created_at=now))
