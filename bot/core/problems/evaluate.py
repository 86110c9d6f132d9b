"""Bring each product's one alert in line with its facts: open, move, update, resolve.

Runs as part of `stock_changed`, once per change (a poll, a switch, an order
change), so a storm of new problems from one poll is one grouped message that
lists each product once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, and_, exists, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import alerts
from bot.core.alerts import EvaluationResult
from bot.core.availability import STOCKOUT, Availability
from bot.core.backorders import waiting_totals
from bot.core.problems.states import (
    PRODUCT_PROBLEMS,
    REOPEN_AFTER,
    ForecastFacts,
    ProductFacts,
    change_note,
    problem_of,
    product_dedup_key,
    resolution_text,
)
from bot.db.chunks import chunks
from bot.db.models import (
    Alert,
    AlertKind,
    AlertNote,
    AlertState,
    Offer,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    ProductForecast,
    Supplier,
)


def open_product_alerts() -> Select[tuple[Alert]]:
    return select(Alert).where(
        Alert.kind.in_(PRODUCT_PROBLEMS),
        Alert.state != AlertState.RESOLVED,
        Alert.is_group.is_(False),
        Alert.product_id.is_not(None),
    )


# Product id, SKU, active supplier id and name, quantity, availability, threshold; the
# supplier's columns are None for a product without an active offer (an outer join).
_StockRow = tuple[int, str, int | None, str | None, int | None, str | None, int]


def _stock() -> Select[_StockRow]:
    """Each product's active offer: what its stock facts are read from."""
    query: Select[Any] = (
        select(
            Product.id,
            Product.sku,
            Offer.supplier_id,
            Supplier.name,
            Offer.quantity,
            Offer.availability,
            Product.low_stock_threshold,
        )
        .outerjoin(Offer, Offer.id == Product.active_offer_id)
        .outerjoin(Supplier, Supplier.id == Offer.supplier_id)
    )
    return query


async def _targets(
    session: AsyncSession, product_ids: set[int] | None, supplier_id: int | None
) -> list[Row[_StockRow]]:
    """The products to look at, with their stock: `product_ids`; else those in trouble
    or with an open alert (of `supplier_id`'s products, when given)."""
    if product_ids is not None:
        rows: list[Row[_StockRow]] = []
        for ids in chunks(sorted(product_ids)):
            rows += (await session.execute(_stock().where(Product.id.in_(ids)))).all()
        return rows
    alerted = open_product_alerts().with_only_columns(Alert.product_id)
    waiting = (
        select(OrderLine.product_id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.status == OrderStatus.OPEN, OrderLine.backordered > 0)
    )
    trouble = or_(
        Offer.availability.in_(STOCKOUT),
        Offer.quantity <= Product.low_stock_threshold,
        Product.id.in_(waiting),
        Product.id.in_(alerted),
        Product.id.in_(select(ProductForecast.product_id).where(ProductForecast.opens)),
    )
    if supplier_id is not None:
        # Its products in trouble, and those whose alert still names it (just switched away).
        trouble = or_(
            and_(Offer.supplier_id == supplier_id, trouble),
            Product.id.in_(alerted.where(Alert.supplier_id == supplier_id)),
        )
    return list((await session.execute(_stock().where(trouble).order_by(Product.id))).all())


async def _orders(
    session: AsyncSession, product_ids: Sequence[int]
) -> tuple[dict[int, tuple[int, int, datetime]], set[int]]:
    """What waits for each product (orders, units, oldest), and which have open orders."""
    waiting = {
        pid: (orders, int(units or 0), oldest)
        for pid, orders, units, oldest in await session.execute(
            waiting_totals().where(OrderLine.product_id.in_(product_ids))
        )
    }
    ordered = set(
        await session.scalars(
            select(OrderLine.product_id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.status == OrderStatus.OPEN, OrderLine.product_id.in_(product_ids))
            .distinct()
        )
    )
    return waiting, ordered


async def _facts(
    session: AsyncSession,
    rows: Sequence[Row[_StockRow]],
    any_orders: bool,
) -> list[ProductFacts]:
    ids = [row[0] for row in rows]
    waiting, ordered = await _orders(session, ids) if any_orders else ({}, set())
    forecasts = {
        row.product_id: ForecastFacts.of(row)
        for row in await session.scalars(
            select(ProductForecast).where(ProductForecast.product_id.in_(ids))
        )
    }
    facts = []
    for pid, sku, supplier_id, supplier, quantity, availability, threshold in rows:
        orders, units, oldest = waiting.get(pid, (0, 0, None))
        forecast = forecasts.get(pid)
        pending = forecast is not None and forecast.stock != quantity
        facts.append(
            ProductFacts(
                pid,
                sku,
                supplier_id,
                supplier,
                quantity,
                availability or Availability.UNKNOWN,
                threshold,
                orders,
                units,
                oldest,
                pid in ordered,
                None if pending else forecast,
                pending,
            )
        )
    return facts


async def _alerts_to_follow(
    session: AsyncSession, facts: Sequence[ProductFacts]
) -> tuple[dict[int | None, Alert], set[int]]:
    """The products' open alerts that may change, by product, as objects for
    `_follow` to move; and the products whose open alert already says what their
    facts say (most of them after a poll), read from a few columns only."""
    by_product = {f.product_id: f for f in facts}
    current = await session.execute(
        open_product_alerts()
        .with_only_columns(Alert.id, Alert.product_id, Alert.kind, Alert.details)
        .where(Alert.product_id.in_(list(by_product)))
    )
    settled: set[int] = set()
    moving: list[int] = []
    for alert_id, product_id, kind, details in current:
        product_facts = by_product[product_id]
        now_kind = problem_of(product_facts)
        # What `_follow` would leave alone (at risk aside: it also keeps the worst cover).
        if now_kind == kind != AlertKind.AT_RISK and product_facts.details() == details:
            settled.add(product_id)
        else:
            moving.append(alert_id)
    if not moving:
        return {}, settled
    alerts_by_product = {
        alert.product_id: alert
        for alert in await session.scalars(select(Alert).where(Alert.id.in_(moving)))
    }
    return alerts_by_product, settled


def _follow(
    alert: Alert,
    facts: ProductFacts,
    now: datetime,
    result: EvaluationResult,
    notes: list[AlertNote],
) -> bool:
    """Move an open alert to the product's problem now; True when it changed."""
    kind = problem_of(facts)
    if kind is None and alert.kind == AlertKind.AT_RISK:
        if facts.forecast_pending:
            return False  # the recompute after this poll decides
        if facts.still_at_risk:
            kind = AlertKind.AT_RISK  # hysteresis: not resolved until past 1.5x warn_days
    details = facts.details()
    if kind == AlertKind.AT_RISK:
        details["worst"] = _worst(details, alert.details or {})
    if kind is None:
        # Unknown stock proves nothing: a stock problem stays open until stock is known.
        if not facts.known_fine and alert.kind != AlertKind.BACKORDER:
            return False
        alerts.mark_resolved(alert, now, resolution_text(alert.kind, facts))
        result.resolved += 1
        return True
    if kind == alert.kind and details == alert.details:
        return False
    note = change_note(alert.kind, alert.details or {}, facts, kind)
    alert.kind, alert.details, alert.supplier_id = kind, details, facts.supplier_id
    alerts.touch(alert, now)
    result.updated += 1
    # A group's members change quietly: the group's message shows them all.
    if note and alert.group_id is None:
        notes.append(AlertNote(alert_id=alert.id, text=note, created_at=now))
    return True


def _worst(details: dict[str, Any], old: dict[str, Any]) -> float | None:
    """The shortest cover an at-risk alert has said so far."""
    known = [c for c in (details.get("cover"), old.get("worst")) if c is not None]
    return min(known) if known else None


async def _recently_at_risk(
    session: AsyncSession, product_ids: list[int], now: datetime
) -> dict[int, float | None]:
    """Products whose at-risk alert was resolved in the last REOPEN_AFTER: the
    shortest cover it said."""
    found: dict[int, float | None] = {}
    for ids in chunks(product_ids):
        for alert in await session.scalars(
            select(Alert)
            .where(
                Alert.product_id.in_(ids),
                Alert.kind == AlertKind.AT_RISK,
                Alert.state == AlertState.RESOLVED,
                Alert.resolved_at >= now - REOPEN_AFTER,
            )
            .order_by(Alert.resolved_at)
        ):
            assert alert.product_id is not None
            found[alert.product_id] = (alert.details or {}).get("worst")
    return found


async def _not_reopened(
    session: AsyncSession, opening: list[tuple[AlertKind, ProductFacts]], now: datetime
) -> list[tuple[AlertKind, ProductFacts]]:
    """Leave out at-risk alerts resolved less than a day ago, unless the forecast is
    worse now (a shorter cover than the old alert ever said): no flapping."""
    at_risk = [f.product_id for kind, f in opening if kind == AlertKind.AT_RISK]
    if not at_risk:
        return opening
    recent = await _recently_at_risk(session, at_risk, now)

    def worse(facts: ProductFacts) -> bool:
        old = recent[facts.product_id]
        cover = facts.forecast.cover if facts.forecast else None
        return old is None or (cover is not None and cover < old)

    return [
        (kind, facts)
        for kind, facts in opening
        if kind != AlertKind.AT_RISK or facts.product_id not in recent or worse(facts)
    ]


async def evaluate(
    session: AsyncSession,
    *,
    product_ids: set[int] | None = None,
    supplier_id: int | None = None,
    channel: str,
    now: datetime,
    group_over: int | None = None,
) -> EvaluationResult:
    """Bring product alerts in line for `product_ids`; else for the products of
    `supplier_id`; else for every product in trouble. With `group_over`, more new
    alerts than that for one supplier share one grouped message."""
    result = EvaluationResult()
    to_open: dict[int | None, list[tuple[AlertKind, ProductFacts]]] = defaultdict(list)
    groups: set[int] = set()
    notes: list[AlertNote] = []
    # After most polls no order is open: then no order line need be read at all.
    any_orders = bool(
        await session.scalar(select(exists().where(Order.status == OrderStatus.OPEN)))
    )
    for chunk in chunks(await _targets(session, product_ids, supplier_id)):
        facts = await _facts(session, chunk, any_orders)
        open_alerts, settled = await _alerts_to_follow(session, facts)
        for product_facts in facts:
            if product_facts.product_id in settled:
                continue
            alert = open_alerts.get(product_facts.product_id)
            if alert is None:
                kind = problem_of(product_facts)
                if kind is not None:
                    to_open[product_facts.supplier_id].append((kind, product_facts))
            elif _follow(alert, product_facts, now, result, notes):
                result.touched_alert_ids.add(alert.id)
                if alert.group_id is not None:
                    groups.add(alert.group_id)
    session.add_all(notes)
    await session.flush()
    for group_supplier, candidates in to_open.items():
        opening = await _not_reopened(session, candidates, now)
        if not opening:
            continue
        await _open(session, group_supplier, opening, channel, now, group_over, result)
    await alerts.settle_groups(session, groups, now)
    return result


def _opening_details(kind: AlertKind, facts: ProductFacts) -> dict[str, Any]:
    details = facts.details()
    if kind == AlertKind.AT_RISK:
        details["worst"] = details.get("cover")
    return details


async def _open(
    session: AsyncSession,
    supplier_id: int | None,
    opening: list[tuple[AlertKind, ProductFacts]],
    channel: str,
    now: datetime,
    group_over: int | None,
    result: EvaluationResult,
) -> None:
    group_id = None
    if group_over is not None and len(opening) > group_over:
        worst = min((kind for kind, _ in opening), key=PRODUCT_PROBLEMS.index)
        group_id = await alerts.open_group(session, worst, supplier_id, len(opening), channel, now)
        result.grouped += len(opening)
    # One executemany: thousands of alerts in a storm must not cost a round trip each.
    rows = [
        alerts.alert_values(
            kind,
            product_dedup_key(facts.product_id),
            channel,
            now,
            product_id=facts.product_id,
            supplier_id=facts.supplier_id,
            details=_opening_details(kind, facts),
            group_id=group_id,
        )
        for kind, facts in opening
    ]
    await session.execute(insert(Alert.__table__), rows)
    result.opened += len(rows)
    result.opened_product_ids.update(facts.product_id for _, facts in opening)
