"""A waiting customer asked to cancel: staff cancel the order in its store (confirmed)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncRespond

from bot.slack.answers import reply
from bot.slack.render.fix_messages import order_cancelled_message
from bot.slack.services import Services
from bot.slack.values import CancelRef


async def cancel_order(
    ack: AsyncAck, clicked: CancelRef, user_id: str, services: Services, respond: AsyncRespond
) -> None:
    await ack()
    result = await services.choices.cancel_in_store(clicked.choice_id, user_id)
    await reply(respond, order_cancelled_message(result))
