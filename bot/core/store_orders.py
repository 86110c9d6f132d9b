"""Store orders in: a store's open orders become Stockbot orders.

Orders past a page cap were not seen, not closed: only a complete listing closes
the orders it no longer holds. Stock is re-allocated once for the whole listing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import orders
from bot.core.stock_changes import stock_changed
from bot.db.models import Order, OrderStatus
from bot.db.types import utcnow
from stores import StoreAdapter


@dataclass(slots=True)
class OrderPollReport:
    store: str
    listed: int = 0
    created: int = 0
    updated: int = 0
    closed: int = 0
    ignored: int = 0


async def poll_orders(
    session: AsyncSession,
    adapter: StoreAdapter,
    store_name: str,
    *,
    channel: str,
    now: datetime | None = None,
) -> OrderPollReport:
    """Upsert the store's open orders (source = the store's name), close this
    store's orders no longer listed, and re-allocate stock. A StoreError while
    reading leaves everything as it was."""
    now = now or utcnow()
    listed = [order async for order in adapter.open_orders()]
    report = OrderPollReport(store_name, listed=len(listed))
    product_ids = await orders.resolve_skus(
        session, {line.sku for order in listed for line in order.lines}
    )
    valid = [order for order in listed if 0 < len(order.external_id) <= 100]
    existing = await orders.load_orders(session, [order.external_id for order in valid])
    affected: set[int] = set()
    open_ids: set[str] = set()
    for listed_order in valid:
        current = existing.get(listed_order.external_id)
        if listed_order.status == "closed":
            if current is not None and current.status == OrderStatus.OPEN:
                affected |= await _close(session, current, now, report)
            continue
        open_ids.add(listed_order.external_id)
        lines: dict[int, int] = {}
        for line in listed_order.lines:
            product_id = product_ids.get(line.sku)
            if product_id is not None and line.quantity > 0:
                lines[product_id] = lines.get(product_id, 0) + line.quantity
        if not lines:
            report.ignored += 1  # nothing Stockbot stocks; an existing order is left as is
            continue
        data = orders.OrderData(
            external_id=listed_order.external_id,
            customer_name=listed_order.customer_name[:200],
            customer_email=listed_order.customer_email[:320],
            ordered_at=listed_order.ordered_at,
            lines=lines,
            source=store_name,
        )
        outcome, products = orders.apply_order(session, current, data)
        affected |= products
        report.created += outcome == "created"
        report.updated += outcome == "updated"
    await session.flush()
    known_open = await session.scalars(
        select(Order.external_id).where(
            Order.source == store_name, Order.status == OrderStatus.OPEN
        )
    )
    # Orders past a page cap were not seen, not closed: only a full listing proves it.
    gone = (
        [external_id for external_id in known_open if external_id not in open_ids]
        if adapter.orders_complete
        else []
    )
    for order in (await orders.load_orders(session, gone)).values():
        # Fulfilled or cancelled in the store: either way nobody waits for it any more.
        affected |= await _close(session, order, now, report)
    await stock_changed(session, affected, channel=channel, now=now)
    return report


async def _close(
    session: AsyncSession, order: Order, now: datetime, report: OrderPollReport
) -> set[int]:
    freed = await orders.mark_closed(session, order, OrderStatus.FULFILLED, now=now)
    report.closed += 1
    return freed or set()
