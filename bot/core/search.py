"""Finding products by what people type: SKUs, words of titles, typos."""

from __future__ import annotations

import difflib

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Product


async def close_matches(session: AsyncSession, query: str) -> list[tuple[str, str]]:
    """Likely typos of a SKU or title (difflib over the catalog's SKUs and titles)."""
    catalog = dict((await session.execute(select(Product.sku, Product.title))).all())
    lowered = {sku.lower(): sku for sku in catalog}
    titles = {title.lower(): sku for sku, title in catalog.items()}
    close = difflib.get_close_matches(query.lower(), list(lowered), n=5, cutoff=0.6)
    close += difflib.get_close_matches(query.lower(), list(titles), n=5, cutoff=0.6)
    skus = dict.fromkeys([lowered.get(c) or titles[c] for c in close])
    return [(sku, catalog[sku]) for sku in list(skus)[:5]]
