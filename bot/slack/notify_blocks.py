"""Block Kit for emailing customers: the button, the modal and the answers.

Pure functions from `bot.core.fixes.customer_notices` read models to Slack payloads;
every text is clipped to Slack's limits here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.core.fixes.customer_notices import (
    NobodyWaiting,
    NotifyResult,
    Preview,
    UnknownProduct,
    long_date,
    summary_text,
)
from bot.core.text import clip, clip_lines, escape
from bot.slack.render import SECTION_LIMIT, Message, text_message

NOTIFY_CUSTOMERS_ACTION = "notify_customers"
NOTIFY_MODAL_CALLBACK = "notify_customers_modal"
MESSAGE_BLOCK = "notify_message"
MESSAGE_ACTION = "message"
MODAL_TITLE = "Email customers"  # Slack allows 24 characters
MAX_MESSAGE = 3000
METADATA_LIMIT = 3000

USAGE = (
    "Usage: `/notify-customers SKU` opens a form to email every customer waiting for that "
    "product, with a preview. The *Email customers* button on an alert does the same."
)
EMPTY_MESSAGE = "Write the message the customers will get."
OUT_OF_DATE_FORM = "This form is out of date: close it and open it again from the alert."


@dataclass(frozen=True, slots=True)
class ModalRef:
    """What a submitted modal is about, carried in its private_metadata."""

    alert_id: int | None
    product_id: int
    channel_id: str


def notify_button(alert_id: int) -> ButtonElement:
    """The alert message's button (bot/render.py adds it to stock and backorder alerts)."""
    return ButtonElement(
        text="Email customers", action_id=NOTIFY_CUSTOMERS_ACTION, value=str(alert_id)
    )


def _mrkdwn(text: str, limit: int = SECTION_LIMIT) -> MarkdownTextObject:
    return MarkdownTextObject(text=clip(text, limit))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def notify_modal(preview: Preview, channel_id: str) -> dict[str, Any]:
    """The modal: who gets an email, the editable message and a rendered preview."""
    target = preview.target
    product = f"`{escape(target.product.sku)}` {escape(target.product.title)}"
    customers = len(preview.recipients)
    orders = _plural(preview.order_count, "open order")
    if preview.only_backordered:
        orders += " that stock cannot cover"
    blocks: list[Block] = [
        SectionBlock(
            text=_mrkdwn(
                f"*{_plural(customers, 'customer')}* waiting for {product} ({orders}) will "
                "get one email each."
            )
        ),
        ContextBlock(
            elements=[
                _mrkdwn(
                    f"Restock date: *{long_date(target.restock_date)}*"
                    if target.restock_date
                    else "Restock date: not known yet"
                ),
                _mrkdwn(
                    f"Alternative: `{escape(target.substitute.sku)}` "
                    f"{escape(target.substitute.title)}"
                    if target.substitute
                    else "Alternative: none chosen"
                ),
            ]
        ),
        InputBlock(
            block_id=MESSAGE_BLOCK,
            label="Message to the customers",
            hint="Sent as written to everyone below; each email adds the customer's own orders.",
            element=PlainTextInputElement(
                action_id=MESSAGE_ACTION,
                multiline=True,
                initial_value=clip(preview.default_message, MAX_MESSAGE),
                max_length=MAX_MESSAGE,
            ),
        ),
        SectionBlock(text=_mrkdwn(_preview_heading(preview))),
        SectionBlock(
            text=PlainTextObject(
                text=clip(f"Subject: {preview.sample.subject}\n\n{preview.sample.text}", 3000),
                emoji=False,
            )
        ),
        SectionBlock(
            text=_mrkdwn(
                "*Recipients*\n"
                + clip_lines(
                    [
                        f"• {escape(r.name or r.address)} · {escape(r.address)} · "
                        f"{'order' if len(r.orders) == 1 else 'orders'} "
                        f"{escape(r.order_numbers)}"
                        for r in preview.recipients
                    ],
                    SECTION_LIMIT - 20,
                )
            )
        ),
    ]
    if preview.orders_without_email:
        numbers = escape(", ".join(preview.orders_without_email))
        blocks.append(
            SectionBlock(
                text=_mrkdwn(
                    f"⚠️ No email address on order {numbers}: they will not be emailed; "
                    "contact them another way."
                )
            )
        )
    where = (
        "The result goes to the alert's thread."
        if target.alert_id is not None
        else "You will get the result here, visible only to you."
    )
    blocks.append(
        ContextBlock(
            elements=[
                _mrkdwn(
                    f"{where} A customer never gets the same message about this twice, "
                    "even if it is sent again."
                )
            ]
        )
    )
    metadata = json.dumps(
        {"alert_id": target.alert_id, "product_id": target.product.id, "channel_id": channel_id},
        separators=(",", ":"),
    )
    assert len(metadata) <= METADATA_LIMIT
    view = View(
        type="modal",
        callback_id=NOTIFY_MODAL_CALLBACK,
        title=PlainTextObject(text=MODAL_TITLE),
        submit=PlainTextObject(text="Send emails"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata,
        blocks=blocks,
    )
    return view.to_dict()


def _preview_heading(preview: Preview) -> str:
    first = preview.recipients[0]
    who = escape(f"{first.name} ({first.address})" if first.name else first.address)
    return f"*Preview* of the email to {who}, with the message as first written:"


def parse_metadata(raw: str) -> ModalRef | None:
    """The modal's reference back, or None if it is not one of ours (or out of date)."""
    try:
        data = json.loads(raw)
        alert_id, product_id = data["alert_id"], data["product_id"]
        channel_id = str(data.get("channel_id") or "")
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(product_id, int) or not (alert_id is None or isinstance(alert_id, int)):
        return None
    return ModalRef(alert_id=alert_id, product_id=product_id, channel_id=channel_id)


def submitted_message(view: dict[str, Any]) -> str:
    """The message as typed in the submitted modal ("" when left empty)."""
    state = ((view.get("state") or {}).get("values") or {}).get(MESSAGE_BLOCK) or {}
    return str((state.get(MESSAGE_ACTION) or {}).get("value") or "").strip()


def answer_message(answer: NobodyWaiting | UnknownProduct) -> Message:
    """Why no modal opened: nobody waiting, or no such product."""
    if isinstance(answer, NobodyWaiting):
        product = f"`{escape(answer.product.sku)}` {escape(answer.product.title)}"
        if answer.orders_without_email:
            numbers = escape(", ".join(answer.orders_without_email))
            return text_message(
                f"Nobody can be emailed about {product}: the open orders waiting for it "
                f"({numbers}) have no email address."
            )
        return text_message(
            f"Nobody is waiting for {product}: no open order holds it, so there is no one to email."
        )
    query = escape(clip(answer.query, 100))
    listed = "\n".join(f"• `{escape(sku)}` {escape(t)}" for sku, t in answer.suggestions)
    if answer.several:
        return text_message(f"“{query}” matches several products; give one SKU:\n{listed}")
    if listed:
        return text_message(f"No product has the SKU “{query}”. Did you mean:\n{listed}")
    return text_message(
        f"No product has the SKU “{query}”. Try `/stock words` to find the SKU, "
        "then `/notify-customers SKU`."
    )


def result_message(result: NotifyResult) -> Message:
    """The outcome for the person who sent (when there is no alert thread to post in)."""
    return text_message(summary_text(result))
