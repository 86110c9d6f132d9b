"""Stock rules: which products need a low-stock or out-of-stock alert right now."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.availability import STOCKOUT, Availability, is_stockout
from bot.db.models import Alert, AlertKind, AlertState, Offer, Product


@dataclass(frozen=True, slots=True)
class StockState:
    product_id: int
    supplier_id: int
    quantity: int | None
    availability: str
    threshold: int

    @property
    def alert_kind(self) -> AlertKind | None:
        """The alert this product needs, or None when it is fine or unknown."""
        if is_stockout(self.availability) or self.quantity == 0:
            return AlertKind.OUT_OF_STOCK
        if self.quantity is None:
            return None
        if self.quantity <= self.threshold:
            return AlertKind.LOW_STOCK
        return None

    @property
    def is_healthy(self) -> bool:
        """Known to be fine: above the threshold, or in stock by a supplier that
        gives availability without numbers (e.g. print on demand)."""
        if self.alert_kind is not None:
            return False
        return self.quantity is not None or self.availability == Availability.IN_STOCK


def _active_states() -> Select[tuple[int, int, int | None, str, int]]:
    return select(
        Product.id,
        Offer.supplier_id,
        Offer.quantity,
        Offer.availability,
        Product.low_stock_threshold,
    ).join(Offer, Offer.id == Product.active_offer_id)


async def active_stock_states(
    session: AsyncSession,
    *,
    supplier_id: int | None = None,
    product_ids: set[int] | None = None,
    needing_attention: bool = False,
) -> list[StockState]:
    """Stock of each product's active offer, for one supplier or some products.

    `needing_attention` keeps only products that need an alert or have an open
    one: after a poll of 100,000 healthy SKUs there is nothing to look at."""
    query = _active_states()
    if supplier_id is not None:
        query = query.where(Offer.supplier_id == supplier_id)
    if product_ids is not None:
        query = query.where(Product.id.in_(product_ids))
    if needing_attention:
        has_open_alert = (
            select(Alert.product_id)
            .where(Alert.state != AlertState.RESOLVED, Alert.product_id.is_not(None))
            .scalar_subquery()
        )
        query = query.where(
            or_(
                Offer.availability.in_(STOCKOUT),
                Offer.quantity <= Product.low_stock_threshold,
                Product.id.in_(has_open_alert),
            )
        )
    return [StockState(*row) for row in (await session.execute(query))]
