"""Block Kit for `/backorders`: waiting orders grouped by product, oldest first."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.core.backorders import BackorderedProduct, BackorderList, NoSuchProduct, WaitingOrder
from bot.core.fixes.choices import CHOICE_LABELS, choice_words
from bot.core.fixes.customer_notices import AUTO_SENDER, long_date
from bot.core.text import clip, escape, mention
from bot.db.models import NoticeKind, NotificationStatus, OrderStatus
from bot.slack.render.base import (
    HEADER_LIMIT,
    Message,
    list_message,
    plural,
    slack_date,
    text_message,
)
from bot.slack.render.stock_text import did_you_mean
from bot.slack.texts import BACKORDERS_USAGE
from bot.views.timeline import OrderStory, StoryChoice, StoryEmail

_EMAIL_KINDS = {
    NoticeKind.NOTICE: "notice of the delay",
    NoticeKind.DATE_UPDATE: "new restock date",
    NoticeKind.BACK_IN_STOCK: "on its way",
}


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


def _email_line(email: StoryEmail) -> str:
    what = _EMAIL_KINDS.get(NoticeKind(email.kind), email.kind)
    said = f", said {long_date(email.restock_date)}" if email.restock_date else ""
    by = "automatically" if email.by == AUTO_SENDER else f"by {mention(email.by)}"
    when = slack_date(email.at)
    if email.status == NotificationStatus.SENT:
        return f"📧 {when}: emailed, {what}{said} ({by}) · `{escape(email.sku)}`"
    if email.status == NotificationStatus.FAILED:
        reason = escape(clip(email.error or "unknown error", 120))
        return f"❌ {when}: {what} not sent ({reason}) ({by})"
    return f"⏳ {when}: {what} being sent, or interrupted ({by})"


def _choice_line(choice: StoryChoice) -> str:
    said = choice_words(choice.choice, choice.substitute_title)
    line = f"🗳️ {slack_date(choice.at)}: the customer {said} · `{escape(choice.sku)}`"
    if choice.cancelled_at is not None:
        line += f"; cancelled in the store {slack_date(choice.cancelled_at)}"
    elif choice.cancel_error:
        line += f"; the store refused to cancel ({escape(clip(choice.cancel_error, 120))})"
    return line


def _state(story: OrderStory) -> str:
    if story.status == OrderStatus.FULFILLED:
        shipped = f" {slack_date(story.closed_at)}" if story.closed_at else ""
        return f"📦 Shipped{shipped}."
    if story.status == OrderStatus.CANCELLED:
        return "🚫 Cancelled."
    if story.takes_substitute:
        return "🔁 Covered: the customer chose the substitute instead of waiting."
    if story.waiting:
        return "⏳ Still waiting for stock."
    return "✅ Covered by stock: it ships with the supplier's next dispatch."


def _story(story: OrderStory) -> Message:
    """One order: waiting since, what its customer was told and when, where it stands."""
    who = story.customer_name or "no customer name"
    lines = [f"Ordered {slack_date(story.ordered_at)} · {escape(clip(who, 80))}"]
    for line in story.lines:
        waiting = f"{line.backordered} waiting" if line.backordered else "covered"
        lines.append(
            f"• `{escape(line.sku)}` {escape(clip(line.title, 80))}: "
            f"{line.quantity} ordered, {waiting}"
        )
    lines += [_email_line(email) for email in story.emails] or ["No email sent yet."]
    lines += [_choice_line(choice) for choice in story.choices]
    if story.promised_dates:
        lines.append("Restock dates told: " + ", ".join(map(long_date, story.promised_dates)))
    lines.append(_state(story))
    footer = f"From {escape(story.source)}."
    if story.also_in:
        footer += f" Order {escape(story.number)} also exists in: " + ", ".join(
            escape(source) for source in story.also_in
        )
    return list_message(clip(f"🧾 Order {story.number}", HEADER_LIMIT), lines, footer)


def backorders_message(answer: BackorderList | NoSuchProduct | OrderStory) -> Message:
    """The ephemeral answer to `/backorders [SKU | ORDER_ID]`."""
    if isinstance(answer, OrderStory):
        return _story(answer)
    if isinstance(answer, NoSuchProduct):
        return did_you_mean(
            "No such product or order:", answer.query, answer.suggestions, BACKORDERS_USAGE
        )
    if answer.sku is not None:
        return _one_product(answer)
    return _all_products(answer)
