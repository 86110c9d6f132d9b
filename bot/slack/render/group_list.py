"""The list behind a grouped message's *Open list*: every product of the storm, worst
first, each once, with what waits for it."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Block, PlainTextObject
from slack_sdk.models.views import View

from bot.core.text import clip, clip_lines, escape
from bot.slack.ids import CallbackId
from bot.slack.render.base import SECTION_LIMIT, context, plural, section
from bot.slack.render.stock_text import kind_emoji, quantity_text, waiting_text
from bot.views.cards import MemberLine
from bot.views.lookup import GroupList

MAX_VIEW_BLOCKS = 100
LINES_PER_SECTION = 25  # short sections scroll well on a phone


def member_line(member: MemberLine) -> str:
    subject = f"`{escape(clip(member.sku, 40))}` {escape(clip(member.title, 80))}"
    if member.resolved:
        return f"✅ ~{subject}~"
    stock = quantity_text(member.quantity, member.availability)
    waiting = (
        f" · *{waiting_text(member.waiting_orders, member.waiting_units)} waiting*"
        if member.waiting_orders
        else ""
    )
    return f"{kind_emoji(member.kind)} {subject} · stock {stock}{waiting}"


def group_list_modal(answer: GroupList) -> dict[str, Any]:
    lines = [member_line(member) for member in answer.members]
    blocks: list[Block] = [
        section(
            f"*{plural(answer.total, 'product')}* at {escape(answer.supplier or 'every supplier')}"
            ", most urgent first. Type `/stock SKU` for one product's suppliers."
        )
    ]
    for start in range(0, len(lines), LINES_PER_SECTION):
        if len(blocks) >= MAX_VIEW_BLOCKS - 1:
            break
        blocks.append(section(clip_lines(lines[start : start + LINES_PER_SECTION], SECTION_LIMIT)))
    hidden = answer.total - len(answer.members)
    if hidden > 0:
        blocks.append(context(f"…and {hidden} more not shown."))
    view = View(
        type="modal",
        callback_id=CallbackId.GROUP_LIST_MODAL,
        title=PlainTextObject(text="Stock problems"),
        close=PlainTextObject(text="Close"),
        blocks=blocks[:MAX_VIEW_BLOCKS],
    )
    return view.to_dict()
