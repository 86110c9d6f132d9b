"""Finding products by what people type: SKUs, words of titles, typos.

Every question is answered by an index, never a scan of the catalog: the SKU by
`products.sku_key`, words by SQLite's FTS5 trigram table or PostgreSQL's pg_trgm index
(migration 0004; without them the same conditions run as scans), typos by the
per-process rapidfuzz index of `bot.core.fuzzy`, matched in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import ColumnElement, Integer, column, func, literal_column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import fuzzy
from bot.db.models import Product, sku_key

MAX_MATCHES = 10
# The trigram tokenizer indexes runs of three characters: a shorter word is a scan.
FTS_MIN_WORD = 3

# Where a word is looked for: SKU and title as one lower-case text. A word has no blank,
# so it cannot straddle the one between them. PostgreSQL's pg_trgm index is on exactly
# this expression (with ' ' as a literal, not a parameter, or the index would not match).
SEARCHABLE = func.lower(Product.sku.concat(literal_column("' '")).concat(Product.title))

_FTS_MATCH = text("SELECT rowid FROM product_search WHERE product_search MATCH :phrases")
_HAS_FTS: WeakKeyDictionary[Any, bool] = WeakKeyDictionary()


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
    key = sku_key(sku)
    if not key:
        return None
    return await session.scalar(
        select(Product)
        .where(Product.sku_key == key)
        .order_by(Product.sku != sku.strip(), Product.id)
        .limit(1)
    )


async def _has_fts(session: AsyncSession) -> bool:
    """Whether the database has the FTS5 table (SQLite only; checked once per engine)."""
    bind = session.bind
    if bind is None or bind.dialect.name != "sqlite":
        return False
    key = fuzzy.database_key(session)
    if key not in _HAS_FTS:
        found = await session.scalar(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'product_search'")
        )
        _HAS_FTS[key] = found is not None
    return _HAS_FTS[key]


def _fts_phrases(words: list[str]) -> str:
    """FTS5 query text: each word a quoted phrase (so nothing in it is syntax), all needed."""
    return " AND ".join('"' + word.replace('"', '""') + '"' for word in words)


async def word_conditions(session: AsyncSession, query: str) -> list[ColumnElement[bool]]:
    """SQL conditions on `Product`: its SKU or title contains every word of `query`,
    ignoring case; `%` and `_` are plain characters."""
    words = query.lower().split()
    fts = await _has_fts(session)
    indexed = [word for word in words if fts and len(word) >= FTS_MIN_WORD]
    scanned = [word for word in words if word not in indexed]
    if fts:
        # SQLite's LIKE ignores ASCII case, as its lower() only folds ASCII: the same
        # answers as lower(…) LIKE, without building a lower-case copy of every row.
        conditions = [
            or_(
                Product.sku.contains(word, autoescape=True),
                Product.title.contains(word, autoescape=True),
            )
            for word in scanned
        ]
    else:
        conditions = [SEARCHABLE.contains(word, autoescape=True) for word in scanned]
    if indexed:
        matches = _FTS_MATCH.bindparams(phrases=_fts_phrases(indexed))
        conditions.append(Product.id.in_(matches.columns(column("rowid", Integer))))
    return conditions


async def matching_words(
    session: AsyncSession, query: str, limit: int = MAX_MATCHES
) -> WordMatches:
    """Products whose SKU or title contains every word of `query` (case-insensitive)."""
    if session.get_bind().dialect.name == "postgresql":
        # A prepared statement soon gets a generic plan, blind to the pattern: one that
        # walks every SKU in order instead of the trigram index. Plan for each pattern.
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    matched = (
        select(Product.sku, Product.title)
        .where(*await word_conditions(session, query))
        # Scan rows and sort the few found, rather than walk the whole SKU index in
        # order when a word matches little or nothing (rowid lookups stay allowed).
        .with_hint(Product, "NOT INDEXED", "sqlite")
    )
    rows = list((await session.execute(matched.order_by(Product.sku).limit(limit))).tuples())
    if len(rows) < limit:  # the whole answer: no need to count
        return WordMatches(rows, len(rows))
    total = await session.scalar(select(func.count()).select_from(matched.subquery())) or 0
    return WordMatches(rows, total)


async def close_matches(session: AsyncSession, query: str) -> list[tuple[str, str]]:
    """Likely typos of a SKU or title, as (sku, title): close SKUs first, then titles."""
    return await fuzzy.close_matches(session, query)


async def not_found(session: AsyncSession, query: str) -> NotFound:
    return NotFound(query, await close_matches(session, query))
