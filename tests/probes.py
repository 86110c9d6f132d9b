"""The facts tests check that no Slack message or command output shows (ids, audit
trails, stored states), named as facts rather than tables: the one place tests read
the database directly. A few `arrange_*` helpers script what no feed can say."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Select, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import selectinload

from bot import db
from bot.core.problems.restock_slips import restock_slips
from bot.core.problems.states import PRODUCT_PROBLEMS
from bot.db.models import (
    Alert,
    AlertKind,
    AlertState,
    AuditEntry,
    CatalogChange,
    CustomerNotification,
    DailyReview,
    DemandForecast,
    HomeView,
    Offer,
    Order,
    OrderChoice,
    OrderLine,
    OrderStatus,
    Product,
    ProductForecast,
    SlackHold,
    StockObservation,
    StoreInventory,
    StoreNote,
    Substitution,
    Supplier,
    SupplierPoll,
    WebhookDelivery,
    offer_last_seen,
)
from bot.db.types import utcnow
from tests.helpers import Stack

T = TypeVar("T")


@asynccontextmanager
async def _reading(source: Stack | AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session on the stack's database, or on an engine of the test's own (for tests
    whose bots run in other processes)."""
    sessions = source.runtime.sessions if isinstance(source, Stack) else db.session_factory(source)
    async with sessions() as session:
        yield session


async def _one(source: Stack | AsyncEngine, statement: Select[tuple[T]], missing: str) -> T:
    async with _reading(source) as session:
        found = await session.scalar(statement)
    assert found is not None, missing
    return found


async def _count(source: Stack | AsyncEngine, statement: Select[tuple[int]]) -> int:
    async with _reading(source) as session:
        return int(await session.scalar(statement) or 0)


# --- catalog ------------------------------------------------------------------------------


async def product_id(stack: Stack, sku: str) -> int:
    return await _one(stack, select(Product.id).where(Product.sku == sku), f"no product {sku}")


async def supplier_ids(stack: Stack) -> dict[str, int]:
    """Supplier name -> id."""
    async with _reading(stack) as session:
        return dict((await session.execute(select(Supplier.name, Supplier.id))).tuples().all())


async def active_supplier_sku(stack: Stack, sku: str) -> str:
    """The supplier SKU of the offer `sku` is sold from now ('' if none)."""
    async with _reading(stack) as session:
        return (
            await session.scalar(
                select(Offer.supplier_sku)
                .join(Product, Product.active_offer_id == Offer.id)
                .where(Product.sku == sku)
            )
            or ""
        )


async def product(stack: Stack, sku: str) -> Product:
    return await _one(stack, select(Product).where(Product.sku == sku), f"no product {sku}")


async def product_count(stack: Stack) -> int:
    return await _count(stack, select(func.count()).select_from(Product))


async def offer(stack: Stack, supplier_sku: str) -> Offer:
    statement = select(Offer).where(Offer.supplier_sku == supplier_sku)
    return await _one(stack, statement, f"no offer {supplier_sku}")


async def last_seen(stack: Stack, supplier_sku: str) -> datetime | None:
    """When the supplier last listed the offer (None: never)."""
    async with _reading(stack) as session:
        return await session.scalar(
            select(offer_last_seen()).where(Offer.supplier_sku == supplier_sku)
        )


async def kept_forecast_times(stack: Stack) -> dict[str, datetime]:
    """SKU -> when its kept (at or near risk) forecast was computed."""
    async with _reading(stack) as session:
        rows = await session.execute(
            select(Product.sku, ProductForecast.computed_at).join(
                Product, Product.id == ProductForecast.product_id
            )
        )
        return {sku: at for sku, at in rows}


async def offers_at_zero(stack: Stack) -> int:
    return await _count(stack, select(func.count()).where(Offer.quantity == 0))


async def stock_history(stack: Stack, supplier_sku: str) -> list[tuple[int | None, int | None]]:
    """The offer's recorded stock changes: (previous quantity, quantity), oldest first."""
    async with _reading(stack) as session:
        rows = await session.execute(
            select(StockObservation.previous_quantity, StockObservation.quantity)
            .join(Offer, Offer.id == StockObservation.offer_id)
            .where(Offer.supplier_sku == supplier_sku)
            .order_by(StockObservation.id)
        )
        return [(previous, quantity) for previous, quantity in rows.tuples()]


async def catalog_changes_logged(stack: Stack) -> int:
    """Rows in the catalog change log (the typo index's feed)."""
    return await _count(stack, select(func.count()).select_from(CatalogChange))


async def catalog_changes_since(stack: Stack, change_id: int) -> list[int]:
    """The products the change log names after `change_id`, in order."""
    async with _reading(stack) as session:
        statement = select(CatalogChange.product_id).where(CatalogChange.id > change_id)
        return list(await session.scalars(statement.order_by(CatalogChange.id)))


async def product_triggers(stack: Stack) -> list[str]:
    """The names of the triggers on `products`, sorted."""
    async with _reading(stack) as session:
        if stack.runtime.engine.dialect.name == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
        else:
            query = (
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'products'::regclass "
                "AND NOT tgisinternal ORDER BY tgname"
            )
        return list(await session.scalars(text(query)))


# --- orders -------------------------------------------------------------------------------


class OrderRow(NamedTuple):
    source: str
    customer_name: str
    customer_email: str
    ordered_at: datetime
    status: str
    lines: list[tuple[str, int, int]]  # (sku, quantity, backordered), sorted


async def orders_by_source(stack: Stack) -> dict[tuple[str, str], OrderRow]:
    """Every order with its lines, by (source, the source's order id)."""
    async with _reading(stack) as session:
        rows = await session.scalars(
            select(Order).options(selectinload(Order.lines).selectinload(OrderLine.product))
        )
        return {
            (o.source, o.external_id): OrderRow(
                o.source,
                o.customer_name,
                o.customer_email,
                o.ordered_at,
                o.status,
                sorted((line.product.sku, line.quantity, line.backordered) for line in o.lines),
            )
            for o in rows
        }


async def order_rows(stack: Stack) -> dict[str, OrderRow]:
    """Every order with its lines, by the store's order id (for tests with one source)."""
    rows = await orders_by_source(stack)
    by_id = {external_id: row for (_, external_id), row in rows.items()}
    assert len(by_id) == len(rows), f"one order id in several sources: {sorted(rows)}"
    return by_id


async def order_row_ids(stack: Stack) -> dict[str, int]:
    """Order id -> the row's own id: whether a re-import updated rows in place."""
    async with _reading(stack) as session:
        return dict((await session.execute(select(Order.external_id, Order.id))).tuples().all())


async def backordered_by_order(stack: Stack, sku: str) -> dict[str, int]:
    """Order id -> units of `sku` it waits for."""
    async with _reading(stack) as session:
        rows = await session.execute(
            select(Order.external_id, OrderLine.backordered)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .join(Product, Product.id == OrderLine.product_id)
            .where(Product.sku == sku)
        )
        return dict(rows.tuples().all())


async def expected_shippers(stack: Stack) -> set[int]:
    """The suppliers order lines expect to ship them."""
    async with _reading(stack) as session:
        return set(await session.scalars(select(OrderLine.supplier_id)))


async def order_outcomes(session: AsyncSession) -> list[tuple[str, str, str | None, int]]:
    """(order id, status, who closed it, units backordered) per line, by order id."""
    result = await session.execute(
        select(Order.external_id, Order.status, Order.close_reason, OrderLine.backordered)
        .join(OrderLine)
        .order_by(Order.external_id)
    )
    return [tuple(row) for row in result.all()]  # type: ignore[misc]


# --- alerts -------------------------------------------------------------------------------


async def product_alerts(stack: Stack) -> list[Alert]:
    """Product alerts (one per product: backorders are one of its states) and groups."""
    async with _reading(stack) as session:
        return list(
            await session.scalars(
                select(Alert)
                .where(Alert.kind.in_(PRODUCT_PROBLEMS) | Alert.is_group.is_(True))
                .order_by(Alert.id)
            )
        )


async def alerts(source: Stack | AsyncEngine) -> list[Alert]:
    """Every alert (groups included), oldest first."""
    async with _reading(source) as session:
        return list(await session.scalars(select(Alert).order_by(Alert.id)))


async def only_alert(source: Stack | AsyncEngine) -> Alert:
    found = await alerts(source)
    assert len(found) == 1, f"{len(found)} alerts"
    return found[0]


async def acknowledged_count(stack: Stack) -> int:
    return await _count(stack, select(func.count()).where(Alert.state == AlertState.ACKNOWLEDGED))


async def slack_holds(stack: Stack) -> list[SlackHold]:
    """Slack methods held back after a Retry-After, per channel."""
    async with _reading(stack) as session:
        return list(await session.scalars(select(SlackHold)))


async def alerts_of_kind(stack: Stack, kind: AlertKind) -> list[Alert]:
    async with _reading(stack) as session:
        return list(
            await session.scalars(select(Alert).where(Alert.kind == kind).order_by(Alert.id))
        )


async def latest_alert(stack: Stack, kind: AlertKind) -> Alert | None:
    found = await alerts_of_kind(stack, kind)
    return found[-1] if found else None


async def alert_states(stack: Stack) -> list[AlertState]:
    """Every alert's state (groups included), oldest first."""
    async with _reading(stack) as session:
        return list(await session.scalars(select(Alert.state).order_by(Alert.id)))


async def backordered_units(stack: Stack) -> dict[str, int]:
    """Units backordered, by SKU, as the open product alerts say."""
    async with _reading(stack) as session:
        rows = await session.execute(
            select(Product.sku, Alert.details)
            .join(Product, Product.id == Alert.product_id)
            .where(Alert.state != AlertState.RESOLVED, Alert.is_group.is_(False))
        )
        return {sku: details["units"] for sku, details in rows.tuples() if details.get("units")}


# --- audit, substitutes, store, webhooks, forecasts ---------------------------------------


async def audit_actions(stack: Stack) -> list[str]:
    """What the audit log recorded, oldest first."""
    async with _reading(stack) as session:
        return list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


async def audit_entries(stack: Stack) -> list[AuditEntry]:
    """The audit log, oldest first."""
    async with _reading(stack) as session:
        return list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


async def customer_notifications(source: Stack | AsyncEngine) -> list[CustomerNotification]:
    """Customer emails queued or sent, oldest first."""
    async with _reading(source) as session:
        return list(
            await session.scalars(select(CustomerNotification).order_by(CustomerNotification.id))
        )


async def substitutes(stack: Stack) -> list[tuple[str, str]]:
    """Substitutes chosen: (note, who chose it)."""
    async with _reading(stack) as session:
        chosen = await session.scalars(select(Substitution).order_by(Substitution.id))
        return [(s.note, s.created_by) for s in chosen]


async def store_inventory(stack: Stack) -> dict[str, StoreInventory]:
    """What the bot last pushed (or means to push) to the store, by SKU."""
    async with _reading(stack) as session:
        rows = await session.execute(
            select(Product.sku, StoreInventory).join(
                Product, Product.id == StoreInventory.product_id
            )
        )
        return dict(rows.tuples().all())


async def webhook_deliveries(stack: Stack) -> list[tuple[str, str, str]]:
    """Webhook deliveries recorded: (delivery id, source, topic)."""
    async with _reading(stack) as session:
        found = await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))
        return [(d.id, d.source, d.topic) for d in found]


async def deliveries_and_alerts(stack: Stack) -> tuple[int, int]:
    """(webhook deliveries recorded, alerts raised)."""
    return (
        await _count(stack, select(func.count()).select_from(WebhookDelivery)),
        await _count(stack, select(func.count()).select_from(Alert)),
    )


async def kept_forecasts(session: AsyncSession) -> list[tuple[date, float, str]]:
    """The daily forecasts recorded: (day, units, method)."""
    rows = await session.execute(
        select(DemandForecast.day, DemandForecast.units, DemandForecast.method)
    )
    return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def product_ids(session: AsyncSession) -> dict[str, int]:
    """SKU -> product id."""
    return dict((await session.execute(select(Product.sku, Product.id))).tuples().all())


# --- arranging what no feed or command can say --------------------------------------------


async def arrange_offer_stock(stack: Stack, supplier_sku: str, **values: Any) -> None:
    """Set an offer's stock fields behind the bot's back, as a set-based poll update or a
    supplier without a feed here would leave them."""
    async with stack.runtime.writes() as session, session.begin():
        offer = await session.scalar(select(Offer).where(Offer.supplier_sku == supplier_sku))
        assert offer is not None, f"no offer {supplier_sku}"
        for name, value in values.items():
            setattr(offer, name, value)


async def arrange_product_deleted(stack: Stack, sku: str) -> None:
    """`sku` deleted behind the import's back (by hand, or by another tool)."""
    async with stack.runtime.writes() as session, session.begin():
        await session.execute(delete(Product).where(Product.sku == sku))


async def arrange_broken_table(stack: Stack, table: str) -> None:
    """Drop `table`, so that whatever writes it fails as a bug would."""
    async with stack.runtime.writes() as session, session.begin():
        await session.execute(text(f"DROP TABLE {table}"))


async def backorder_alert(stack: Stack) -> Alert | None:
    """The latest backorder alert."""
    return await latest_alert(stack, AlertKind.BACKORDER)


async def order_choices(stack: Stack) -> list[tuple[str, str]]:
    """(order number, choice) of every recorded customer choice, in order of choosing."""
    async with _reading(stack) as session:
        rows = await session.execute(
            select(Order.external_id, OrderChoice.choice)
            .join(Order, Order.id == OrderChoice.order_id)
            .order_by(OrderChoice.chosen_at, OrderChoice.id)
        )
        return [(number, choice) for number, choice in rows.tuples()]


async def arrange_backoff_passed(stack: Stack) -> None:
    """Every alert's delivery back-off over, as if its time had come."""
    async with stack.runtime.writes() as session, session.begin():
        await session.execute(update(Alert).values(next_delivery_at=None))


async def arrange_holds_passed(stack: Stack) -> None:
    """Every Retry-After hold over, as if its seconds had passed."""
    async with stack.runtime.writes() as session, session.begin():
        await session.execute(update(SlackHold).values(not_before=utcnow()))


async def restock_slip_count(stack: Stack, supplier: str, since: datetime) -> int:
    """The supplier's slipped restock dates, as the scorecard reads them."""
    async with _reading(stack) as session:
        supplier_id = (await supplier_ids(stack))[supplier]
        return await restock_slips(session, supplier_id, since)


# --- the daily picture (review, scorecards, App Home) --------------------------------------


async def poll_outcomes(stack: Stack, supplier: str) -> list[bool]:
    """Whether each recorded poll of `supplier` succeeded, oldest first."""
    async with _reading(stack) as session:
        rows = await session.scalars(
            select(SupplierPoll.ok)
            .join(Supplier, Supplier.id == SupplierPoll.supplier_id)
            .where(Supplier.name == supplier)
            .order_by(SupplierPoll.at, SupplierPoll.id)
        )
        return list(rows)


async def arrange_stock_history(
    stack: Stack,
    supplier_sku: str,
    readings: list[tuple[datetime, int, Decimal]],
    **offer_values: Any,
) -> None:
    """Record an offer's past readings (time, quantity, price) as polls would have, and
    set its current fields (`offer_values`) to match."""
    async with stack.runtime.writes() as session, session.begin():
        offer = await session.scalar(select(Offer).where(Offer.supplier_sku == supplier_sku))
        assert offer is not None, f"no offer {supplier_sku}"
        previous = None
        for at, quantity, price in readings:
            session.add(
                StockObservation(
                    offer_id=offer.id,
                    quantity=quantity,
                    previous_quantity=previous,
                    availability="in_stock" if quantity else "out_of_stock",
                    price=price,
                    observed_at=at,
                )
            )
            previous = quantity
        for name, value in offer_values.items():
            setattr(offer, name, value)


async def arrange_home_viewer(
    stack: Stack, user_id: str, opened_at: datetime, published_at: datetime
) -> None:
    """Someone who opened the Home tab at `opened_at`, last shown it at `published_at`."""
    async with stack.runtime.writes() as session, session.begin():
        await session.merge(
            HomeView(user_id=user_id, opened_at=opened_at, published_at=published_at)
        )


async def review_days(stack: Stack) -> list[date]:
    """The dates a daily review was claimed (posted or printed) for."""
    async with _reading(stack) as session:
        return list(await session.scalars(select(DailyReview.day).order_by(DailyReview.day)))


async def arrange_snoozes_due(stack: Stack) -> None:
    """Every snooze ended a second ago, as if its hours had passed."""
    async with stack.runtime.writes() as session, session.begin():
        await session.execute(
            update(Alert)
            .where(Alert.snoozed_until.is_not(None))
            .values(snoozed_until=utcnow() - timedelta(seconds=1))
        )


async def arrange_order(
    stack: Stack,
    number: str,
    name: str,
    email: str,
    sku: str = "MUG-1",
    quantity: int = 1,
    backordered: int = 1,
    status: OrderStatus = OrderStatus.OPEN,
) -> None:
    """An order of `quantity` x `sku`, `backordered` of them waiting, placed now: a state
    no import gives directly (allocation decides what is backordered)."""
    product = await product_id(stack, sku)
    line = OrderLine(product_id=product, quantity=quantity, backordered=backordered)
    await _add(
        stack,
        Order(
            external_id=number,
            customer_name=name,
            customer_email=email,
            ordered_at=utcnow(),
            status=status,
            lines=[line],
        ),
    )


async def arrange_substitute(
    stack: Stack, sku: str, substitute_sku: str, alert_id: int, chosen_by: str
) -> None:
    """`substitute_sku` chosen for `sku` on the alert, as the Substitute dialog records it."""
    product, substitute = await product_id(stack, sku), await product_id(stack, substitute_sku)
    chosen = Substitution(
        product_id=product,
        substitute_id=substitute,
        alert_id=alert_id,
        created_by=chosen_by,
        created_at=utcnow(),
    )
    await _add(stack, chosen)


async def _add(stack: Stack, row: object) -> None:
    async with stack.runtime.writes() as session, session.begin():
        session.add(row)


async def arrange_stock_readings(
    session: AsyncSession,
    sku: str,
    readings: Sequence[tuple[datetime, int | None, str]],
    seen: datetime,
) -> None:
    """The supplier's readings of `sku` (time, quantity, availability) recorded as a poll
    records each change, at chosen times; the offer holds the last one, seen at `seen`."""
    offer_id = await session.scalar(select(Product.active_offer_id).where(Product.sku == sku))
    assert offer_id is not None, f"no active offer for {sku}"
    previous = None
    for moment, quantity, availability in readings:
        session.add(
            StockObservation(
                offer_id=offer_id,
                quantity=quantity,
                previous_quantity=previous,
                availability=availability,
                observed_at=moment,
            )
        )
        previous = quantity
    _, quantity, availability = readings[-1]
    await session.execute(
        update(Offer)
        .where(Offer.id == offer_id)
        .values(quantity=quantity, availability=availability, listed=False, last_seen_at=seen)
    )


# --- notes on store orders, and cancels in the store ----------------------------------------


class StoreNoteRow(NamedTuple):
    order: str  # the store's order id
    store: str
    event: str
    state: str
    attempts: int
    tags: list[str]
    line: str


async def store_notes(stack: Stack) -> list[StoreNoteRow]:
    """Every note queued for a store's order, oldest first."""
    async with _reading(stack) as session:
        rows = await session.execute(
            select(Order.external_id, StoreNote)
            .join(Order, Order.id == StoreNote.order_id)
            .order_by(StoreNote.id)
        )
        return [
            StoreNoteRow(number, n.store, n.event, n.state, n.attempts, list(n.tags), n.line)
            for number, n in rows.tuples()
        ]


async def arrange_store_notes_due(stack: Stack) -> None:
    """Every note's retry wait over, as if its minutes had passed."""
    async with stack.runtime.writes() as session, session.begin():
        await session.execute(update(StoreNote).values(next_attempt_at=None))


async def arrange_store_notes_claimed(stack: Stack, holder: str) -> None:
    """Every pending note claimed by the process `holder` (e.g. one that was killed)."""
    async with stack.runtime.writes() as session, session.begin():
        await session.execute(update(StoreNote).values(claimed_by=holder))


async def arrange_store_notes_queued_at(stack: Stack, when: datetime) -> None:
    """Every note queued at `when`."""
    async with stack.runtime.writes() as session, session.begin():
        await session.execute(update(StoreNote).values(created_at=when))


async def arrange_cancel_claimed(stack: Stack, number: str, holder: str) -> None:
    """Staff's cancel of order `number` claimed by the process `holder`, as if it were
    calling the store now (a killed process leaves such a claim behind)."""
    async with stack.runtime.writes() as session, session.begin():
        order = await session.scalar(select(Order.id).where(Order.external_id == number))
        await session.execute(
            update(OrderChoice)
            .where(OrderChoice.order_id == order)
            .values(
                cancel_started_at=utcnow(), cancel_started_by="U0GONE", cancel_claimed_by=holder
            )
        )
