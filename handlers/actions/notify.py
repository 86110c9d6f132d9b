"""The alert's "Email customers" button: a modal with the recipients and a preview."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.fixes.customer_notices import NOT_CONFIGURED, NotifyProblem, Preview
from bot.slack.answers import reply
from bot.slack.render.modals import open_modal
from bot.slack.render.notify import answer_message, notify_modal
from bot.slack.services import Services
from bot.slack.values import AlertRef


async def open_notify_modal(
    ack: AsyncAck,
    clicked: AlertRef,
    body: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    respond: AsyncRespond,
    services: Services,
) -> None:
    await ack()
    await show_notify_modal(clicked.alert_id, body, context, client, respond, services)


async def show_notify_modal(
    alert_id: int,
    body: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    respond: AsyncRespond,
    services: Services,
) -> None:
    """The email dialog for an alert's product (from its button or its menu)."""
    if not services.notifier.configured:
        raise NotifyProblem(NOT_CONFIGURED)
    answer = await services.notifier.preview_for_alert(alert_id)
    if isinstance(answer, Preview):
        channel = context.channel_id or services.alert_channel
        await open_modal(client, body["trigger_id"], notify_modal(answer, channel))
    else:
        await reply(respond, answer_message(answer))
