"""What each waiting customer has been told about a product, read back from the emails
recorded in `customer_notifications`: the facts follow-ups are decided on.

- A date slip: a customer still waiting was last told a restock date that is no longer
  the active supplier's.
- Back in stock: an order a customer was told about (a notice or a date update) is now
  covered by stock and still open, and nobody has told them it is on its way.
- Threading: the Message-ID of the customer's first notice, which follow-ups reply to.

Rows count once claimed ("sending" or "sent"): a claim left "sending" by a crash may
have gone out, so it is never offered again. "failed" rows told nobody anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    CustomerChoice,
    CustomerNotification,
    NoticeKind,
    NotificationStatus,
    Order,
    OrderChoice,
    OrderLine,
    OrderStatus,
)

# Emails that told a customer something about their order's delay.
TELLING_KINDS = (NoticeKind.NOTICE, NoticeKind.DATE_UPDATE)
_CLAIMED = (NotificationStatus.SENDING, NotificationStatus.SENT)
# Choices after which a customer no longer waits for the product itself.
_NOT_WAITING = (CustomerChoice.SUBSTITUTE, CustomerChoice.CANCEL)


@dataclass(frozen=True, slots=True)
class Told:
    """One claimed email to one customer, as follow-ups need it."""

    customer: str  # the lower-cased address
    kind: str
    kind_key: str
    restock_date: date | None
    order_ids: tuple[int, ...]
    message_id: str | None
    sent: bool


def date_key(day: date) -> str:
    """The `kind_key` of a date update: the new restock date."""
    return day.isoformat()


def orders_key(order_ids: Iterable[int]) -> str:
    """The `kind_key` of a back-in-stock email: the orders it says are on their way."""
    return ",".join(str(i) for i in sorted(set(order_ids)))


async def told(session: AsyncSession, product_id: int) -> list[Told]:
    """Every claimed email about the product, oldest first."""
    rows = await session.execute(
        select(
            CustomerNotification.customer_email,
            CustomerNotification.kind,
            CustomerNotification.kind_key,
            CustomerNotification.restock_date,
            CustomerNotification.order_ids,
            CustomerNotification.order_id,
            CustomerNotification.message_id,
            CustomerNotification.status,
        )
        .where(
            CustomerNotification.product_id == product_id,
            CustomerNotification.status.in_(_CLAIMED),
        )
        .order_by(CustomerNotification.created_at, CustomerNotification.id)
    )
    return [
        Told(
            customer=row.customer_email,
            kind=row.kind,
            kind_key=row.kind_key,
            restock_date=row.restock_date,
            # Rows from before migration 0012 name only their first order.
            order_ids=tuple(row.order_ids or ([row.order_id] if row.order_id else [])),
            message_id=row.message_id,
            sent=row.status == NotificationStatus.SENT,
        )
        for row in rows
    ]


def last_told_dates(emails: Sequence[Told]) -> dict[str, date]:
    """Per customer, the restock date their latest email that gave one told them."""
    dates: dict[str, date] = {}
    for email in emails:
        if email.kind in TELLING_KINDS and email.restock_date is not None:
            dates[email.customer] = email.restock_date
    return dates


def slipped(emails: Sequence[Told], restock_date: date | None) -> dict[str, date]:
    """Customers told another date than `restock_date` and not yet told this one:
    customer -> the date they were told."""
    if restock_date is None:
        return {}
    updated = {
        e.customer
        for e in emails
        if e.kind == NoticeKind.DATE_UPDATE and e.kind_key == date_key(restock_date)
    }
    return {
        customer: day
        for customer, day in last_told_dates(emails).items()
        if day != restock_date and customer not in updated
    }


async def covered_told_orders(
    session: AsyncSession, product_id: int, emails: Sequence[Told]
) -> list[tuple[Order, int, int]]:
    """Open orders whose lines for the product stock now covers, that a customer was told
    were delayed and not yet told are on their way, and that still wait for the product
    (their customer did not choose the substitute or to cancel): (order, quantity, 0)."""
    told_orders = {i for e in emails if e.kind in TELLING_KINDS for i in e.order_ids}
    told_orders -= {i for e in emails if e.kind == NoticeKind.BACK_IN_STOCK for i in e.order_ids}
    if not told_orders:
        return []
    rows = (
        await session.execute(
            select(Order, OrderLine.quantity, OrderLine.backordered)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(
                OrderLine.product_id == product_id,
                Order.status == OrderStatus.OPEN,
                Order.id.in_(told_orders),
            )
            .order_by(Order.ordered_at, Order.id, OrderLine.id)
        )
    ).all()
    still_waiting = {order.id for order, _, backordered in rows if backordered > 0}
    chose = await chose_not_to_wait(session, product_id, {order.id for order, _, _ in rows})
    return [
        (order, quantity, 0)
        for order, quantity, _ in rows
        if order.id not in still_waiting and order.id not in chose
    ]


def first_notices(emails: Sequence[Told]) -> dict[str, list[tuple[tuple[int, ...], str]]]:
    """Per customer, their sent notices' (order ids, Message-ID), oldest first."""
    firsts: dict[str, list[tuple[tuple[int, ...], str]]] = {}
    for email in emails:
        if email.kind == NoticeKind.NOTICE and email.sent and email.message_id:
            firsts.setdefault(email.customer, []).append((email.order_ids, email.message_id))
    return firsts


def thread_root(
    firsts: dict[str, list[tuple[tuple[int, ...], str]]], customer: str, order_ids: Iterable[int]
) -> str | None:
    """The Message-ID to reply to: the customer's first notice about one of these orders
    (else their first notice about the product)."""
    notices = firsts.get(customer) or []
    wanted = set(order_ids)
    for ids, message_id in notices:
        if wanted & set(ids):
            return message_id
    return notices[0][1] if notices else None


def orders_told_a_date(emails: Sequence[Told]) -> set[int]:
    """The orders an email gave a restock date for."""
    return {
        order_id
        for email in emails
        if email.kind in TELLING_KINDS and email.restock_date is not None
        for order_id in email.order_ids
    }


async def chose_not_to_wait(
    session: AsyncSession, product_id: int, order_ids: set[int]
) -> dict[int, str]:
    """Those of `order_ids` whose customer's latest choice on the choice link is the
    substitute or to cancel, with that choice: they no longer wait for the product, so
    no news about it is due to them (no choice, or `wait`, still waits)."""
    if not order_ids:
        return {}
    rows = await session.execute(
        select(OrderChoice.order_id, OrderChoice.choice).where(
            OrderChoice.product_id == product_id,
            OrderChoice.order_id.in_(sorted(order_ids)),
            OrderChoice.choice.in_(_NOT_WAITING),
        )
    )
    return {order_id: choice for order_id, choice in rows}


async def products_told(session: AsyncSession) -> list[int]:
    """Products whose customers were told of a delay and still have open orders."""
    told_product = (
        select(CustomerNotification.product_id)
        .where(
            CustomerNotification.kind.in_(TELLING_KINDS),
            CustomerNotification.status == NotificationStatus.SENT,
        )
        .distinct()
    )
    rows = await session.scalars(
        select(OrderLine.product_id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.status == OrderStatus.OPEN, OrderLine.product_id.in_(told_product))
        .distinct()
        .order_by(OrderLine.product_id)
    )
    return list(rows.all())
