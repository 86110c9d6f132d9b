"""`/backorders [SKU]`: open backorders by product, or one product's waiting orders."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck

from bot.core.backorders import lookup_backorders
from bot.runtime import Runtime
from bot.slack.answers import ack_with
from bot.slack.render.backorders import backorders_message


async def backorders(ack: AsyncAck, command: dict[str, Any], runtime: Runtime) -> None:
    # A read is fast: the answer goes in the ack itself.
    answer = await lookup_backorders(runtime.sessions, command.get("text", ""))
    await ack_with(ack, backorders_message(answer))
