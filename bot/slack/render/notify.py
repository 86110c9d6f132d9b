"""Block Kit for emailing customers: the modal with its preview, and the answers.

Pure functions from `bot.core.fixes.customer_notices` read models to Slack payloads.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Block, InputBlock, PlainTextInputElement, PlainTextObject
from slack_sdk.models.views import View

from bot.core.fixes.customer_notices import (
    LeftOut,
    NobodyWaiting,
    NoticeKind,
    NotifyResult,
    Preview,
    UnknownProduct,
    long_date,
    summary_text,
)
from bot.core.text import clip, clip_lines, escape
from bot.slack.ids import ActionId, BlockId, CallbackId
from bot.slack.render.base import (
    SECTION_LIMIT,
    Message,
    context,
    plain_section,
    plural,
    section,
    text_message,
)
from bot.slack.render.stock_text import did_you_mean, product_line
from bot.slack.values import NotifyForm

MODAL_TITLE = "Email customers"  # Slack allows 24 characters
MAX_MESSAGE = 3000


def _product(sku: str, title: str) -> str:
    return f"`{escape(sku)}` {escape(title)}"


def _recipient_line(preview: Preview) -> list[str]:
    return [
        f"• {escape(r.name or r.address)} · {escape(r.address)} · "
        f"{'order' if len(r.orders) == 1 else 'orders'} {escape(r.order_numbers)}"
        for r in preview.recipients
    ]


def _preview_heading(preview: Preview) -> str:
    first = preview.recipients[0]
    who = escape(f"{first.name} ({first.address})" if first.name else first.address)
    return f"*Preview* of the email to {who}, with the message as first written:"


def _who(preview: Preview) -> str:
    """The modal's first line: who gets which email."""
    target = preview.target
    product = _product(target.product.sku, target.product.title)
    customers = f"*{plural(len(preview.recipients), 'customer')}*"
    if target.kind == NoticeKind.DATE_UPDATE and target.restock_date:
        return (
            f"{customers} waiting for {product} were told another date: each gets one email "
            f"with the new date, *{long_date(target.restock_date)}*."
        )
    if target.kind == NoticeKind.BACK_IN_STOCK:
        return (
            f"{customers} told about a delay of {product} now have their order covered: "
            "each gets one email saying it is on its way."
        )
    orders = plural(preview.order_count, "open order")
    if preview.only_backordered:
        orders += " that stock cannot cover"
    return f"{customers} waiting for {product} ({orders}) will get one email each."


def _chose(left_out: LeftOut) -> str:
    """What the customers of the orders left out chose."""
    if not left_out.cancel:
        return "the substitute"
    if not left_out.substitute:
        return "to cancel"
    return "the substitute or to cancel"


def left_out_line(left_out: LeftOut) -> str:
    """'Left out: 2 orders whose customer chose the substitute or to cancel.'"""
    return f"Left out: {plural(left_out.orders, 'order')} whose customer chose {_chose(left_out)}."


def notify_modal(preview: Preview, channel_id: str) -> dict[str, Any]:
    """The modal: who gets an email, the editable message and a rendered preview."""
    target = preview.target
    blocks: list[Block] = [
        section(_who(preview)),
        context(
            f"Restock date: *{long_date(target.restock_date)}*"
            if target.restock_date
            else "Restock date: not known yet",
            f"Alternative: {_product(target.substitute.sku, target.substitute.title)}"
            if target.substitute
            else "Alternative: none chosen",
        ),
        InputBlock(
            block_id=BlockId.NOTIFY_MESSAGE,
            label="Message to the customers",
            hint="Sent as written to everyone below; each email adds the customer's own orders.",
            element=PlainTextInputElement(
                action_id=ActionId.NOTIFY_MESSAGE,
                multiline=True,
                initial_value=clip(preview.default_message, MAX_MESSAGE),
                max_length=MAX_MESSAGE,
            ),
        ),
        section(_preview_heading(preview)),
        # The email is plain text: shown as is, never as Slack formatting.
        plain_section(f"Subject: {preview.sample.subject}\n\n{preview.sample.text}"),
        section("*Recipients*\n" + clip_lines(_recipient_line(preview), SECTION_LIMIT - 20)),
    ]
    if preview.left_out.orders:
        blocks.append(context(left_out_line(preview.left_out)))
    if preview.orders_without_email:
        numbers = escape(", ".join(preview.orders_without_email))
        blocks.append(
            section(
                f"⚠️ No email address on order {numbers}: they will not be emailed; "
                "contact them another way."
            )
        )
    where = (
        "The result goes to the alert's thread."
        if target.alert_id is not None
        else "You will get the result here, visible only to you."
    )
    blocks.append(
        context(
            f"{where} A customer never gets the same message about this twice, "
            "even if it is sent again."
        )
    )
    form = NotifyForm(
        alert_id=target.alert_id,
        product_id=target.product.id,
        channel_id=channel_id,
        kind=target.kind,
    )
    view = View(
        type="modal",
        callback_id=CallbackId.NOTIFY_MODAL,
        title=PlainTextObject(text=MODAL_TITLE),
        submit=PlainTextObject(text="Send emails"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=form.encode(),
        blocks=blocks,
    )
    return view.to_dict()


def answer_message(answer: NobodyWaiting | UnknownProduct) -> Message:
    """Why no modal opened: nobody waiting, or no such product."""
    if isinstance(answer, NobodyWaiting):
        product = _product(answer.product.sku, answer.product.title)
        if answer.kind != NoticeKind.NOTICE:
            return text_message(
                f"Nobody needs this news about {product} any more: every customer due it "
                "has been told."
            )
        if answer.orders_without_email:
            numbers = escape(", ".join(answer.orders_without_email))
            return text_message(
                f"Nobody can be emailed about {product}: the open orders waiting for it "
                f"({numbers}) have no email address."
            )
        if answer.left_out.orders:
            orders = answer.left_out.orders
            whose = (
                "the customer of its only open order"
                if orders == 1
                else f"the customers of its {orders} open orders"
            )
            return text_message(
                f"Nobody is waiting for {product} any more: {whose} chose "
                f"{_chose(answer.left_out)}."
            )
        return text_message(
            f"Nobody is waiting for {product}: no open order holds it, so there is no one to email."
        )
    query = escape(clip(answer.query, 100))
    if answer.several:
        listed = "\n".join(product_line(sku, title) for sku, title in answer.suggestions)
        return text_message(f"“{query}” matches several products; give one SKU:\n{listed}")
    return did_you_mean(
        "No product has the SKU",
        answer.query,
        answer.suggestions,
        "Try `/stock words` to find the SKU, then `/notify-customers SKU`.",
    )


def result_message(result: NotifyResult) -> Message:
    """The outcome for the person who sent (when there is no alert thread to post in)."""
    return text_message(summary_text(result))
