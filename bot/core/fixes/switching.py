"""Switch a product to another supplier: by hand from Slack, or automatically.

A switch changes the product's active offer, is audited, re-evaluates the
product's alerts and backorders, and is idempotent: asking twice for the same
supplier switches once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.core import alerts
from bot.core.availability import STOCKOUT, is_stockout
from bot.core.problems.states import NAME_LIMIT
from bot.core.review.scorecard import Reliability, reliabilities
from bot.core.stock_changes import stock_changed
from bot.core.text import clip, escape, mention
from bot.db.models import Alert, AlertNote, AlertState, AuditEntry, Offer, Product
from bot.db.types import utcnow
from bot.errors import UserError

SWITCH_ACTIONS = ("switch_supplier", "auto_switch", "undo_switch")
# An alternative whose stock lasts this many days of our sales ranks as having enough.
ENOUGH_COVER_DAYS = 14.0


class SwitchRefused(UserError):
    """The switch would not help (no offer, no stock); nothing was changed."""


@dataclass(frozen=True, slots=True)
class SwitchOption:
    offer_id: int
    supplier: str
    quantity: int | None
    price: Decimal | None
    price_change_percent: float | None
    priority: int
    in_stock: bool
    # Days its stock lasts at our own sales rate; None when we sell none or it is not known.
    cover_days: float | None = None
    # The supplier's feed uptime and restock dates met over 30 days.
    reliability: Reliability = field(default_factory=Reliability)

    @property
    def enough_cover(self) -> bool:
        return self.cover_days is None or self.cover_days >= ENOUGH_COVER_DAYS


@dataclass(frozen=True, slots=True)
class SwitchResult:
    product_sku: str
    from_supplier: str | None
    to_supplier: str
    quantity: int | None
    changed: bool
    audit_id: int | None
    resolved_alerts: int = 0


def _in_stock(offer: Offer) -> bool:
    return not is_stockout(offer.availability) and offer.quantity is not None and offer.quantity > 0


def _change(price: Decimal | None, reference: Decimal | None) -> float | None:
    if price is None or reference is None or reference == 0:
        return None
    return float((price - reference) / reference * 100)


async def _product(session: AsyncSession, product_id: int, *, lock: bool = False) -> Product:
    query = (
        select(Product)
        .where(Product.id == product_id)
        .options(selectinload(Product.offers).selectinload(Offer.supplier))
    )
    # A switch locks the product row (PostgreSQL), so two clicks cannot both switch.
    product = await session.scalar(query.with_for_update() if lock else query)
    if product is None:
        raise SwitchRefused("That product no longer exists.")
    return product


def _rank(option: SwitchOption) -> tuple[object, ...]:
    """In stock first; then enough cover (short cover: the most first); then a reliable
    supplier (feed up, restock dates kept); then priority, then price."""
    short = not option.enough_cover
    return (
        not option.in_stock,
        short,
        -(option.cover_days or 0.0) if short else 0.0,
        not option.reliability.reliable,
        option.priority,
        option.price is None,
        option.price or 0,
    )


def _cover(offer: Offer, rate_per_day: float | None) -> float | None:
    if not rate_per_day or offer.quantity is None or not _in_stock(offer):
        return None
    return offer.quantity / rate_per_day


async def switch_options(
    session: AsyncSession, product_id: int, now: datetime | None = None
) -> list[SwitchOption]:
    """The product's other offers, best first (see `_rank`)."""
    now = now or utcnow()
    product = await _product(session, product_id)
    active = next((o for o in product.offers if o.id == product.active_offer_id), None)
    reference = active.price if active else None
    others = [o for o in product.offers if o.id != product.active_offer_id]
    rate: float | None = None
    reliability: dict[int, Reliability] = {}
    # Cover and reliability only order in-stock alternatives among themselves: with one
    # or none, there is nothing to rank (and no forecast to compute for each alert card).
    if sum(_in_stock(o) for o in others) > 1:
        # Imported here: numpy and the forecast engine stay out of start-up.
        from bot.core.forecast import forecast_for

        forecast = await forecast_for(session, product_id, now)
        rate = forecast.rate_per_day if forecast is not None else None
        reliability = await reliabilities(session, sorted({o.supplier_id for o in others}), now)
    options = [
        SwitchOption(
            offer_id=o.id,
            supplier=o.supplier.name,
            quantity=o.quantity,
            price=o.price,
            price_change_percent=_change(o.price, reference),
            priority=o.priority,
            in_stock=_in_stock(o),
            cover_days=_cover(o, rate),
            reliability=reliability.get(o.supplier_id, Reliability()),
        )
        for o in others
    ]
    return sorted(options, key=_rank)


async def best_alternative(session: AsyncSession, product_id: int) -> SwitchOption | None:
    """The in-stock alternative a person would pick: enough cover, a reliable supplier,
    then higher priority, then lower price."""
    options = await switch_options(session, product_id)
    return next((o for o in options if o.in_stock), None)


async def switch_supplier(
    session: AsyncSession,
    *,
    product_id: int,
    actor: str,
    channel: str,
    offer_id: int | None = None,
    supplier_name: str | None = None,
    alert_id: int | None = None,
    reason: str = "",
    action: str = "switch_supplier",
    require_stock: bool = True,
) -> SwitchResult:
    """Make another supplier's offer the active one; refuse (changing nothing) when
    that supplier has no offer or no stock for the product."""
    product = await _product(session, product_id, lock=True)
    target = next(
        (
            o
            for o in product.offers
            if (offer_id is not None and o.id == offer_id)
            or (
                supplier_name is not None and o.supplier.name.casefold() == supplier_name.casefold()
            )
        ),
        None,
    )
    if target is None:
        who = supplier_name or "That supplier"
        known = ", ".join(o.supplier.name for o in product.offers) or "none"
        raise SwitchRefused(
            f"{who} has no offer for {product.sku}, so nothing was changed. "
            f"Suppliers of {product.sku}: {known}."
        )
    active = next((o for o in product.offers if o.id == product.active_offer_id), None)
    if target.id == product.active_offer_id:
        # A double click, a Slack retry or a repeated command: already done.
        return SwitchResult(
            product.sku,
            target.supplier.name,
            target.supplier.name,
            target.quantity,
            changed=False,
            audit_id=None,
        )
    if require_stock and not _in_stock(target):
        stock = "unknown stock" if target.quantity is None else f"{target.quantity} in stock"
        raise SwitchRefused(
            f"{target.supplier.name} has no stock of {product.sku} ({stock}), so nothing was "
            "changed. Pick a supplier with stock."
        )

    now = utcnow()
    product.active_offer_id = target.id
    alert = await session.get(Alert, alert_id) if alert_id else None
    entry = AuditEntry(
        actor=actor,
        action=action,
        alert_id=alert.id if alert else None,
        product_id=product.id,
        at=now,
        details={
            "from_offer_id": active.id if active else None,
            "from_supplier": active.supplier.name if active else None,
            "to_offer_id": target.id,
            "to_supplier": target.supplier.name,
            "reason": reason,
        },
    )
    session.add(entry)
    await session.flush()

    resolved = await _reevaluate(session, product, channel, now, entry)
    return SwitchResult(
        product.sku,
        active.supplier.name if active else None,
        target.supplier.name,
        target.quantity,
        changed=True,
        audit_id=entry.id,
        resolved_alerts=resolved,
    )


def _name(supplier: object) -> str:
    """A supplier's name as notes show it: outside text, escaped and kept short."""
    return escape(clip(str(supplier), NAME_LIMIT))


def _by(entry: AuditEntry) -> str:
    return "automatically" if entry.action == "auto_switch" else f"by {mention(entry.actor)}"


def switch_text(entry: AuditEntry) -> str:
    """ "Switched from A to B by @user" as the alert and its thread say it (Slack mrkdwn:
    supplier names escaped, the person a real mention)."""
    details = entry.details
    to = _name(details["to_supplier"])
    if entry.action == "undo_switch":
        return f"Switch undone {_by(entry)}: back to {to}."
    source = f" from {_name(details['from_supplier'])}" if details.get("from_supplier") else ""
    why = f" ({escape(str(details['reason']))})" if details.get("reason") else ""
    return f"Switched{source} to {to} {_by(entry)}{why}."


def _switch_resolution(entry: AuditEntry) -> str:
    """How a switch ended an alert, after the SKU: "switched to Globex by @pat"."""
    to = _name(entry.details["to_supplier"])
    if entry.action == "undo_switch":
        return f"back on {to} (switch undone {_by(entry)})"
    return f"switched to {to} {_by(entry)}"


async def _reevaluate(
    session: AsyncSession, product: Product, channel: str, now: datetime, entry: AuditEntry
) -> int:
    """The product's alert, backorders and stores follow the new active offer; the
    switch is said in the alert's thread, and is how it ended when it resolves it."""
    open_alerts = (
        await session.scalars(
            select(Alert).where(Alert.product_id == product.id, Alert.state != AlertState.RESOLVED)
        )
    ).all()
    # One product: nothing to group.
    await stock_changed(session, {product.id}, channel=channel, now=now)
    note = switch_text(entry)
    resolved = 0
    for alert in open_alerts:  # the same objects stock_changed just changed
        if alert.state == AlertState.RESOLVED:
            resolved += 1
            alert.resolution = _switch_resolution(entry)
        alerts.touch(alert, now)
        target = alert.group_id or alert.id
        session.add(AlertNote(alert_id=target, text=note, created_at=now))
    return resolved


async def latest_switch(
    session: AsyncSession, product_id: int, since: datetime
) -> AuditEntry | None:
    return await session.scalar(
        select(AuditEntry)
        .where(
            AuditEntry.product_id == product_id,
            AuditEntry.action.in_(SWITCH_ACTIONS),
            AuditEntry.at >= since,
        )
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(1)
    )


async def undo_switch(
    session: AsyncSession, *, audit_id: int, actor: str, channel: str
) -> SwitchResult:
    """Switch back to the supplier an automatic switch moved away from."""
    entry = await session.get(AuditEntry, audit_id)
    if entry is None or entry.action != "auto_switch" or entry.product_id is None:
        raise SwitchRefused("That switch cannot be undone from here.")
    undone = await session.scalar(
        select(func.count()).where(
            AuditEntry.action == "undo_switch",
            AuditEntry.product_id == entry.product_id,
            AuditEntry.at >= entry.at,
        )
    )
    if undone:
        raise SwitchRefused("That switch was already undone.")
    from_offer = entry.details.get("from_offer_id")
    if from_offer is None:
        raise SwitchRefused("There is no earlier supplier to go back to.")
    return await switch_supplier(
        session,
        product_id=entry.product_id,
        actor=actor,
        channel=channel,
        offer_id=from_offer,
        reason="undo of the automatic switch",
        action="undo_switch",
        require_stock=False,
    )


async def auto_switch(
    session: AsyncSession,
    *,
    supplier_id: int,
    max_price_increase_percent: float,
    channel: str,
) -> list[SwitchResult]:
    """After a poll: move products whose active offer ran out to an in-stock
    alternative within the allowed price increase, and say what was done."""
    out = (
        await session.scalars(
            select(Product.id)
            .join(Offer, Offer.id == Product.active_offer_id)
            .where(
                Offer.supplier_id == supplier_id,
                (Offer.quantity == 0) | Offer.availability.in_(STOCKOUT),
            )
        )
    ).all()
    results = []
    for product_id in out:
        option = await best_alternative(session, product_id)
        if option is None:
            continue
        change = option.price_change_percent
        if change is not None and change > max_price_increase_percent:
            continue
        alert_id = await session.scalar(
            select(Alert.id).where(
                Alert.product_id == product_id, Alert.state != AlertState.RESOLVED
            )
        )
        results.append(
            await switch_supplier(
                session,
                product_id=product_id,
                actor=alerts.SYSTEM_ACTOR,
                channel=channel,
                offer_id=option.offer_id,
                alert_id=alert_id,
                reason="the active supplier ran out"
                + (f"; price {change:+.0f}%" if change is not None else ""),
                action="auto_switch",
            )
        )
    return results
