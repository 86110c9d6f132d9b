"""`/stock [SKU or words]`: a product's stock at every supplier, or open alerts."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.runtime import Runtime
from bot.slack.render import lookup_message


def register(app: AsyncApp, runtime: Runtime) -> None:
    actions = runtime.lookup

    @app.command("/stock")
    async def stock(ack: AsyncAck, command: dict[str, Any]) -> None:
        # A catalog query is fast: the answer goes in the ack itself, visible only to the asker.
        message = lookup_message(await actions.stock(command.get("text", "")))
        await ack(text=message.text, blocks=message.blocks, response_type="ephemeral")
