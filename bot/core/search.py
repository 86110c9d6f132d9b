"""Finding products by what people type: SKUs, words of titles, typos."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Product

MAX_MATCHES = 10


@dataclass(frozen=True, slots=True)
class NotFound:
    """Nothing matches `query`; `suggestions` are likely typos as (sku, title)."""

    query: str
    suggestions: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class WordMatches:
    """Products whose SKU or title holds every word: the first few, and how many in all."""

    products: list[tuple[str, str]]  # (sku, title), by SKU
    total: int


async def product_by_sku(session: AsyncSession, sku: str) -> Product | None:
    """The product with this SKU, ignoring case and surrounding blanks (the exact
    spelling first, should two SKUs differ only by case)."""
    sku = sku.strip()
    return await session.scalar(
        select(Product)
        .where(func.lower(Product.sku) == sku.lower())
        .order_by(Product.sku != sku, Product.id)
        .limit(1)
    )


async def matching_words(
    session: AsyncSession, query: str, limit: int = MAX_MATCHES
) -> WordMatches:
    """Products whose SKU or title contains every word of `query` (case-insensitive)."""
    conditions = [
        or_(
            func.lower(Product.title).contains(word, autoescape=True),
            func.lower(Product.sku).contains(word, autoescape=True),
        )
        for word in query.lower().split()
    ]
    matched = select(Product.sku, Product.title).where(*conditions)
    total = await session.scalar(select(func.count()).select_from(matched.subquery())) or 0
    rows = (await session.execute(matched.order_by(Product.sku).limit(limit))).tuples()
    return WordMatches(list(rows), total)


async def close_matches(session: AsyncSession, query: str) -> list[tuple[str, str]]:
    """Likely typos of a SKU or title (difflib over the catalog's SKUs and titles)."""
    catalog = dict((await session.execute(select(Product.sku, Product.title))).tuples().all())
    lowered = {sku.lower(): sku for sku in catalog}
    titles = {title.lower(): sku for sku, title in catalog.items()}
    close = difflib.get_close_matches(query.lower(), list(lowered), n=5, cutoff=0.6)
    close += difflib.get_close_matches(query.lower(), list(titles), n=5, cutoff=0.6)
    skus = dict.fromkeys([lowered.get(c) or titles[c] for c in close])
    return [(sku, catalog[sku]) for sku in list(skus)[:5]]


async def not_found(session: AsyncSession, query: str) -> NotFound:
    return NotFound(query, await close_matches(session, query))
