"""Block Kit (and console text) for alerts and product status.

Pure functions from read models to messages. Every text goes through `clip`,
so Slack's limits hold however long a product title or supplier list gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    ExternalDataSelectElement,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.core.substitution import SubstituteChoice
from bot.core.text import clip, clip_lines, escape
from bot.views.cards import AlertCard, OfferLine, ProductCard
from bot.views.lookup import AlertSummary, Answer, Matches, NotFound

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
BUTTON_LIMIT = 75
MAX_BLOCKS = 50

ACKNOWLEDGE_ACTION = "acknowledge_alert"
SNOOZE_ACTION = "snooze_alert"
SWITCH_ACTION = "switch_supplier"
SWITCH_PICK_ACTION = "switch_supplier_pick"
UNDO_SWITCH_ACTION = "undo_switch"
SUBSTITUTE_ACTION = "substitute_product"
NOTIFY_ACTION = "notify_customers"
PRODUCT_KINDS = ("low_stock", "out_of_stock", "backorder")

KIND_TITLES = {
    "low_stock": ("⚠️", "Low stock"),
    "out_of_stock": ("🚨", "Out of stock"),
    "supplier_feed": ("🧾", "Supplier feed problem"),
    "supplier_down": ("🔌", "Supplier not responding"),
    "backorder": ("⏳", "Backorders"),
    "store_push": ("🛒", "Store update failed"),
}


@dataclass(frozen=True, slots=True)
class Message:
    text: str
    blocks: list[dict[str, Any]]


def slack_date(moment: datetime) -> str:
    """A date Slack shows in each reader's own time zone, with a UTC fallback."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


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


def _money(price: Decimal | None) -> str:
    return f"{price:,.2f}" if price is not None else "no price"


def _price_change(price: Decimal | None, reference: Decimal | None) -> str:
    if price is None or reference is None or reference == 0 or price == reference:
        return ""
    change = (price - reference) / reference * 100
    return f" ({change:+.0f}%)"


def offer_lines(card: ProductCard, include_active: bool = True) -> list[str]:
    reference = card.active.price if card.active else None
    lines = []
    for offer in card.offers:
        if offer.is_active and not include_active:
            continue
        marker = " *(active)*" if offer.is_active else ""
        restock = f" · restock {offer.restock_date:%Y-%m-%d}" if offer.restock_date else ""
        change = "" if offer.is_active else _price_change(offer.price, reference)
        stock = quantity_text(offer.quantity, offer.availability)
        price = f"{_money(offer.price)}{change}"
        lines.append(f"• *{escape(offer.supplier)}*{marker}: {stock} · {price}{restock}")
    return lines


def _title(card: AlertCard) -> str:
    emoji, label = KIND_TITLES.get(card.kind, ("🔔", card.kind))
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
    title = _title(card)
    if card.product and card.product.active:
        active = card.product.active
        stock = quantity_text(active.quantity, active.availability)
        return clip(
            f"{title} ({card.product.sku}) at {active.supplier}: {stock} "
            f"(threshold {card.product.threshold})",
            SECTION_LIMIT,
        )
    if card.summary:
        return clip(f"{title}. {card.summary}", SECTION_LIMIT)
    return clip(title, SECTION_LIMIT)


def _state_line(card: AlertCard) -> str:
    if card.is_resolved and card.resolved_at:
        return f"Resolved {slack_date(card.resolved_at)}. {escape(card.resolution or '')}"
    if card.state == "acknowledged" and card.acknowledged_by:
        return f"👀 Acknowledged by <@{card.acknowledged_by}>"
    if card.state == "snoozed" and card.snoozed_until:
        return f"😴 Snoozed by <@{card.snoozed_by}> until {slack_date(card.snoozed_until)}"
    return f"Opened {slack_date(card.opened_at)}"


def _product_blocks(card: AlertCard) -> list[Block]:
    assert card.product is not None
    product = card.product
    active = product.active
    stock = quantity_text(active.quantity, active.availability) if active else "—"
    fields = [
        MarkdownTextObject(
            text=clip(f"*Product*\n`{escape(product.sku)}` {escape(product.title)}", 2000)
        ),
        MarkdownTextObject(
            text=clip(f"*Supplier*\n{escape(active.supplier if active else '—')}", 2000)
        ),
        MarkdownTextObject(text=f"*Stock*\n{stock} (threshold {product.threshold})"),
    ]
    if card.stock_changed_at:
        fields.append(MarkdownTextObject(text=f"*Changed*\n{slack_date(card.stock_changed_at)}"))
    if active and active.restock_date:
        fields.append(MarkdownTextObject(text=f"*Restock date*\n{active.restock_date:%Y-%m-%d}"))
    orders = card.orders
    if orders and orders.backordered_orders:
        oldest = (
            f", oldest since {slack_date(orders.oldest_backorder_at)}"
            if (orders.oldest_backorder_at)
            else ""
        )
        fields.append(
            MarkdownTextObject(
                text=f"*Waiting*\n{orders.backordered_orders} order(s), "
                f"{orders.backordered_units} unit(s){oldest}"
            )
        )
    elif orders and orders.open_orders:
        fields.append(MarkdownTextObject(text=f"*Open orders*\n{orders.open_orders} affected"))
    blocks: list[Block] = [SectionBlock(fields=fields[:10])]
    others = offer_lines(product, include_active=False)
    text = (
        "*Other suppliers*\n" + clip_lines(others, SECTION_LIMIT - 20)
        if others
        else "*Other suppliers*\nNone: this product has a single supplier."
    )
    blocks.append(SectionBlock(text=MarkdownTextObject(text=text)))
    return blocks


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
    return [
        SectionBlock(text=MarkdownTextObject(text=intro)),
        SectionBlock(text=MarkdownTextObject(text=clip_lines(lines, SECTION_LIMIT))),
    ]


def _fix_elements(card: AlertCard) -> list[Any]:
    """Switch supplier, substitute, notify: the ways to fix a product alert."""
    alert_id = card.alert_id
    elements: list[Any] = []
    best = card.best_switch
    if best is not None:
        percent = best.price_change_percent
        change = (
            ""
            if percent is None
            else (", same price" if round(percent) == 0 else f", {percent:+.0f}%")
        )
        elements.append(
            ButtonElement(
                text=clip(f"Switch to {best.supplier} ({best.quantity} in stock{change})", 75),
                action_id=SWITCH_ACTION,
                value=f"{alert_id}:{best.offer_id}",
            )
        )
    if len(card.switch_options) > (1 if best else 0):
        elements.append(
            StaticSelectElement(
                placeholder="Other supplier…",
                action_id=SWITCH_PICK_ACTION,
                options=[
                    Option(
                        value=f"{alert_id}:{option.offer_id}",
                        label=clip(
                            f"{option.supplier} · "
                            f"{quantity_text(option.quantity, 'unknown')} · "
                            f"{_money(option.price)}",
                            75,
                        ),
                    )
                    for option in card.switch_options[:100]
                ],
            )
        )
    elements.append(
        ButtonElement(text="Substitute…", action_id=SUBSTITUTE_ACTION, value=str(alert_id))
    )
    if card.orders and card.orders.open_orders:
        elements.append(
            ButtonElement(text="Email customers…", action_id=NOTIFY_ACTION, value=str(alert_id))
        )
    return elements


def _undo_element(card: AlertCard) -> ButtonElement | None:
    if card.last_switch is None or not card.last_switch.undoable:
        return None
    return ButtonElement(
        text="Undo switch",
        action_id=UNDO_SWITCH_ACTION,
        value=str(card.last_switch.audit_id),
        style="danger",
    )


def _action_blocks(card: AlertCard) -> list[Block]:
    alert_id = str(card.alert_id)
    elements: list[Any] = []
    if card.state != "acknowledged":
        elements.append(
            ButtonElement(
                text="Acknowledge",
                action_id=ACKNOWLEDGE_ACTION,
                value=alert_id,
                style="primary",
            )
        )
    elements.append(
        StaticSelectElement(
            placeholder="Snooze…",
            action_id=SNOOZE_ACTION,
            options=[
                Option(value=f"{alert_id}:{choice}", label=f"Snooze {label}")
                for choice, label in (("1h", "1 hour"), ("4h", "4 hours"), ("24h", "24 hours"))
            ],
        )
    )
    blocks: list[Block] = [ActionsBlock(block_id=f"alert_actions:{alert_id}", elements=elements)]
    if card.product is not None and card.kind in PRODUCT_KINDS:
        fixes = _fix_elements(card)
        if undo := _undo_element(card):
            fixes.insert(0, undo)
        blocks.append(ActionsBlock(block_id=f"alert_fixes:{alert_id}", elements=fixes))
    return blocks


def alert_message(card: AlertCard) -> Message:
    blocks: list[Block] = [HeaderBlock(text=clip(_title(card), HEADER_LIMIT))]
    if card.members_total:
        blocks += _group_blocks(card)
    elif card.product:
        blocks += _product_blocks(card)
    if card.summary and not card.members_total:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=clip(escape(card.summary), SECTION_LIMIT)))
        )
    context = [_state_line(card)]
    if card.last_switch is not None:
        context.append(f"🔀 {card.last_switch.text}")
    if card.substitute is not None:
        context.append(
            f"🔁 Substitute offered: `{escape(card.substitute[0])}` {escape(card.substitute[1])}"
        )
    blocks.append(
        ContextBlock(
            elements=[MarkdownTextObject(text=clip(line, SECTION_LIMIT)) for line in context]
        )
    )
    if not card.is_resolved:
        blocks += _action_blocks(card)
    elif undo := _undo_element(card):
        blocks.append(ActionsBlock(block_id=f"alert_fixes:{card.alert_id}", elements=[undo]))
    return Message(text=fallback_text(card), blocks=[b.to_dict() for b in blocks[:MAX_BLOCKS]])


def console_text(card: AlertCard) -> str:
    """The alert as a few plain lines for the terminal (Slack not configured)."""
    lines = [fallback_text(card).replace("*", "")]
    if card.product:
        lines += [f"    {line.replace('*', '')}" for line in offer_lines(card.product)]
    if card.members:
        lines += [f"    - {m.sku} {m.title}" for m in card.members[:10]]
        if card.members_total > 10:
            lines.append(f"    …and {card.members_total - 10} more")
    if card.is_resolved and card.resolution:
        lines.append(f"    {card.resolution}")
    return "\n".join(lines)


def console_alert_summary(summary: AlertSummary) -> str:
    """Open alerts as plain lines, shown when the bot starts without Slack."""
    if not summary.counts:
        return "No open alerts."
    lines = [f"Open alerts ({sum(summary.counts.values())}):"]
    for line in summary.lines:
        label = KIND_TITLES.get(line.kind, ("", line.kind))[1]
        subject = f"{line.sku} {line.title}" if line.sku else (line.supplier or "")
        stock = f": {line.quantity} left" if line.sku and line.quantity is not None else ""
        lines.append(f"  - {label}: {subject}{stock} ({line.state})")
    return "\n".join(lines)


def product_status_message(card: ProductCard) -> Message:
    active = card.active
    status = (
        f"{quantity_text(active.quantity, active.availability)} at {active.supplier}"
        if active
        else "no active supplier"
    )
    blocks: list[Block] = [
        HeaderBlock(text=clip(f"{card.title}", HEADER_LIMIT)),
        SectionBlock(
            text=MarkdownTextObject(
                text=clip(
                    f"`{escape(card.sku)}` · stock {status} · low-stock threshold {card.threshold}",
                    SECTION_LIMIT,
                )
            )
        ),
        SectionBlock(
            text=MarkdownTextObject(
                text="*Suppliers*\n" + (clip_lines(offer_lines(card), SECTION_LIMIT - 20) or "None")
            )
        ),
    ]
    if card.open_alerts:
        kinds = ", ".join(
            KIND_TITLES.get(kind, ("", kind))[1].lower() for _, kind in card.open_alerts
        )
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"Open alerts: {kinds}")]))
    return Message(
        text=clip(f"{card.sku} {card.title}: {status}", SECTION_LIMIT),
        blocks=[b.to_dict() for b in blocks],
    )


def lookup_message(answer: Answer) -> Message:
    """The ephemeral answer to `/stock`."""
    if isinstance(answer, ProductCard):
        return product_status_message(answer)
    if isinstance(answer, Matches):
        lines = [f"• `{escape(sku)}` {escape(title)}" for sku, title in answer.products]
        more = answer.total - len(answer.products)
        footer = f"…and {more} more: add words to narrow it down." if more > 0 else None
        return list_message(
            f"{answer.total} products match “{clip(answer.query, 60)}”",
            [*lines, "Type `/stock SKU` for one product's stock at every supplier."],
            footer,
        )
    if isinstance(answer, NotFound):
        text = f"No product matches “{escape(clip(answer.query, 100))}”."
        if answer.suggestions:
            text += " Did you mean:\n" + "\n".join(
                f"• `{escape(sku)}` {escape(title)}" for sku, title in answer.suggestions
            )
        else:
            text += " Try a SKU or a few words of the product title."
        return text_message(text)
    return alert_summary_message(answer)


def alert_summary_message(summary: AlertSummary) -> Message:
    if not summary.counts:
        return text_message("✅ No open alerts: every product's active supplier has stock.")
    counts = ", ".join(
        f"{count} {KIND_TITLES.get(kind, ('', kind))[1].lower()}"
        for kind, count in sorted(summary.counts.items())
    )
    lines = []
    for line in summary.lines:
        emoji = KIND_TITLES.get(line.kind, ("🔔", ""))[0]
        if line.sku:
            stock = f": {line.quantity} left" if line.quantity is not None else ""
            subject = f"`{escape(line.sku)}` {escape(line.title or '')}{stock}"
        else:
            subject = (
                f"{KIND_TITLES.get(line.kind, ('', line.kind))[1]}: {escape(line.supplier or '')}"
            )
        state = "" if line.state == "open" else f" _({line.state})_"
        lines.append(f"{emoji} {subject}{state}")
    total = sum(summary.counts.values())
    return list_message(
        f"Open alerts: {counts}",
        lines,
        "Type `/stock SKU` for one product, or `/stock words` to search."
        + (f" Showing {len(lines)} of {total}." if total > len(lines) else ""),
    )


def text_message(text: str) -> Message:
    """A plain answer (errors, confirmations) as one section."""
    return Message(
        text=clip(text, SECTION_LIMIT),
        blocks=[SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_LIMIT))).to_dict()],
    )


def list_message(title: str, lines: list[str], footer: str | None = None) -> Message:
    blocks: list[Block] = [
        HeaderBlock(text=clip(title, HEADER_LIMIT)),
        SectionBlock(text=MarkdownTextObject(text=clip_lines(lines, SECTION_LIMIT) or "Nothing.")),
    ]
    if footer:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(footer, SECTION_LIMIT))]))
    return Message(text=clip(title, SECTION_LIMIT), blocks=[b.to_dict() for b in blocks])


__all__ = [
    "ACKNOWLEDGE_ACTION",
    "SNOOZE_ACTION",
    "Message",
    "OfferLine",
    "alert_message",
    "clip",
    "clip_lines",
    "console_text",
    "list_message",
    "lookup_message",
    "product_status_message",
    "text_message",
]


SUBSTITUTE_MODAL = "substitute_product_modal"
SUBSTITUTE_PICK = "substitute_pick"
SUBSTITUTE_NOTE = "substitute_note"


def substitute_modal(product_sku: str, product_title: str, metadata: str) -> dict[str, Any]:
    """The modal to pick a substitute; choices load as the person types (external select)."""
    view = View(
        type="modal",
        callback_id=SUBSTITUTE_MODAL,
        title=PlainTextObject(text="Substitute product"),
        submit=PlainTextObject(text="Offer substitute"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata,
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=clip(
                        f"Offer the customers waiting for `{escape(product_sku)}` "
                        f"{escape(product_title)} another product. Only products in stock "
                        "are listed.",
                        SECTION_LIMIT,
                    )
                )
            ),
            InputBlock(
                block_id=SUBSTITUTE_PICK,
                label=PlainTextObject(text="Substitute"),
                element=ExternalDataSelectElement(
                    action_id=SUBSTITUTE_PICK,
                    placeholder=PlainTextObject(text="Type a SKU or words of a title"),
                    min_query_length=0,
                ),
            ),
            InputBlock(
                block_id=SUBSTITUTE_NOTE,
                label=PlainTextObject(text="Note for the team (optional)"),
                optional=True,
                element=PlainTextInputElement(action_id=SUBSTITUTE_NOTE, multiline=True),
            ),
        ],
    )
    return view.to_dict()


def substitute_options(choices: list[SubstituteChoice]) -> list[dict[str, Any]]:
    return [
        Option(
            value=choice.sku,
            label=clip(
                f"{choice.sku} · {choice.title} · {choice.quantity} in stock · "
                f"{_money(choice.price)}",
                75,
            ),
        ).to_dict()
        for choice in choices
    ]
