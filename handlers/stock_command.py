"""`/stock [SKU or words]`: a product's stock at every supplier, or open alerts."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.runtime import Runtime
from bot.slack.render import lookup_message


def register(app: AsyncApp, runtime: Runtime) -> None:
    actions = runtime.lookup

    @app.command("/stock")
    async def stock(ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any]) -> None:
        # Ack at once, then answer (visible only to the asker) through the response URL:
        # neither Slack's 3 seconds nor the other requests' acks wait on the catalog.
        await ack()
        message = lookup_message(await actions.stock(command.get("text", "")))
        await respond(
            text=message.text,
            blocks=message.blocks,
            response_type="ephemeral",
            replace_original=False,
        )
