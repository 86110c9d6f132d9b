"""Small helpers every listener shares: plain ephemeral answers and the access check."""

from __future__ import annotations

from slack_bolt.async_app import AsyncRespond

from bot.runtime import Runtime
from bot.slack.access import NOT_ALLOWED
from bot.slack.render import text_message

OUT_OF_DATE = "That button is out of date; use the latest alert message."


async def tell(respond: AsyncRespond, text: str) -> None:
    """An ephemeral answer to the person who clicked or typed, never to the channel."""
    message = text_message(text)
    await respond(
        text=message.text, blocks=message.blocks, response_type="ephemeral", replace_original=False
    )


async def allowed(runtime: Runtime, user_id: str, respond: AsyncRespond) -> bool:
    """True if `user_id` may act; otherwise tells them so (nothing changes)."""
    if await runtime.access.may_act(user_id):
        return True
    await tell(respond, NOT_ALLOWED)
    return False


def parse_id(raw: str) -> int | None:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


async def clicked_id(
    runtime: Runtime, raw_value: str, user_id: str, respond: AsyncRespond
) -> int | None:
    """The ID a clicked button or menu carries, if the person may act; else None,
    having told them why (an out-of-date button, or not allowed)."""
    target = parse_id(raw_value)
    if target is None:
        await tell(respond, OUT_OF_DATE)
        return None
    if not await allowed(runtime, user_id, respond):
        return None
    return target
