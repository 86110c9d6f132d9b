"""`/backorders [SKU]`: open backorders by product, or one product's waiting orders."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck

from bot.slack.answers import ack_with
from bot.slack.render.backorders import backorders_message
from bot.slack.services import Services


async def backorders(ack: AsyncAck, command: dict[str, Any], services: Services) -> None:
    # A read is fast: the answer goes in the ack itself.
    answer = await services.lookup.backorders(command.get("text", ""))
    await ack_with(ack, backorders_message(answer))
