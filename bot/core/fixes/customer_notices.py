"""Email the customers waiting for a product: who they are, what they get, exactly once.

Who is affected: open orders with a line for the product that stock cannot cover
(`backordered > 0`). When no line is marked backordered (allocation has not run, or
the product is merely low), every open order with a line for the product is. An order
whose customer chose the substitute or to cancel on its choice link no longer waits:
no email about the product is for it (the preview says how many were left out).

One email per customer (email address, case-insensitive), listing all their affected
orders: two emails about the same delay would only confuse.

Exactly once: before sending, a CustomerNotification row keyed by (alert, customer,
sha256 of the message) is committed with status "sending"; the unique key stops a
double click, a Slack retry or a concurrent submission. A row that ended "failed" may
be claimed again by a later submission (one atomic update decides who), so fixing the
mail server and submitting again reaches exactly the customers who were missed. A row
left "sending" by a crash is never retried: the email may have gone out.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.alerts import audit, touch
from bot.core.fixes import follow_ups, store_notes
from bot.core.fixes.choice_links import ChoiceLinks
from bot.core.fixes.service import Service
from bot.core.fixes.substitution import current_substitute
from bot.core.search import matching_words, not_found, product_by_sku
from bot.core.text import clip, clip_lines, escape, mention
from bot.db.models import (
    Alert,
    AlertKind,
    AlertNote,
    AlertState,
    CustomerChoice,
    CustomerNotification,
    NoticeKind,
    NotificationStatus,
    Offer,
    Order,
    OrderLine,
    OrderStatus,
    Product,
)
from bot.db.types import utcnow
from bot.errors import UserError
from bot.telemetry import metrics

if TYPE_CHECKING:
    from bot.email.mailer import Mailer, RenderedNotice

log = logging.getLogger(__name__)

NOTIFY_AUDIT_ACTION = "notify_customer"
# Who sends what nobody clicked for ([notify] auto_back_in_stock).
AUTO_SENDER = "stockbot"
# Alerts whose customers may be told about a delay.
PRODUCT_ALERT_KINDS = (
    AlertKind.OUT_OF_STOCK,
    AlertKind.LOW_STOCK,
    AlertKind.BACKORDER,
    AlertKind.AT_RISK,
)
NOTE_LIMIT = 3000

NOT_CONFIGURED = (
    "Customer emails are not set up, so nothing was sent. Add an `[email]` table to "
    "Stockbot's configuration (`smtp_host`, `smtp_port`, `from_address`, and `starttls` or "
    "`use_tls`), put the SMTP login in the `SMTP_USERNAME` and `SMTP_PASSWORD` environment "
    "variables, and restart Stockbot."
)


class NotifyProblem(UserError):
    """Nothing can be sent; the message is shown to the Slack user."""


@dataclass(frozen=True, slots=True)
class ProductRef:
    id: int
    sku: str
    title: str

    @classmethod
    def of(cls, product: Product) -> ProductRef:
        return cls(product.id, product.sku, product.title)


@dataclass(frozen=True, slots=True)
class OrderRef:
    id: int
    number: str
    quantity: int
    backordered: int


@dataclass(frozen=True, slots=True)
class LeftOut:
    """Orders waiting for the product whose customer chose, on their choice link, the
    substitute or to cancel: news about the product is not for them."""

    substitute: int = 0
    cancel: int = 0

    @property
    def orders(self) -> int:
        return self.substitute + self.cancel

    @classmethod
    def of(cls, choices: Iterable[str]) -> LeftOut:
        chosen = list(choices)
        return cls(
            substitute=chosen.count(CustomerChoice.SUBSTITUTE),
            cancel=chosen.count(CustomerChoice.CANCEL),
        )


@dataclass(frozen=True, slots=True)
class Recipient:
    """One customer: their lower-cased address (the key) and every affected order."""

    key: str
    address: str
    name: str
    orders: tuple[OrderRef, ...]
    # A date update: the restock date this customer was told last.
    told_date: date | None = None

    @property
    def order_numbers(self) -> str:
        return ", ".join(order.number for order in self.orders)


@dataclass(frozen=True, slots=True)
class Target:
    """What the emails are about: a product, through an alert when there is one."""

    product: ProductRef
    alert_id: int | None
    restock_date: date | None
    substitute: ProductRef | None
    kind: NoticeKind = NoticeKind.NOTICE

    @property
    def alert_key(self) -> str:
        """The notice's once-key scope; follow-ups are once per product, whatever alert."""
        if self.alert_id is not None and self.kind == NoticeKind.NOTICE:
            return str(self.alert_id)
        return f"product:{self.product.id}"

    def once_key(self, recipient: Recipient, message: str) -> tuple[str, str]:
        """(kind_key, message_hash): what makes two emails to one customer the same.
        A notice: its text. A date update: the new date. Back in stock: the orders."""
        if self.kind == NoticeKind.DATE_UPDATE and self.restock_date is not None:
            key = follow_ups.date_key(self.restock_date)
        elif self.kind == NoticeKind.BACK_IN_STOCK:
            key = follow_ups.orders_key(o.id for o in recipient.orders)
        else:
            return "", message_digest(message)
        return key, message_digest(f"{self.kind}:{key}")


@dataclass(frozen=True, slots=True)
class Preview:
    target: Target
    recipients: list[Recipient]
    orders_without_email: list[str]
    only_backordered: bool
    default_message: str
    sample: RenderedNotice
    left_out: LeftOut = LeftOut()

    @property
    def order_count(self) -> int:
        return sum(len(r.orders) for r in self.recipients) + len(self.orders_without_email)


@dataclass(frozen=True, slots=True)
class NobodyWaiting:
    product: ProductRef
    orders_without_email: list[str] = field(default_factory=list)
    kind: NoticeKind = NoticeKind.NOTICE
    left_out: LeftOut = LeftOut()


@dataclass(frozen=True, slots=True)
class FollowUpsDue:
    """Follow-ups the alert offers: customers to tell the new date, or that their order
    is on its way."""

    date_update: int = 0
    new_date: date | None = None
    back_in_stock: int = 0


@dataclass(frozen=True, slots=True)
class UnknownProduct:
    query: str
    suggestions: list[tuple[str, str]]  # (sku, title)
    # True: the words match several products (listed), none of them exactly.
    several: bool = False


Status = Literal["sent", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class Outcome:
    recipient: Recipient
    status: Status
    reason: str = ""


@dataclass(slots=True)
class NotifyResult:
    target: Target
    user_id: str
    outcomes: list[Outcome] = field(default_factory=list)
    orders_without_email: list[str] = field(default_factory=list)
    # True when the summary went to the alert's thread (otherwise: tell the user).
    posted_in_thread: bool = False

    def having(self, status: Status) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def attempted(self) -> bool:
        return any(o.status != "skipped" for o in self.outcomes)


def message_digest(message: str) -> str:
    return hashlib.sha256(message.encode("utf-8")).hexdigest()


def normalise_message(message: str) -> str:
    """The final text: the hash of exactly this decides what counts as the same message."""
    return "\n".join(line.rstrip() for line in message.replace("\r\n", "\n").split("\n")).strip()


def long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def default_message(target: Target) -> str:
    """An honest default: the delay, the restock date if the supplier gave one, the
    alternative if staff chose one, and a way out. Follow-ups: the news."""
    title = target.product.title
    if target.kind == NoticeKind.BACK_IN_STOCK:
        return (
            f"Good news: {title} is back in stock, so your order is on its way "
            "(or will be very soon).\n\nThank you for your patience."
        )
    if target.kind == NoticeKind.DATE_UPDATE and target.restock_date:
        return (
            f"Our supplier has changed the date for {title}: it now expects it back in "
            f"stock around {long_date(target.restock_date)}, and we will ship your order "
            "as soon as it arrives.\n\nWe're sorry for the change. If you would rather "
            "not wait, reply to this email and we will sort it out."
        )
    parts = [
        f"We're sorry: {title} is currently unavailable from our supplier, "
        "so your order is delayed."
    ]
    if target.restock_date:
        parts.append(
            f"Our supplier expects it back in stock around {long_date(target.restock_date)}, "
            "and we will ship it as soon as it arrives."
        )
    else:
        parts.append(
            "Our supplier has not given us a restock date yet; we will write again as soon "
            "as we know more."
        )
    if target.substitute:
        parts.append(
            f"If you prefer, we can send you {target.substitute.title} instead: just reply "
            "to this email."
        )
    parts.append("If you would rather not wait, reply to this email and we will sort it out.")
    return "\n\n".join(parts)


def notice_context(
    target: Target,
    recipient: Recipient,
    message: str,
    store_name: str,
    choice_url: str = "",
    order_choice_urls: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """What the templates see (documented in bot/email/templates/customer_notice.txt.j2)."""
    product = target.product
    substitute = target.substitute
    told = recipient.told_date
    # Each order's own choice link ("" for none); choice_url is the first order's.
    urls = order_choice_urls or {}
    return {
        "kind": str(target.kind),
        "choice_url": choice_url,
        "previous_restock_date_text": long_date(told) if told else None,
        "store_name": store_name,
        "customer_name": recipient.name,
        "customer_email": recipient.address,
        "message": message,
        "product": {"sku": product.sku, "title": product.title},
        "orders": [
            {
                "number": o.number,
                "quantity": o.quantity,
                "backordered": o.backordered,
                "choice_url": urls.get(o.id, ""),
            }
            for o in recipient.orders
        ],
        "order_numbers": recipient.order_numbers,
        "restock_date": target.restock_date,
        "restock_date_text": long_date(target.restock_date) if target.restock_date else None,
        "substitute": {"sku": substitute.sku, "title": substitute.title} if substitute else None,
    }


def email_note_line(target: Target) -> str:
    """What an email told, as a line on the store's order."""
    product = f"{target.product.title} ({target.product.sku})"
    if target.kind == NoticeKind.BACK_IN_STOCK:
        return f"emailed the customer that {product} is back in stock and the order is on its way."
    day = target.restock_date
    if target.kind == NoticeKind.DATE_UPDATE and day is not None:
        return f"emailed the customer a new date for {product}: around {long_date(day)}."
    when = f"expected back around {long_date(day)}" if day else "with no restock date yet"
    return f"emailed the customer that {product} is delayed, {when}."


def _what(target: Target) -> str:
    """What a follow-up told, for the summary ("" for a notice)."""
    if target.kind == NoticeKind.DATE_UPDATE and target.restock_date:
        return f" (the new date, {long_date(target.restock_date)})"
    if target.kind == NoticeKind.BACK_IN_STOCK:
        return " (their order is on its way)"
    return ""


def summary_text(result: NotifyResult) -> str:
    """The result, per address, as Slack text (the thread note or the user's answer)."""
    product = result.target.product
    about = f"`{escape(product.sku)}` {escape(product.title)}{_what(result.target)}"
    sent, failed = result.having("sent"), result.having("failed")
    skipped = result.having("skipped")
    by = (
        "automatically (`[notify] auto_back_in_stock`)"
        if result.user_id == AUTO_SENDER
        else f"by {mention(result.user_id)}"
    )
    if sent:
        plural = "customer" if len(sent) == 1 else "customers"
        headline = f"Emailed {len(sent)} {plural} about {about} (sent {by})."
        if failed:
            headline += f" {len(failed)} could not be emailed."
    elif failed:
        headline = (
            f"Could not email {len(failed)} of the customers waiting for {about} (sent {by})."
        )
    elif skipped:
        headline = f"Nothing new was sent about {about}: every customer already got this message."
    elif result.target.kind != NoticeKind.NOTICE:
        headline = f"Nothing new was sent about {about}: everyone due this news was told."
    else:
        headline = f"Nothing was sent about {about}: nobody is waiting for it any more."
    lines = [headline]
    lines += [f"✅ {escape(o.recipient.address)}: {_orders(o.recipient)}" for o in sent]
    lines += [f"❌ {escape(o.recipient.address)}: {escape(o.reason)}. Not emailed." for o in failed]
    lines += [f"⏭️ {escape(o.recipient.address)}: {escape(o.reason)}" for o in skipped]
    if result.orders_without_email:
        numbers = ", ".join(escape(n) for n in result.orders_without_email)
        lines.append(f"⚠️ No email address on order {numbers}: contact them another way.")
    if failed:
        lines.append("Submit the same message again to retry the failed ones only.")
    return clip_lines(lines, NOTE_LIMIT)


def _orders(recipient: Recipient) -> str:
    word = "order" if len(recipient.orders) == 1 else "orders"
    return f"{word} {escape(recipient.order_numbers)}"


@dataclass
class CustomerNotifier(Service):
    """The service behind the modal: preview who gets what, then send exactly once.
    `on_change` is called after a note was added to an alert's thread."""

    settings: Settings
    _mailer: Mailer | None = field(default=None, init=False)
    links: ChoiceLinks = field(init=False)
    # Stores whose orders get a note of each email sent about them.
    note_stores: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.links = ChoiceLinks.of(self.settings)
        self.note_stores = store_notes.stores_taking_notes(self.settings)

    @property
    def configured(self) -> bool:
        return self.settings.email is not None

    @property
    def mailer(self) -> Mailer:
        # The email machinery (Jinja, SMTP) loads only when an email is made.
        from bot.email.mailer import Mailer

        if self.settings.email is None:
            raise NotifyProblem(NOT_CONFIGURED)
        if self._mailer is None:
            password = self.settings.smtp_password
            self._mailer = Mailer(
                self.settings.email,
                self.settings.smtp_username,
                password.get_secret_value() if password else None,
            )
        return self._mailer

    # -- preview -------------------------------------------------------------------------

    async def preview_for_alert(
        self, alert_id: int, kind: NoticeKind = NoticeKind.NOTICE
    ) -> Preview | NobodyWaiting:
        async with self.sessions() as session:
            alert = await session.get(Alert, alert_id)
            if alert is None:
                raise NotifyProblem("That alert no longer exists.")
            if alert.product_id is None:
                raise NotifyProblem(
                    "That alert is about a supplier, not one product: use "
                    "`/notify-customers SKU` for each product."
                )
            target = await _target(session, alert.product_id, alert.id, kind)
            return await self._preview(session, target)

    async def preview_for_query(self, query: str) -> Preview | NobodyWaiting | UnknownProduct:
        """`/notify-customers SKU`: a SKU, or words matching exactly one product."""
        async with self.sessions() as session:
            product = await _find_product(session, query)
            if isinstance(product, UnknownProduct):
                return product
            # Attach to the product's open alert, so the button and the command share
            # one "exactly once" key and one thread.
            alert_id = await session.scalar(
                select(Alert.id)
                .where(
                    Alert.product_id == product.id,
                    Alert.state != AlertState.RESOLVED,
                    Alert.kind.in_(PRODUCT_ALERT_KINDS),
                    Alert.is_group.is_(False),
                )
                .order_by(Alert.opened_at.desc(), Alert.id.desc())
                .limit(1)
            )
            target = await _target(session, product.id, alert_id)
            return await self._preview(session, target)

    async def _preview(self, session: AsyncSession, target: Target) -> Preview | NobodyWaiting:
        due = await _recipients(session, target)
        if not due.recipients:
            return NobodyWaiting(target.product, due.without_email, target.kind, due.left_out)
        message = default_message(target)
        return Preview(
            target=target,
            recipients=due.recipients,
            orders_without_email=due.without_email,
            only_backordered=due.only_backordered,
            default_message=message,
            sample=self._render(target, due.recipients[0], message),
            left_out=due.left_out,
        )

    def choice_url(
        self, target: Target, recipient: Recipient, order: OrderRef | None = None
    ) -> str:
        """The customer's own link to choose wait / substitute / cancel for one order (the
        first when none is named), or "" for none: without `[web] public_url`, and in a
        back-in-stock email (the order is covered, nothing is left to choose)."""
        if target.kind == NoticeKind.BACK_IN_STOCK or not recipient.orders:
            return ""
        link = self.links.link((order or recipient.orders[0]).id, target.product.id)
        return link or ""

    def _render(self, target: Target, recipient: Recipient, message: str) -> RenderedNotice:
        from bot.email.mailer import TemplateProblem  # loaded by `mailer` (see there)

        mailer = self.mailer
        try:
            mailer.check()
            store = self.settings.email.store_name if self.settings.email else ""
            urls = {o.id: self.choice_url(target, recipient, o) for o in recipient.orders}
            link = self.choice_url(target, recipient)
            context = notice_context(target, recipient, message, store, link, urls)
            return mailer.render(context, target.kind)
        except TemplateProblem as exc:
            raise NotifyProblem(
                f"The customer email template has a problem, so nothing can be sent: {exc}."
            ) from None

    # -- send ----------------------------------------------------------------------------

    async def send(
        self,
        alert_id: int | None,
        product_id: int,
        message: str,
        user_id: str,
        kind: NoticeKind = NoticeKind.NOTICE,
    ) -> NotifyResult:
        """Email every affected customer once; record, audit and report the outcome.
        Follow-ups go to whoever is due one now (not who was in the preview)."""
        from bot.email.mailer import MailError  # loaded by `mailer` (see there)

        message = normalise_message(message)
        if not message:
            raise NotifyProblem("The message is empty, so nothing was sent.")
        mailer = self.mailer
        async with self.sessions() as session:
            alert = await session.get(Alert, alert_id) if alert_id is not None else None
            if alert_id is not None and alert is None:
                raise NotifyProblem("That alert no longer exists, so nothing was sent.")
            if await session.get(Product, product_id) is None:
                raise NotifyProblem("That product no longer exists, so nothing was sent.")
            target = await _target(session, product_id, alert_id, kind)
            if kind == NoticeKind.DATE_UPDATE and target.restock_date is None:
                raise NotifyProblem("The supplier gives no restock date now, so nothing was sent.")
            due = await _recipients(session, target)
            recipients, without_email = due.recipients, due.without_email
            firsts = follow_ups.first_notices(await follow_ups.told(session, product_id))
        # Render everything first: a broken template stops the batch before any email.
        notices = [self._render(target, r, message) for r in recipients]
        result = NotifyResult(target, user_id, orders_without_email=without_email)
        down: str | None = None
        async with mailer.connect() as connection:
            for recipient, notice in zip(recipients, notices, strict=True):
                claimed = await self._claim(target, recipient, message, user_id)
                if isinstance(claimed, str):
                    result.outcomes.append(Outcome(recipient, "skipped", claimed))
                    continue
                row_id, message_id = claimed
                address, reason = _validated(recipient.address)
                reason = reason or down
                if reason is None:
                    root = follow_ups.thread_root(
                        firsts, recipient.key, (o.id for o in recipient.orders)
                    )
                    email = mailer.build(
                        notice,
                        address,
                        recipient.name,
                        message_id=message_id,
                        in_reply_to=root if root != message_id else None,
                    )
                    try:
                        await connection.send(email)
                    except MailError as exc:
                        reason = exc.reason
                        # Do not knock on a dead server once per customer.
                        down = exc.reason if exc.unreachable else None
                    except Exception as exc:  # record it, never leave the row "sending"
                        log.exception("emailing %s failed", recipient.address)
                        reason = f"unexpected error ({type(exc).__name__})"
                outcome = (
                    Outcome(recipient, "failed", reason) if reason else Outcome(recipient, "sent")
                )
                await self._finish(row_id, outcome, target, alert, user_id)
                metrics.EMAILS.labels(outcome=outcome.status).inc()
                result.outcomes.append(outcome)
        if result.attempted and alert is not None:
            result.posted_in_thread = await self._note(
                alert, summary_text(result), redraw=kind != NoticeKind.NOTICE
            )
        return result

    async def send_due_back_in_stock(self) -> list[NotifyResult]:
        """`[notify] auto_back_in_stock`: tell every customer whose orders stock now covers
        that they are on their way, each once (the claims decide, across replicas)."""
        if not self.settings.notify.auto_back_in_stock or not self.configured:
            return []
        due: list[tuple[int, int | None]] = []
        async with self.sessions() as session:
            for product_id in await follow_ups.products_told(session):
                if (await follow_ups_due(session, product_id)).back_in_stock:
                    due.append((product_id, await _latest_alert(session, product_id)))
        results = []
        for product_id, alert_id in due:
            async with self.sessions() as session:
                target = await _target(session, product_id, alert_id, NoticeKind.BACK_IN_STOCK)
            message = default_message(target)
            results.append(
                await self.send(
                    alert_id, product_id, message, AUTO_SENDER, NoticeKind.BACK_IN_STOCK
                )
            )
        return results

    async def _claim(
        self, target: Target, recipient: Recipient, message: str, user_id: str
    ) -> tuple[int, str] | str:
        """Own this customer's email: (row id, its Message-ID); or say why someone else
        already does."""
        kind_key, digest = target.once_key(recipient, message)
        message_id = self.mailer.new_message_id()
        row = CustomerNotification(
            alert_key=target.alert_key,
            alert_id=target.alert_id,
            product_id=target.product.id,
            order_id=recipient.orders[0].id,
            order_ids=[o.id for o in recipient.orders],
            customer_email=recipient.key,
            message_hash=digest,
            kind=target.kind,
            kind_key=kind_key,
            restock_date=target.restock_date,
            message_id=message_id,
            status=NotificationStatus.SENDING,
            created_by=user_id,
            created_at=utcnow(),
        )
        try:
            # Its own committed transaction, before sending: the unique key is the lock.
            async with self.writes() as session, session.begin():
                session.add(row)
            return row.id, message_id
        except IntegrityError:
            pass
        same = (
            CustomerNotification.alert_key == target.alert_key,
            CustomerNotification.customer_email == recipient.key,
            CustomerNotification.message_hash == digest,
        )
        # A failed row is claimed again as it was: same Message-ID (it never went out).
        async with self.writes() as session, session.begin():
            retried = await session.execute(
                update(CustomerNotification)
                .where(*same, CustomerNotification.status == NotificationStatus.FAILED)
                .values(
                    status=NotificationStatus.SENDING,
                    error=None,
                    created_by=user_id,
                    created_at=utcnow(),
                )
            )
            existing = (
                await session.execute(
                    select(
                        CustomerNotification.id,
                        CustomerNotification.status,
                        CustomerNotification.message_id,
                    ).where(*same)
                )
            ).one()
        if retried.rowcount == 1:  # type: ignore[attr-defined]
            return existing.id, existing.message_id or message_id
        if existing.status == NotificationStatus.SENT:
            return "already got this message, not sent again"
        return "is being emailed by another submission (or was interrupted): not sent again"

    async def _finish(
        self, row_id: int, outcome: Outcome, target: Target, alert: Alert | None, user_id: str
    ) -> None:
        sent = outcome.status == "sent"
        status = NotificationStatus.SENT if sent else NotificationStatus.FAILED
        now = utcnow()
        async with self.writes() as session, session.begin():
            await session.execute(
                update(CustomerNotification)
                .where(CustomerNotification.id == row_id)
                .values(
                    status=status,
                    error=outcome.reason or None,
                    sent_at=now if sent else None,
                )
            )
            if sent:
                await store_notes.queue(
                    session,
                    self.note_stores,
                    (o.id for o in outcome.recipient.orders),
                    product_id=target.product.id,
                    alert_id=target.alert_id,
                    event=target.kind,
                    line=email_note_line(target),
                    now=now,
                )
            details: dict[str, Any] = {
                "email": outcome.recipient.key,
                "status": str(status),
                "orders": [o.number for o in outcome.recipient.orders],
            }
            if outcome.reason:
                details["error"] = outcome.reason
            audit(
                session,
                user_id,
                NOTIFY_AUDIT_ACTION,
                alert,
                product_id=target.product.id,
                **details,
            )

    async def _note(self, alert: Alert, text: str, *, redraw: bool = False) -> bool:
        """Put the result in the alert's thread (a grouped alert's lives in its group's).
        `redraw`: the follow-ups the alert offers changed."""
        async with self.writes() as session, session.begin():
            current = await session.get(Alert, alert.id)
            if current is None:
                return False
            if redraw:
                touch(current, utcnow())
            thread = current
            if current.group_id is not None:
                thread = await session.get(Alert, current.group_id) or current
            session.add(AlertNote(alert_id=thread.id, text=text, created_at=utcnow()))
        self.on_change()
        return True


async def _find_product(session: AsyncSession, query: str) -> Product | UnknownProduct:
    """The product a SKU names, or the only one whose SKU or title holds every word."""
    product = await product_by_sku(session, query)
    words = " ".join(query.split())
    if product is not None or not words:
        return product or UnknownProduct(query, [])
    found = await matching_words(session, words)
    if len(found.products) > 1:
        return UnknownProduct(query, found.products, several=True)
    if found.products:
        product = await product_by_sku(session, found.products[0][0])
    if product is None:
        return UnknownProduct(query, (await not_found(session, words)).suggestions)
    return product


def _validated(address: str) -> tuple[str, str | None]:
    """The address to send to, or why it cannot be used (syntax only: no DNS lookups)."""
    from email_validator import EmailNotValidError, validate_email  # slow to import

    try:
        return validate_email(address, check_deliverability=False).normalized, None
    except EmailNotValidError as exc:
        return address, f"invalid address ({clip(str(exc).rstrip('.'), 120)})"


async def _target(
    session: AsyncSession,
    product_id: int,
    alert_id: int | None,
    kind: NoticeKind = NoticeKind.NOTICE,
) -> Target:
    product = await session.get(Product, product_id)
    assert product is not None
    restock = None
    if product.active_offer_id is not None:
        restock = await session.scalar(
            select(Offer.restock_date).where(Offer.id == product.active_offer_id)
        )
    substitute = await current_substitute(session, product_id)
    return Target(
        product=ProductRef.of(product),
        alert_id=alert_id,
        restock_date=restock,
        substitute=ProductRef.of(substitute) if substitute else None,
        kind=kind,
    )


@dataclass(frozen=True, slots=True)
class _Due:
    """Who gets an email now: one recipient per address; the orders that have no
    address; whether only backordered lines were counted; the orders left out."""

    recipients: list[Recipient]
    without_email: list[str]
    only_backordered: bool = False
    left_out: LeftOut = LeftOut()


async def _recipients(session: AsyncSession, target: Target) -> _Due:
    """Who gets this kind of email now: every customer still waiting (a notice); those
    still waiting who were told another date (a date update); those whose orders they
    were told about are now covered (back in stock)."""
    product_id = target.product.id
    if target.kind == NoticeKind.NOTICE:
        return await _waiting(session, product_id)
    emails = await follow_ups.told(session, product_id)
    if target.kind == NoticeKind.BACK_IN_STOCK:
        covered = await follow_ups.covered_told_orders(session, product_id, emails)
        return _Due(*_grouped(covered))
    recipients, only_backordered = await _date_updates(
        session, product_id, emails, target.restock_date
    )
    return _Due(recipients, [], only_backordered)


async def _date_updates(
    session: AsyncSession,
    product_id: int,
    emails: Sequence[follow_ups.Told],
    restock_date: date | None,
) -> tuple[list[Recipient], bool]:
    """Customers told another date than the active supplier's, each with only the orders
    that date was about and that still wait for the product; and whether only
    backordered lines were counted."""
    slipped = follow_ups.slipped(emails, restock_date)
    if not slipped:
        return [], False
    waiting = await _waiting(session, product_id)
    told = follow_ups.orders_told_a_date(emails)
    recipients = []
    for recipient in waiting.recipients:
        orders = tuple(o for o in recipient.orders if o.id in told)
        if recipient.key in slipped and orders:
            recipients.append(replace(recipient, orders=orders, told_date=slipped[recipient.key]))
    return recipients, waiting.only_backordered


async def _latest_alert(session: AsyncSession, product_id: int) -> int | None:
    """The product's latest alert (open or resolved): where follow-ups are said."""
    return await session.scalar(
        select(Alert.id)
        .where(
            Alert.product_id == product_id,
            Alert.kind.in_(PRODUCT_ALERT_KINDS),
            Alert.is_group.is_(False),
        )
        .order_by(Alert.opened_at.desc(), Alert.id.desc())
        .limit(1)
    )


async def follow_ups_due(session: AsyncSession, product_id: int) -> FollowUpsDue:
    """What the product's alert offers: "Update N customers", "Tell N customers"."""
    emails = await follow_ups.told(session, product_id)
    if not emails:
        return FollowUpsDue()
    product = await session.get(Product, product_id)
    if product is None:
        return FollowUpsDue()
    restock = None
    if product.active_offer_id is not None:
        restock = await session.scalar(
            select(Offer.restock_date).where(Offer.id == product.active_offer_id)
        )
    updates, _ = await _date_updates(session, product_id, emails, restock)
    date_updates = len(updates)
    covered = await follow_ups.covered_told_orders(session, product_id, emails)
    recipients, _ = _grouped(covered)
    return FollowUpsDue(
        date_update=date_updates,
        new_date=restock if date_updates else None,
        back_in_stock=len(recipients),
    )


async def _waiting(session: AsyncSession, product_id: int) -> _Due:
    """Customers waiting for the product, one per address: open orders holding it
    (only those stock cannot cover, when any is marked backordered), less those whose
    customer chose the substitute or to cancel (counted as left out)."""
    rows = (
        await session.execute(
            select(Order, OrderLine.quantity, OrderLine.backordered)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(OrderLine.product_id == product_id, Order.status == OrderStatus.OPEN)
            .order_by(Order.ordered_at, Order.id, OrderLine.id)
        )
    ).all()
    only_backordered = any(backordered > 0 for _, _, backordered in rows)
    if only_backordered:
        rows = [row for row in rows if row[2] > 0]
    chose = await follow_ups.chose_not_to_wait(session, product_id, {o.id for o, _, _ in rows})
    recipients, without_email = _grouped([row for row in rows if row[0].id not in chose])
    return _Due(recipients, without_email, only_backordered, LeftOut.of(chose.values()))


def _grouped(
    rows: Sequence[tuple[Order, int, int]] | Sequence[Any],
) -> tuple[list[Recipient], list[str]]:
    """(order, quantity, backordered) rows as one recipient per address, and the order
    numbers that have no address."""
    # An order may hold the product on two lines: one entry per order.
    orders: dict[int, tuple[Order, int, int]] = {}
    for order, quantity, backordered in rows:
        _, seen_quantity, seen_backordered = orders.get(order.id, (order, 0, 0))
        orders[order.id] = (order, seen_quantity + quantity, seen_backordered + backordered)
    grouped: dict[str, list[tuple[Order, int, int]]] = {}
    without_email: list[str] = []
    for order, quantity, backordered in orders.values():
        key = order.customer_email.strip().lower()
        if not key:
            without_email.append(order.external_id)
            continue
        grouped.setdefault(key, []).append((order, quantity, backordered))
    recipients = [_recipient(key, entries) for key, entries in grouped.items()]
    return recipients, without_email


def _recipient(key: str, entries: Sequence[tuple[Order, int, int]]) -> Recipient:
    name = next((o.customer_name.strip() for o, _, _ in entries if o.customer_name.strip()), "")
    return Recipient(
        key=key,
        address=entries[0][0].customer_email.strip(),
        name=name,
        orders=tuple(OrderRef(o.id, o.external_id, q, b) for o, q, b in entries),
    )
