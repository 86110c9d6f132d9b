"""Typo suggestions: the catalog's SKUs and titles in memory, matched by rapidfuzz.

One index per process and database, kept in step with the catalog through the
`catalog_changes` log that database triggers write (migration 0004): its largest id is
the catalog's version. Each question first reads that version (one indexed query); a
process that is behind applies only the rows past its own version, or reloads the whole
catalog after a big change (or when the log was pruned past it). Several processes each
keep their own copy, so none can serve another's stale one.

An index is immutable once built: updates make a new one, so a worker thread can match
against it while the event loop swaps in the next. Building and matching run in a worker
thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import bisect
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.chunks import chunks
from bot.db.models import CatalogChange, Product

SUGGESTIONS = 5
# SKUs are codes: a typo is a wrong, missing, extra or swapped character (OSA distance).
SKU_CUTOFF = 0.6
# Titles are words: an indel ratio, as difflib's, forgives a missing word.
TITLE_CUTOFF = 60.0
# Past this many logged changes, reloading everything is cheaper than catching up.
MAX_CATCH_UP = 10_000
# Changes kept in the log: a process further behind than this reloads everything.
KEEP_CHANGES = MAX_CATCH_UP


@dataclass(frozen=True, slots=True)
class FuzzyIndex:
    """Lower-cased SKUs and titles by product id, as of catalog `version`.

    `ids` is sorted; a deleted product leaves None in both lists (rapidfuzz skips None)
    until the next compaction."""

    version: int
    ids: array[int]
    skus: list[str | None]
    titles: list[str | None]
    holes: int = 0

    @classmethod
    def build(cls, version: int, rows: Iterable[tuple[int, str, str]]) -> FuzzyIndex:
        """From (id, sku, title) rows in id order."""
        ids: array[int] = array("q")
        skus: list[str | None] = []
        titles: list[str | None] = []
        for product_id, sku, title in rows:
            ids.append(product_id)
            skus.append(sku.lower())
            titles.append(title.lower())
        return cls(version, ids, skus, titles)

    def __len__(self) -> int:
        return len(self.ids) - self.holes

    def updated(
        self, version: int, changed: Sequence[tuple[int, str, str]], removed: Iterable[int]
    ) -> FuzzyIndex:
        """A copy with `changed` (id, sku, title) rows set and `removed` ids dropped."""
        ids, skus, titles = array("q", self.ids), list(self.skus), list(self.titles)
        holes = self.holes
        for product_id in removed:
            at = bisect.bisect_left(ids, product_id)
            if at < len(ids) and ids[at] == product_id and skus[at] is not None:
                skus[at] = titles[at] = None
                holes += 1
        for product_id, sku, title in changed:
            at = bisect.bisect_left(ids, product_id)
            if at < len(ids) and ids[at] == product_id:
                holes -= skus[at] is None
            else:
                ids.insert(at, product_id)
                skus.insert(at, None)
                titles.insert(at, None)
            skus[at], titles[at] = sku.lower(), title.lower()
        index = FuzzyIndex(version, ids, skus, titles, holes)
        return index.compacted() if holes > len(ids) // 4 else index

    def compacted(self) -> FuzzyIndex:
        kept = [i for i, sku in enumerate(self.skus) if sku is not None]
        return FuzzyIndex(
            self.version,
            array("q", (self.ids[i] for i in kept)),
            [self.skus[i] for i in kept],
            [self.titles[i] for i in kept],
        )

    def suggest(self, query: str, limit: int = SUGGESTIONS) -> list[int]:
        """Ids of the products `query` most likely misspells: close SKUs first, then
        close titles; best first, ties in id order."""
        # Loaded on the first typo (in a worker thread): processes that never see one,
        # such as the CLI's, do without its memory.
        from rapidfuzz import fuzz, process
        from rapidfuzz.distance import OSA

        query = query.lower()
        by_sku = process.extract(
            query,
            self.skus,
            scorer=OSA.normalized_similarity,
            limit=limit,
            score_cutoff=SKU_CUTOFF,
        )
        by_title = process.extract(
            query, self.titles, scorer=fuzz.ratio, limit=limit, score_cutoff=TITLE_CUTOFF
        )
        found: dict[int, None] = {}
        for matches in (by_sku, by_title):
            for _, _, at in sorted(matches, key=lambda match: (-match[1], match[2])):
                found.setdefault(self.ids[at])
        return list(found)[:limit]


@dataclass(slots=True)
class _Holder:
    index: FuzzyIndex | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


# Keyed by the engine's connection pool: shared by every session (and execution-option
# copy of the engine) on one database in this process, and gone with the engine.
_HOLDERS: WeakKeyDictionary[Any, _Holder] = WeakKeyDictionary()


async def catalog_version(session: AsyncSession) -> tuple[int, int]:
    """(oldest, newest) change id still logged; (0, 0) before the first change."""
    oldest = select(func.min(CatalogChange.id)).scalar_subquery()
    newest = select(func.max(CatalogChange.id)).scalar_subquery()
    row = (await session.execute(select(oldest, newest))).one()
    return int(row[0] or 0), int(row[1] or 0)


async def prune_change_log(session: AsyncSession) -> None:
    """Forget all but the newest KEEP_CHANGES changes (a bulk import logs one per product)."""
    newest = await session.scalar(select(func.max(CatalogChange.id)))
    if newest is not None and newest > KEEP_CHANGES:
        changes = CatalogChange.__table__
        await session.execute(delete(changes).where(changes.c.id <= newest - KEEP_CHANGES))


async def _load_all(session: AsyncSession, version: int) -> FuzzyIndex:
    products = Product.__table__
    # Core, not the ORM: 100,000 plain rows cost a third as much to fetch.
    connection = await session.connection()
    result = await connection.execute(
        select(products.c.id, products.c.sku, products.c.title).order_by(products.c.id)
    )
    return await asyncio.to_thread(FuzzyIndex.build, version, result.tuples().all())


async def _catch_up(session: AsyncSession, index: FuzzyIndex, version: int) -> FuzzyIndex:
    changed_ids = list(
        await session.scalars(
            select(CatalogChange.product_id)
            .where(CatalogChange.id > index.version, CatalogChange.id <= version)
            .distinct()
        )
    )
    changed: list[tuple[int, str, str]] = []
    for batch in chunks(changed_ids):
        rows = await session.execute(
            select(Product.id, Product.sku, Product.title).where(Product.id.in_(batch))
        )
        changed.extend(rows.tuples())
    removed = set(changed_ids) - {row[0] for row in changed}
    return await asyncio.to_thread(index.updated, version, changed, removed)


def database_key(session: AsyncSession) -> Any:
    """What identifies the session's database within this process: its engine's pool."""
    bind = session.bind
    if bind is None:
        raise ValueError("the session is not bound to an engine")
    return bind.sync_engine.pool


async def current_index(session: AsyncSession) -> FuzzyIndex:
    """This process's index for the session's database, brought up to date."""
    holder = _HOLDERS.setdefault(database_key(session), _Holder())
    async with holder.lock:  # one refresh at a time; the others then find it done
        oldest, newest = await catalog_version(session)
        index = holder.index
        if index is not None and index.version == newest:
            return index
        if (
            index is not None
            and index.version < newest
            and newest - index.version <= MAX_CATCH_UP
            and oldest <= index.version + 1  # nothing we need was pruned
        ):
            index = await _catch_up(session, index, newest)
        else:
            index = await _load_all(session, newest)
        holder.index = index
        return index


async def close_matches(session: AsyncSession, query: str) -> list[tuple[str, str]]:
    """(sku, title) of the products `query` most likely misspells, best first."""
    if not query.strip():
        return []
    index = await current_index(session)
    ids = await asyncio.to_thread(index.suggest, query)
    if not ids:
        return []
    rows = await session.execute(
        select(Product.id, Product.sku, Product.title).where(Product.id.in_(ids))
    )
    found = {product_id: (sku, title) for product_id, sku, title in rows}
    return [found[i] for i in ids if i in found]  # a product deleted meanwhile is left out
