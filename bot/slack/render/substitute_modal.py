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


def substitute_options(choices: list[SubstituteChoice]) -> list[dict[str, Any]]:
    return [
        Option(
            value=choice.sku,
            label=clip(
                f"{choice.sku} · {choice.title} · {choice.quantity} in stock · "
                f"{money(choice.price)}",
                BUTTON_LIMIT,
            ),
        ).to_dict()
        for choice in choices
    ]
