"""`/notify-customers SKU`: the same modal as the alert's "Email customers" button."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.fixes.customer_notices import NOT_CONFIGURED, Preview
from bot.slack.answers import ack_with, reply
from bot.slack.render.base import text_message
from bot.slack.render.modals import open_modal
from bot.slack.render.notify import answer_message, notify_modal
from bot.slack.services import Services
from bot.slack.texts import NOTIFY_USAGE


async def notify_customers(
    ack: AsyncAck,
    command: dict[str, Any],
    services: Services,
    client: AsyncWebClient,
    respond: AsyncRespond,
) -> None:
    query = " ".join(command.get("text", "").split())
    if not query or not services.notifier.configured:
        # Answers that need no work go in the ack itself.
        await ack_with(ack, text_message(NOTIFY_USAGE if not query else NOT_CONFIGURED))
        return
    await ack()
    answer = await services.notifier.preview_for_query(query)
    if isinstance(answer, Preview):
        await open_modal(client, command["trigger_id"], notify_modal(answer, command["channel_id"]))
    else:
        await reply(respond, answer_message(answer))
