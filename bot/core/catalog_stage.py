"""Writing a checked catalog inside the database, as the poll reconciles a feed.

The rows are bulk-loaded into a temporary table as they stream from the file; a
handful of set-based statements then create or update products and offers and choose
the missing active offers. A 100,000-row catalog thus costs a few statements instead of
100,000 round trips, and never sits in Python memory whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.availability import Availability
from bot.db import staging
from bot.db.models import Offer, Product, sku_key

if TYPE_CHECKING:
    from bot.core.catalog import CatalogRow

_stage_metadata = MetaData()
# One per connection (temporary), created and dropped inside the import's transaction.
STAGE = Table(
    "stockbot_catalog_stage",
    _stage_metadata,
    Column("line", Integer, nullable=False),
    Column("sku", String(200), nullable=False),
    Column("sku_key", String(200), nullable=False),
    Column("title", String(500), nullable=False),
    Column("low_stock_threshold", Integer, nullable=False),
    Column("supplier_id", Integer, nullable=False),
    Column("supplier_sku", String(200), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("price", Numeric(12, 2)),
    prefixes=["TEMPORARY"],
)
# Built once the rows are in (cheaper than maintaining it row by row).
STAGE_INDEX_DDL = "CREATE INDEX stockbot_catalog_stage_sku ON stockbot_catalog_stage (sku)"


@dataclass(slots=True)
class Written:
    products_created: int = 0
    products_updated: int = 0
    offers_created: int = 0
    offers_updated: int = 0


class CatalogStage:
    """A catalog being imported, staged in a temporary table on the import's connection."""

    def __init__(self, connection: AsyncConnection, supplier_ids: dict[str, int]) -> None:
        self.connection = connection
        self.supplier_ids = supplier_ids
        self._sql = str(insert(STAGE).compile(dialect=connection.dialect))

    @classmethod
    async def create(
        cls, connection: AsyncConnection, supplier_ids: dict[str, int]
    ) -> CatalogStage:
        await staging.recreate(connection, STAGE)
        return cls(connection, supplier_ids)

    async def add(self, rows: list[CatalogRow]) -> None:
        """Load one batch of rows with a plain driver-level executemany (no
        per-row parameter processing by SQLAlchemy), in the driver's native types."""
        sqlite = self.connection.dialect.name == "sqlite"
        staged = [
            (
                row.line,
                row.sku,
                sku_key(row.sku),
                row.title,
                row.low_stock_threshold,
                self.supplier_ids[row.supplier],
                row.supplier_sku,
                row.priority,
                str(row.price) if sqlite and row.price is not None else row.price,
            )
            for row in rows
        ]
        if staged:
            await self.connection.exec_driver_sql(self._sql, staged)

    async def apply(self) -> Written:
        """Write the staged catalog: products, then offers, then missing active offers."""
        await self.connection.exec_driver_sql(STAGE_INDEX_DDL)
        written = Written()
        written.products_updated = await self._rowcount(_update_products())
        written.products_created = await self._rowcount(_insert_products())
        # Updates first: an offer giving up a supplier SKU frees it for a new offer.
        written.offers_updated = await self._rowcount(_update_offers())
        written.offers_created = await self._rowcount(_insert_offers())
        await self.connection.execute(_choose_missing_active_offers())
        await self.connection.run_sync(lambda sync: STAGE.drop(sync, checkfirst=True))
        return written

    async def _rowcount(self, statement: Any) -> int:
        return int((await self.connection.execute(statement)).rowcount or 0)


def _update_products() -> Any:
    products = Product.__table__
    wanted = select(STAGE.c.sku, STAGE.c.title, STAGE.c.low_stock_threshold).distinct().subquery()
    return (
        update(products)
        .where(
            products.c.sku == wanted.c.sku,
            or_(
                products.c.title != wanted.c.title,
                products.c.low_stock_threshold != wanted.c.low_stock_threshold,
            ),
        )
        .values(title=wanted.c.title, low_stock_threshold=wanted.c.low_stock_threshold)
    )


def _insert_products() -> Any:
    products = Product.__table__
    columns = (STAGE.c.sku, STAGE.c.sku_key, STAGE.c.title, STAGE.c.low_stock_threshold)
    new = (
        select(*columns)
        .where(~exists().where(products.c.sku == STAGE.c.sku))
        .group_by(*columns)  # one row per SKU: its rows agree (check_catalog saw to it)
        .order_by(func.min(STAGE.c.line))  # ids in the order of the file
    )
    return insert(products).from_select([c.name for c in columns], new)


def _staged_offers() -> Any:
    """The staged rows with their product's id."""
    products = Product.__table__
    return (
        select(
            products.c.id.label("product_id"),
            STAGE.c.supplier_id,
            STAGE.c.supplier_sku,
            STAGE.c.priority,
            STAGE.c.price,
            STAGE.c.line,
        )
        .join_from(STAGE, products, products.c.sku == STAGE.c.sku)
        .subquery()
    )


def _update_offers() -> Any:
    offers, staged = Offer.__table__, _staged_offers()
    # A price from the file only fills in; the supplier's feed price wins later.
    price = func.coalesce(staged.c.price, offers.c.price)
    return (
        update(offers)
        .where(
            offers.c.product_id == staged.c.product_id,
            offers.c.supplier_id == staged.c.supplier_id,
            or_(
                offers.c.supplier_sku != staged.c.supplier_sku,
                offers.c.priority != staged.c.priority,
                offers.c.price.is_distinct_from(price),
            ),
        )
        .values(supplier_sku=staged.c.supplier_sku, priority=staged.c.priority, price=price)
    )


def _insert_offers() -> Any:
    offers, staged = Offer.__table__, _staged_offers()
    new = (
        select(
            staged.c.product_id,
            staged.c.supplier_id,
            staged.c.supplier_sku,
            staged.c.priority,
            staged.c.price,
            literal(str(Availability.UNKNOWN)),
        )
        .where(
            ~exists().where(
                offers.c.product_id == staged.c.product_id,
                offers.c.supplier_id == staged.c.supplier_id,
            )
        )
        .order_by(staged.c.line)
    )
    names = ["product_id", "supplier_id", "supplier_sku", "priority", "price", "availability"]
    return insert(offers).from_select(names, new)


def _choose_missing_active_offers() -> Any:
    """The preferred (lowest priority number) offer of each staged product without one."""
    products, offers = Product.__table__, Offer.__table__
    preferred = (
        select(offers.c.id)
        .where(offers.c.product_id == products.c.id)
        .order_by(offers.c.priority, offers.c.id)
        .limit(1)
        .scalar_subquery()
    )
    return (
        update(products)
        .where(products.c.active_offer_id.is_(None), products.c.sku.in_(select(STAGE.c.sku)))
        .values(active_offer_id=preferred)
    )
