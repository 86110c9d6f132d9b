"""Backorders: which open order lines the active supplier's stock cannot cover.

The active offer's quantity is allocated to open lines oldest order first; what is
left uncovered is `OrderLine.backordered`. Each product with backordered units has
one open `backorder` alert, updated in place as the figures change and resolved
when stock covers every open order again (or the orders are closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import CompoundSelect, Select, distinct, exists, func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import alerts
from bot.core.alerts import EvaluationResult
from bot.core.availability import Availability, is_stockout
from bot.core.search import NotFound, not_found, product_by_sku
from bot.db.chunks import chunks
from bot.db.models import (
    Alert,
    AlertKind,
    AlertState,
    Offer,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    Supplier,
)
from bot.db.types import utcnow

MAX_LISTED_PRODUCTS = 100
MAX_LISTED_ORDERS = 100
# `/backorders SKU` for a SKU not in the catalog (the same answer as `/stock`'s).
NoSuchProduct = NotFound


@dataclass(frozen=True)
class OrderStats:
    open_orders: int
    open_units: int
    backordered_orders: int
    backordered_units: int
    oldest_backorder_at: datetime | None
    restock_date: date | None


@dataclass(frozen=True, slots=True)
class WaitingOrder:
    order_id: int
    external_id: str
    customer_name: str
    customer_email: str
    quantity: int
    backordered: int
    ordered_at: datetime


@dataclass(frozen=True, slots=True)
class BackorderedProduct:
    product_id: int
    sku: str
    title: str
    orders: int
    units: int
    oldest_at: datetime
    restock_date: date | None
    supplier: str | None


@dataclass(frozen=True, slots=True)
class BackorderList:
    """`/backorders [SKU]`: products oldest backorder first; with a SKU, its orders too."""

    as_of: datetime
    products: list[BackorderedProduct]
    total_products: int
    sku: str | None = None
    title: str | None = None
    orders: list[WaitingOrder] = field(default_factory=list)
    total_orders: int = 0


@dataclass(frozen=True, slots=True)
class _Supply:
    supplier_id: int | None
    supplier: str | None
    quantity: int | None
    availability: str

    @property
    def available(self) -> int | None:
        """Units to allocate; None when unknown (then nothing is marked backordered)."""
        if is_stockout(self.availability):
            return 0
        return self.quantity


NO_SUPPLY = _Supply(None, None, None, Availability.UNKNOWN)


def _open_lines() -> Select[tuple[int]]:
    return (
        select(OrderLine.product_id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.status == OrderStatus.OPEN)
    )


def _open_backorder_alerts() -> Select[tuple[int | None]]:
    return select(Alert.product_id).where(
        Alert.kind == AlertKind.BACKORDER,
        Alert.state != AlertState.RESOLVED,
        Alert.product_id.is_not(None),
    )


async def _targets(
    session: AsyncSession, product_ids: set[int] | None, supplier_id: int | None
) -> list[int]:
    if product_ids is not None and not product_ids:
        return []
    # One indexed look-up answers the usual case: no open orders, no backorder alerts.
    busy = await session.scalar(
        select(
            exists(select(Order.id).where(Order.status == OrderStatus.OPEN))
            | exists(_open_backorder_alerts())
        )
    )
    if not busy:
        return []
    if product_ids is not None:
        return sorted(product_ids)
    query: CompoundSelect
    if supplier_id is None:
        query = union(_open_lines(), _open_backorder_alerts())
    else:
        active = (
            select(Product.id)
            .join(Offer, Offer.id == Product.active_offer_id)
            .where(Offer.supplier_id == supplier_id)
        )
        # Lines still assigned to the supplier count too: it may just have stopped being active.
        query = union(
            _open_lines().where(OrderLine.product_id.in_(active)),
            _open_lines().where(OrderLine.supplier_id == supplier_id),
            _open_backorder_alerts().where(Alert.product_id.in_(active)),
            _open_backorder_alerts().where(Alert.supplier_id == supplier_id),
        )
    return sorted(pid for pid in (await session.scalars(query)) if pid is not None)


async def _supplies(session: AsyncSession, product_ids: Sequence[int]) -> dict[int, _Supply]:
    rows = await session.execute(
        select(Product.id, Offer.supplier_id, Supplier.name, Offer.quantity, Offer.availability)
        .join(Offer, Offer.id == Product.active_offer_id)
        .join(Supplier, Supplier.id == Offer.supplier_id)
        .where(Product.id.in_(product_ids))
    )
    return {pid: _Supply(*values) for pid, *values in rows}


def _allocate(lines: list[OrderLine], supply: _Supply) -> None:
    """Cover the oldest lines first; what stock cannot cover is backordered."""
    remaining = supply.available
    for line in lines:
        if remaining is None:
            backordered = 0
        else:
            covered = min(line.quantity, remaining)
            remaining -= covered
            backordered = line.quantity - covered
        if line.backordered != backordered:
            line.backordered = backordered
        if line.supplier_id != supply.supplier_id:
            line.supplier_id = supply.supplier_id


def _details(lines: list[tuple[OrderLine, datetime]], supply: _Supply) -> dict[str, Any] | None:
    waiting = [(line, ordered_at) for line, ordered_at in lines if line.backordered > 0]
    if not waiting:
        return None
    return {
        "orders": len({line.order_id for line, _ in waiting}),
        "units": sum(line.backordered for line, _ in waiting),
        "oldest": min(ordered_at for _, ordered_at in waiting).isoformat(),
        "supplier_id": supply.supplier_id,
    }


def _resolution(lines: list[tuple[OrderLine, datetime]], supply: _Supply) -> str:
    if not lines:
        return "No open order is waiting for this product any more."
    units = sum(line.quantity for line, _ in lines)
    if supply.supplier is None:
        return "The product has no active supplier, so no order is counted as backordered."
    if supply.available is None:
        if supply.availability == Availability.IN_STOCK:
            return f"{supply.supplier} has it in stock (no quantity given)."
        return (
            f"{supply.supplier} gives no stock quantity now, so no order is counted as backordered."
        )
    return (
        f"Stock covers every open order again: {supply.available} available at "
        f"{supply.supplier} for {units} unit(s) ordered."
    )


async def refresh(
    session: AsyncSession,
    *,
    product_ids: set[int] | None = None,
    supplier_id: int | None = None,
    channel: str,
    now: datetime | None = None,
    group_over: int | None = None,
) -> EvaluationResult:
    """Re-allocate stock to open lines and bring `backorder` alerts in line.

    For `product_ids`; else for the products whose active offer (or whose open
    lines) belong to `supplier_id`; else for every product with open lines.
    With `group_over`, more new alerts than that for one supplier (say, a first
    import of every open order) share one grouped message, as stock alerts do.
    """
    now = now or utcnow()
    result = EvaluationResult()
    to_open: dict[int | None, list[tuple[int, dict[str, Any]]]] = {}
    groups: set[int] = set()
    for chunk in chunks(await _targets(session, product_ids, supplier_id)):
        await _refresh_chunk(session, chunk, now, result, to_open, groups)
    for group_supplier, opening in to_open.items():
        group_id = None
        if group_over is not None and len(opening) > group_over:
            group_id = await alerts.open_group(
                session, AlertKind.BACKORDER, group_supplier, len(opening), channel, now
            )
            result.grouped += len(opening)
        session.add_all(
            alerts.new_alert(
                AlertKind.BACKORDER,
                alerts.stock_dedup_key(AlertKind.BACKORDER, product_id),
                channel,
                now,
                product_id=product_id,
                supplier_id=group_supplier,
                details=details,
                group_id=group_id,
            )
            for product_id, details in opening
        )
        result.opened += len(opening)
    await session.flush()
    await alerts.settle_groups(
        session, groups, now, "Stock covers the open orders of every product here."
    )
    return result


async def _refresh_chunk(
    session: AsyncSession,
    product_ids: Sequence[int],
    now: datetime,
    result: EvaluationResult,
    to_open: dict[int | None, list[tuple[int, dict[str, Any]]]],
    groups: set[int],
) -> None:
    rows = await session.execute(
        select(OrderLine, Order.ordered_at)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.status == OrderStatus.OPEN, OrderLine.product_id.in_(product_ids))
        .order_by(OrderLine.product_id, Order.ordered_at, Order.id, OrderLine.id)
    )
    lines: dict[int, list[tuple[OrderLine, datetime]]] = {}
    for line, ordered_at in rows:
        lines.setdefault(line.product_id, []).append((line, ordered_at))
    open_alerts = {
        alert.product_id: alert
        for alert in await session.scalars(
            select(Alert).where(
                Alert.kind == AlertKind.BACKORDER,
                Alert.state != AlertState.RESOLVED,
                Alert.is_group.is_(False),
                Alert.product_id.in_(product_ids),
            )
        )
    }
    concerned = sorted(set(lines) | {pid for pid in open_alerts if pid is not None})
    supplies = await _supplies(session, concerned) if concerned else {}
    for product_id in concerned:
        supply = supplies.get(product_id, NO_SUPPLY)
        product_lines = lines.get(product_id, [])
        _allocate([line for line, _ in product_lines], supply)
        details = _details(product_lines, supply)
        alert = open_alerts.get(product_id)
        if alert is None:
            if details is not None:
                to_open.setdefault(supply.supplier_id, []).append((product_id, details))
            continue
        if details is None:
            alerts.mark_resolved(alert, now, _resolution(product_lines, supply))
            result.resolved += 1
        elif alert.details != details:
            alert.details = details
            alert.supplier_id = supply.supplier_id
            alerts.touch(alert, now)
            result.updated += 1
        else:
            continue
        result.touched_alert_ids.add(alert.id)
        if alert.group_id is not None:
            groups.add(alert.group_id)


async def backordered_product_count(session: AsyncSession) -> int:
    """How many products have units waiting on open orders."""
    return (
        await session.scalar(
            select(func.count(distinct(OrderLine.product_id)))
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.status == OrderStatus.OPEN, OrderLine.backordered > 0)
        )
        or 0
    )


async def order_stats(session: AsyncSession, product_id: int) -> OrderStats:
    """Open orders for a product and how much of them stock cannot cover."""
    rows = (
        await session.execute(
            select(OrderLine.order_id, OrderLine.quantity, OrderLine.backordered, Order.ordered_at)
            .join(Order, Order.id == OrderLine.order_id)
            .where(OrderLine.product_id == product_id, Order.status == OrderStatus.OPEN)
        )
    ).all()
    waiting = [row for row in rows if row.backordered > 0]
    restock = await session.scalar(
        select(Offer.restock_date)
        .join(Product, Product.active_offer_id == Offer.id)
        .where(Product.id == product_id)
    )
    return OrderStats(
        open_orders=len({row.order_id for row in rows}),
        open_units=sum(row.quantity for row in rows),
        backordered_orders=len({row.order_id for row in waiting}),
        backordered_units=sum(row.backordered for row in waiting),
        oldest_backorder_at=min((row.ordered_at for row in waiting), default=None),
        restock_date=restock,
    )


def _waiting_query(product_id: int) -> Select[Any]:
    return (
        select(
            Order.id,
            Order.external_id,
            Order.customer_name,
            Order.customer_email,
            OrderLine.quantity,
            OrderLine.backordered,
            Order.ordered_at,
        )
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(
            OrderLine.product_id == product_id,
            Order.status == OrderStatus.OPEN,
            OrderLine.backordered > 0,
        )
        .order_by(Order.ordered_at, Order.id)
    )


async def waiting_orders(session: AsyncSession, product_id: int) -> list[WaitingOrder]:
    """Open orders with units of this product that stock cannot cover, oldest first."""
    return [WaitingOrder(*row) for row in await session.execute(_waiting_query(product_id))]


def _grouped() -> Select[Any]:
    oldest = func.min(Order.ordered_at)
    return (
        select(
            Product.id,
            Product.sku,
            Product.title,
            func.count(distinct(Order.id)),
            func.sum(OrderLine.backordered),
            oldest,
            Offer.restock_date,
            Supplier.name,
        )
        .join(OrderLine, OrderLine.product_id == Product.id)
        .join(Order, Order.id == OrderLine.order_id)
        .outerjoin(Offer, Offer.id == Product.active_offer_id)
        .outerjoin(Supplier, Supplier.id == Offer.supplier_id)
        .where(Order.status == OrderStatus.OPEN, OrderLine.backordered > 0)
        .group_by(Product.id, Product.sku, Product.title, Offer.restock_date, Supplier.name)
        .order_by(oldest, Product.sku)
    )


async def backorder_list(session: AsyncSession, sku: str | None) -> BackorderList | NoSuchProduct:
    """Open backorders by product, oldest first; or one product's with its waiting orders."""
    now = utcnow()
    query = " ".join((sku or "").split())
    if not query:
        grouped = _grouped().subquery()
        total = await session.scalar(select(func.count()).select_from(grouped)) or 0
        rows = await session.execute(_grouped().limit(MAX_LISTED_PRODUCTS))
        return BackorderList(
            as_of=now,
            products=[BackorderedProduct(*row) for row in rows],
            total_products=total,
        )
    product = await product_by_sku(session, query)
    if product is None:
        return await not_found(session, query)
    row = (await session.execute(_grouped().where(Product.id == product.id))).first()
    total_orders = (
        await session.scalar(
            select(func.count()).select_from(_waiting_query(product.id).subquery())
        )
        or 0
    )
    orders = await session.execute(_waiting_query(product.id).limit(MAX_LISTED_ORDERS))
    return BackorderList(
        as_of=now,
        products=[BackorderedProduct(*row)] if row else [],
        total_products=1 if row else 0,
        sku=product.sku,
        title=product.title,
        orders=[WaitingOrder(*o) for o in orders],
        total_orders=total_orders,
    )
