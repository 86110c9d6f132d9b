"""The states of a product problem, most severe first, and the words for each change.

A product has at most one open product alert. Its `kind` is the most severe
problem that holds now (`PRODUCT_PROBLEMS` order); when the facts change, the
kind moves in place and the change is noted in the message's thread. A new state
(say, "at risk" from a forecast) is one more entry in `_CONDITIONS`, `SEVERITY`
and the texts below.

At risk (a forecast's predicted stockout within [forecast] warn_days while stock is
still above the low-stock threshold) is the mildest state: at risk -> low stock ->
out of stock is one message. What the forecast says comes from the last recompute
(`ProductForecast`, written by `bot.core.forecast.watch`) as `ForecastFacts`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case

from bot.core.availability import Availability, is_stockout
from bot.core.text import clip, escape, rate_words, span_words
from bot.db.models import AlertKind, ProductForecast

# Product alert kinds, most severe first.
PRODUCT_PROBLEMS: tuple[AlertKind, ...] = (
    AlertKind.OUT_OF_STOCK,
    AlertKind.BACKORDER,
    AlertKind.LOW_STOCK,
    AlertKind.AT_RISK,
)

# A resolved at-risk alert does not come back this soon, unless the forecast is worse.
REOPEN_AFTER = timedelta(hours=24)


# Supplier names in notes and resolutions: short enough for one line on a phone.
NAME_LIMIT = 40


def product_dedup_key(product_id: int) -> str:
    """One open product alert per product, whatever its state."""
    return f"product:{product_id}"


@dataclass(frozen=True, slots=True)
class ForecastFacts:
    """The last forecast of a product at or near risk (see ProductForecast)."""

    days_of_cover: float | None
    opens: bool  # within warn_days
    holds: bool  # within 1.5x warn_days
    rate_per_day: float
    drain_per_day: float | None
    stock: int | None
    fell_from: int | None = None
    fell_to: int | None = None
    fell_seconds: float | None = None
    spike_units: int | None = None
    spike_on: str | None = None  # the UTC date of the spike (ISO)

    @classmethod
    def of(cls, row: ProductForecast) -> ForecastFacts:
        return cls(
            row.days_of_cover,
            row.opens,
            row.holds,
            row.rate_per_day,
            row.drain_per_day,
            row.stock,
            row.fell_from,
            row.fell_to,
            row.fell_seconds,
            row.spike_units,
            row.computed_at.date().isoformat() if row.spike_units else None,
        )

    @property
    def cover(self) -> float | None:
        return None if self.days_of_cover is None else round(self.days_of_cover, 2)


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """What decides a product's problem: its active offer's stock and the orders waiting."""

    product_id: int
    sku: str
    supplier_id: int | None
    supplier: str | None
    quantity: int | None
    availability: str
    threshold: int
    waiting_orders: int = 0
    waiting_units: int = 0
    oldest_waiting: datetime | None = None
    # Any open order holds it (waiting or covered): how a backorder ends differs.
    has_open_orders: bool = False
    forecast: ForecastFacts | None = None
    # A forecast exists but was made for other stock (a poll since): the recompute
    # that follows the poll decides, so an at-risk state is left as it is till then.
    forecast_pending: bool = False

    @property
    def above_threshold(self) -> bool:
        return self.quantity is not None and self.quantity > self.threshold

    @property
    def at_risk(self) -> bool:
        """Predicted to run out within warn_days, with stock still above the threshold."""
        return self.forecast is not None and self.forecast.opens and self.above_threshold

    @property
    def still_at_risk(self) -> bool:
        """An open at-risk alert stays until the prediction is past 1.5x warn_days."""
        return self.forecast is not None and self.forecast.holds and self.above_threshold

    @property
    def out_of_stock(self) -> bool:
        return self.supplier_id is not None and (
            is_stockout(self.availability) or self.quantity == 0
        )

    @property
    def low(self) -> bool:
        return self.quantity is not None and 0 < self.quantity <= self.threshold

    @property
    def known_fine(self) -> bool:
        """Known to have enough: above the threshold, or in stock by a supplier that
        gives availability without numbers (e.g. print on demand)."""
        if self.out_of_stock or self.low or self.waiting_units or self.at_risk:
            return False
        return self.quantity is not None or self.availability == Availability.IN_STOCK

    def details(self) -> dict[str, Any]:
        """Stored on the alert: a change in any of these updates its message."""
        forecast: dict[str, Any] = {}
        if self.forecast is not None and self.forecast.holds:
            forecast = {"cover": self.forecast.cover, "why": at_risk_reason(self)}
        if self.forecast is not None and self.forecast.spike_on:
            forecast["spike_on"] = self.forecast.spike_on
        return {
            **forecast,
            "quantity": self.quantity,
            "availability": self.availability,
            "threshold": self.threshold,
            "supplier_id": self.supplier_id,
            "orders": self.waiting_orders,
            "units": self.waiting_units,
            "oldest": self.oldest_waiting.isoformat() if self.oldest_waiting else None,
        }


_CONDITIONS: tuple[tuple[AlertKind, Callable[[ProductFacts], bool]], ...] = (
    (AlertKind.OUT_OF_STOCK, lambda f: f.out_of_stock),
    (AlertKind.BACKORDER, lambda f: f.waiting_units > 0),
    (AlertKind.LOW_STOCK, lambda f: f.low),
    (AlertKind.AT_RISK, lambda f: f.at_risk),
)


def problem_of(facts: ProductFacts) -> AlertKind | None:
    """The most severe problem that holds, or None when there is none (or stock is unknown)."""
    return next((kind for kind, holds in _CONDITIONS if holds(facts)), None)


# Triage order, lower first: out of stock with orders waiting ranks above all products.
# Supplier and store problems (rank 0) come first of all: they hide many products' stock.
OUT_OF_STOCK_WAITING_RANK = 1
RANKS = {kind: rank for rank, kind in enumerate(PRODUCT_PROBLEMS, start=2)}


def severity(kind: Any, waiting_units: Any) -> ColumnElement[int]:
    """SQL rank of an alert by severity: out of stock with orders waiting, out of
    stock, backorders, low stock; anything else (supplier, store) before them all."""
    waiting = and_(kind == AlertKind.OUT_OF_STOCK, waiting_units > 0)
    return case(
        (waiting, OUT_OF_STOCK_WAITING_RANK),
        *((kind == k, rank) for k, rank in RANKS.items()),
        else_=0,
    )


def at_risk_reason(facts: ProductFacts) -> str:
    """Why the forecast says it runs out, in plain words (Slack mrkdwn, escaped):
    "sells ~5/day, 12 left at Acme: about 2 days of cover", or from the supplier's
    drain "Acme's stock fell 400 -> 240 in 12 s: out in about 20 s"."""
    forecast = facts.forecast
    if forecast is None or forecast.days_of_cover is None:
        return ""
    cover = span_words(forecast.days_of_cover * 86400)
    supplier = escape(clip(facts.supplier or "the supplier", NAME_LIMIT))
    drain = forecast.drain_per_day or 0.0
    fell = forecast.fell_from is not None and forecast.fell_to is not None
    if fell and forecast.fell_seconds and drain > forecast.rate_per_day:
        return (
            f"{supplier}'s stock fell {forecast.fell_from:,} -> {forecast.fell_to:,} in "
            f"{span_words(forecast.fell_seconds)}: out in about {cover}"
        )
    left = forecast.stock if forecast.stock is not None else facts.quantity
    stock = f"{left:,} left at {supplier}" if left is not None else f"at {supplier}"
    if forecast.spike_units:
        usually = rate_words(forecast.rate_per_day)
        return (
            f"{forecast.spike_units:,} ordered today (usually ~{usually}), "
            f"{stock}: about {cover} of cover"
        )
    return f"sells ~{rate_words(forecast.rate_per_day)}, {stock}: about {cover} of cover"


def spike_note(facts: ProductFacts) -> str:
    forecast = facts.forecast
    assert forecast is not None and forecast.spike_units
    return (
        f"📈 Demand spike: {forecast.spike_units:,} ordered today, usually "
        f"~{rate_words(forecast.rate_per_day)}."
    )


def _at(facts: ProductFacts) -> str:
    return f" at {escape(clip(facts.supplier, NAME_LIMIT))}" if facts.supplier else ""


def waiting_text(orders: int, units: int) -> str:
    order_word = "order" if orders == 1 else "orders"
    unit_word = "unit" if units == 1 else "units"
    return f"{orders} {order_word} ({units} {unit_word})"


def change_note(old_kind: str, old: dict[str, Any], facts: ProductFacts, kind: AlertKind) -> str:
    """The thread note for a change of state or of the orders waiting ("" for none).

    Slack mrkdwn: outside text is escaped here."""
    waiting = (
        f" · {waiting_text(facts.waiting_orders, facts.waiting_units)} waiting"
        if facts.waiting_orders
        else ""
    )
    if kind != old_kind:
        if kind == AlertKind.AT_RISK:
            return f"Now at risk: {at_risk_reason(facts)}."
        if kind == AlertKind.OUT_OF_STOCK:
            return f"Now out of stock{_at(facts)}{waiting}."
        if kind == AlertKind.BACKORDER:
            return f"Now backordered{_at(facts)}: {facts.quantity or 0} in stock{waiting}."
        return f"Now low stock{_at(facts)}: {facts.quantity} left (threshold {facts.threshold})."
    before = int(old.get("orders") or 0)
    if facts.waiting_orders != before:
        if not facts.waiting_orders:
            return "No order is waiting any more."
        verb = "is" if facts.waiting_orders == 1 else "are"
        return f"{waiting_text(facts.waiting_orders, facts.waiting_units)} {verb} now waiting."
    spike_on = facts.forecast.spike_on if facts.forecast else None
    if spike_on and old.get("spike_on") != spike_on:
        return spike_note(facts)
    return ""


def resolution_text(old_kind: str, facts: ProductFacts) -> str:
    """How it ended, as the collapsed message says it after the SKU (Slack mrkdwn)."""
    if facts.supplier is None:
        return "has no active supplier any more"
    stock = f" ({facts.quantity:,})" if facts.quantity is not None else ""
    if old_kind == AlertKind.BACKORDER and not facts.has_open_orders:
        return "no open order waits for it any more"
    if old_kind == AlertKind.BACKORDER and facts.quantity is None:
        if facts.known_fine:
            return f"every waiting order covered: in stock{_at(facts)}"
        supplier = escape(clip(facts.supplier, NAME_LIMIT))
        return f"no order counted as waiting: {supplier} gives no stock quantity now"
    if old_kind == AlertKind.AT_RISK:
        return f"no longer at risk{_at(facts)}{stock}"
    if old_kind == AlertKind.BACKORDER:
        return f"every waiting order covered: {facts.quantity or 0:,} in stock{_at(facts)}"
    return f"back in stock{_at(facts)}{stock}"
