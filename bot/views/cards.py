"""Read models: what an alert or a product looks like to a person.

Services fill these plain dataclasses from the database; `bot.slack` turns them
into Block Kit or console text. Nothing here knows about Slack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from bot.core.backorders import OrderStats, order_stats, waiting_totals
from bot.core.fixes.choices import (
    CancelRequest,
    ChoiceCounts,
    cancel_requests,
    choice_counts,
)
from bot.core.fixes.customer_notices import FollowUpsDue, follow_ups_due
from bot.core.fixes.substitution import current_substitute
from bot.core.fixes.switching import SwitchOption, latest_switch, switch_options, switch_text
from bot.core.forecast import ForecastResult
from bot.core.problems.states import severity
from bot.db.models import Alert, AlertKind, AlertState, Offer, Product, Supplier

# As many as a message section can show (the rest: "Open list").
MAX_GROUP_MEMBERS_SHOWN = 60


@dataclass(frozen=True, slots=True)
class OfferLine:
    supplier: str
    supplier_sku: str
    quantity: int | None
    availability: str
    price: Decimal | None
    restock_date: date | None
    is_active: bool
    priority: int


@dataclass(frozen=True, slots=True)
class ProductCard:
    sku: str
    title: str
    threshold: int
    offers: list[OfferLine]
    open_alerts: list[tuple[int, str]] = field(default_factory=list)
    product_id: int | None = None
    # What the forecast says (`/stock` asks for it; alert cards leave it out).
    forecast: ForecastResult | None = None

    @property
    def active(self) -> OfferLine | None:
        return next((offer for offer in self.offers if offer.is_active), None)


@dataclass(frozen=True, slots=True)
class MemberLine:
    """One product of a grouped message (a storm): its problem and what waits for it."""

    sku: str
    title: str
    kind: str
    quantity: int | None
    availability: str
    waiting_orders: int
    waiting_units: int
    resolved: bool


@dataclass(frozen=True, slots=True)
class SwitchLine:
    text: str
    audit_id: int
    undoable: bool


@dataclass(slots=True)
class GroupCard:
    """A grouped alert's products: the first few shown, how many in all and open, the
    open ones by kind, and what waits for them all."""

    members: list[MemberLine] = field(default_factory=list)
    total: int = 0
    open: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    waiting_orders: int = 0
    waiting_units: int = 0


@dataclass(frozen=True, slots=True)
class AlertCard:
    alert_id: int
    kind: str
    state: str
    summary: str
    opened_at: datetime
    changed_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    acknowledged_by: str | None
    snoozed_by: str | None
    snoozed_until: datetime | None
    supplier: str | None
    product: ProductCard | None = None
    stock_changed_at: datetime | None = None
    # A grouped alert's products (none for an alert about one product).
    group: GroupCard = field(default_factory=GroupCard)
    orders: OrderStats | None = None
    switch_options: list[SwitchOption] = field(default_factory=list)
    last_switch: SwitchLine | None = None
    substitute: tuple[str, str] | None = None  # (sku, title)
    # What the waiting customers chose on their choice links, and who asked to cancel.
    choices: ChoiceCounts | None = None
    cancel_requests: list[CancelRequest] = field(default_factory=list)
    # An at-risk alert: why the forecast says it runs out (Slack mrkdwn, escaped).
    forecast_why: str | None = None
    # Customers already emailed who are due news: a new restock date, or "on its way".
    follow_ups: FollowUpsDue = field(default_factory=FollowUpsDue)

    @property
    def best_switch(self) -> SwitchOption | None:
        in_stock = [option for option in self.switch_options if option.in_stock]
        if self.kind == AlertKind.AT_RISK and in_stock:
            # Switching early: to the alternative with the most stock, so the most cover.
            return max(in_stock, key=lambda option: option.quantity or 0)
        return next(iter(in_stock), None)

    @property
    def is_group(self) -> bool:
        return self.group.total > 0

    @property
    def is_resolved(self) -> bool:
        return self.state == AlertState.RESOLVED


def _offer_line(offer: Offer, active_offer_id: int | None) -> OfferLine:
    return OfferLine(
        supplier=offer.supplier.name,
        supplier_sku=offer.supplier_sku,
        quantity=offer.quantity,
        availability=offer.availability,
        price=offer.price,
        restock_date=offer.restock_date,
        is_active=offer.id == active_offer_id,
        priority=offer.priority,
    )


async def product_card(session: AsyncSession, product: Product) -> ProductCard:
    offers = (
        await session.scalars(
            select(Offer)
            .where(Offer.product_id == product.id)
            .options(joinedload(Offer.supplier))  # in the same query: one round trip
            .order_by(Offer.priority, Offer.id)
        )
    ).all()
    open_alerts = await session.execute(
        select(Alert.id, Alert.kind).where(
            Alert.product_id == product.id, Alert.state != AlertState.RESOLVED
        )
    )
    return ProductCard(
        sku=product.sku,
        title=product.title,
        threshold=product.low_stock_threshold,
        offers=[_offer_line(offer, product.active_offer_id) for offer in offers],
        open_alerts=list(open_alerts.tuples()),
        product_id=product.id,
    )


async def alert_card(session: AsyncSession, alert: Alert) -> AlertCard:
    supplier = await session.get(Supplier, alert.supplier_id) if alert.supplier_id else None
    product = await session.get(Product, alert.product_id) if alert.product_id else None
    card_product = await product_card(session, product) if product else None
    stock_changed_at = None
    if product is not None and product.active_offer_id is not None:
        stock_changed_at = await session.scalar(
            select(Offer.changed_at).where(Offer.id == product.active_offer_id)
        )
    group = await _group(session, alert) if alert.is_group else GroupCard()
    orders = options = last_switch = substitute = choices = None
    cancels: list[CancelRequest] = []
    follow_ups = FollowUpsDue()
    if product is not None:
        choices = await choice_counts(session, product.id)
        cancels = await cancel_requests(session, product.id)
        follow_ups = await follow_ups_due(session, product.id)
        orders = await order_stats(session, product.id)
        options = await switch_options(session, product.id)
        last_switch = await _switch_line(session, product.id, alert.opened_at)
        chosen = await current_substitute(session, product.id)
        substitute = (chosen.sku, chosen.title) if chosen else None
    return AlertCard(
        alert_id=alert.id,
        kind=alert.kind,
        state=alert.state,
        summary=alert.summary,
        opened_at=alert.opened_at,
        changed_at=alert.changed_at,
        resolved_at=alert.resolved_at,
        resolution=alert.resolution,
        acknowledged_by=alert.acknowledged_by,
        snoozed_by=alert.snoozed_by,
        snoozed_until=alert.snoozed_until,
        supplier=supplier.name if supplier else None,
        product=card_product,
        stock_changed_at=stock_changed_at,
        group=group,
        orders=orders,
        switch_options=options or [],
        last_switch=last_switch,
        substitute=substitute,
        choices=choices,
        cancel_requests=cancels,
        forecast_why=(alert.details or {}).get("why") if alert.kind == AlertKind.AT_RISK else None,
        follow_ups=follow_ups,
    )


async def group_members(
    session: AsyncSession, group_id: int, limit: int = MAX_GROUP_MEMBERS_SHOWN
) -> list[MemberLine]:
    """A group's products, open ones first, most severe first; each product once."""
    waiting = waiting_totals().subquery()
    units = func.coalesce(waiting.c.units, 0)
    rows = await session.execute(
        select(
            Product.sku,
            Product.title,
            Alert.kind,
            Offer.quantity,
            Offer.availability,
            func.coalesce(waiting.c.orders, 0),
            units,
            Alert.state,
        )
        .join(Product, Product.id == Alert.product_id)
        .outerjoin(Offer, Offer.id == Product.active_offer_id)
        .outerjoin(waiting, waiting.c.product_id == Alert.product_id)
        .where(Alert.group_id == group_id)
        .order_by(
            Alert.state == AlertState.RESOLVED,
            severity(Alert.kind, units),
            units.desc(),
            Product.sku,
        )
        .limit(limit)
    )
    return [
        MemberLine(
            sku,
            title,
            kind,
            quantity,
            availability or "unknown",
            int(orders),
            int(units_waiting),
            state == AlertState.RESOLVED,
        )
        for sku, title, kind, quantity, availability, orders, units_waiting, state in rows
    ]


async def _group(session: AsyncSession, alert: Alert) -> GroupCard:
    group = GroupCard(members=await group_members(session, alert.id))
    group.total = await session.scalar(select(func.count()).where(Alert.group_id == alert.id)) or 0
    open_members = select(Alert.product_id).where(
        Alert.group_id == alert.id, Alert.state != AlertState.RESOLVED
    )
    for kind, count in await session.execute(
        select(Alert.kind, func.count())
        .where(Alert.group_id == alert.id, Alert.state != AlertState.RESOLVED)
        .group_by(Alert.kind)
    ):
        group.kinds[kind] = count
    group.open = sum(group.kinds.values())
    waiting = waiting_totals().subquery()
    orders, units = (
        await session.execute(
            select(
                func.coalesce(func.sum(waiting.c.orders), 0),
                func.coalesce(func.sum(waiting.c.units), 0),
            ).where(waiting.c.product_id.in_(open_members.with_only_columns(Alert.product_id)))
        )
    ).one()
    group.waiting_orders, group.waiting_units = int(orders), int(units)
    return group


async def _switch_line(
    session: AsyncSession, product_id: int, since: datetime
) -> SwitchLine | None:
    entry = await latest_switch(session, product_id, since)
    if entry is None:
        return None
    return SwitchLine(switch_text(entry), entry.id, undoable=entry.action == "auto_switch")
