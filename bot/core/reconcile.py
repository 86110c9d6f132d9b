"""Reconcile a supplier's feed with its offers, inside the database.

The parsed feed is bulk-loaded into a temporary table; then a handful of
set-based statements find what changed, record history, update offers and
flag SKUs gone from a complete feed. A 100,000-row feed thus costs a few
statements instead of 100,000 round trips, and stays out of Python memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Date,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    and_,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.availability import Availability, Unlisted
from bot.db import staging
from bot.db.models import Offer, StockObservation
from suppliers import StockRecord

_stage_metadata = MetaData()
# One per connection (temporary), created and dropped inside the poll's transaction.
STAGE = Table(
    "stockbot_feed_stage",
    _stage_metadata,
    Column("sku", String(200), nullable=False),
    Column("quantity", Integer),
    Column("availability", String(20), nullable=False),
    Column("price", Numeric(12, 2)),
    Column("restock_date", Date),
    # A row set aside by the parser: the SKU is listed, its values unusable.
    Column("rejected", Boolean, nullable=False),
    prefixes=["TEMPORARY"],
)
# Built once the rows are in (cheaper than maintaining it row by row): the joins
# and NOT EXISTS on SKU must not scan the table.
STAGE_INDEX_DDL = "CREATE INDEX stockbot_feed_stage_sku ON stockbot_feed_stage (sku)"


@dataclass(slots=True)
class GuardCounts:
    known: int
    dropped: int
    zeroed: int


class FeedStage:
    """The feed of one poll, staged in a temporary table on the poll's connection."""

    def __init__(self, connection: AsyncConnection, supplier_id: int) -> None:
        self.connection = connection
        self.supplier_id = supplier_id
        self._sql: str | None = None
        self._pending: asyncio.Future[Any] | None = None

    @classmethod
    async def create(cls, connection: AsyncConnection, supplier_id: int) -> FeedStage:
        await staging.recreate(connection, STAGE)
        return cls(connection, supplier_id)

    async def add(self, records: list[StockRecord]) -> None:
        """Load one batch with a plain driver-level executemany.

        SQLAlchemy's per-row parameter processing would cost more than SQLite's
        own insert, so rows go straight to the driver in its native types."""
        if not records:
            return
        if self._sql is None:
            self._sql = str(insert(STAGE).compile(dialect=self.connection.dialect))
        if self.connection.dialect.name == "sqlite":
            rows: list[tuple[Any, ...]] = [
                (
                    r.supplier_sku,
                    r.quantity,
                    str(r.availability),
                    None if r.price is None else str(r.price),
                    None if r.restock_date is None else r.restock_date.isoformat(),
                    0,
                )
                for r in records
            ]
        else:
            rows = [
                (r.supplier_sku, r.quantity, str(r.availability), r.price, r.restock_date, False)
                for r in records
            ]
        # Let the database insert this batch while the next one is parsed (the
        # driver works in its own thread); one insert in flight at a time.
        await self.settle()
        self._pending = asyncio.ensure_future(self.connection.exec_driver_sql(self._sql, rows))

    async def settle(self) -> None:
        """Wait for the batch insert in flight, if any (errors surface here)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending

    async def finish_loading(self) -> None:
        await self.settle()
        await self.connection.exec_driver_sql(STAGE_INDEX_DDL)

    async def add_rejected(self, skus: Iterable[str]) -> None:
        await self.settle()
        rows = [
            {
                "sku": s,
                "availability": str(Availability.UNKNOWN),
                "rejected": True,
                "quantity": None,
            }
            for s in skus
        ]
        if rows:
            await self.connection.execute(insert(STAGE), rows)

    async def drop(self) -> None:
        # checkfirst: a failed download rolls the table's creation back with it.
        await self.connection.run_sync(lambda sync: STAGE.drop(sync, checkfirst=True))

    # -- the statements --------------------------------------------------------------------

    def _ours(self) -> ColumnElement[bool]:
        return Offer.supplier_id == self.supplier_id

    def _matched(self) -> ColumnElement[bool]:
        return and_(self._ours(), Offer.supplier_sku == STAGE.c.sku, STAGE.c.rejected.is_(False))

    def _listed(self) -> ColumnElement[bool]:
        return exists().where(STAGE.c.sku == Offer.supplier_sku)

    @staticmethod
    def _changed() -> ColumnElement[bool]:
        return or_(
            Offer.quantity.is_distinct_from(STAGE.c.quantity),
            Offer.availability != STAGE.c.availability,
            and_(STAGE.c.price.is_not(None), Offer.price.is_distinct_from(STAGE.c.price)),
            Offer.restock_date.is_distinct_from(STAGE.c.restock_date),
        )

    async def _count(self, *where: ColumnElement[bool], joined: bool = False) -> int:
        query = select(func.count()).select_from(Offer)
        if joined:
            query = query.join(STAGE, self._matched())
        return int(await self.connection.scalar(query.where(self._ours(), *where)) or 0)

    async def guard_counts(self, complete: bool, minimum_known: int = 0) -> GuardCounts:
        """How many SKUs known from earlier polls this feed drops or zeroes
        (not counted when fewer than `minimum_known` SKUs are known)."""
        known = Offer.last_seen_at.is_not(None)
        total = await self._count(known)
        if total < minimum_known:
            return GuardCounts(known=total, dropped=0, zeroed=0)
        return GuardCounts(
            known=total,
            dropped=await self._count(known, ~self._listed()) if complete else 0,
            zeroed=await self._count(known, Offer.quantity > 0, STAGE.c.quantity == 0, joined=True),
        )

    async def unmatched(self) -> int:
        """Feed rows for SKUs that the catalog does not map to this supplier."""
        offer_exists = exists().where(self._ours(), Offer.supplier_sku == STAGE.c.sku)
        query = select(func.count()).select_from(STAGE).where(~offer_exists, ~STAGE.c.rejected)
        return int(await self.connection.scalar(query) or 0)

    async def apply_changes(self, now: datetime) -> int:
        """Record history and update every offer whose stock, price or date changed."""
        new_price = func.coalesce(STAGE.c.price, Offer.price)
        history = select(
            Offer.id,
            STAGE.c.quantity,
            Offer.quantity,
            STAGE.c.availability,
            new_price,
            literal(now, type_=StockObservation.observed_at.type),
        ).where(self._matched(), self._changed())
        await self.connection.execute(
            insert(StockObservation).from_select(
                [
                    "offer_id",
                    "quantity",
                    "previous_quantity",
                    "availability",
                    "price",
                    "observed_at",
                ],
                history,
            )
        )
        result = await self.connection.execute(
            update(Offer)
            .where(self._matched(), self._changed())
            .values(
                quantity=STAGE.c.quantity,
                availability=STAGE.c.availability,
                price=new_price,
                restock_date=STAGE.c.restock_date,
                changed_at=now,
                last_seen_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        # The rest of the listed offers were seen too; changed ones already say so.
        await self.connection.execute(
            update(Offer)
            .where(
                self._ours(),
                or_(Offer.last_seen_at.is_(None), Offer.last_seen_at != now),
                self._listed(),
            )
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)

    async def mark_missing(self, now: datetime) -> int:
        """SKUs absent from a complete feed are gone: out of stock, flagged as missing.

        Runs after `apply_changes`, which stamped every listed offer as seen `now`."""
        not_seen_now = or_(Offer.last_seen_at.is_(None), Offer.last_seen_at != now)
        gone = and_(self._ours(), Offer.availability != Unlisted.MISSING, not_seen_now)
        return await _flag(
            self.connection, gone, quantity=0, availability=Unlisted.MISSING, now=now
        )


async def mark_unknown_skus(
    connection: AsyncConnection, supplier_id: int, skus: set[str], now: datetime
) -> int:
    """SKUs the supplier says it does not know cannot be ordered there: a stockout
    whose alert says why. Adapters stop asking, so each is reported once."""
    if not skus:
        return 0
    where = and_(
        Offer.supplier_id == supplier_id,
        Offer.supplier_sku.in_(skus),
        Offer.availability != Unlisted.UNKNOWN_SKU,
    )
    return await _flag(connection, where, quantity=None, availability=Unlisted.UNKNOWN_SKU, now=now)


async def _flag(
    connection: AsyncConnection,
    where: ColumnElement[bool],
    *,
    quantity: int | None,
    availability: Unlisted,
    now: datetime,
) -> int:
    value = str(availability)  # stored as the plain string
    observed: Any = literal(now, type_=StockObservation.observed_at.type)
    await connection.execute(
        insert(StockObservation).from_select(
            ["offer_id", "quantity", "previous_quantity", "availability", "observed_at"],
            select(
                Offer.id,
                literal(quantity, type_=Integer),
                Offer.quantity,
                literal(value, type_=String),
                observed,
            ).where(where),
        )
    )
    result = await connection.execute(
        update(Offer)
        .where(where)
        .values(quantity=quantity, availability=value, changed_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)
