"""What follows whenever stock or demand for products changes.

A poll, a supplier switch, an order created, changed or closed: each changes how
much of a product is free for customers. Then, in the same transaction, stock is
re-allocated to open order lines, each product's one alert follows (its state,
what waits, its alternatives) and the storefronts are told what to show. Every
such change goes through `stock_changed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import backorders, store_sync
from bot.core.alerts import EvaluationResult
from bot.core.problems import evaluate, freshness
from bot.db.types import utcnow


async def stock_changed(
    session: AsyncSession,
    product_ids: set[int] | None,
    *,
    channel: str,
    supplier_id: int | None = None,
    stores: Sequence[str] | None = None,
    now: datetime | None = None,
    group_over: int | None = None,
) -> EvaluationResult:
    """Bring backorders, product alerts and the stores' wanted stock in line.

    `product_ids` None: every product of `supplier_id` (or every product at all).
    `stores` None: the stores already synced. `group_over`: more new product
    alerts than this for one supplier share one message. Returns the product
    alerts opened, updated and resolved."""
    now = now or utcnow()
    await backorders.allocate(session, product_ids=product_ids, supplier_id=supplier_id)
    result = await evaluate.evaluate(
        session,
        product_ids=product_ids,
        supplier_id=supplier_id,
        channel=channel,
        now=now,
        group_over=group_over,
    )
    # Another supplier's stock or price changed: the alternatives shown are out of date.
    await freshness.mark_stale(session, now=now, supplier_id=supplier_id, product_ids=product_ids)
    await store_sync.mark_wanted(session, product_ids, stores, supplier_id=supplier_id)
    return result
