"""How stock, prices, products and alert kinds read, in Slack and on the console alike."""

from __future__ import annotations

from decimal import Decimal

from bot.core.text import clip, escape
from bot.views.cards import ProductCard

KIND_TITLES = {
    "low_stock": ("⚠️", "Low stock"),
    "out_of_stock": ("🚨", "Out of stock"),
    "supplier_feed": ("🧾", "Supplier feed problem"),
    "supplier_down": ("🔌", "Supplier not responding"),
    "backorder": ("⏳", "Backorders"),
    "store_push": ("🛒", "Store update failed"),
}


def kind_emoji(kind: str) -> str:
    return KIND_TITLES.get(kind, ("🔔", kind))[0]


def kind_label(kind: str) -> str:
    return KIND_TITLES.get(kind, ("🔔", kind))[1]


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


def money(price: Decimal | None) -> str:
    return f"{price:,.2f}" if price is not None else "no price"


def _price_change(price: Decimal | None, reference: Decimal | None) -> str:
    if price is None or reference is None or reference == 0 or price == reference:
        return ""
    change = (price - reference) / reference * 100
    return f" ({change:+.0f}%)"


def offer_lines(card: ProductCard, include_active: bool = True) -> list[str]:
    """One line per supplier of the product: stock, price (and change), restock date."""
    reference = card.active.price if card.active else None
    lines = []
    for offer in card.offers:
        if offer.is_active and not include_active:
            continue
        marker = " *(active)*" if offer.is_active else ""
        restock = f" · restock {offer.restock_date:%Y-%m-%d}" if offer.restock_date else ""
        change = "" if offer.is_active else _price_change(offer.price, reference)
        stock = quantity_text(offer.quantity, offer.availability)
        price = f"{money(offer.price)}{change}"
        lines.append(f"• *{escape(offer.supplier)}*{marker}: {stock} · {price}{restock}")
    return lines


def product_line(sku: str, title: str) -> str:
    return f"• `{escape(sku)}` {escape(title)}"


def did_you_mean(refusal: str, suggestions: list[tuple[str, str]], otherwise: str) -> str:
    """A refusal for an unknown product, then the close matches, or a hint when none."""
    if not suggestions:
        return f"{refusal} {otherwise}"
    listed = "\n".join(product_line(sku, clip(title, 120)) for sku, title in suggestions)
    return f"{refusal} Did you mean:\n{listed}"
