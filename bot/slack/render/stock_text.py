"""How stock, prices, products and alert kinds read, in Slack and on the console alike."""

from __future__ import annotations

from decimal import Decimal

from bot.core.fixes.switching import SwitchOption
from bot.core.text import clip, escape
from bot.currency import DEFAULT_CURRENCY, format_money
from bot.slack.render.base import Message, text_message
from bot.views.cards import ProductCard

KIND_TITLES = {
    "at_risk": ("🔮", "At risk"),
    "low_stock": ("⚠️", "Low stock"),
    "out_of_stock": ("🚨", "Out of stock"),
    "supplier_feed": ("🧾", "Supplier feed problem"),
    "supplier_down": ("🔌", "Supplier not responding"),
    "backorder": ("⏳", "Backorders"),
    "store_push": ("🛒", "Store update failed"),
}
# How a product's state reads after its SKU: "LAMP-02 out of stock".
PROBLEM_WORDS = {
    "at_risk": "at risk",
    "low_stock": "low stock",
    "out_of_stock": "out of stock",
    "backorder": "backordered",
}
SHOWN_ALTERNATIVES = 3


def kind_emoji(kind: str) -> str:
    return KIND_TITLES.get(kind, ("🔔", kind))[0]


def kind_label(kind: str) -> str:
    return KIND_TITLES.get(kind, ("🔔", kind))[1]


def problem_words(kind: str) -> str:
    return PROBLEM_WORDS.get(kind, kind_label(kind).lower())


def quantity_text(quantity: int | None, availability: str) -> str:
    if availability == "missing":
        return "missing from feed"
    if availability == "discontinued":
        return "discontinued by the supplier"
    if availability == "unknown_sku":
        return "not found at supplier"
    if quantity is None:
        return {"in_stock": "in stock", "out_of_stock": "out of stock"}.get(availability, "unknown")
    return f"{quantity:,}"


def money(price: Decimal | None, currency: str = DEFAULT_CURRENCY) -> str:
    return format_money(price, currency) if price is not None else "no price"


def price_change(percent: float | None) -> str:
    """'+11%', 'same price' or '' when either price is unknown."""
    if percent is None:
        return ""
    return "same price" if round(percent) == 0 else f"{percent:+.0f}%"


def _price_change(price: Decimal | None, reference: Decimal | None) -> str:
    if price is None or reference is None or reference == 0 or price == reference:
        return ""
    change = (price - reference) / reference * 100
    return f" ({change:+.0f}%)"


def waiting_text(orders: int, units: int) -> str:
    """'3 orders · 7 units'."""
    return f"{orders} {'order' if orders == 1 else 'orders'} · {units:,} " + (
        "unit" if units == 1 else "units"
    )


def offer_lines(card: ProductCard, currency: str = DEFAULT_CURRENCY) -> list[str]:
    """One line per supplier of the product: stock, price (and change), restock date."""
    reference = card.active.price if card.active else None
    lines = []
    for offer in card.offers:
        marker = " *(active)*" if offer.is_active else ""
        restock = f" · restock {offer.restock_date:%Y-%m-%d}" if offer.restock_date else ""
        change = "" if offer.is_active else _price_change(offer.price, reference)
        stock = quantity_text(offer.quantity, offer.availability)
        price = f"{money(offer.price, currency)}{change}"
        lines.append(f"• *{escape(offer.supplier)}*{marker}: {stock} · {price}{restock}")
    return lines


def switch_reason(option: SwitchOption) -> str:
    """Why an alternative ranks where it does, in a few words: how long its stock lasts
    at our sales, and whether the supplier keeps its feed up and its restock dates."""
    parts = []
    if option.cover_days is not None:
        days = option.cover_days
        parts.append("lasts 60+ days" if days >= 60 else f"lasts {days:.0f} days")
    reliability = option.reliability
    if not reliability.reliable:
        uptime = reliability.uptime
        if uptime is not None and uptime < 95:
            parts.append(f"feed up {uptime:.0f}%")
        else:
            restocks = reliability.restocks
            parts.append(f"met {restocks.met}/{restocks.promised} restock dates")
    elif reliability.uptime is not None:
        parts.append("reliable")
    return ", ".join(parts)


def alternative_lines(options: list[SwitchOption], currency: str = DEFAULT_CURRENCY) -> list[str]:
    """Up to three in-stock alternatives with price and difference, "+N more", and the
    suppliers without stock (or with stock unknown) in one line."""
    in_stock = [o for o in options if o.in_stock]
    lines = []
    for option in in_stock[:SHOWN_ALTERNATIVES]:
        change = price_change(option.price_change_percent)
        price = money(option.price, currency) + (f" ({change})" if change else "")
        lines.append(f"• *{escape(option.supplier)}*: {option.quantity:,} in stock · {price}")
    if len(in_stock) > SHOWN_ALTERNATIVES:
        lines.append(f"+{len(in_stock) - SHOWN_ALTERNATIVES} more in stock")
    empty = [o for o in options if not o.in_stock]
    if empty:
        names = ", ".join(
            escape(o.supplier) + (" (unknown)" if o.quantity is None else "")
            for o in empty[:SHOWN_ALTERNATIVES]
        )
        more = (
            f" +{len(empty) - SHOWN_ALTERNATIVES} more" if len(empty) > SHOWN_ALTERNATIVES else ""
        )
        lines.append(f"No stock at {names}{more}")
    return lines


def product_line(sku: str, title: str) -> str:
    return f"• `{escape(sku)}` {escape(title)}"


def did_you_mean(
    refusal: str, query: str, suggestions: list[tuple[str, str]], otherwise: str
) -> Message:
    """`refusal` “query”. for an unknown product, then the close matches, or the hint
    `otherwise` when none."""
    refused = f"{refusal} “{escape(clip(query, 100))}”."
    if not suggestions:
        return text_message(f"{refused} {otherwise}")
    listed = "\n".join(product_line(sku, clip(title, 120)) for sku, title in suggestions)
    return text_message(f"{refused} Did you mean:\n{listed}")
