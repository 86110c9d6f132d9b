"""The modal to offer waiting customers another product, and its menu's options."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ExternalDataSelectElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
)
from slack_sdk.models.views import View

from bot.core.fixes.substitution import SubstituteChoice
from bot.core.text import clip, escape
from bot.currency import DEFAULT_CURRENCY
from bot.slack.ids import ActionId, BlockId, CallbackId
from bot.slack.render.base import BUTTON_LIMIT, section
from bot.slack.render.stock_text import money
from bot.slack.values import SubstituteForm


def substitute_modal(product_title: str, form: SubstituteForm) -> dict[str, Any]:
    """Choices load as the person types (an external select), so any catalog size fits."""
    view = View(
        type="modal",
        callback_id=CallbackId.SUBSTITUTE_MODAL,
        title=PlainTextObject(text="Substitute product"),
        submit=PlainTextObject(text="Offer substitute"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=form.encode(),
        blocks=[
            section(
                f"Offer the customers waiting for `{escape(form.sku)}` "
                f"{escape(product_title)} another product. Only products in stock are listed."
            ),
            InputBlock(
                block_id=BlockId.SUBSTITUTE_PICK,
                label=PlainTextObject(text="Substitute"),
                element=ExternalDataSelectElement(
                    action_id=ActionId.SUBSTITUTE_PICK,
                    placeholder=PlainTextObject(text="Type a SKU or words of a title"),
                    min_query_length=0,
                ),
            ),
            InputBlock(
                block_id=BlockId.SUBSTITUTE_NOTE,
                label=PlainTextObject(text="Note for the team (optional)"),
                optional=True,
                element=PlainTextInputElement(action_id=ActionId.SUBSTITUTE_NOTE, multiline=True),
            ),
        ],
    )
    return view.to_dict()


def coverage(choice: SubstituteChoice) -> str:
    """Whether its stock is enough for everyone waiting: what decides a substitute."""
    if not choice.waiting:
        return f"{choice.quantity:,} in stock"
    if choice.covers:
        return f"covers all {choice.waiting:,} waiting"
    return f"{choice.quantity:,} in stock, not enough for {choice.waiting:,}"


def _label(choice: SubstituteChoice, currency: str) -> str:
    """'MUG-2 · Green mug · covers all 399 waiting · $4.20'; the title gives way first."""
    tail = f" · {coverage(choice)} · {money(choice.price, currency)}"
    room = BUTTON_LIMIT - len(choice.sku) - len(tail) - 3
    title = f" · {clip(choice.title, room)}" if room > 1 else ""
    return clip(f"{choice.sku}{title}{tail}", BUTTON_LIMIT)


def substitute_options(
    choices: list[SubstituteChoice], currency: str = DEFAULT_CURRENCY
) -> list[dict[str, Any]]:
    """Best first: the core ranks those whose stock covers every waiting unit first."""
    return [
        Option(value=choice.sku, label=_label(choice, currency)).to_dict() for choice in choices
    ]
