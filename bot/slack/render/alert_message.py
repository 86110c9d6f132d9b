"""An alert as a Slack message: title, what happened, its state, and what to do about it."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, HeaderBlock, MarkdownTextObject, SectionBlock

from bot.core.text import clip, clip_lines, escape, mention
from bot.slack.render.alert_buttons import action_blocks
from bot.slack.render.base import (
    FIELD_LIMIT,
    HEADER_LIMIT,
    SECTION_LIMIT,
    Message,
    context,
    message,
    section,
    slack_date,
)
from bot.slack.render.stock_text import kind_emoji, kind_label, offer_lines, quantity_text
from bot.views.cards import AlertCard


def title(card: AlertCard) -> str:
    emoji, label = kind_emoji(card.kind), kind_label(card.kind)
    if card.is_resolved:
        emoji, label = "✅", f"Resolved: {label.lower()}"
    if card.members_total:
        return f"{emoji} {label}: {card.members_total} products at {card.supplier}"
    if card.product:
        return f"{emoji} {label}: {card.product.title}"
    if card.supplier is None and card.summary:  # a store-level alert: "<store>: ..."
        return f"{emoji} {label}: {card.summary.partition(': ')[0]}"
    return f"{emoji} {label}: {card.supplier}"


def fallback_text(card: AlertCard) -> str:
    """One line for notifications, screen readers and the console."""
    heading = title(card)
    if card.product and card.product.active:
        active = card.product.active
        stock = quantity_text(active.quantity, active.availability)
        return clip(
            f"{heading} ({card.product.sku}) at {active.supplier}: {stock} "
            f"(threshold {card.product.threshold})",
            SECTION_LIMIT,
        )
    if card.summary:
        return clip(f"{heading}. {card.summary}", SECTION_LIMIT)
    return clip(heading, SECTION_LIMIT)


def _state_line(card: AlertCard) -> str:
    if card.is_resolved and card.resolved_at:
        return f"Resolved {slack_date(card.resolved_at)}. {escape(card.resolution or '')}"
    if card.state == "acknowledged" and card.acknowledged_by:
        return f"👀 Acknowledged by {mention(card.acknowledged_by)}"
    if card.state == "snoozed" and card.snoozed_until:
        return (
            f"😴 Snoozed by {mention(card.snoozed_by or '')} until {slack_date(card.snoozed_until)}"
        )
    return f"Opened {slack_date(card.opened_at)}"


def _field(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=clip(text, FIELD_LIMIT))


def _product_blocks(card: AlertCard) -> list[Block]:
    assert card.product is not None
    product = card.product
    active = product.active
    stock = quantity_text(active.quantity, active.availability) if active else "—"
    fields = [
        _field(f"*Product*\n`{escape(product.sku)}` {escape(product.title)}"),
        _field(f"*Supplier*\n{escape(active.supplier if active else '—')}"),
        _field(f"*Stock*\n{stock} (threshold {product.threshold})"),
    ]
    if card.stock_changed_at:
        fields.append(_field(f"*Changed*\n{slack_date(card.stock_changed_at)}"))
    if active and active.restock_date:
        fields.append(_field(f"*Restock date*\n{active.restock_date:%Y-%m-%d}"))
    orders = card.orders
    if orders and orders.backordered_orders:
        oldest = (
            f", oldest since {slack_date(orders.oldest_backorder_at)}"
            if orders.oldest_backorder_at
            else ""
        )
        fields.append(
            _field(
                f"*Waiting*\n{orders.backordered_orders} order(s), "
                f"{orders.backordered_units} unit(s){oldest}"
            )
        )
    elif orders and orders.open_orders:
        fields.append(_field(f"*Open orders*\n{orders.open_orders} affected"))
    others = offer_lines(product, include_active=False)
    text = (
        "*Other suppliers*\n" + clip_lines(others, SECTION_LIMIT - 20)
        if others
        else "*Other suppliers*\nNone: this product has a single supplier."
    )
    return [SectionBlock(fields=fields[:10]), section(text)]


def _group_blocks(card: AlertCard) -> list[Block]:
    lines = [
        f"• {'~' if m.resolved else ''}`{escape(m.sku)}` {escape(m.title)}: "
        f"{'back in stock' if m.resolved else quantity_text(m.quantity, 'unknown')}"
        f"{'~' if m.resolved else ''}"
        for m in card.members
    ]
    hidden = card.members_total - len(card.members)
    if hidden > 0:
        lines.append(f"…and {hidden} more")
    intro = (
        f"One poll found {card.members_total} products in this state at "
        f"*{escape(card.supplier or '')}*; {card.members_open} still open. "
        "They are grouped here instead of one message each."
    )
    return [section(intro), section(clip_lines(lines, SECTION_LIMIT))]


def alert_message(card: AlertCard) -> Message:
    blocks: list[Block] = [HeaderBlock(text=clip(title(card), HEADER_LIMIT))]
    if card.members_total:
        blocks += _group_blocks(card)
    elif card.product:
        blocks += _product_blocks(card)
    if card.summary and not card.members_total:
        blocks.append(section(escape(card.summary)))
    lines = [_state_line(card)]
    if card.last_switch is not None:
        lines.append(f"🔀 {card.last_switch.text}")
    if card.substitute is not None:
        sku, substitute_title = card.substitute
        lines.append(f"🔁 Substitute offered: `{escape(sku)}` {escape(substitute_title)}")
    blocks.append(context(*lines))
    blocks += action_blocks(card)
    return message(fallback_text(card), blocks)
