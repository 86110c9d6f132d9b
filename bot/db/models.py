"""Database models (SQLAlchemy 2.x, typed). Portable: SQLite and PostgreSQL."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    case,
    false,
    select,
    text,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from bot.db.types import UTCDateTime, utcnow
from suppliers import Availability

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The source of orders from `stockbot orders import`; a store's orders have its name.
CSV_SOURCE = "csv"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    # Every model here is mapped to a plain Table (Core bulk inserts take it as such).
    __table__: ClassVar[Table]


class AlertKind(enum.StrEnum):
    # Low stock, out of stock and backorder are the states of a product's one alert:
    # its kind moves in place (bot.core.problems); the others are their own alerts.
    LOW_STOCK = "low_stock"
    # Predicted to run out within [forecast] warn_days (bot.core.forecast.watch).
    AT_RISK = "at_risk"
    OUT_OF_STOCK = "out_of_stock"
    SUPPLIER_FEED = "supplier_feed"
    SUPPLIER_DOWN = "supplier_down"
    BACKORDER = "backorder"
    STORE_PUSH = "store_push"


class OrderStatus(enum.StrEnum):
    OPEN = "open"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"


class CloseReason(enum.StrEnum):
    """Why an order was closed, which decides whether a store may reopen it."""

    STORE = "store"  # the store said it ended (webhook, or a status in its listing)
    UNLISTED = "unlisted"  # the store's poll no longer listed it: inferred, not told
    PERSON = "person"  # closed by hand (`stockbot orders close`): it stays closed


class NotificationStatus(enum.StrEnum):
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class NoticeKind(enum.StrEnum):
    """What a customer email says: the first notice, then the follow-ups."""

    NOTICE = "notice"  # the delay (and the restock date, the substitute), written by staff
    DATE_UPDATE = "date_update"  # the supplier's restock date moved
    BACK_IN_STOCK = "back_in_stock"  # the order is covered: it is on its way


class AlertState(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


class Supplier(Base):
    __tablename__ = "suppliers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str | None] = mapped_column(String(50))
    # Cache validators for conditional GETs, so an unchanged feed costs a 304.
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    # When the last poll that read the feed ran: its listed offers were seen then
    # (recorded here once, not on each of them; see `offer_last_seen`).
    listed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    offers: Mapped[list[Offer]] = relationship(back_populates="supplier")


def sku_key(sku: str) -> str:
    """A SKU as looked up: without surrounding blanks, in lower case (Python's, which
    folds every alphabet; SQLite's lower() folds ASCII only)."""
    return sku.strip().lower()


def _sku_key_default(context: DefaultExecutionContext) -> str:
    return sku_key(context.get_current_parameters()["sku"])


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(200), unique=True)
    # `sku_key(sku)`, indexed for `/stock SKU`: filled on every insert (also Core's bulk
    # ones) and when the ORM changes `sku`; a Core UPDATE of `sku` must set it too.
    sku_key: Mapped[str] = mapped_column(
        String(200), index=True, default=_sku_key_default, server_default=""
    )
    title: Mapped[str] = mapped_column(String(500))
    low_stock_threshold: Mapped[int] = mapped_column(Integer, default=0)
    active_offer_id: Mapped[int | None] = mapped_column(
        ForeignKey("offers.id", use_alter=True, ondelete="SET NULL")
    )

    offers: Mapped[list[Offer]] = relationship(
        back_populates="product", foreign_keys="Offer.product_id", order_by="Offer.priority"
    )
    active_offer: Mapped[Offer | None] = relationship(foreign_keys=[active_offer_id])

    @validates("sku")
    def _keep_sku_key(self, _key: str, sku: str) -> str:
        self.sku_key = sku_key(sku)
        return sku


class CatalogChange(Base):
    """One product added, changed (SKU or title) or deleted: written by database triggers
    (migration 0004), so every writer is seen. The largest id is the catalog's version;
    each process's typo index (bot.core.fuzzy) catches up by reading the rows past its own."""

    __tablename__ = "catalog_changes"
    # Ids never reused, even after pruning: versions only grow.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    # Not a foreign key: a deleted product's id must stay here.
    product_id: Mapped[int] = mapped_column(Integer)


class Offer(Base):
    """One supplier's offer of one product: its stock, price and priority."""

    __tablename__ = "offers"
    __table_args__ = (
        UniqueConstraint("product_id", "supplier_id", name="uq_offers_product_supplier"),
        UniqueConstraint("supplier_id", "supplier_sku", name="uq_offers_supplier_sku"),
        # Restock dates due, per supplier (the scorecard's restock-date reliability).
        Index("ix_offers_supplier_restock_date", "supplier_id", "restock_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    supplier_sku: Mapped[str] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, default=1)
    # None means the supplier has not told us: never treated as zero.
    quantity: Mapped[int | None] = mapped_column(Integer)
    # A `suppliers.Availability` or `bot.core.availability.Unlisted` value, stored as its string.
    availability: Mapped[str] = mapped_column(String(20), default=Availability.UNKNOWN.value)
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    restock_date: Mapped[date | None]
    # In the supplier's last feed read (then last seen at `Supplier.listed_at`); when
    # not, `last_seen_at` says when it last was (None: never). Read both through
    # `offer_last_seen()`.
    listed: Mapped[bool] = mapped_column(default=False, server_default=false())
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    product: Mapped[Product] = relationship(back_populates="offers", foreign_keys=[product_id])
    supplier: Mapped[Supplier] = relationship(back_populates="offers")


def offer_last_seen() -> ColumnElement[datetime | None]:
    """SQL: when the supplier last listed the offer (None: never). A listed offer was
    seen at its supplier's last feed read; the others keep their own time."""
    listed_at = select(Supplier.listed_at).where(Supplier.id == Offer.supplier_id)
    return case((Offer.listed, listed_at.scalar_subquery()), else_=Offer.last_seen_at)


class StockObservation(Base):
    """History: one row each time an offer's stock or price changed."""

    __tablename__ = "stock_observations"
    __table_args__ = (Index("ix_stock_observations_offer_at", "offer_id", "observed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"))
    quantity: Mapped[int | None] = mapped_column(Integer)
    previous_quantity: Mapped[int | None] = mapped_column(Integer)
    availability: Mapped[str] = mapped_column(String(20))
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Alert(Base):
    """An alert's lifecycle and where its Slack message lives.

    Stored before it is posted (outbox): `needs_sync` says Slack must be told of
    the current state; the delivery worker posts or updates and clears it.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        # One live alert per dedup key; resolved ones are history.
        Index(
            "uq_alerts_open_dedup_key",
            "dedup_key",
            unique=True,
            sqlite_where=text("state != 'resolved'"),
            postgresql_where=text("state != 'resolved'"),
        ),
        Index("ix_alerts_needs_sync", "needs_sync"),
        Index("ix_alerts_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    state: Mapped[str] = mapped_column(String(20), default=AlertState.OPEN)
    dedup_key: Mapped[str] = mapped_column(String(300))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    # Set on alerts shown inside a grouped message instead of their own.
    group_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    is_group: Mapped[bool] = mapped_column(default=False)
    summary: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution: Mapped[str | None] = mapped_column(Text)
    acknowledged_by: Mapped[str | None] = mapped_column(String(50))
    snoozed_by: Mapped[str | None] = mapped_column(String(50))
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    slack_channel: Mapped[str | None] = mapped_column(String(100))
    slack_ts: Mapped[str | None] = mapped_column(String(50))
    needs_sync: Mapped[bool] = mapped_column(default=True)
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_delivery_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_delivery_error: Mapped[str | None] = mapped_column(Text)
    # The process (`Replica.id`) delivering it now: others leave it alone while it lives.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    # Set just before chat.postMessage, cleared once its ts is stored: while set, the
    # message may be in Slack already, so it is looked for before posting again.
    post_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    product: Mapped[Product | None] = relationship(foreign_keys=[product_id])
    supplier: Mapped[Supplier | None] = relationship(foreign_keys=[supplier_id])
    notes: Mapped[list[AlertNote]] = relationship(
        back_populates="alert", order_by="AlertNote.id", cascade="all, delete-orphan"
    )

    @property
    def is_open(self) -> bool:
        return self.state != AlertState.RESOLVED


class ChartState(enum.StrEnum):
    PENDING = "pending"  # to show, now or at `next_attempt_at`
    SHOWN = "shown"  # in the alert's thread (or saved to a file without Slack)
    FAILED = "failed"  # given up on: logged; the alert itself is not affected
    SKIPPED = "skipped"  # the alert resolved first, or opened before charts existed


class AlertChart(Base):
    """The stock chart shown in an alert's thread when it opened: one row per alert,
    so it is shown once across retries, restarts and replicas."""

    __tablename__ = "alert_charts"

    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(20), default=ChartState.PENDING, index=True)
    # The process (`Replica.id`) showing it now: others leave it alone while it lives.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    # Set just before the upload: while set, the file may be in the thread already, so
    # it is looked for there before being uploaded again.
    upload_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Slack's file id, or the path of the saved file without Slack.
    shown_as: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AlertNote(Base):
    """A thread reply waiting to be (or already) posted under an alert's message."""

    __tablename__ = "alert_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    posted_ts: Mapped[str | None] = mapped_column(String(50))
    # As `Alert.post_started_at`: the reply may be in the thread already.
    post_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    alert: Mapped[Alert] = relationship(back_populates="notes")


class AuditEntry(Base):
    """Who did what, when: people from Slack, or `stockbot` itself."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Order(Base):
    """A customer's order, from a CSV import or a store (its webhooks and its poll)."""

    __tablename__ = "orders"
    __table_args__ = (
        # Each source numbers its orders on its own: CSV 1001 is not WooCommerce 1001.
        UniqueConstraint("source", "external_id", name="uq_orders_source_external_id"),
        # Sales history is read by order date (bot.core.forecast.history).
        Index("ix_orders_ordered_at", "ordered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The source's own order number/ID: imports, webhooks and polls update by it.
    external_id: Mapped[str] = mapped_column(String(100))
    # "csv", a configured store's name, or the store kind ("shopify", "woocommerce")
    # for webhooks of a kind that has no [[stores]] table.
    source: Mapped[str] = mapped_column(String(20), default=CSV_SOURCE)
    customer_name: Mapped[str] = mapped_column(String(200), default="")
    customer_email: Mapped[str] = mapped_column(String(320), default="")
    ordered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default=OrderStatus.OPEN, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A CloseReason while closed; None when open (or closed before reasons were kept).
    close_reason: Mapped[str | None] = mapped_column(String(20))

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id", cascade="all, delete-orphan"
    )


class OrderLine(Base):
    """One product on an order; `backordered` is how many units stock cannot cover."""

    __tablename__ = "order_lines"
    __table_args__ = (Index("ix_order_lines_product_order", "product_id", "order_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    backordered: Mapped[int] = mapped_column(Integer, default=0)
    # The supplier expected to ship this line (the product's active offer's supplier).
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id", ondelete="SET NULL"))

    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()


class CustomerChoice(enum.StrEnum):
    """What a waiting customer chose on their choice page."""

    WAIT = "wait"
    SUBSTITUTE = "substitute"
    CANCEL = "cancel"


class OrderChoice(Base):
    """A waiting customer's latest choice for one product of their order (their choice
    link is scoped to both); a `cancel` choice waits here for staff to cancel in the store."""

    __tablename__ = "order_choices"
    __table_args__ = (
        UniqueConstraint("order_id", "product_id", name="uq_order_choices_order_product"),
        Index("ix_order_choices_product_id", "product_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    # A CustomerChoice value.
    choice: Mapped[str] = mapped_column(String(20))
    # The substitute offered when it was chosen (a choice of `substitute` names it).
    substitute_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL")
    )
    chosen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The platform ("Shopify") of the configured store the order came from, when chosen:
    # staff are offered to cancel there. None: an imported order, or no such store.
    store_service: Mapped[str | None] = mapped_column(String(50))
    # Staff's cancelling in the store: claimed once (who, when), then done or failed.
    cancel_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_started_by: Mapped[str | None] = mapped_column(String(100))
    # The process (`Replica.id`) calling the store: once it stops beating, the claim is
    # free again (the call may or may not have reached the store).
    cancel_claimed_by: Mapped[str | None] = mapped_column(String(64))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_error: Mapped[str | None] = mapped_column(Text)


class StoreNoteState(enum.StrEnum):
    PENDING = "pending"  # to write, now or at `next_attempt_at`
    WRITTEN = "written"  # on the store's order
    FAILED = "failed"  # given up on, and said in the product's thread


class StoreNote(Base):
    """A line (and tags) to write on a store's order: what its customer was told or
    chose (`[[stores]] write_order_notes`). Queued in the transaction that records the
    email or the choice, written by one process at a time (`claimed_by`)."""

    __tablename__ = "store_notes"
    __table_args__ = (Index("ix_store_notes_state", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    # The thread a note that cannot be written is said in.
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    # The `[[stores]]` name (the order's source) when it was queued.
    store: Mapped[str] = mapped_column(String(20))
    # A NoticeKind or a CustomerChoice: what happened.
    event: Mapped[str] = mapped_column(String(20))
    line: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(20), default=StoreNoteState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The process (`Replica.id`) writing it now: others leave it alone while it lives.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """Webhook IDs already processed, so a redelivery changes nothing."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    topic: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Substitution(Base):
    """A substitute product offered to the customers waiting for another."""

    __tablename__ = "substitutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    substitute_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The open orders waiting for the product when the substitute was chosen.
    order_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)

    product: Mapped[Product] = relationship(foreign_keys=[product_id])
    substitute: Mapped[Product] = relationship(foreign_keys=[substitute_id])


class CustomerNotification(Base):
    """One email to one customer about one product; the unique key makes it exactly once.

    A notice is once per alert and message (`message_hash` hashes its text); a follow-up
    is once per product, customer, kind and `kind_key` (`alert_key` "product:<id>",
    `message_hash` hashing "kind:kind_key"), whatever staff wrote.
    """

    __tablename__ = "customer_notifications"
    __table_args__ = (
        UniqueConstraint(
            "alert_key", "customer_email", "message_hash", name="uq_customer_notifications_once"
        ),
        # Follow-ups and the order timeline read a customer's emails about a product.
        Index("ix_customer_notifications_product_customer", "product_id", "customer_email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The alert's id, or "product:<id>" when sent without an alert.
    alert_key: Mapped[str] = mapped_column(String(50))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    customer_email: Mapped[str] = mapped_column(String(320))
    message_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=NotificationStatus.SENDING)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A NoticeKind; `kind_key` tells follow-ups of one kind apart (a date update: the new
    # restock date, ISO; back in stock: the order ids covered), "" for notices.
    kind: Mapped[str] = mapped_column(
        String(20), default=NoticeKind.NOTICE, server_default=NoticeKind.NOTICE.value
    )
    kind_key: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # The restock date this email told the customer (None: none known or none said).
    restock_date: Mapped[date | None] = mapped_column()
    # Every order of this customer the email was about (order_id is the first).
    order_ids: Mapped[list[int]] = mapped_column(JSON, default=list, server_default="[]")
    # The email's Message-ID header, chosen before sending: follow-ups thread under the
    # customer's first notice through it.
    message_id: Mapped[str | None] = mapped_column(String(255))


class StoreInventory(Base):
    """What a storefront should show for one product, and what it was last sent.

    `needs_push` marks rows whose wanted stock differs from what the store has;
    a failed push keeps it set and waits until `next_attempt_at` (backoff).
    """

    __tablename__ = "store_inventory"
    __table_args__ = (
        UniqueConstraint("store", "product_id", name="uq_store_inventory_store_product"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    wanted_available: Mapped[int] = mapped_column(Integer)
    wanted_backorders: Mapped[bool] = mapped_column(default=False)
    pushed_available: Mapped[int | None] = mapped_column(Integer)
    pushed_backorders: Mapped[bool | None]
    needs_push: Mapped[bool] = mapped_column(default=True, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DemandForecast(Base):
    """One product's one-day-ahead sales forecast for one UTC day, as it was made the
    day before: kept so accuracy can be judged on what was said at the time."""

    __tablename__ = "demand_forecasts"
    # Written, read and dropped a day at a time: keyed by day first, each day's rows
    # go at the key's end instead of all over it (migration 0016).
    __table_args__ = (PrimaryKeyConstraint("day", "product_id"),)

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column()
    units: Mapped[float] = mapped_column(Float)
    # A bot.core.forecast.rates.Method value.
    method: Mapped[str] = mapped_column(String(20))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Replica(Base):
    """A running Stockbot process; `seen_at` is its heartbeat. Work it holds (leases,
    claimed alerts) goes to the others once it has not been seen for a while."""

    __tablename__ = "replicas"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Lease(Base):
    """Work that one process at a time does: polling a supplier, a scheduled job.

    `holder` is a `Replica.id` (free when None or when that replica stopped beating);
    `last_run_at` is when the work last started, so a schedule runs once per interval
    whichever process takes it.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64))
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SlackHold(Base):
    """Slack answered 429: no call of `method` to `channel` before `not_before`,
    from any delivery of any process."""

    __tablename__ = "slack_holds"

    method: Mapped[str] = mapped_column(String(50), primary_key=True)
    channel: Mapped[str] = mapped_column(String(100), primary_key=True)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())


class ProductForecast(Base):
    """What the last forecast recompute says about a product that is, or nearly is,
    at risk (its predicted stockout within 1.5x [forecast] warn_days) or that had a
    demand spike today; other products have no row. The product's alert reads it."""

    __tablename__ = "product_forecasts"

    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    days_of_cover: Mapped[float | None] = mapped_column(Float)
    # Within warn_days (an at-risk alert opens); within 1.5x warn_days (it stays open).
    opens: Mapped[bool] = mapped_column(default=False, index=True)
    holds: Mapped[bool] = mapped_column(default=False)
    rate_per_day: Mapped[float] = mapped_column(Float, default=0.0)
    drain_per_day: Mapped[float | None] = mapped_column(Float)
    stock: Mapped[int | None] = mapped_column(Integer)
    # The supplier's fall the drain is read from: first and last reading, seconds apart.
    fell_from: Mapped[int | None] = mapped_column(Integer)
    fell_to: Mapped[int | None] = mapped_column(Integer)
    fell_seconds: Mapped[float | None] = mapped_column(Float)
    # Units ordered today when that is a demand spike (else None).
    spike_units: Mapped[int | None] = mapped_column(Integer)


class RestockPromise(Base):
    """The restock date an offer's supplier gave, as first promised: a later date, or
    the date passing without stock, is a slip (RestockSlip)."""

    __tablename__ = "restock_promises"

    offer_id: Mapped[int] = mapped_column(
        ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True
    )
    promised: Mapped[date]
    since: Mapped[datetime] = mapped_column(UTCDateTime())


class RestockSlip(Base):
    """A supplier's restock date that slipped: moved later, or passed without stock.
    Counted per supplier (bot.core.problems.restock_slips.restock_slips)."""

    __tablename__ = "restock_slips"
    __table_args__ = (UniqueConstraint("offer_id", "promised", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(
        ForeignKey("suppliers.id", ondelete="CASCADE"), index=True
    )
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    # "moved" (to `new_date`) or "passed" (the promised date went by without stock).
    kind: Mapped[str] = mapped_column(String(10))
    promised: Mapped[date]
    new_date: Mapped[date | None]
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RestockKept(Base):
    """A supplier's restock date that was met: the offer came back in stock by the end
    of the promised day (with RestockSlip, what the scorecard's "restock dates met" is
    read from)."""

    __tablename__ = "restock_dates_kept"
    __table_args__ = (UniqueConstraint("offer_id", "promised"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(
        ForeignKey("suppliers.id", ondelete="CASCADE"), index=True
    )
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"))
    promised: Mapped[date]
    back_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SupplierPoll(Base):
    """One poll of one supplier and whether it succeeded: the scorecard's feed uptime."""

    __tablename__ = "supplier_polls"
    __table_args__ = (Index("ix_supplier_polls_supplier_at", "supplier_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    ok: Mapped[bool]


class DailyReview(Base):
    """One daily review per date (in the review's time zone). The row is inserted
    before the review is posted: its primary key lets one process post it, once."""

    __tablename__ = "daily_reviews"

    day: Mapped[date] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    channel: Mapped[str | None] = mapped_column(String(100))
    posted_ts: Mapped[str | None] = mapped_column(String(50))
    # The review's one-line summary, shown on the App Home ("last review").
    summary: Mapped[str] = mapped_column(Text, default="")


class HomeView(Base):
    """Someone who opened Stockbot's App Home: refreshed after polls while recent."""

    __tablename__ = "home_views"

    user_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
