"""The ephemeral answers to `/stock`: one product, a search, or the open alerts."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, HeaderBlock

from bot.core.text import clip, clip_lines, escape
from bot.slack.render.base import (
    HEADER_LIMIT,
    SECTION_LIMIT,
    Message,
    context,
    list_message,
    message,
    section,
    text_message,
)
from bot.slack.render.stock_text import (
    did_you_mean,
    kind_emoji,
    kind_label,
    offer_lines,
    product_line,
    quantity_text,
)
from bot.views.cards import ProductCard
from bot.views.lookup import AlertSummary, Answer, Matches, NotFound


def product_status_message(card: ProductCard) -> Message:
    active = card.active
    status = (
        f"{quantity_text(active.quantity, active.availability)} at {active.supplier}"
        if active
        else "no active supplier"
    )
    blocks: list[Block] = [
        HeaderBlock(text=clip(card.title, HEADER_LIMIT)),
        section(f"`{escape(card.sku)}` · stock {status} · low-stock threshold {card.threshold}"),
        section("*Suppliers*\n" + (clip_lines(offer_lines(card), SECTION_LIMIT - 20) or "None")),
    ]
    if card.open_alerts:
        kinds = ", ".join(kind_label(kind).lower() for _, kind in card.open_alerts)
        blocks.append(context(f"Open alerts: {kinds}"))
    return message(f"{card.sku} {card.title}: {status}", blocks)


def _matches_message(answer: Matches) -> Message:
    lines = [product_line(sku, title) for sku, title in answer.products]
    more = answer.total - len(answer.products)
    return list_message(
        f"{answer.total} products match “{clip(answer.query, 60)}”",
        [*lines, "Type `/stock SKU` for one product's stock at every supplier."],
        f"…and {more} more: add words to narrow it down." if more > 0 else None,
    )


def alert_summary_message(summary: AlertSummary) -> Message:
    if not summary.counts:
        return text_message("✅ No open alerts: every product's active supplier has stock.")
    counts = ", ".join(
        f"{count} {kind_label(kind).lower()}" for kind, count in sorted(summary.counts.items())
    )
    lines = []
    for line in summary.lines:
        if line.sku:
            stock = f": {line.quantity} left" if line.quantity is not None else ""
            subject = f"`{escape(line.sku)}` {escape(line.title or '')}{stock}"
        else:
            subject = f"{kind_label(line.kind)}: {escape(line.supplier or '')}"
        state = "" if line.state == "open" else f" _({line.state})_"
        lines.append(f"{kind_emoji(line.kind)} {subject}{state}")
    total = sum(summary.counts.values())
    return list_message(
        f"Open alerts: {counts}",
        lines,
        "Type `/stock SKU` for one product, or `/stock words` to search."
        + (f" Showing {len(lines)} of {total}." if total > len(lines) else ""),
    )


def lookup_message(answer: Answer) -> Message:
    """The ephemeral answer to `/stock`."""
    if isinstance(answer, ProductCard):
        return product_status_message(answer)
    if isinstance(answer, Matches):
        return _matches_message(answer)
    if isinstance(answer, NotFound):
        return text_message(
            did_you_mean(
                f"No product matches “{escape(clip(answer.query, 100))}”.",
                answer.suggestions,
                "Try a SKU or a few words of the product title.",
            )
        )
    return alert_summary_message(answer)
