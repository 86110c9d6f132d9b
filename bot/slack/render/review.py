"""Block Kit for the daily picture: the daily review message, the `/suppliers`
scorecards and the App Home dashboard. Short lines, plain words: read on a phone."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from slack_sdk.models.blocks import Block, DividerBlock, HeaderBlock

from bot.core.review.scorecard import Scorecard
from bot.core.text import clip, escape, mention
from bot.currency import DEFAULT_CURRENCY
from bot.slack.render.backorders import age
from bot.slack.render.base import (
    HEADER_LIMIT,
    MAX_BLOCKS,
    SECTION_LIMIT,
    Message,
    context,
    message,
    plural,
    section,
    slack_date,
)
from bot.slack.render.stock_text import money
from bot.views.review import AtRisk, OutOfStock, PassedRestock, Review, TeamAction

TITLE_LIMIT = 60
MAX_HOME_BLOCKS = 100
# Suppliers on the /suppliers answer: one block each, beside the header and footnote.
SHOWN_SUPPLIERS = MAX_BLOCKS - 3


def _product(sku: str, title: str) -> str:
    return f"`{escape(sku)}` {escape(clip(title, TITLE_LIMIT))}"


def _rate(per_day: float) -> str:
    return f"{per_day:.1f}" if per_day < 10 else f"{per_day:.0f}"


def _days(days: float | None) -> str:
    if days is None:
        return "cover not known"
    if days < 1:
        hours = days * 24
        return "under an hour" if hours < 1 else f"about {hours:.0f} h"
    return f"about {days:.0f} day" + ("" if round(days) == 1 else "s")


def at_risk_line(line: AtRisk, currency: str) -> str:
    where = f" at {escape(line.product.supplier)}" if line.product.supplier else ""
    stock = f"{line.stock:,} left{where}" if line.stock is not None else f"stock{where} unknown"
    revenue = (
        f"\n   {money(line.revenue_per_day, currency)}/day of sales at risk"
        if line.revenue_per_day is not None
        else ""
    )
    return (
        f"• {_product(line.product.sku, line.product.title)}\n"
        f"   {stock}, goes ~{_rate(line.rate_per_day)}/day: {_days(line.days_of_cover)}"
        f"{revenue}"
    )


def out_line(line: OutOfStock, now: datetime) -> str:
    where = f" at {escape(line.product.supplier)}" if line.product.supplier else ""
    since = f" for {age(line.since, now)}" if line.since else ""
    return f"• {_product(line.product.sku, line.product.title)}: out{where}{since}"


def backorder_line(product: Any, now: datetime) -> str:
    return (
        f"• {_product(product.sku, product.title)}: "
        f"{plural(product.orders, 'order')}, {plural(product.units, 'unit')}, "
        f"oldest {age(product.oldest_at, now)}"
    )


def passed_line(line: PassedRestock) -> str:
    where = f" at {escape(line.product.supplier)}" if line.product.supplier else ""
    return (
        f"• {_product(line.product.sku, line.product.title)}: "
        f"due {line.restock_date:%d %b}{where}, still out"
    )


def _percent(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}%"


def grade_text(card: Scorecard) -> str:
    return f"*{card.grade}*" if card.grade else "no grade yet"


def supplier_line(card: Scorecard) -> str:
    """One supplier in a few words, for the review and the Home tab."""
    why = f" ({card.weakest})" if card.weakest else ""
    return f"• *{escape(card.supplier)}*: {grade_text(card)}{why}"


def _changed(card: Scorecard) -> str:
    hours = card.hours_since_change
    if hours is None:
        return "no data yet"
    if hours < 1:
        return "data changed <1 h ago"
    if hours < 48:
        return f"data changed {hours:.0f} h ago"
    return f"data changed {hours / 24:.0f} days ago"


def scorecard_text(card: Scorecard) -> str:
    restocks = card.restocks
    kept = (
        f"restock dates met {restocks.met} of {restocks.promised}"
        if restocks.promised
        else "no restock date due"
    )
    uptime = card.uptime
    polls = "no polls yet" if uptime is None else f"feed up {_percent(uptime)}"
    return (
        f"*{escape(card.supplier)}* · grade {grade_text(card)}\n"
        f"{polls} · {_changed(card)}\n"
        f"{plural(card.stockouts, 'stockout')}, {card.days_out:.1f} days out\n"
        f"{kept} · {plural(card.price_changes, 'price change')}"
    )


def team_line(action: TeamAction) -> str:
    who = mention(action.actor) if action.actor.startswith(("U", "W")) else "Stockbot"
    sku = f"`{escape(action.sku)}`"
    if action.kind == "email":
        return f"• {who} emailed {plural(action.count, 'customer')} about {sku}"
    if action.kind == "substitute":
        return f"• {who} offered `{escape(action.detail)}` instead of {sku}"
    if action.kind == "undo":
        return f"• {who} undid a switch: {sku} back on {escape(action.detail)}"
    return f"• {who} switched {sku} to {escape(action.detail)}"


def _part(title: str, total: int, lines: list[str], more: int, empty: str) -> str:
    """A titled list: "*At risk (12)*", its lines, "…and N more"; or the empty line."""
    if not lines:
        return f"*{title}*\n{empty}"
    tail = [f"…and {more} more"] if more > 0 else []
    body = f"*{title} ({total})*"
    for text in [*lines, *tail]:
        if len(body) + len(text) + 1 > SECTION_LIMIT - 30:
            shown = body.count("\n•")
            body += f"\n…and {total - shown} more"
            break
        body += "\n" + text
    return body


def _review_parts(review: Review, currency: str) -> list[str]:
    now = review.now
    return [
        _part(
            f"At risk, out within {plural(review.warn_days, 'day')}",
            review.at_risk.total,
            [at_risk_line(line, currency) for line in review.at_risk.shown],
            review.at_risk.more,
            "Nothing predicted to run out soon.",
        ),
        _part(
            "Out of stock",
            review.out_of_stock.total,
            [out_line(line, now) for line in review.out_of_stock.shown],
            review.out_of_stock.more,
            "Nothing out of stock.",
        ),
        _part(
            "Backorders, oldest first",
            review.backorders.total,
            [backorder_line(line, now) for line in review.backorders.shown],
            review.backorders.more,
            "No customer is waiting.",
        ),
    ]


def _restock_part(review: Review) -> str:
    return _part(
        "Restock dates passed",
        review.passed_restocks.total,
        [passed_line(line) for line in review.passed_restocks.shown],
        review.passed_restocks.more,
        "No restock date has passed.",
    )


def _suppliers_part(review: Review) -> str:
    cards = review.suppliers
    return _part(
        "Suppliers, last 30 days",
        len(cards),
        [supplier_line(card) for card in cards[:SHOWN_SUPPLIERS]],
        len(cards) - min(len(cards), SHOWN_SUPPLIERS),
        "No supplier yet.",
    )


def review_message(
    review: Review, currency: str = DEFAULT_CURRENCY, day: date | None = None
) -> Message:
    """The daily review: what needs attention, the suppliers, what the team did."""
    team = _part(
        "Team, last 24 h",
        review.team.total,
        [team_line(action) for action in review.team.shown],
        review.team.more,
        "No switches, substitutes or emails.",
    )
    parts = [*_review_parts(review, currency), _restock_part(review), _suppliers_part(review), team]
    blocks: list[Block] = [
        HeaderBlock(text=clip(f"Daily review · {day or review.now.date():%a %d %b}", HEADER_LIMIT))
    ]
    for index, part in enumerate(parts):
        if index:
            blocks.append(DividerBlock())
        blocks.append(section(part))
    blocks.append(context(f"As of {slack_date(review.now)} · `/suppliers` for the scorecards"))
    return message(f"Daily review: {review.summary}", blocks)


def home_view(review: Review, currency: str = DEFAULT_CURRENCY) -> dict[str, Any]:
    """The App Home dashboard: at risk, out of stock, backorders, supplier grades, and
    the last daily review."""
    last = review.last_review
    last_text = (
        f"*Last daily review*\n{slack_date(last.posted_at)}: {escape(last.summary) or 'posted'}"
        if last is not None
        else "*Last daily review*\nNone yet. Set `[review] time` to get one each morning."
    )
    parts = [*_review_parts(review, currency), _suppliers_part(review), last_text]
    blocks: list[Block] = [HeaderBlock(text="Stockbot")]
    blocks.append(context(f"Updated {slack_date(review.now)}"))
    for part in parts:
        blocks.append(DividerBlock())
        blocks.append(section(part))
    return {"type": "home", "blocks": [b.to_dict() for b in blocks[:MAX_HOME_BLOCKS]]}


def scorecards_message(cards: list[Scorecard]) -> Message:
    """`/suppliers`: every supplier's figures over 30 days and its grade."""
    if not cards:
        return message("No suppliers yet.", [section("No suppliers are configured yet.")])
    blocks: list[Block] = [HeaderBlock(text="Suppliers, last 30 days")]
    blocks += [section(scorecard_text(card)) for card in cards[:SHOWN_SUPPLIERS]]
    footer = "Grades: A best to D. Uptime, restock dates met and days out of stock each count."
    if len(cards) > SHOWN_SUPPLIERS:
        footer = f"…and {len(cards) - SHOWN_SUPPLIERS} more. " + footer
    blocks.append(context(footer))
    summary = ", ".join(f"{card.supplier} {card.grade or '-'}" for card in cards)
    return message(f"Supplier grades: {summary}", blocks)
