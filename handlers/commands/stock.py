"""`/stock [SKU or words]`: a product's stock at every supplier, or the open alerts."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck

from bot.slack.answers import ack_with
from bot.slack.render.lookup_message import lookup_message
from bot.slack.services import Services


async def stock(ack: AsyncAck, command: dict[str, Any], services: Services) -> None:
    # A catalog query is fast: the answer goes in the ack itself, visible only to the asker.
    answer = await services.lookup.stock(command.get("text", ""))
    await ack_with(ack, lookup_message(answer, services.currency))
