"""The ephemeral answers to `/stock`: one product, a search, or the open alerts."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, HeaderBlock

from bot.core.forecast import ForecastResult
from bot.core.problems.states import PRODUCT_PROBLEMS
from bot.core.text import clip, clip_lines, escape, rate_words, span_words
from bot.currency import DEFAULT_CURRENCY
from bot.slack.render.base import (
    HEADER_LIMIT,
    SECTION_LIMIT,
    Message,
    context,
    list_message,
    message,
    plural,
    section,
    slack_date,
    text_message,
)
from bot.slack.render.stock_text import (
    did_you_mean,
    kind_emoji,
    kind_label,
    offer_lines,
    problem_words,
    product_line,
    quantity_text,
    waiting_text,
)
from bot.views.cards import ProductCard
from bot.views.lookup import AlertSummary, Answer, Matches, NotFound, OpenAlertLine

METHOD_WORDS = {
    "ses": "smoothed daily sales",
    "tsb": "smoothed, for occasional sales",
    "mean": "average so far",
}


def forecast_lines(forecast: ForecastResult) -> list[str]:
    """What the forecast says, short lines for a phone; unknowns said, never zero."""
    if forecast.method == "none":
        sales = "No sales in the history window"
    else:
        sales = f"Sells ~{rate_words(forecast.rate_per_day)} ({METHOD_WORDS[forecast.method]})"
    if forecast.data_quality == "little data":
        sales += f" · _little data: {plural(forecast.history_days, 'day')}_"
    lines = [sales]
    if forecast.out_of_stock:
        lines.append("No cover left: out of stock now")
    elif forecast.days_of_cover is not None and forecast.predicted_stockout is not None:
        cover = span_words(forecast.days_of_cover * 86400)
        lines.append(
            f"About {cover} of cover · out around {slack_date(forecast.predicted_stockout)}"
        )
    else:
        lines.append("Days of cover: not known yet")
    if forecast.drain_per_day is not None:
        lines.append(f"Supplier stock drains ~{rate_words(forecast.drain_per_day)}")
    if forecast.mae is not None:
        lines.append(f"Forecast off by ~{forecast.mae:.1f}/day on average (last 28 days)")
    return lines


def product_status_message(card: ProductCard, currency: str = DEFAULT_CURRENCY) -> Message:
    active = card.active
    status = (
        f"{quantity_text(active.quantity, active.availability)} at {active.supplier}"
        if active
        else "no active supplier"
    )
    blocks: list[Block] = [
        HeaderBlock(text=clip(card.title, HEADER_LIMIT)),
        section(f"`{escape(card.sku)}` · stock {status} · low-stock threshold {card.threshold}"),
        section(
            "*Suppliers*\n"
            + (clip_lines(offer_lines(card, currency), SECTION_LIMIT - 20) or "None")
        ),
    ]
    if card.forecast is not None:
        blocks.append(section("*Forecast*\n" + "\n".join(forecast_lines(card.forecast))))
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


def _summary_counts(summary: AlertSummary) -> str:
    """'2 out of stock (1 with orders waiting), 1 backordered, 3 low stock', worst first."""
    order: dict[str, int] = {kind: rank for rank, kind in enumerate(PRODUCT_PROBLEMS)}
    parts = []
    for kind, count in sorted(summary.counts.items(), key=lambda kc: (order.get(kc[0], -1), kc[0])):
        part = f"{count} {problem_words(kind)}"
        if kind == "out_of_stock" and summary.out_of_stock_waiting:
            part += f" ({summary.out_of_stock_waiting} with orders waiting)"
        parts.append(part)
    return ", ".join(parts)


def _summary_line(line: OpenAlertLine) -> str:
    if not line.sku:
        subject = f"{kind_label(line.kind)}: {escape(line.supplier or '')}"
    else:
        stock = quantity_text(line.quantity, line.availability or "unknown")
        at = f" at {escape(line.supplier)}" if line.supplier else ""
        subject = f"`{escape(line.sku)}` {escape(clip(line.title or '', 80))} · {stock}{at}"
        if line.waiting_orders:
            subject += f" · *{waiting_text(line.waiting_orders, line.waiting_units)} waiting*"
    state = "" if line.state == "open" else f" _({line.state})_"
    return f"{kind_emoji(line.kind)} {subject}{state}"


def alert_summary_message(summary: AlertSummary) -> Message:
    if not summary.counts:
        return text_message("✅ No open alerts: every product's active supplier has stock.")
    lines = [_summary_line(line) for line in summary.lines]
    total = sum(summary.counts.values())
    return list_message(
        f"Open alerts: {_summary_counts(summary)}",
        lines,
        "Most urgent first. Type `/stock SKU` for one product, or `/stock words` to search."
        + (f" Showing {len(lines)} of {total}." if total > len(lines) else ""),
    )


def lookup_message(answer: Answer, currency: str = DEFAULT_CURRENCY) -> Message:
    """The ephemeral answer to `/stock`."""
    if isinstance(answer, ProductCard):
        return product_status_message(answer, currency)
    if isinstance(answer, Matches):
        return _matches_message(answer)
    if isinstance(answer, NotFound):
        return did_you_mean(
            "No product matches",
            answer.query,
            answer.suggestions,
            "Try a SKU or a few words of the product title.",
        )
    return alert_summary_message(answer)
