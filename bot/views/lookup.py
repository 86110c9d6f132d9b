"""Answers for `/stock`: one product, a search, or a summary of open alerts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.search import MAX_MATCHES, NotFound, matching_words, not_found, product_by_sku
from bot.db.models import Alert, AlertState, Offer, Product, Supplier
from bot.views.cards import ProductCard, product_card

__all__ = [
    "CONCURRENT_LOOKUPS",
    "MAX_MATCHES",
    "AlertSummary",
    "Answer",
    "Matches",
    "NotFound",
    "OpenAlertLine",
    "StockLookup",
    "lookup",
    "open_alert_summary",
]


@dataclass(frozen=True, slots=True)
class Matches:
    query: str
    products: list[tuple[str, str]]  # (sku, title)
    total: int


@dataclass(frozen=True, slots=True)
class OpenAlertLine:
    kind: str
    state: str
    sku: str | None
    title: str | None
    supplier: str | None
    quantity: int | None


@dataclass(frozen=True, slots=True)
class AlertSummary:
    counts: dict[str, int]
    lines: list[OpenAlertLine] = field(default_factory=list)


Answer = ProductCard | Matches | NotFound | AlertSummary


# Questions answered at once; the others queue. Answers come no later (the loop and the
# database are busy either way), but a burst of `/stock` no longer crowds out the acks
# of other Slack requests, the polls and the database pool.
CONCURRENT_LOOKUPS = 2


@dataclass(frozen=True, slots=True)
class StockLookup:
    """`/stock` as a read-only service: each question gets its own session."""

    sessions: async_sessionmaker[AsyncSession]
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(CONCURRENT_LOOKUPS))

    async def stock(self, query: str) -> Answer:
        async with self.slots, self.sessions() as session:
            return await lookup(session, query)


async def lookup(session: AsyncSession, query: str) -> Answer:
    query = " ".join(query.split())
    if not query:
        return await open_alert_summary(session)
    product = await product_by_sku(session, query)
    if product is not None:
        return await product_card(session, product)
    return await _search(session, query)


async def _search(session: AsyncSession, query: str) -> ProductCard | Matches | NotFound:
    found = await matching_words(session, query)
    if len(found.products) == 1:
        product = await product_by_sku(session, found.products[0][0])
        assert product is not None
        return await product_card(session, product)
    if found.products:
        return Matches(query=query, products=found.products, total=found.total)
    return await not_found(session, query)


async def open_alert_summary(session: AsyncSession, limit: int = 20) -> AlertSummary:
    open_alerts = (Alert.state != AlertState.RESOLVED, Alert.is_group.is_(False))
    counts = await session.execute(
        select(Alert.kind, func.count()).where(*open_alerts).group_by(Alert.kind)
    )
    rows = await session.execute(
        select(Alert.kind, Alert.state, Product.sku, Product.title, Supplier.name, Offer.quantity)
        .outerjoin(Product, Product.id == Alert.product_id)
        .outerjoin(Offer, Offer.id == Product.active_offer_id)
        .outerjoin(Supplier, Supplier.id == Alert.supplier_id)
        .where(*open_alerts)
        .order_by(Alert.kind.desc(), Alert.opened_at)
        .limit(limit)
    )
    return AlertSummary(
        counts=dict(counts.tuples().all()), lines=[OpenAlertLine(*row) for row in rows.tuples()]
    )
