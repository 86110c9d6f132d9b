"""The alert's "Email customers" button (and its follow-ups: the new date, "on its way"):
a modal with the recipients and a preview."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.fixes.customer_notices import NOT_CONFIGURED, NoticeKind, NotifyProblem, Preview
from bot.slack.answers import reply
from bot.slack.ids import ActionId
from bot.slack.render.modals import open_modal
from bot.slack.render.notify import answer_message, notify_modal
from bot.slack.services import Services
from bot.slack.values import AlertRef

# The alert's email buttons, by action: which email each offers.
EMAIL_BUTTONS = {
    ActionId.NOTIFY_CUSTOMERS: NoticeKind.NOTICE,
    ActionId.NOTIFY_DATE_UPDATE: NoticeKind.DATE_UPDATE,
    ActionId.NOTIFY_BACK_IN_STOCK: NoticeKind.BACK_IN_STOCK,
}


async def open_notify_modal(
    ack: AsyncAck,
    clicked: AlertRef,
    action: dict[str, Any],
    body: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    respond: AsyncRespond,
    services: Services,
) -> None:
    await ack()
    kind = EMAIL_BUTTONS[ActionId(action["action_id"])]
    await show_notify_modal(clicked.alert_id, body, context, client, respond, services, kind)


async def show_notify_modal(
    alert_id: int,
    body: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    respond: AsyncRespond,
    services: Services,
    kind: NoticeKind = NoticeKind.NOTICE,
) -> None:
    """The email dialog for an alert's product (from its buttons or its menu)."""
    if not services.notifier.configured:
        raise NotifyProblem(NOT_CONFIGURED)
    answer = await services.notifier.preview_for_alert(alert_id, kind)
    if isinstance(answer, Preview):
        channel = context.channel_id or services.alert_channel
        await open_modal(client, body["trigger_id"], notify_modal(answer, channel))
    else:
        await reply(respond, answer_message(answer))
