"""Offer customers a substitute product while theirs is unavailable."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import alerts
from bot.core.availability import STOCKOUT
from bot.core.backorders import order_stats
from bot.core.orders import open_order_ids
from bot.core.search import product_by_sku
from bot.core.text import escape, mention
from bot.db.models import Alert, AlertNote, AlertState, Offer, Product, Substitution
from bot.db.types import utcnow
from bot.errors import UserError

MAX_CHOICES = 100  # Slack's limit for options in one select menu


class SubstitutionRefused(UserError):
    """Not a usable substitute; nothing was recorded."""


@dataclass(frozen=True, slots=True)
class SubstituteChoice:
    sku: str
    title: str
    quantity: int
    price: Decimal | None
    # Units of the original product that open orders wait for (0: nobody waits).
    waiting: int = 0

    @property
    def covers(self) -> bool:
        """Its stock is enough for every unit waiting."""
        return self.quantity >= self.waiting


@dataclass(frozen=True, slots=True)
class SubstitutionResult:
    product_sku: str
    substitute_sku: str
    substitute_title: str
    orders: int
    changed: bool


def _in_stock() -> object:
    return (Offer.quantity > 0) & Offer.availability.not_in(STOCKOUT)


async def _waiting_units(session: AsyncSession, product_id: int | None) -> int:
    """Units open orders wait for: the backordered ones, else every open unit."""
    if product_id is None:
        return 0
    stats = await order_stats(session, product_id)
    return stats.backordered_units or stats.open_units


async def substitute_choices(
    session: AsyncSession, *, exclude_product_id: int | None, query: str = ""
) -> list[SubstituteChoice]:
    """In-stock catalog products matching the words typed, with stock and price: first
    those whose stock covers every unit waiting for the product, then the most stock."""
    waiting = await _waiting_units(session, exclude_product_id)
    covers = Offer.quantity >= waiting
    statement = (
        select(Product.sku, Product.title, Offer.quantity, Offer.price)
        .join(Offer, Offer.id == Product.active_offer_id)
        .where(_in_stock())  # type: ignore[arg-type]
        .order_by(
            case((covers, 0), else_=1),
            case((covers, 0), else_=Offer.quantity).desc(),
            Product.title,
            Product.sku,
        )
        .limit(MAX_CHOICES)
    )
    if exclude_product_id is not None:
        statement = statement.where(Product.id != exclude_product_id)
    for word in query.lower().split():
        statement = statement.where(
            or_(
                func.lower(Product.sku).contains(word, autoescape=True),
                func.lower(Product.title).contains(word, autoescape=True),
            )
        )
    return [
        SubstituteChoice(sku, title, quantity, price, waiting)
        for sku, title, quantity, price in await session.execute(statement)
    ]


async def choose_substitute(
    session: AsyncSession,
    *,
    product_id: int,
    substitute_sku: str,
    actor: str,
    note: str = "",
    alert_id: int | None = None,
) -> SubstitutionResult:
    """Record the substitute for the customers now waiting for `product_id`."""
    product = await session.get(Product, product_id)
    if product is None:
        raise SubstitutionRefused("That product no longer exists.")
    substitute = await product_by_sku(session, substitute_sku)
    if substitute is None:
        raise SubstitutionRefused(f"There is no product {substitute_sku!r} in the catalog.")
    if substitute.id == product.id:
        raise SubstitutionRefused("A product cannot substitute for itself: pick another one.")
    stock = await session.scalar(
        select(Offer.quantity).where(Offer.id == substitute.active_offer_id, _in_stock())  # type: ignore[arg-type]
    )
    if not stock:
        raise SubstitutionRefused(
            f"{substitute.sku} {substitute.title} is not in stock either: pick one with stock."
        )
    current = await current_substitution(session, product.id)
    if current is not None and current.substitute_id == substitute.id:
        # A double click or a retry: already recorded.
        return SubstitutionResult(
            product.sku, substitute.sku, substitute.title, len(current.order_ids), changed=False
        )
    if current is not None:
        current.active = False
    order_ids = await open_order_ids(session, product.id)
    now = utcnow()
    alert = await _open_alert(session, product.id, alert_id)
    session.add(
        Substitution(
            product_id=product.id,
            substitute_id=substitute.id,
            alert_id=alert.id if alert else None,
            note=note.strip(),
            created_by=actor,
            created_at=now,
            order_ids=order_ids,
            active=True,
        )
    )
    alerts.audit(
        session,
        actor,
        "substitute_product",
        alert,
        product_id=product.id,
        substitute=substitute.sku,
        orders=order_ids,
        note=note.strip(),
    )
    if alert is not None:
        alerts.touch(alert, now)
        session.add(
            AlertNote(
                alert_id=alert.group_id or alert.id,
                text=f"Substitute chosen by {mention(actor)}: `{escape(substitute.sku)}` "
                f"{escape(substitute.title)} ({stock} in stock), for {len(order_ids)} "
                "waiting order(s).",
                created_at=now,
            )
        )
    await session.flush()
    return SubstitutionResult(
        product.sku, substitute.sku, substitute.title, len(order_ids), changed=True
    )


async def _open_alert(session: AsyncSession, product_id: int, alert_id: int | None) -> Alert | None:
    if alert_id is not None:
        alert = await session.get(Alert, alert_id)
        if alert is not None and alert.product_id == product_id:
            return alert
    return await session.scalar(
        select(Alert)
        .where(Alert.product_id == product_id, Alert.state != AlertState.RESOLVED)
        .order_by(Alert.id.desc())
        .limit(1)
    )


async def current_substitute(session: AsyncSession, product_id: int) -> Product | None:
    """The product chosen to stand in for `product_id` while it is unavailable, if any."""
    chosen = await current_substitution(session, product_id)
    return await session.get(Product, chosen.substitute_id) if chosen else None


async def current_substitution(session: AsyncSession, product_id: int) -> Substitution | None:
    return await session.scalar(
        select(Substitution)
        .where(Substitution.product_id == product_id, Substitution.active.is_(True))
        .order_by(Substitution.id.desc())
        .limit(1)
    )
