"""`/stock [SKU or words]`: a product's stock at every supplier, or the open alerts."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond

from bot.slack.answers import reply
from bot.slack.render.lookup_message import lookup_message
from bot.slack.services import Services


async def stock(
    ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any], services: Services
) -> None:
    # Ack at once, then answer (visible only to the asker) through the response URL:
    # neither Slack's 3 seconds nor the other requests' acks wait on the catalog.
    await ack()
    answer = await services.lookup.stock(command.get("text", ""))
    await reply(respond, lookup_message(answer, services.currency))
