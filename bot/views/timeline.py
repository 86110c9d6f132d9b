"""One order's story for `/backorders ORDER_ID`: since when it waits, what its customer
was emailed (when, which kind, by whom, the restock date said), their choices once
recorded, and whether it is covered or shipped. Nothing here knows about Slack."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    CustomerChoice,
    CustomerNotification,
    Order,
    OrderChoice,
    OrderLine,
    Product,
)

# A store's order numbers are often typed with their "#".
_PREFIXES = "#"


@dataclass(frozen=True, slots=True)
class StoryLine:
    sku: str
    title: str
    quantity: int
    backordered: int


@dataclass(frozen=True, slots=True)
class StoryEmail:
    at: datetime
    kind: str  # a NoticeKind
    by: str  # a Slack user ID, or "stockbot"
    sku: str
    status: str  # a NotificationStatus
    restock_date: date | None
    error: str | None


@dataclass(frozen=True, slots=True)
class StoryChoice:
    """The customer's latest choice on their choice link for one product of the order."""

    at: datetime
    sku: str
    choice: str  # a CustomerChoice
    substitute_title: str | None
    # Staff's cancelling in the store after a `cancel` choice.
    cancelled_at: datetime | None
    cancel_error: str | None


@dataclass(frozen=True, slots=True)
class OrderStory:
    number: str
    source: str
    customer_name: str
    status: str  # an OrderStatus
    ordered_at: datetime
    closed_at: datetime | None
    lines: list[StoryLine]
    emails: list[StoryEmail]
    choices: list[StoryChoice] = field(default_factory=list)
    # Other sources holding an order with this number (CSV 1001 is not Shopify 1001).
    also_in: list[str] = field(default_factory=list)

    @property
    def waiting(self) -> bool:
        return any(line.backordered > 0 for line in self.lines)

    @property
    def takes_substitute(self) -> bool:
        """Every product it waits for is to be replaced by the substitute the customer
        chose: nothing is left to wait for."""
        chosen = {c.sku for c in self.choices if c.choice == CustomerChoice.SUBSTITUTE}
        waiting = {line.sku for line in self.lines if line.backordered > 0}
        return bool(waiting) and waiting <= chosen

    @property
    def promised_dates(self) -> list[date]:
        """The restock dates the customer was told, in the order told, each once."""
        dates: list[date] = []
        for email in self.emails:
            if email.status == "sent" and email.restock_date and email.restock_date not in dates:
                dates.append(email.restock_date)
        return dates


async def order_story(session: AsyncSession, query: str) -> OrderStory | None:
    """The order numbered `query` (the newest, when several sources use the number)."""
    number = query.strip().lstrip(_PREFIXES)
    if not number:
        return None
    orders = (
        await session.scalars(
            select(Order)
            .where(Order.external_id == number)
            .order_by(Order.ordered_at.desc(), Order.id.desc())
        )
    ).all()
    if not orders:
        return None
    order = orders[0]
    lines = (
        await session.execute(
            select(
                Product.id, Product.sku, Product.title, OrderLine.quantity, OrderLine.backordered
            )
            .join(Product, Product.id == OrderLine.product_id)
            .where(OrderLine.order_id == order.id)
            .order_by(OrderLine.id)
        )
    ).all()
    skus = {line.id: line.sku for line in lines}
    return OrderStory(
        number=order.external_id,
        source=order.source,
        customer_name=order.customer_name,
        status=order.status,
        ordered_at=order.ordered_at,
        closed_at=order.closed_at,
        lines=[StoryLine(line.sku, line.title, line.quantity, line.backordered) for line in lines],
        emails=await _emails(session, order, skus),
        choices=await _choices(session, order.id, skus),
        also_in=[other.source for other in orders[1:]],
    )


async def _emails(session: AsyncSession, order: Order, skus: dict[int, str]) -> list[StoryEmail]:
    """The emails about this order: to its customer, about its products, naming it."""
    customer = order.customer_email.strip().lower()
    if not customer or not skus:
        return []
    rows = (
        await session.scalars(
            select(CustomerNotification)
            .where(
                CustomerNotification.product_id.in_(skus),
                CustomerNotification.customer_email == customer,
            )
            .order_by(CustomerNotification.created_at, CustomerNotification.id)
        )
    ).all()
    return [
        StoryEmail(
            at=row.sent_at or row.created_at,
            kind=row.kind,
            by=row.created_by,
            sku=skus[row.product_id],
            status=row.status,
            restock_date=row.restock_date,
            error=row.error,
        )
        for row in rows
        if order.id in (row.order_ids or []) or row.order_id == order.id
    ]


async def _choices(session: AsyncSession, order_id: int, skus: dict[int, str]) -> list[StoryChoice]:
    """The customer's choices for this order's products, in the order chosen."""
    rows = (
        await session.execute(
            select(OrderChoice, Product.title)
            .outerjoin(Product, Product.id == OrderChoice.substitute_id)
            .where(OrderChoice.order_id == order_id)
            .order_by(OrderChoice.chosen_at, OrderChoice.id)
        )
    ).all()
    return [
        StoryChoice(
            at=row.chosen_at,
            sku=skus[row.product_id],
            choice=row.choice,
            substitute_title=title,
            cancelled_at=row.cancelled_at,
            cancel_error=row.cancel_error,
        )
        for row, title in rows
        if row.product_id in skus
    ]
