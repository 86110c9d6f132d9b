"""`/backorders [SKU]`: open backorders by product, or one product's waiting orders."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.core.backorders import lookup_backorders
from bot.runtime import Runtime
from bot.slack.backorder_blocks import backorders_message

COMMAND = "/backorders"


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.command(COMMAND)
    async def backorders(ack: AsyncAck, command: dict[str, Any]) -> None:
        # Viewing needs no permission; a read is fast, so the answer goes in the ack.
        message = backorders_message(
            await lookup_backorders(runtime.sessions, command.get("text", ""))
        )
        await ack(text=message.text, blocks=message.blocks, response_type="ephemeral")
