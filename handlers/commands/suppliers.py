"""`/suppliers`: every supplier's scorecard over the last 30 days, and its grade."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncRespond

from bot.slack.answers import reply
from bot.slack.render.review import scorecards_message
from bot.slack.services import Services


async def suppliers(ack: AsyncAck, respond: AsyncRespond, services: Services) -> None:
    # Ack at once: the figures read 30 days of history.
    await ack()
    await reply(respond, scorecards_message(await services.board.scorecards()))
