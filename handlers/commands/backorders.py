"""`/backorders [SKU | ORDER_ID]`: open backorders by product, one product's waiting
orders, or one order's story."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond

from bot.slack.answers import reply
from bot.slack.render.backorders import backorders_message
from bot.slack.services import Services


async def backorders(
    ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any], services: Services
) -> None:
    # Ack at once, then answer (only to the asker) through the response URL: an order's
    # story reads its emails too, and Slack's 3 seconds never wait on it.
    await ack()
    answer = await services.lookup.backorders(command.get("text", ""))
    await reply(respond, backorders_message(answer))
