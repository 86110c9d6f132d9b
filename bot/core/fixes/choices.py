"""Customers' choice links: each waiting customer says whether they wait, take the
substitute or want to cancel, on a small page their notice email links to.

A link is `[web] public_url` + `/choice/<token>`, where the token is the order's and
the product's ids signed with `STOCKBOT_LINK_SECRET` (itsdangerous, HMAC-SHA256):
it cannot be guessed or moved to another order. It stays valid while the order is
open and holds the product; once the order ships, is cancelled or closed, the link is
dead (the database decides each time, so nothing needs revoking).

A choice is recorded per order and product (`OrderChoice`, the latest wins until the
order ships), said once in the product's alert thread and counted on the alert. A
`cancel` choice cancels nothing by itself: staff cancel in the store from the alert,
claimed once in the database so a double click or two bots cancel exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.config import Settings
from bot.core.alerts import SYSTEM_ACTOR, audit, note_in_thread, touch
from bot.core.fixes import store_notes
from bot.core.fixes.choice_links import ChoiceLinks
from bot.core.fixes.service import Service
from bot.core.fixes.substitution import current_substitute
from bot.core.orders import set_status
from bot.core.text import escape, mention
from bot.db.models import (
    Alert,
    AlertKind,
    AlertState,
    CloseReason,
    CustomerChoice,
    Offer,
    Order,
    OrderChoice,
    OrderLine,
    OrderStatus,
    Product,
)
from bot.db.replicas import Membership
from bot.db.types import utcnow
from bot.db.upsert import dialect_insert
from bot.errors import UserError
from stores import StoreAdapter, StoreError, StoreRejected

CHOICE_AUDIT_ACTION = "customer_choice"
CANCEL_AUDIT_ACTION = "cancel_order_in_store"
INTERRUPTED = "interrupted when Stockbot stopped"
_PRODUCT_ALERTS = (AlertKind.OUT_OF_STOCK, AlertKind.LOW_STOCK, AlertKind.BACKORDER)


@dataclass(frozen=True, slots=True)
class ChoicePage:
    """What the customer's page shows: nothing personal beyond first name and order."""

    shop_name: str
    first_name: str
    order_number: str
    product_title: str
    restock_date: date | None
    substitute_title: str | None
    choice: str | None


@dataclass(frozen=True, slots=True)
class ChoiceCounts:
    """Among the orders waiting for a product: how many chose what."""

    waiting: int
    wait: int
    substitute: int
    cancel: int

    @property
    def answered(self) -> int:
        return self.wait + self.substitute + self.cancel


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """An open order whose customer asked to cancel: staff cancel it in its store."""

    choice_id: int
    order_number: str
    customer_name: str
    # The store platform's name ("Shopify") when the order came from a configured store.
    store_service: str | None
    started: bool
    error: str | None


@dataclass(frozen=True, slots=True)
class CancelResult:
    order_number: str
    store_service: str
    customer_name: str
    # The store had it cancelled already (an earlier try went through): not asked again.
    already: bool = False


class ChoiceRefused(UserError):
    """Staff's cancel cannot go ahead; shown to the person privately."""


def first_name(name: str) -> str:
    words = name.split()
    return words[0] if words else ""


def choice_words(choice: str, substitute_title: str | None) -> str:
    """'will wait', 'chose the substitute Glass vase', 'wants to cancel' (escaped)."""
    if choice == CustomerChoice.SUBSTITUTE:
        return f"chose the substitute {escape(substitute_title or 'offered')}"
    if choice == CustomerChoice.CANCEL:
        return "wants to cancel"
    return "will wait"


def choice_note_line(choice: str, product: Product, substitute: Product | None) -> str:
    """A choice, as a line on the store's order."""
    wanted = f"{product.title} ({product.sku})"
    if choice == CustomerChoice.SUBSTITUTE and substitute is not None:
        return (
            f"the customer chose the substitute {substitute.title} ({substitute.sku}) "
            f"instead of {wanted}."
        )
    if choice == CustomerChoice.CANCEL:
        return f"the customer asked to cancel the order (it waits for {wanted})."
    return f"the customer chose to wait for {wanted}."


# What each choice means, said of one customer (`/backorders SKU`).
CHOICE_LABELS: dict[str, str] = {
    CustomerChoice.WAIT: "will wait",
    CustomerChoice.SUBSTITUTE: "takes the substitute",
    CustomerChoice.CANCEL: "wants to cancel",
}


def counts_text(counts: ChoiceCounts) -> str:
    """'3 waiting: 1 will wait, 1 takes the substitute, 1 wants to cancel'."""
    parts = []
    if counts.wait:
        parts.append(f"{counts.wait} will wait")
    if counts.substitute:
        parts.append(f"{counts.substitute} takes the substitute")
    if counts.cancel:
        word = "wants" if counts.cancel == 1 else "want"
        parts.append(f"{counts.cancel} {word} to cancel")
    silent = counts.waiting - counts.answered
    if silent > 0:
        parts.append(f"{silent} not answered")
    return f"{counts.waiting} waiting: " + ", ".join(parts)


async def choice_counts(session: AsyncSession, product_id: int) -> ChoiceCounts | None:
    """What the customers waiting for a product chose; None when none answered."""
    rows = (
        await session.execute(
            select(OrderChoice.choice, func.count(func.distinct(Order.id)))
            .select_from(OrderLine)
            .join(Order, Order.id == OrderLine.order_id)
            .outerjoin(
                OrderChoice,
                and_(
                    OrderChoice.order_id == Order.id,
                    OrderChoice.product_id == OrderLine.product_id,
                ),
            )
            .where(
                OrderLine.product_id == product_id,
                Order.status == OrderStatus.OPEN,
                OrderLine.backordered > 0,
            )
            .group_by(OrderChoice.choice)
        )
    ).all()
    by_choice: dict[str | None, int] = {choice: count for choice, count in rows}
    counts = ChoiceCounts(
        waiting=sum(by_choice.values()),
        wait=by_choice.get(CustomerChoice.WAIT, 0),
        substitute=by_choice.get(CustomerChoice.SUBSTITUTE, 0),
        cancel=by_choice.get(CustomerChoice.CANCEL, 0),
    )
    return counts if counts.answered else None


async def cancel_requests(session: AsyncSession, product_id: int) -> list[CancelRequest]:
    """Open orders holding the product whose customer chose to cancel, oldest first."""
    rows = (
        await session.execute(
            select(OrderChoice, Order.external_id, Order.customer_name)
            .join(Order, Order.id == OrderChoice.order_id)
            .where(
                OrderChoice.product_id == product_id,
                OrderChoice.choice == CustomerChoice.CANCEL,
                Order.status == OrderStatus.OPEN,
            )
            .order_by(OrderChoice.chosen_at, OrderChoice.id)
        )
    ).all()
    return [
        CancelRequest(
            choice_id=choice.id,
            order_number=number,
            customer_name=name,
            store_service=choice.store_service,
            started=choice.cancel_started_at is not None,
            error=choice.cancel_error,
        )
        for choice, number, name in rows
    ]


async def product_thread(session: AsyncSession, product_id: int) -> Alert | None:
    """The product's open alert, whose thread its news goes to (its group's thread when
    it is grouped) and whose message shows the customers' choices."""
    return await session.scalar(
        select(Alert)
        .where(
            Alert.product_id == product_id,
            Alert.state != AlertState.RESOLVED,
            Alert.kind.in_(_PRODUCT_ALERTS),
            Alert.is_group.is_(False),
        )
        .order_by(Alert.opened_at.desc(), Alert.id.desc())
        .limit(1)
    )


@dataclass
class CustomerChoices(Service):
    """The service behind the choice page and the alert's cancel button."""

    settings: Settings
    stores: Mapping[str, StoreAdapter]
    # A cancel is claimed by this process; once a claimer stops beating (killed
    # mid-call), its claim is free again.
    membership: Membership
    links: ChoiceLinks = field(init=False)
    # Stores whose orders get a note of each choice.
    note_stores: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.links = ChoiceLinks.of(self.settings)
        self.note_stores = store_notes.stores_taking_notes(self.settings)

    def store_service(self, source: str) -> str | None:
        store = self.stores.get(source)
        return store.service if store is not None else None

    @property
    def shop_name(self) -> str:
        return self.settings.email.store_name if self.settings.email else "our store"

    # -- the customer's page -------------------------------------------------------------

    async def page(self, token: str) -> ChoicePage | None:
        """The page behind a live link; None for a tampered, foreign or dead one."""
        ids = self.links.read(token)
        if ids is None:
            return None
        async with self.sessions() as session:
            return await self._page(session, *ids)

    async def _page(
        self, session: AsyncSession, order_id: int, product_id: int
    ) -> ChoicePage | None:
        live = await _live(session, order_id, product_id)
        if live is None:
            return None
        order, product = live
        restock = None
        if product.active_offer_id is not None:
            restock = await session.scalar(
                select(Offer.restock_date).where(Offer.id == product.active_offer_id)
            )
        substitute = await current_substitute(session, product_id)
        chosen = await session.scalar(
            select(OrderChoice.choice).where(
                OrderChoice.order_id == order_id, OrderChoice.product_id == product_id
            )
        )
        return ChoicePage(
            shop_name=self.shop_name,
            first_name=first_name(order.customer_name),
            order_number=order.external_id,
            product_title=product.title,
            restock_date=restock,
            substitute_title=substitute.title if substitute else None,
            choice=chosen,
        )

    async def choose(self, token: str, choice: str) -> ChoicePage | None:
        """Record the customer's choice (the latest counts); None when the link is dead.
        ValueError for a choice not on offer (no substitute, or not a choice at all).
        The same choice again changes nothing and says nothing."""
        ids = self.links.read(token)
        if ids is None:
            return None
        order_id, product_id = ids
        try:
            picked = CustomerChoice(choice)
        except ValueError:
            raise ValueError("not a choice") from None
        now = utcnow()
        noted = False
        async with self.writes() as session, session.begin():
            live = await _live(session, order_id, product_id)
            if live is None:
                return None
            order, product = live
            substitute = await current_substitute(session, product_id)
            if picked == CustomerChoice.SUBSTITUTE and substitute is None:
                raise ValueError("no substitute is offered")
            # One row per order and product; the row lock orders concurrent submits.
            insert = await session.execute(
                dialect_insert(session, OrderChoice.__table__)
                .values(
                    order_id=order_id,
                    product_id=product_id,
                    choice=picked.value,
                    substitute_id=substitute.id if substitute else None,
                    chosen_at=now,
                    store_service=self.store_service(order.source),
                )
                .on_conflict_do_nothing(index_elements=["order_id", "product_id"])
            )
            row = await session.scalar(
                select(OrderChoice)
                .where(OrderChoice.order_id == order_id, OrderChoice.product_id == product_id)
                .with_for_update()
            )
            assert row is not None
            inserted = insert.rowcount == 1  # type: ignore[attr-defined]
            changed = row.choice != picked.value and row.cancel_started_at is None
            if changed:
                row.store_service = self.store_service(order.source)
                row.choice = picked.value
                row.substitute_id = substitute.id if substitute else None
                row.chosen_at = now
                row.cancel_error = None
            if inserted or changed:
                noted = await self._note(
                    session, order, product, picked.value, substitute, again=changed
                )
        if noted:
            self.on_change()
        async with self.sessions() as session:
            return await self._page(session, order_id, product_id)

    async def _note(
        self,
        session: AsyncSession,
        order: Order,
        product: Product,
        choice: str,
        substitute: Product | None,
        *,
        again: bool,
    ) -> bool:
        """Say the choice in the product's thread, refresh its alert's counts, and queue
        it as a note on the order in its store."""
        alert = await product_thread(session, product.id)
        who = escape(order.customer_name.strip() or "A customer")
        mind = "changed their mind: " if again else ""
        said = choice_words(choice, substitute.title if substitute else None)
        text = f"{who}, order {escape(order.external_id)}, {mind}{said}."
        if choice == CustomerChoice.CANCEL:
            text += (
                " Cancel it with the alert's *Cancel order* button."
                if self.store_service(order.source)
                else " Cancel it in your store if you agree."
            )
        audit(
            session,
            "customer",
            CHOICE_AUDIT_ACTION,
            alert,
            product_id=product.id,
            order=order.external_id,
            choice=choice,
        )
        now = utcnow()
        await self._thread_note(session, alert, text, now)
        await store_notes.queue(
            session,
            self.note_stores,
            [order.id],
            product_id=product.id,
            alert_id=alert.id if alert is not None else None,
            event=choice,
            line=choice_note_line(choice, product, substitute),
            now=now,
        )
        return alert is not None

    # -- staff cancel in the store ------------------------------------------------------

    async def cancel_in_store(self, choice_id: int, user_id: str) -> CancelResult:
        """Cancel the order in its store, exactly once whoever clicks how often."""
        async with self.sessions() as session:
            found = (
                await session.execute(
                    select(OrderChoice, Order)
                    .join(Order, Order.id == OrderChoice.order_id)
                    .where(OrderChoice.id == choice_id)
                )
            ).first()
        if found is None:
            raise ChoiceRefused("That request is no longer there: nothing was cancelled.")
        choice, order = found
        number = escape(order.external_id)
        if choice.cancelled_at is not None:
            raise ChoiceRefused(f"Order {number} is already cancelled.")
        if order.status != OrderStatus.OPEN:
            raise ChoiceRefused(f"Order {number} is already closed: nothing was cancelled.")
        if choice.choice != CustomerChoice.CANCEL:
            raise ChoiceRefused(
                f"The customer of order {number} changed their mind: nothing was cancelled."
            )
        store = self.stores.get(order.source)
        if store is None:
            raise ChoiceRefused(
                f"Order {number} is not from a store Stockbot can reach: cancel it in your "
                "store by hand, then close it with `stockbot orders close`."
            )
        now = utcnow()
        async with self.writes() as session, session.begin():
            claimed = await session.execute(
                update(OrderChoice)
                .where(
                    OrderChoice.id == choice_id,
                    OrderChoice.choice == CustomerChoice.CANCEL,
                    OrderChoice.cancelled_at.is_(None),
                    or_(
                        OrderChoice.cancel_started_at.is_(None),
                        self.membership.gone(OrderChoice.cancel_claimed_by, now),
                    ),
                )
                .values(
                    cancel_started_at=now,
                    cancel_started_by=user_id,
                    cancel_claimed_by=self.membership.id,
                    cancel_error=None,
                )
            )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise ChoiceRefused(
                f"Order {number} is being cancelled already: the alert's thread will say "
                "how it went."
            )
        # A retry of a cancel cut short may have reached the store: ask it first.
        already = choice.cancel_error == INTERRUPTED and await _store_cancelled(store, order)
        try:
            if not already:
                await store.cancel_order(order.external_id)
        except StoreError as exc:
            # Refused because it is cancelled already (a lost answer, or by hand)?
            already = isinstance(exc, StoreRejected) and await _store_cancelled(store, order)
            if not already:
                await self._cancel_failed(choice_id, order, user_id, str(exc), store.service)
                raise ChoiceRefused(
                    f"{store.service} did not cancel order {number}: {escape(str(exc))}"
                ) from None
        await self._cancelled(choice_id, order.id, user_id, store.service, already=already)
        return CancelResult(order.external_id, store.service, order.customer_name, already)

    async def _cancelled(
        self, choice_id: int, order_id: int, user_id: str, service: str, *, already: bool
    ) -> None:
        channel = self.settings.slack.alert_channel
        async with self.writes() as session, session.begin():
            choice = await session.get(OrderChoice, choice_id)
            order = await session.scalar(
                select(Order).where(Order.id == order_id).options(selectinload(Order.lines))
            )
            assert choice is not None and order is not None
            now = utcnow()
            choice.cancelled_at = now
            # The store's own word: its webhook or poll will say the same.
            await set_status(
                session,
                order,
                OrderStatus.CANCELLED,
                reason=CloseReason.STORE,
                channel=channel,
                now=now,
            )
            number = escape(order.external_id)
            asked = f"{escape(order.customer_name.strip() or 'the customer')} asked to cancel"
            if already:
                text = (
                    f"Order {number} was already cancelled in {service} when "
                    f"{mention(user_id)} went to cancel it ({asked}). It is marked cancelled "
                    "here too."
                )
            else:
                text = f"{mention(user_id)} cancelled order {number} in {service} ({asked})."
            outcome = "already_cancelled" if already else "cancelled"
            await self._record_cancel(session, choice, order, user_id, text, now, outcome)
        self.on_change()

    async def _cancel_failed(
        self, choice_id: int, order: Order, user_id: str, error: str, service: str
    ) -> None:
        async with self.writes() as session, session.begin():
            choice = await session.get(OrderChoice, choice_id)
            assert choice is not None
            choice.cancel_error = error
            # Staff may try again; the customer may change their mind.
            choice.cancel_started_at, choice.cancel_claimed_by = None, None
            text = (
                f"{service} did not cancel order {escape(order.external_id)} "
                f"({mention(user_id)} tried): {escape(error)}"
            )
            await self._record_cancel(
                session, choice, order, user_id, text, utcnow(), "failed", error=error
            )
        self.on_change()

    async def release_interrupted_cancels(self) -> int:
        """Cancels whose process stopped beating while it called the store (killed,
        frozen): offered to staff again, with a word in the thread. The call may have
        gone through: the next try asks the store first. Returns how many were released."""
        now = utcnow()
        async with self.writes() as session, session.begin():
            rows = (
                await session.execute(
                    select(OrderChoice, Order)
                    .join(Order, Order.id == OrderChoice.order_id)
                    .where(
                        OrderChoice.cancel_started_at.is_not(None),
                        OrderChoice.cancelled_at.is_(None),
                        self.membership.gone(OrderChoice.cancel_claimed_by, now),
                    )
                    .order_by(OrderChoice.id)
                    .with_for_update()
                )
            ).all()
            for choice, order in rows:
                choice.cancel_started_at, choice.cancel_claimed_by = None, None
                choice.cancel_error = INTERRUPTED
                service = escape(
                    self.store_service(order.source) or choice.store_service or "the store"
                )
                text = (
                    f"Cancelling order {escape(order.external_id)} in {service} was "
                    "interrupted (Stockbot stopped). Use the *Cancel order* button again: "
                    f"Stockbot first checks in {service} whether it went through."
                )
                await self._record_cancel(
                    session, choice, order, SYSTEM_ACTOR, text, now, "interrupted"
                )
        if rows:
            self.on_change()
        return len(rows)

    async def _record_cancel(
        self,
        session: AsyncSession,
        choice: OrderChoice,
        order: Order,
        user_id: str,
        text: str,
        now: datetime,
        outcome: str,
        **details: str,
    ) -> None:
        """Say how a store cancel ended in the product's thread, and audit it."""
        alert = await product_thread(session, choice.product_id)
        await self._thread_note(session, alert, text, now)
        audit(
            session,
            user_id,
            CANCEL_AUDIT_ACTION,
            alert,
            product_id=choice.product_id,
            order=order.external_id,
            outcome=outcome,
            **details,
        )

    async def _thread_note(
        self, session: AsyncSession, alert: Alert | None, text: str, now: datetime
    ) -> None:
        if alert is None:
            return
        await note_in_thread(session, alert, text, now)
        touch(alert, now)


async def _store_cancelled(store: StoreAdapter, order: Order) -> bool:
    """Whether the store has the order cancelled already; False when it cannot tell
    (then the cancel is tried, or its refusal stands)."""
    try:
        return await store.order_cancelled(order.external_id)
    except StoreError:
        return False


async def _live(
    session: AsyncSession, order_id: int, product_id: int
) -> tuple[Order, Product] | None:
    """The order and product of a link while it lives: the order open, holding it."""
    order = await session.get(Order, order_id)
    if order is None or order.status != OrderStatus.OPEN:
        return None
    holds = await session.scalar(
        select(OrderLine.id)
        .where(OrderLine.order_id == order_id, OrderLine.product_id == product_id)
        .limit(1)
    )
    product = await session.get(Product, product_id) if holds else None
    if product is None:
        return None
    return order, product
