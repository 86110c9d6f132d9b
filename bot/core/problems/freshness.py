"""Keep open product messages current: any change to any of a product's offers
(stock or price, at any supplier) re-renders its open alert, so the one-click
switch appears as soon as an alternative has stock and goes when it runs out.

Set-based and debounced: one UPDATE per follow-up marks each affected message for
sync once, however many offers a poll changed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, SQLColumnExpression, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.db.chunks import chunks
from bot.db.models import Alert, AlertState, Offer

_SYNC_NOW = {"needs_sync": True, "next_delivery_at": None}


def _offer_changed(
    product_id: SQLColumnExpression[int | None],
    since: SQLColumnExpression[datetime],
    supplier_id: int | None,
) -> ColumnElement[bool]:
    query = select(Offer.id).where(Offer.product_id == product_id, Offer.changed_at > since)
    if supplier_id is not None:
        query = query.where(Offer.supplier_id == supplier_id)
    # Correlated to whatever alert rows enclose it (the UPDATE's, and a group's members).
    return query.correlate_except(Offer).exists()


async def mark_stale(
    session: AsyncSession,
    *,
    now: datetime,
    supplier_id: int | None = None,
    product_ids: set[int] | None = None,
) -> int:
    """Mark for sync every open product alert (and open group) whose product has an
    offer that changed after the alert last did; the number of alerts marked."""
    if product_ids is not None and not product_ids:
        return 0
    open_alert = Alert.state != AlertState.RESOLVED
    single = update(Alert).where(
        open_alert,
        Alert.is_group.is_(False),
        Alert.group_id.is_(None),  # a group's members are drawn by the group's message
        _offer_changed(Alert.product_id, Alert.changed_at, supplier_id),
    )
    member = aliased(Alert)
    group = update(Alert).where(
        open_alert,
        Alert.is_group.is_(True),
        exists(
            select(member.id).where(
                member.group_id == Alert.id,
                member.state != AlertState.RESOLVED,
                _offer_changed(member.product_id, Alert.changed_at, supplier_id),
            )
        ),
    )
    statements = [group]
    if product_ids is None:
        statements.append(single)
    else:
        statements += [single.where(Alert.product_id.in_(ids)) for ids in chunks(product_ids)]
    marked = 0
    for statement in statements:
        outcome = await session.execute(
            statement.values(changed_at=now, **_SYNC_NOW).execution_options(
                synchronize_session=False
            )
        )
        marked += int(getattr(outcome, "rowcount", 0) or 0)
    return marked
