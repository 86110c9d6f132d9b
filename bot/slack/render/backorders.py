"""Block Kit for `/backorders`: waiting orders grouped by product, oldest first."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.core.backorders import BackorderedProduct, BackorderList, NoSuchProduct, WaitingOrder
from bot.core.fixes.choices import CHOICE_LABELS
from bot.core.text import clip, escape
from bot.slack.render.base import HEADER_LIMIT, Message, list_message, plural, text_message
from bot.slack.render.stock_text import did_you_mean
from bot.slack.texts import BACKORDERS_USAGE


def age(since: datetime, now: datetime) -> str:
    """'3d', '5h' or '<1h': short enough for a list line."""
    elapsed = max(now - since, timedelta(0))
    if elapsed >= timedelta(days=1):
        return f"{elapsed.days}d"
    hours = int(elapsed.total_seconds() // 3600)
    return f"{hours}h" if hours else "<1h"


def product_line(product: BackorderedProduct, now: datetime) -> str:
    restock = (
        f"restock {product.restock_date:%Y-%m-%d}" if product.restock_date else "no restock date"
    )
    supplier = escape(product.supplier) if product.supplier else "no active supplier"
    return (
        f"• `{escape(product.sku)}` {escape(clip(product.title, 120))}: "
        f"*{plural(product.orders, 'order')} / {plural(product.units, 'unit')}* waiting, "
        f"oldest {age(product.oldest_at, now)} · {restock} · {supplier}"
    )


def order_line(order: WaitingOrder, now: datetime) -> str:
    who = order.customer_name or order.customer_email or "no customer name"
    return (
        f"• Order {escape(clip(order.external_id, 40))} · {escape(clip(who, 80))}: "
        f"{order.backordered} of {order.quantity} waiting · "
        f"ordered {age(order.ordered_at, now)} ago"
        + (f" · 🗳️ {CHOICE_LABELS.get(order.choice, '')}" if order.choice else "")
    )


def _all_products(answer: BackorderList) -> Message:
    if not answer.products:
        return text_message("✅ No backorders: stock covers every open order.")
    units = sum(p.units for p in answer.products)
    lines = [product_line(p, answer.as_of) for p in answer.products]
    hidden = answer.total_products - len(answer.products)
    if hidden > 0:
        lines.append(f"…and {hidden} more")
    return list_message(
        f"📦 Backorders: {plural(answer.total_products, 'product')}",
        lines,
        f"{plural(units, 'unit')} waiting"
        + (" in the products shown" if hidden > 0 else "")
        + ". Type `/backorders SKU` for one product's orders.",
    )


def _one_product(answer: BackorderList) -> Message:
    name = f"`{escape(answer.sku or '')}` {escape(answer.title or '')}"
    if not answer.products:
        return text_message(f"✅ No backorders for {name}: stock covers its open orders.")
    product = answer.products[0]
    lines = [product_line(product, answer.as_of)]
    lines += [order_line(o, answer.as_of) for o in answer.orders]
    hidden = answer.total_orders - len(answer.orders)
    if hidden > 0:
        lines.append(f"…and {hidden} more")
    return list_message(
        clip(f"📦 Backorders: {answer.sku} {answer.title}", HEADER_LIMIT),
        lines,
        "Stock goes to the oldest orders first, so the newest wait longest.",
    )


def backorders_message(answer: BackorderList | NoSuchProduct) -> Message:
    """The ephemeral answer to `/backorders [SKU]`."""
    if isinstance(answer, NoSuchProduct):
        return text_message(
            did_you_mean(
                f"No such product: “{escape(clip(answer.query, 100))}”.",
                answer.suggestions,
                BACKORDERS_USAGE,
            )
        )
    if answer.sku is not None:
        return _one_product(answer)
    return _all_products(answer)
