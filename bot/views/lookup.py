"""Answers for `/stock`: one product, a search, or a summary of open alerts."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import ForecastSection
from bot.core.backorders import BackorderList, backorder_list, waiting_totals
from bot.core.forecast import forecast_for
from bot.core.problems.states import severity
from bot.core.search import MAX_MATCHES, NotFound, matching_words, not_found, product_by_sku
from bot.db.models import Alert, AlertKind, AlertState, Offer, Product, Supplier
from bot.db.types import utcnow
from bot.errors import UserError
from bot.views.cards import MemberLine, ProductCard, group_members, product_card
from bot.views.timeline import OrderStory, order_story

MAX_LISTED_MEMBERS = 300

__all__ = [
    "CONCURRENT_LOOKUPS",
    "MAX_MATCHES",
    "AlertSummary",
    "Answer",
    "GroupList",
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
    availability: str | None = None
    waiting_orders: int = 0
    waiting_units: int = 0


@dataclass(frozen=True, slots=True)
class AlertSummary:
    """`/stock` alone: open problems, most severe first, and how many of each kind."""

    counts: dict[str, int]
    lines: list[OpenAlertLine] = field(default_factory=list)
    # Out-of-stock products with orders waiting (counted in "out_of_stock" too).
    out_of_stock_waiting: int = 0


@dataclass(frozen=True, slots=True)
class GroupList:
    """Every product of a grouped message, for the list a person opens from it."""

    supplier: str | None
    total: int
    members: list[MemberLine]


Answer = ProductCard | Matches | NotFound | AlertSummary


# Questions answered at once; the others queue. Answers come no later (the loop and the
# database are busy either way), but a burst of `/stock` no longer crowds out the acks
# of other Slack requests, the polls and the database pool.
CONCURRENT_LOOKUPS = 2


@dataclass(frozen=True, slots=True)
class StockLookup:
    """`/stock` and `/backorders` as a read-only service: each question gets its own session."""

    sessions: async_sessionmaker[AsyncSession]
    forecast: ForecastSection = field(default_factory=ForecastSection)
    clock: Callable[[], datetime] = utcnow
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(CONCURRENT_LOOKUPS))

    async def stock(self, query: str) -> Answer:
        async with self.slots, self.sessions() as session:
            answer = await lookup(session, query)
            if isinstance(answer, ProductCard) and answer.product_id is not None:
                # One product's forecast: a few bulk queries and a little numpy.
                found = await forecast_for(session, answer.product_id, self.clock(), self.forecast)
                answer = dataclasses.replace(answer, forecast=found)
            return answer

    async def group_list(self, alert_id: int) -> GroupList:
        """The products of a grouped alert message, most severe first."""
        async with self.sessions() as session:
            group = await session.get(Alert, alert_id)
            if group is None or not group.is_group:
                raise UserError("That list is no longer available.")
            supplier = await session.get(Supplier, group.supplier_id) if group.supplier_id else None
            members = await group_members(session, alert_id, limit=MAX_LISTED_MEMBERS)
            total = await session.scalar(select(func.count()).where(Alert.group_id == alert_id))
            return GroupList(supplier.name if supplier else None, total or 0, members)

    async def backorders(self, query: str) -> BackorderList | NotFound | OrderStory:
        """`/backorders [SKU | ORDER_ID]`: every backordered product, one product's waiting
        orders, or one order's story."""
        async with self.sessions() as session:
            answer = await backorder_list(session, query)
            if isinstance(answer, NotFound):
                return await order_story(session, query) or answer
            return answer


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
    """Open problems by severity: out of stock with orders waiting, out of stock,
    backorders by units waiting, low stock (supplier and store problems first)."""
    open_alerts = (Alert.state != AlertState.RESOLVED, Alert.is_group.is_(False))
    waiting = waiting_totals().subquery()
    units = func.coalesce(waiting.c.units, 0)
    counts = await session.execute(
        select(Alert.kind, func.count()).where(*open_alerts).group_by(Alert.kind)
    )
    out_waiting = await session.scalar(
        select(func.count())
        .select_from(Alert)
        .join(waiting, waiting.c.product_id == Alert.product_id)
        .where(*open_alerts, Alert.kind == AlertKind.OUT_OF_STOCK)
    )
    rows = await session.execute(
        select(
            Alert.kind,
            Alert.state,
            Product.sku,
            Product.title,
            Supplier.name,
            Offer.quantity,
            Offer.availability,
            func.coalesce(waiting.c.orders, 0),
            units,
        )
        .outerjoin(Product, Product.id == Alert.product_id)
        .outerjoin(Offer, Offer.id == Product.active_offer_id)
        .outerjoin(Supplier, Supplier.id == Alert.supplier_id)
        .outerjoin(waiting, waiting.c.product_id == Alert.product_id)
        .where(*open_alerts)
        .order_by(severity(Alert.kind, units), units.desc(), Alert.opened_at, Alert.id)
        .limit(limit)
    )
    return AlertSummary(
        counts=dict(counts.tuples().all()),
        lines=[OpenAlertLine(*row) for row in rows.tuples()],
        out_of_stock_waiting=out_waiting or 0,
    )
