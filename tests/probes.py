"""The facts tests check that no Slack message or command output shows (ids, audit
trails, stored states), named as facts rather than tables: the one place tests read
the database directly. A few `arrange_*` helpers script what no feed can say."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.core.problems.restock_slips import restock_slips
from bot.core.problems.states import PRODUCT_PROBLEMS
from bot.db.models import (
    Alert,
    AlertKind,
    AlertState,
    AuditEntry,
    DailyReview,
    DemandForecast,
    HomeView,
    Offer,
    Order,
    OrderChoice,
    OrderLine,
    Product,
    SlackHold,
    StockObservation,
    StoreInventory,
    Substitution,
    Supplier,
    SupplierPoll,
    WebhookDelivery,
)
from bot.db.types import utcnow
from tests.helpers import Stack


@asynccontextmanager
async def _reading(stack: Stack) -> AsyncIterator[AsyncSession]:
    async with stack.runtime.sessions() as session:
        yield session


# --- catalog ------------------------------------------------------------------------------


async def product_id(stack: Stack, sku: str) -> int:
    async with _reading(stack) as session:
        found = await session.scalar(select(Product.id).where(Product.sku == sku))
    assert found is not None, f"no product {sku}"
    return found


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
    async with _reading(stack) as session:
        return (
            int(await session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0),
            int(await session.scalar(select(func.count()).select_from(Alert)) or 0),
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


async def arrange_slack_holds_passed(stack: Stack) -> None:
    """Every Retry-After Slack gave has passed."""
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
