"""Reconcile a supplier's feed with its offers: write only what changed.

The parsed feed (`Listing`) is compared in Python with the supplier's offers, read
in one query (`FeedDiff.read`); then only the offers whose stock, price or date
changed are written, with their history, and only those that left the feed or came
back have their listing flag changed. The poll's time is recorded once, on the
supplier (`Supplier.listed_at`): a 100,000-row feed with 1% changed writes about
1,000 rows, not 100,000.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Date,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    and_,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.availability import Unlisted
from bot.db import staging
from bot.db.bulk import write_many
from bot.db.chunks import chunks
from bot.db.models import Offer, StockObservation, Supplier
from suppliers import StockRecord

CENT = Decimal("0.01")

# The offers a poll changed, with their new values: one per connection (temporary),
# created and dropped inside the poll's write transaction.
CHANGES = Table(
    "stockbot_offer_changes",
    MetaData(),
    Column("offer_id", Integer, nullable=False),
    Column("quantity", Integer),
    Column("availability", String(20), nullable=False),
    Column("price", Numeric(12, 2)),
    Column("restock_date", Date),
    prefixes=["TEMPORARY"],
)


@dataclass(slots=True)
class GuardCounts:
    known: int
    dropped: int
    zeroed: int


@dataclass(slots=True)
class Listing:
    """What one poll read: the usable rows by SKU, and the SKUs of rows set aside
    (a row set aside still proves its SKU is listed: not "missing")."""

    rows: dict[str, StockRecord] = field(default_factory=dict)
    rejected: set[str] = field(default_factory=set)

    def add(self, records: Iterable[StockRecord]) -> None:
        rows = self.rows
        for record in records:
            rows[record.supplier_sku] = record


# One stored offer as the driver returns it (a Row): id, supplier SKU, quantity,
# availability, price, restock date, listed, ever seen, product id.
_Stored = Sequence[Any]


class FeedDiff:
    """The supplier's offers against one poll's listing, read inside the poll's write
    transaction on `connection` (so nothing changes between reading and writing) and
    sorted in one pass: changed, set aside, gone from the feed, back in it."""

    def __init__(
        self,
        connection: AsyncConnection,
        supplier_id: int,
        listing: Listing,
        offers: Sequence[_Stored],
    ) -> None:
        self.connection = connection
        self.supplier_id = supplier_id
        # The products whose offer this poll changed (their forecasts follow).
        self.changed_products: set[int] = set()
        self._changes: list[tuple[_Stored, StockRecord]] = []
        self._unlisted: list[_Stored] = []  # not in the feed, not even set aside
        self._came_back: list[int] = []  # listed now, not at the last feed read
        sqlite = connection.dialect.name == "sqlite"
        rows, rejected = listing.rows, listing.rejected
        known = dropped = zeroed = matched = 0
        for offer in offers:
            _id, sku, quantity, availability, price, restock, listed, seen, _product = offer
            known += bool(seen)
            record = rows.get(sku)
            if record is None:
                if sku in rejected:  # set aside: listed, its values unusable
                    if not listed:
                        self._came_back.append(_id)
                else:
                    self._unlisted.append(offer)
                    dropped += bool(seen)
                continue
            matched += 1
            if not listed:
                self._came_back.append(_id)
            if seen and record.quantity == 0 and quantity is not None and quantity > 0:
                zeroed += 1
            if (
                record.quantity == quantity
                and record.availability == availability
                and (record.price is None or _same_price(record.price, price, sqlite))
                and _same_date(record.restock_date, restock, sqlite)
            ):
                continue
            self._changes.append((offer, record))
        self._counts = GuardCounts(known=known, dropped=dropped, zeroed=zeroed)
        self._unmatched = len(rows) - matched

    @classmethod
    async def read(
        cls, connection: AsyncConnection, supplier_id: int, listing: Listing
    ) -> FeedDiff:
        """The supplier's offers in one query, as the driver stores them (no type
        processing: 100,000 rows must cost one fetch, not 100,000 conversions)."""
        query = select(
            Offer.id,
            Offer.supplier_sku,
            Offer.quantity,
            Offer.availability,
            Offer.price,
            Offer.restock_date,
            Offer.listed,
            or_(Offer.listed, Offer.last_seen_at.is_not(None)),
            Offer.product_id,
        ).where(Offer.supplier_id == supplier_id)
        sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
        rows = (await connection.exec_driver_sql(sql)).all()
        return cls(connection, supplier_id, listing, rows)

    # -- what the feed says ----------------------------------------------------------------

    def guard_counts(self, complete: bool, minimum_known: int = 0) -> GuardCounts:
        """How many SKUs known from earlier polls this feed drops or zeroes
        (not counted when fewer than `minimum_known` SKUs are known)."""
        counts = self._counts
        if counts.known < minimum_known:
            return GuardCounts(known=counts.known, dropped=0, zeroed=0)
        return GuardCounts(counts.known, counts.dropped if complete else 0, counts.zeroed)

    def unmatched(self) -> int:
        """Feed rows for SKUs that the catalog does not map to this supplier."""
        return self._unmatched

    # -- writing ---------------------------------------------------------------------------

    async def apply_changes(self, now: datetime) -> int:
        """Record history and update every offer whose stock, price or date changed:
        the changed rows go into a temporary table (one driver-level executemany),
        then two set-based statements write the history and the offers, as cheap for
        a feed that changed every offer as for one that changed a few."""
        if not self._changes:
            return 0
        rows: list[dict[str, Any]] = []
        for offer, record in self._changes:
            self.changed_products.add(offer[8])
            rows.append(
                {
                    "offer_id": offer[0],
                    "quantity": record.quantity,
                    "availability": str(record.availability),
                    "price": offer[4] if record.price is None else record.price,
                    "restock_date": record.restock_date,
                }
            )
        connection = self.connection
        await staging.recreate(connection, CHANGES)
        await write_many(connection, insert(CHANGES), rows)
        observed: Any = literal(now, type_=StockObservation.observed_at.type)
        await connection.execute(
            insert(StockObservation).from_select(
                [
                    "offer_id",
                    "quantity",
                    "previous_quantity",
                    "availability",
                    "price",
                    "observed_at",
                ],
                select(
                    CHANGES.c.offer_id,
                    CHANGES.c.quantity,
                    Offer.quantity,
                    CHANGES.c.availability,
                    CHANGES.c.price,
                    observed,
                ).join_from(CHANGES, Offer, Offer.id == CHANGES.c.offer_id),
            )
        )
        await connection.execute(
            update(Offer)
            .where(Offer.id == CHANGES.c.offer_id)
            .values(
                quantity=CHANGES.c.quantity,
                availability=CHANGES.c.availability,
                price=CHANGES.c.price,
                restock_date=CHANGES.c.restock_date,
                changed_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        await connection.run_sync(lambda sync: CHANGES.drop(sync))
        return len(rows)

    def note_unknown(self, unknown_skus: set[str]) -> None:
        """The products of SKUs the supplier says it does not know (flagged by
        `mark_unknown_skus`) changed too."""
        if unknown_skus:
            self.changed_products.update(o[8] for o in self._unlisted if o[1] in unknown_skus)

    async def mark_missing(self, now: datetime, unknown_skus: set[str]) -> int:
        """SKUs absent from a complete feed are gone: out of stock, flagged as missing.

        Runs after `mark_unknown_skus`: those SKUs, flagged as unknown, are not listed
        either and are flagged missing too (as before)."""
        gone = [
            offer
            for offer in self._unlisted
            if (Unlisted.UNKNOWN_SKU if offer[1] in unknown_skus else offer[3]) != Unlisted.MISSING
        ]
        self.changed_products.update(offer[8] for offer in gone)
        flagged = 0
        for ids in chunks(offer[0] for offer in gone):
            where = and_(Offer.id.in_(ids), Offer.availability != Unlisted.MISSING)
            flagged += await _flag(
                self.connection, where, quantity=0, availability=Unlisted.MISSING, now=now
            )
        return flagged

    async def record_listing(self, now: datetime) -> None:
        """The poll's time, once on the supplier; only the offers that came back or
        left the feed change (those keep the previous poll's time: last seen then)."""
        for ids in chunks(self._came_back):
            await self.connection.execute(
                update(Offer).where(Offer.id.in_(ids)).values(listed=True)
            )
        previous = (
            select(Supplier.listed_at).where(Supplier.id == self.supplier_id).scalar_subquery()
        )
        for ids in chunks(offer[0] for offer in self._unlisted if offer[6]):
            await self.connection.execute(
                update(Offer).where(Offer.id.in_(ids)).values(listed=False, last_seen_at=previous)
            )
        await self.connection.execute(
            update(Supplier).where(Supplier.id == self.supplier_id).values(listed_at=now)
        )


def _same_price(price: Decimal, stored: Any, sqlite: bool) -> bool:
    """A feed price against a stored one, as the database keeps it: SQLite's NUMERIC
    a float, PostgreSQL's NUMERIC(12, 2) rounded to the cent."""
    if stored is None:
        return False
    return float(price) == stored if sqlite else price.quantize(CENT, ROUND_HALF_UP) == stored


def _same_date(day: date | None, stored: Any, sqlite: bool) -> bool:
    if day is None or stored is None:
        return day is None and stored is None
    return (day.isoformat() if sqlite else day) == stored  # SQLite keeps ISO text


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
