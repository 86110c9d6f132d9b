"""`/backorders [SKU]`: open backorders by product, or one product's waiting orders."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond

from bot.slack.answers import reply
from bot.slack.render.backorders import backorders_message
from bot.slack.services import Services


async def backorders(
    ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any], services: Services
) -> None:
    # Ack at once, then answer (visible only to the asker) through the response URL,
    # as /stock does: a large catalog's read never holds up Slack's 3 seconds.
    await ack()
    answer = await services.lookup.backorders(command.get("text", ""))
    await reply(respond, backorders_message(answer))
