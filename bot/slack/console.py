"""Alerts as plain lines for the terminal, when Stockbot runs without Slack."""

from __future__ import annotations

from bot.currency import DEFAULT_CURRENCY
from bot.slack.render.alert_message import fallback_text
from bot.slack.render.base import Message
from bot.slack.render.stock_text import kind_label, offer_lines
from bot.views.cards import AlertCard
from bot.views.lookup import AlertSummary

MEMBERS_SHOWN = 10


def _plain(text: str) -> str:
    """Slack mrkdwn as a terminal shows it: no bold markers, entities read back."""
    return text.replace("*", "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def console_text(card: AlertCard, currency: str = DEFAULT_CURRENCY) -> str:
    """The alert as a few plain lines (the console sink prints them)."""
    lines = [_plain(fallback_text(card))]
    if card.is_resolved:
        return lines[0]
    if card.product:
        lines += [f"    {_plain(line)}" for line in offer_lines(card.product, currency)]
    if card.group.members:
        lines += [f"    - {m.sku} {m.title}" for m in card.group.members[:MEMBERS_SHOWN]]
        if card.group.total > MEMBERS_SHOWN:
            lines.append(f"    …and {card.group.total - MEMBERS_SHOWN} more")
    return "\n".join(lines)


def console_alert_summary(summary: AlertSummary) -> str:
    """Open alerts as plain lines, most severe first, shown when the bot starts without Slack."""
    if not summary.counts:
        return "No open alerts."
    lines = [f"Open alerts ({sum(summary.counts.values())}):"]
    for line in summary.lines:
        subject = f"{line.sku} {line.title}" if line.sku else (line.supplier or "")
        stock = f": {line.quantity} left" if line.sku and line.quantity is not None else ""
        waiting = f", {line.waiting_units} units waiting" if line.waiting_units else ""
        lines.append(f"  - {kind_label(line.kind)}: {subject}{stock}{waiting} ({line.state})")
    return "\n".join(lines)


def console_message(message: Message) -> str:
    """A Block Kit message as plain lines: each section's text, blank lines between."""
    parts = []
    for block in message.blocks:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(_plain(str(text.get("text", ""))))
        for element in block.get("elements", []) if block.get("type") == "context" else []:
            parts.append(_plain(str(element.get("text", ""))))
    return "\n\n".join(part for part in parts if part)
