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
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.availability import Unlisted
from bot.db.chunks import chunks
from bot.db.models import Offer, StockObservation, Supplier
from suppliers import StockRecord

CENT = Decimal("0.01")


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

    def __contains__(self, sku: str) -> bool:
        return sku in self.rows or sku in self.rejected


# One stored offer as the driver returns it (a Row): id, supplier SKU, quantity,
# availability, price, restock date, listed, ever seen, product id.
_Stored = Sequence[Any]


class FeedDiff:
    """The supplier's offers against one poll's listing, read inside the poll's
    write transaction on `connection` (so nothing changes between reading and writing)."""

    def __init__(
        self,
        connection: AsyncConnection,
        supplier_id: int,
        listing: Listing,
        rows: Sequence[_Stored],
    ) -> None:
        self.connection = connection
        self.supplier_id = supplier_id
        self.listing = listing
        self._offers = rows
        self._sqlite = connection.dialect.name == "sqlite"
        # The products whose offer this poll changed (their forecasts follow).
        self.changed_products: set[int] = set()

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
        known = [offer for offer in self._offers if offer[7]]
        if len(known) < minimum_known:
            return GuardCounts(known=len(known), dropped=0, zeroed=0)
        rows, listing = self.listing.rows, self.listing
        dropped = sum(1 for offer in known if offer[1] not in listing) if complete else 0
        zeroed = 0
        for offer in known:
            record = rows.get(offer[1])
            if record is not None and record.quantity == 0 and (offer[2] or 0) > 0:
                zeroed += 1
        return GuardCounts(known=len(known), dropped=dropped, zeroed=zeroed)

    def unmatched(self) -> int:
        """Feed rows for SKUs that the catalog does not map to this supplier."""
        ours = {offer[1] for offer in self._offers}
        return sum(1 for sku in self.listing.rows if sku not in ours)

    def _stored_price(self, price: Decimal) -> Any:
        """A feed price as the database keeps it, to compare with a stored one: SQLite's
        NUMERIC keeps a float, PostgreSQL's NUMERIC(12, 2) rounds to the cent."""
        return float(price) if self._sqlite else price.quantize(CENT, ROUND_HALF_UP)

    def _stored_date(self, day: date | None) -> Any:
        if day is None or not self._sqlite:
            return day
        return day.isoformat()  # SQLite keeps dates as ISO text

    # -- writing ---------------------------------------------------------------------------

    async def apply_changes(self, now: datetime) -> int:
        """Record history and update every offer whose stock, price or date changed."""
        rows = self.listing.rows
        history: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        stored_price, stored_date = self._stored_price, self._stored_date
        changed_products = self.changed_products
        for offer_id, sku, quantity, availability, price, restock, _, _, product in self._offers:
            record = rows.get(sku)
            if record is None:
                continue
            new_availability = str(record.availability)
            new_price = price if record.price is None else stored_price(record.price)
            if (
                record.quantity == quantity
                and new_availability == availability
                and (record.price is None or (price is not None and new_price == price))
                and stored_date(record.restock_date) == restock
            ):
                continue
            if record.price is not None:
                new_price = record.price
            changed_products.add(product)
            history.append(
                {
                    "offer_id": offer_id,
                    "quantity": record.quantity,
                    "previous_quantity": quantity,
                    "availability": new_availability,
                    "price": new_price,
                    "observed_at": now,
                }
            )
            updates.append(
                {
                    "offer": offer_id,
                    "quantity": record.quantity,
                    "availability": new_availability,
                    "price": new_price,
                    "restock_date": record.restock_date,
                    "changed_at": now,
                }
            )
        if updates:
            await self.connection.execute(insert(StockObservation), history)
            await self.connection.execute(
                update(Offer)
                .where(Offer.id == bindparam("offer"))
                .execution_options(synchronize_session=False),
                updates,
            )
        return len(updates)

    def note_unknown(self, unknown_skus: set[str]) -> None:
        """The products of SKUs the supplier says it does not know (flagged by
        `mark_unknown_skus`) changed too."""
        if unknown_skus:
            self.changed_products.update(o[8] for o in self._offers if o[1] in unknown_skus)

    async def mark_missing(self, now: datetime, unknown_skus: set[str]) -> int:
        """SKUs absent from a complete feed are gone: out of stock, flagged as missing.

        Runs after `mark_unknown_skus`: those SKUs, flagged as unknown, are not listed
        either and are flagged missing too (as before)."""
        listing = self.listing
        gone = [
            offer
            for offer in self._offers
            if offer[1] not in listing
            and (Unlisted.UNKNOWN_SKU if offer[1] in unknown_skus else offer[3]) != Unlisted.MISSING
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
        listing = self.listing
        came_back: list[int] = []
        left: list[int] = []
        for offer_id, sku, *_values, listed, _seen, _product in self._offers:
            if sku in listing:
                if not listed:
                    came_back.append(offer_id)
            elif listed:
                left.append(offer_id)
        for ids in chunks(came_back):
            await self.connection.execute(
                update(Offer).where(Offer.id.in_(ids)).values(listed=True)
            )
        previous = (
            select(Supplier.listed_at).where(Supplier.id == self.supplier_id).scalar_subquery()
        )
        for ids in chunks(left):
            await self.connection.execute(
                update(Offer).where(Offer.id.in_(ids)).values(listed=False, last_seen_at=previous)
            )
        await self.connection.execute(
            update(Supplier).where(Supplier.id == self.supplier_id).values(listed_at=now)
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
