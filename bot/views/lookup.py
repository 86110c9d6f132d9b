"""Answers for `/stock`: one product, a search, or a summary of open alerts."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.search import close_matches
from bot.db.models import Alert, AlertState, Offer, Product, Supplier
from bot.views.cards import ProductCard, product_card

MAX_MATCHES = 10


@dataclass(frozen=True, slots=True)
class Matches:
    query: str
    products: list[tuple[str, str]]  # (sku, title)
    total: int


@dataclass(frozen=True, slots=True)
class NotFound:
    query: str
    suggestions: list[tuple[str, str]]


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


async def lookup(session: AsyncSession, query: str) -> Answer:
    query = " ".join(query.split())
    if not query:
        return await open_alert_summary(session)
    product = await session.scalar(select(Product).where(func.lower(Product.sku) == query.lower()))
    if product is not None:
        return await product_card(session, product)
    return await _search(session, query)


async def _search(session: AsyncSession, query: str) -> Matches | NotFound:
    words = query.lower().split()
    conditions = [
        or_(func.lower(Product.title).contains(word), func.lower(Product.sku).contains(word))
        for word in words
    ]
    matched = select(Product.sku, Product.title).where(*conditions)
    total = await session.scalar(select(func.count()).select_from(matched.subquery())) or 0
    rows = (await session.execute(matched.order_by(Product.sku).limit(MAX_MATCHES))).all()
    if len(rows) == 1:
        product = await session.scalar(select(Product).where(Product.sku == rows[0][0]))
        assert product is not None
        return await product_card(session, product)  # type: ignore[return-value]
    if rows:
        return Matches(query=query, products=list(rows), total=total)
    return NotFound(query=query, suggestions=await close_matches(session, query))


async def open_alert_summary(session: AsyncSession, limit: int = 20) -> AlertSummary:
    counts = dict(
        (
            await session.execute(
                select(Alert.kind, func.count())
                .where(Alert.state != AlertState.RESOLVED, Alert.is_group.is_(False))
                .group_by(Alert.kind)
            )
        ).all()
    )
    rows = await session.execute(
        select(Alert.kind, Alert.state, Product.sku, Product.title, Supplier.name, Offer.quantity)
        .outerjoin(Product, Product.id == Alert.product_id)
        .outerjoin(Offer, Offer.id == Product.active_offer_id)
        .outerjoin(Supplier, Supplier.id == Alert.supplier_id)
        .where(Alert.state != AlertState.RESOLVED, Alert.is_group.is_(False))
        .order_by(Alert.kind.desc(), Alert.opened_at)
        .limit(limit)
    )
    return AlertSummary(counts=counts, lines=[OpenAlertLine(*row) for row in rows])
