"""Backorders: which open order lines the active supplier's stock cannot cover.

The active offer's quantity is allocated to open lines oldest order first; what is
left uncovered is `OrderLine.backordered`. The product's one alert shows what waits
(`bot.core.problems`); `/backorders` lists it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import CompoundSelect, Select, and_, distinct, exists, func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.availability import Availability, is_stockout
from bot.core.search import NotFound, not_found, product_by_sku
from bot.db.chunks import chunks
from bot.db.models import (
    Offer,
    Order,
    OrderChoice,
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
    # What the customer chose on their choice link (a CustomerChoice value), if anything.
    choice: str | None = None


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


async def _targets(
    session: AsyncSession, product_ids: set[int] | None, supplier_id: int | None
) -> list[int]:
    if product_ids is not None and not product_ids:
        return []
    # One indexed look-up answers the usual case: no open orders.
    busy = await session.scalar(
        select(exists(select(Order.id).where(Order.status == OrderStatus.OPEN)))
    )
    if not busy:
        return []
    if product_ids is not None:
        return sorted(product_ids)
    query: CompoundSelect
    if supplier_id is None:
        return sorted(set(await session.scalars(_open_lines())))
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


async def allocate(
    session: AsyncSession,
    *,
    product_ids: set[int] | None = None,
    supplier_id: int | None = None,
) -> None:
    """Re-allocate the active offers' stock to open order lines, oldest first.

    For `product_ids`; else for the products whose active offer (or whose open
    lines) belong to `supplier_id`; else for every product with open lines. The
    alerts follow from the result (`bot.core.problems.evaluate`)."""
    for chunk in chunks(await _targets(session, product_ids, supplier_id)):
        await _allocate_chunk(session, chunk)
    await session.flush()


async def _allocate_chunk(session: AsyncSession, product_ids: Sequence[int]) -> None:
    # Closed orders' lines wait for nothing: closing sets them to 0 (`orders.mark_closed`).
    rows = await session.scalars(
        select(OrderLine)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.status == OrderStatus.OPEN, OrderLine.product_id.in_(product_ids))
        .order_by(OrderLine.product_id, Order.ordered_at, Order.id, OrderLine.id)
    )
    lines: dict[int, list[OrderLine]] = {}
    for line in rows:
        lines.setdefault(line.product_id, []).append(line)
    supplies = await _supplies(session, sorted(lines)) if lines else {}
    for product_id, product_lines in lines.items():
        _allocate(product_lines, supplies.get(product_id, NO_SUPPLY))


def waiting_totals() -> Select[tuple[int, int, int, datetime]]:
    """Per product: open orders and units that stock cannot cover, and the oldest one."""
    return (
        select(
            OrderLine.product_id,
            func.count(distinct(OrderLine.order_id)).label("orders"),
            func.sum(OrderLine.backordered).label("units"),
            func.min(Order.ordered_at).label("oldest"),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.status == OrderStatus.OPEN, OrderLine.backordered > 0)
        .group_by(OrderLine.product_id)
    )


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
            OrderChoice.choice,
        )
        .join(OrderLine, OrderLine.order_id == Order.id)
        .outerjoin(
            OrderChoice,
            and_(OrderChoice.order_id == Order.id, OrderChoice.product_id == product_id),
        )
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
