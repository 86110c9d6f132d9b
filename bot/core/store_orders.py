"""Store orders in: a store's open orders become Stockbot orders.

Orders past a page cap were not seen, not closed: only a complete listing closes
the orders it no longer holds. Stock is re-allocated once for the whole listing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import orders
from bot.core.stock_changes import stock_changed
from bot.db.models import CloseReason, Order, OrderStatus
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
    """Apply the store's orders as its webhooks would (new ones get source = the
    store's name), close this store's open orders no longer listed, and re-allocate
    stock once. A StoreError while reading leaves everything as it was."""
    now = now or utcnow()
    listed = await adapter.fill_skus([order async for order in adapter.open_orders()])
    changes = await orders.apply_store_orders(
        session,
        listed,
        source=store_name,
        channel=channel,
        now=now,
        adopt_from=adapter.kind,
        listing=True,
    )
    tally = Counter(change.outcome for change in changes)
    report = OrderPollReport(
        store_name,
        listed=len(listed),
        created=tally["created"],
        updated=tally["updated"],
        closed=tally["closed"],
        ignored=tally["ignored"],
    )
    # Listed but in a status Stockbot cannot read ("unknown") is not gone either.
    listed_ids = {order.external_id for order in listed if order.status in ("open", "unknown")}
    known_open = await session.scalars(
        select(Order.external_id).where(
            Order.source == store_name, Order.status == OrderStatus.OPEN
        )
    )
    # Orders past a page cap were not seen, not closed: only a full listing proves it.
    # Nor does one holding an order whose id could not be read: it may be any of them.
    complete = adapter.orders_complete and all(order.external_id for order in listed)
    gone = (
        [external_id for external_id in known_open if external_id not in listed_ids]
        if complete
        else []
    )
    freed: set[int] = set()
    for order in (await orders.load_orders(session, store_name, gone)).values():
        # Fulfilled or cancelled in the store: either way nobody waits for it any more.
        # Inferred, not told: the store reporting it open again reopens it.
        freed |= (
            await orders.mark_closed(
                session, order, OrderStatus.FULFILLED, reason=CloseReason.UNLISTED, now=now
            )
            or set()
        )
        report.closed += 1
    if freed:
        await stock_changed(session, freed, channel=channel, now=now)
    return report
