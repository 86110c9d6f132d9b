"""The email modal submitted: ack at once (emails never slow the ack), then send."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext

from bot.errors import UserError
from bot.slack.answers import tell
from bot.slack.ids import ActionId, BlockId
from bot.slack.render.notify import result_message
from bot.slack.services import Services
from bot.slack.texts import EMPTY_MESSAGE
from bot.slack.values import NotifyForm, form_input


async def send_emails(
    ack: AsyncAck,
    view: dict[str, Any],
    form: NotifyForm,
    user_id: str,
    context: AsyncBoltContext,
    services: Services,
) -> None:
    message = form_input(view, BlockId.NOTIFY_MESSAGE, ActionId.NOTIFY_MESSAGE)
    if not message:
        raise UserError(EMPTY_MESSAGE)
    await ack()  # closes the modal; Bolt runs the rest after answering Slack
    result = await services.notifier.send(
        form.alert_id, form.product_id, message, user_id, form.kind
    )
    if not result.posted_in_thread:
        # The alert's thread holds the result; otherwise the sender hears it alone.
        await tell(context, result_message(result))
