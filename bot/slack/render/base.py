"""Block Kit primitives: Slack's limits, the `Message` every builder returns, and the
few shapes every message is made of. Every text passes through `clip` here, so the
limits hold however long a product title or a list gets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.core.text import clip, clip_lines

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
BUTTON_LIMIT = 75  # button texts and option labels
MAX_BLOCKS = 50
FORM_ERROR_LIMIT = 150  # keep a modal's error line short enough to read beside its input


@dataclass(frozen=True, slots=True)
class Message:
    text: str
    blocks: list[dict[str, Any]]


def mrkdwn(text: str, limit: int = SECTION_LIMIT) -> MarkdownTextObject:
    return MarkdownTextObject(text=clip(text, limit))


def section(text: str) -> SectionBlock:
    return SectionBlock(text=mrkdwn(text))


def plain_section(text: str) -> SectionBlock:
    """Text shown as is: no mentions, links or formatting."""
    return SectionBlock(text=PlainTextObject(text=clip(text, SECTION_LIMIT), emoji=False))


def context(*lines: str) -> ContextBlock:
    return ContextBlock(elements=[mrkdwn(line) for line in lines])


def message(text: str, blocks: list[Block]) -> Message:
    """`text` is the notification and screen-reader fallback of the blocks."""
    return Message(
        text=clip(text, SECTION_LIMIT), blocks=[b.to_dict() for b in blocks[:MAX_BLOCKS]]
    )


def text_message(text: str) -> Message:
    """A plain answer (refusals, confirmations) as one section."""
    return message(text, [section(text)])


def list_message(title: str, lines: list[str], footer: str | None = None) -> Message:
    """A header, as many lines as fit, and an optional footnote."""
    blocks: list[Block] = [
        HeaderBlock(text=clip(title, HEADER_LIMIT)),
        section(clip_lines(lines, SECTION_LIMIT) or "Nothing."),
    ]
    if footer:
        blocks.append(context(footer))
    return message(title, blocks)


def slack_date(moment: datetime) -> str:
    """A date Slack shows in each reader's own time zone, with a UTC fallback."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
