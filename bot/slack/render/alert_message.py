"""An alert as a Slack message, phone first.

The `text` (what a lock screen shows) names the SKU and the problem in one line;
the body says the title, stock against threshold, what waits, the alternatives,
then one row of controls. A resolved alert collapses to one line saying how it
ended. Core-written texts (resolutions, switch lines) are Slack mrkdwn already:
outside text in them was escaped where they were written.
"""

from __future__ import annotations

from slack_sdk.models.blocks import Block, HeaderBlock

from bot.core.fixes.choices import counts_text
from bot.core.problems.states import PRODUCT_PROBLEMS
from bot.core.text import clip, clip_lines, escape, mention
from bot.currency import DEFAULT_CURRENCY
from bot.slack.render.alert_buttons import action_blocks, cancel_blocks
from bot.slack.render.base import (
    HEADER_LIMIT,
    SECTION_LIMIT,
    Message,
    context,
    message,
    plural,
    section,
    slack_date,
)
from bot.slack.render.group_list import member_line
from bot.slack.render.stock_text import (
    alternative_lines,
    kind_emoji,
    kind_label,
    problem_words,
    quantity_text,
    waiting_text,
)
from bot.views.cards import AlertCard

NOTIFICATION_LIMIT = 99  # a lock screen shows about this much
TITLE_LIMIT = 150
SKU_LIMIT = 40
NAME_LIMIT = 30
MAX_CANCEL_LINES = 5


def _sku(card: AlertCard) -> str:
    assert card.product is not None
    return escape(clip(card.product.sku, SKU_LIMIT))


def _subject(card: AlertCard) -> str:
    """What a supplier or store alert is about: the supplier, or the store."""
    if card.supplier is None and card.summary:  # a store-level alert: "<store>: ..."
        return card.summary.partition(": ")[0]
    return card.supplier or ""


def _worst_member_kind(card: AlertCard) -> str:
    open_kinds = [kind for kind in PRODUCT_PROBLEMS if card.group.kinds.get(kind)]
    return open_kinds[0] if open_kinds else card.kind


def _member_counts(card: AlertCard) -> str:
    """'40 out of stock, 15 backordered', worst first."""
    return ", ".join(
        f"{card.group.kinds[kind]} {problem_words(kind)}"
        for kind in PRODUCT_PROBLEMS
        if card.group.kinds.get(kind)
    )


def _product_headline(card: AlertCard) -> str:
    """'🚨 LAMP-02 out of stock at Acme · 3 orders waiting' (escaped)."""
    assert card.product is not None
    active = card.product.active
    at = f" at {escape(clip(active.supplier, NAME_LIMIT))}" if active else ""
    line = f"{kind_emoji(card.kind)} {_sku(card)} {problem_words(card.kind)}{at}"
    waiting = card.orders.backordered_orders if card.orders else 0
    if card.kind == "low_stock" and active is not None:
        stock = quantity_text(active.quantity, active.availability)
        line += f": {stock} left (threshold {card.product.threshold})"
    elif card.kind == "at_risk" and card.forecast_why:
        line += f": {card.forecast_why.rpartition(': ')[2]}"
    elif card.kind == "out_of_stock" and active is not None and active.availability == "missing":
        line += " (missing from feed)"
    if waiting:
        line += f" · {plural(waiting, 'order')} waiting"
    return line


def fallback_text(card: AlertCard) -> str:
    """One line for the lock screen, screen readers and the console: SKU and problem."""
    if card.is_resolved:
        return clip(_resolved_line(card, markup=False), SECTION_LIMIT)
    if card.is_group:
        counts = _member_counts(card)
        line = (
            f"{kind_emoji(_worst_member_kind(card))} {card.group.total} products at "
            f"{escape(clip(card.supplier or '', NAME_LIMIT))}" + (f": {counts}" if counts else "")
        )
        if card.group.waiting_orders:
            line += f" · {plural(card.group.waiting_orders, 'order')} waiting"
        return clip(line, NOTIFICATION_LIMIT)
    if card.product is not None:
        return clip(_product_headline(card), NOTIFICATION_LIMIT)
    line = f"{kind_emoji(card.kind)} {kind_label(card.kind)}: {escape(_subject(card))}"
    if card.summary:
        line += f". {escape(card.summary)}"
    return clip(line, NOTIFICATION_LIMIT)


def _resolved_line(card: AlertCard, *, markup: bool) -> str:
    """'✅ LAMP-02 back in stock at Acme (50)': how it ended, in one line."""
    how = card.resolution or "resolved"
    if card.is_group:
        return f"✅ {card.group.total} products at {escape(card.supplier or '')}: {how}"
    if card.product is not None:
        sku = f"`{_sku(card)}`" if markup else _sku(card)
        return f"✅ {sku} {how}"
    return f"✅ Resolved: {kind_label(card.kind).lower()}: {escape(_subject(card))} · {how}"


def _state_line(card: AlertCard) -> str:
    """When it opened, and who is on it: the opened time stays after Acknowledge."""
    line = f"Opened {slack_date(card.opened_at)}"
    if card.state == "acknowledged" and card.acknowledged_by:
        line += f" · 👀 Acknowledged by {mention(card.acknowledged_by)}"
    elif card.state == "snoozed" and card.snoozed_until:
        line += (
            f" · 😴 Snoozed by {mention(card.snoozed_by or '')} "
            f"until {slack_date(card.snoozed_until)}"
        )
    return line


def _product_blocks(card: AlertCard, currency: str) -> list[Block]:
    assert card.product is not None
    product = card.product
    active = product.active
    lines = [f"*{escape(clip(product.title, TITLE_LIMIT))}*"]
    if active is None:
        lines.append("No active supplier")
    else:
        stock = quantity_text(active.quantity, active.availability)
        restock = f" · restock {active.restock_date:%Y-%m-%d}" if active.restock_date else ""
        lines.append(
            f"Stock *{stock}* at {escape(active.supplier)} (threshold {product.threshold}){restock}"
        )
    if card.forecast_why:
        lines.append(f"🔮 {card.forecast_why[:1].upper()}{card.forecast_why[1:]}")
    orders = card.orders
    if orders and orders.backordered_orders:
        since = (
            f" since {slack_date(orders.oldest_backorder_at)}" if orders.oldest_backorder_at else ""
        )
        units = waiting_text(orders.backordered_orders, orders.backordered_units)
        lines.append(f"⏳ *{units} waiting*{since}")
    elif orders and orders.open_orders:
        lines.append(f"{plural(orders.open_orders, 'open order')} affected")
    if card.choices is not None:
        lines.append(f"🗳️ {counts_text(card.choices)}")
    lines += _cancel_lines(card)
    blocks: list[Block] = [section("\n".join(lines))]
    alternatives = alternative_lines(card.switch_options, currency)
    if alternatives:
        blocks.append(section("*Alternatives*\n" + clip_lines(alternatives, SECTION_LIMIT - 20)))
    return blocks


def _cancel_lines(card: AlertCard) -> list[str]:
    """Who asked to cancel: staff decide (a button where the store can do it)."""
    lines = []
    for request in card.cancel_requests[:MAX_CANCEL_LINES]:
        who = escape(clip(request.customer_name.strip() or "A customer", NAME_LIMIT))
        line = f"🛑 {who}, order {escape(request.order_number)}, wants to cancel"
        if request.error:
            line += f" (last try failed: {escape(clip(request.error, 80))})"
        elif request.started:
            line += " (being cancelled)"
        elif not request.store_service:
            line += ": cancel it in your store"
        lines.append(line)
    hidden = len(card.cancel_requests) - MAX_CANCEL_LINES
    if hidden > 0:
        lines.append(f"…and {hidden} more: `/backorders {_sku(card)}`")
    return lines


def _group_blocks(card: AlertCard) -> list[Block]:
    counts = _member_counts(card) or "none open"
    summary = [f"{card.group.open} of {card.group.total} still open: {counts}"]
    if card.group.waiting_orders:
        units = waiting_text(card.group.waiting_orders, card.group.waiting_units)
        summary.append(f"⏳ *{units} waiting*")
    lines = [member_line(member) for member in card.group.members]
    hidden = card.group.total - len(card.group.members)
    if hidden > 0:
        lines.append(f"…and {hidden} more: *Open list* shows them all")
    return [section("\n".join(summary)), section(clip_lines(lines, SECTION_LIMIT))]


def _header(card: AlertCard) -> str:
    if card.is_group:
        return (
            f"{kind_emoji(_worst_member_kind(card))} {card.group.total} products at "
            f"{card.supplier or ''}"
        )
    if card.product is not None:
        return f"{kind_emoji(card.kind)} {card.product.sku} {problem_words(card.kind)}"
    return f"{kind_emoji(card.kind)} {kind_label(card.kind)}: {_subject(card)}"


def alert_message(card: AlertCard, currency: str = DEFAULT_CURRENCY) -> Message:
    text = fallback_text(card)
    if card.is_resolved:
        return message(
            text, [section(_resolved_line(card, markup=True)), *action_blocks(card, currency)]
        )
    # Plain text: the header is never parsed, so it needs no escaping.
    blocks: list[Block] = [HeaderBlock(text=clip(_header(card), HEADER_LIMIT))]
    if card.is_group:
        blocks += _group_blocks(card)
    elif card.product is not None:
        blocks += _product_blocks(card, currency)
    elif card.summary:
        blocks.append(section(escape(card.summary)))
    lines = [_state_line(card)]
    if card.last_switch is not None:
        lines.append(f"🔀 {card.last_switch.text}")
    if card.substitute is not None:
        sku, substitute_title = card.substitute
        lines.append(f"🔁 Substitute offered: `{escape(sku)}` {escape(substitute_title)}")
    blocks.append(context(*lines))
    blocks += cancel_blocks(card)
    blocks += action_blocks(card, currency)
    return message(text, blocks)
