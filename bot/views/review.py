"""The daily picture as read models: the daily review, the supplier scorecards
(`/suppliers`) and the App Home dashboard, which shows a part of the review.

"At risk" comes from the forecasts (bot.core.forecast): products whose active offer is
predicted to run out within [forecast] warn_days, computed off the event loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import ForecastSection
from bot.core.availability import STOCKOUT
from bot.core.backorders import BackorderedProduct, BackorderList, backorder_list
from bot.core.fixes.customer_notices import NOTIFY_AUDIT_ACTION
from bot.core.fixes.switching import SWITCH_ACTIONS
from bot.core.review.daily import LastReview, last_review
from bot.core.review.scorecard import Scorecard, scorecards
from bot.db.models import AuditEntry, NotificationStatus, Offer, Product, Supplier
from bot.db.types import utcnow

if TYPE_CHECKING:
    from bot.core.forecast import ForecastResult

T = TypeVar("T")

# Each list shows this many lines, then "and N more".
SHOWN = 8
TEAM_WINDOW = timedelta(hours=24)
SUBSTITUTE_ACTION = "substitute_product"


@dataclass(frozen=True, slots=True)
class ProductLine:
    sku: str
    title: str
    supplier: str | None


@dataclass(frozen=True, slots=True)
class AtRisk:
    product: ProductLine
    stock: int | None
    rate_per_day: float  # the rate the stock goes at (the supplier's drain or our sales)
    sales_per_day: float
    days_of_cover: float | None
    predicted_stockout: datetime | None
    # Our sales a day times the active offer's price; None when the price is not known.
    revenue_per_day: Decimal | None


@dataclass(frozen=True, slots=True)
class OutOfStock:
    product: ProductLine
    since: datetime | None


@dataclass(frozen=True, slots=True)
class PassedRestock:
    product: ProductLine
    restock_date: date


@dataclass(frozen=True, slots=True)
class TeamAction:
    """One thing the team (or Stockbot) did about a product: kind is "switch",
    "substitute" or "email"; `count` emails for one product are one line."""

    kind: str
    sku: str
    actor: str
    detail: str
    count: int = 1


@dataclass(frozen=True, slots=True)
class Listed(Generic[T]):
    """The first lines of a list, and how many there are in all."""

    shown: list[T]
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.shown)


@dataclass(frozen=True, slots=True)
class Review:
    now: datetime
    warn_days: int
    at_risk: Listed[AtRisk]
    out_of_stock: Listed[OutOfStock]
    backorders: Listed[BackorderedProduct]
    passed_restocks: Listed[PassedRestock]
    suppliers: list[Scorecard]
    team: Listed[TeamAction]
    last_review: LastReview | None = None

    @property
    def summary(self) -> str:
        """One line: what needs attention."""
        parts = [
            f"{self.at_risk.total} at risk",
            f"{self.out_of_stock.total} out of stock",
            f"{self.backorders.total} with backorders",
        ]
        return ", ".join(parts)


def _listed(items: list[T], total: int | None = None) -> Listed[T]:
    return Listed(items[:SHOWN], len(items) if total is None else total)


@dataclass(frozen=True, slots=True)
class ReviewBoard:
    """Builds the review, the scorecards and the App Home dashboard; each question
    gets its own session. Forecasts run in a worker thread with their own engine."""

    sessions: async_sessionmaker[AsyncSession]
    database_url: str
    forecast: ForecastSection

    async def review(self, now: datetime) -> Review:
        # Imported here: numpy and the forecast engine stay out of start-up.
        from bot.core.forecast import recompute

        report = await recompute(self.database_url, now, self.forecast, record=False)
        table = report.forecasts
        at_risk = [
            table.result(row)
            for row in range(len(table))
            if table.at_risk[row] and not table.out[row]
        ]
        async with self.sessions() as session:
            return Review(
                now=now,
                warn_days=self.forecast.warn_days,
                at_risk=await _at_risk(session, at_risk),
                out_of_stock=await _out_of_stock(session),
                backorders=await _backorders(session),
                passed_restocks=await _passed_restocks(session, now),
                suppliers=await scorecards(session, now),
                team=await _team(session, now - TEAM_WINDOW),
                last_review=await last_review(session),
            )

    async def scorecards(self, now: datetime | None = None) -> list[Scorecard]:
        async with self.sessions() as session:
            return await scorecards(session, now or utcnow())


async def _products(
    session: AsyncSession, ids: list[int]
) -> dict[int, tuple[ProductLine, Decimal | None]]:
    rows = await session.execute(
        select(Product.id, Product.sku, Product.title, Supplier.name, Offer.price)
        .outerjoin(Offer, Offer.id == Product.active_offer_id)
        .outerjoin(Supplier, Supplier.id == Offer.supplier_id)
        .where(Product.id.in_(ids))
    )
    return {
        pid: (ProductLine(sku, title, supplier), price) for pid, sku, title, supplier, price in rows
    }


def _sooner(result: ForecastResult) -> float:
    return math.inf if result.days_of_cover is None else result.days_of_cover


async def _at_risk(session: AsyncSession, results: list[ForecastResult]) -> Listed[AtRisk]:
    results = sorted(results, key=_sooner)
    shown = results[:SHOWN]
    products = await _products(session, [r.product_id for r in shown])
    lines = []
    for result in shown:
        product, price = products[result.product_id]
        revenue = (
            None
            if price is None or not result.rate_per_day
            else (price * Decimal(str(round(result.rate_per_day, 2)))).quantize(Decimal("0.01"))
        )
        lines.append(
            AtRisk(
                product=product,
                stock=result.stock,
                rate_per_day=result.depletion_per_day or 0.0,
                sales_per_day=result.rate_per_day,
                days_of_cover=result.days_of_cover,
                predicted_stockout=result.predicted_stockout,
                revenue_per_day=revenue,
            )
        )
    return Listed(lines, len(results))


async def _out_of_stock(session: AsyncSession) -> Listed[OutOfStock]:
    out = (Offer.quantity == 0) | Offer.availability.in_(sorted(STOCKOUT))
    base = (
        select(Product.sku, Product.title, Supplier.name, Offer.changed_at)
        .join(Offer, Offer.id == Product.active_offer_id)
        .join(Supplier, Supplier.id == Offer.supplier_id)
        .where(out)
    )
    total = await session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = await session.execute(base.order_by(Offer.changed_at, Product.sku).limit(SHOWN))
    return Listed(
        [OutOfStock(ProductLine(sku, title, name), since) for sku, title, name, since in rows],
        total,
    )


async def _backorders(session: AsyncSession) -> Listed[BackorderedProduct]:
    found = await backorder_list(session, None)
    assert isinstance(found, BackorderList)  # without a SKU it is always the list
    return Listed(found.products[:SHOWN], found.total_products)


async def _passed_restocks(session: AsyncSession, now: datetime) -> Listed[PassedRestock]:
    """Active offers out of stock whose restock date has passed."""
    out = (Offer.quantity == 0) | Offer.availability.in_(sorted(STOCKOUT))
    base = (
        select(Product.sku, Product.title, Supplier.name, Offer.restock_date)
        .join(Offer, Offer.id == Product.active_offer_id)
        .join(Supplier, Supplier.id == Offer.supplier_id)
        .where(out, Offer.restock_date < now.date())
    )
    total = await session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = await session.execute(base.order_by(Offer.restock_date, Product.sku).limit(SHOWN))
    return Listed(
        [PassedRestock(ProductLine(sku, title, name), day) for sku, title, name, day in rows],
        total,
    )


async def _team(session: AsyncSession, since: datetime) -> Listed[TeamAction]:
    """Switches, substitutes and customer emails since `since`, newest first; the
    emails about one product are one line."""
    rows = await session.execute(
        select(AuditEntry.action, AuditEntry.actor, AuditEntry.details, Product.sku)
        .join(Product, Product.id == AuditEntry.product_id)
        .where(
            AuditEntry.at >= since,
            AuditEntry.action.in_([*SWITCH_ACTIONS, SUBSTITUTE_ACTION, NOTIFY_AUDIT_ACTION]),
        )
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    )
    actions: list[TeamAction] = []
    emails: dict[str, int] = {}
    for action, actor, details, sku in rows:
        if action == NOTIFY_AUDIT_ACTION:
            if details.get("status") != NotificationStatus.SENT:
                continue
            if sku not in emails:
                emails[sku] = len(actions)
                actions.append(TeamAction("email", sku, actor, ""))
            else:
                first = actions[emails[sku]]
                actions[emails[sku]] = TeamAction("email", sku, first.actor, "", first.count + 1)
        elif action == SUBSTITUTE_ACTION:
            actions.append(TeamAction("substitute", sku, actor, str(details.get("substitute", ""))))
        elif action == "undo_switch":
            actions.append(TeamAction("undo", sku, actor, str(details.get("to_supplier", ""))))
        else:
            actions.append(TeamAction("switch", sku, actor, str(details.get("to_supplier", ""))))
    return _listed(actions)
