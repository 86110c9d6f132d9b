"""Answering the person who clicked, typed or submitted, and the one error path.

Every answer is ephemeral: only the person sees it. The error path is Bolt's error
handler for listeners and middleware alike: a `UserError` (not allowed, out of date,
no such product…) reaches the person as its own text; anything else is logged with
its traceback and answered with GENERIC_ERROR.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.text import clip
from bot.errors import UserError
from bot.slack.access import NotAllowed
from bot.slack.ids import FORM_ERROR_BLOCKS, BlockId
from bot.slack.render.base import FORM_ERROR_LIMIT, Message, text_message
from bot.slack.texts import GENERIC_ERROR
from bot.slack.values import OutOfDate

log = logging.getLogger(__name__)


async def ack_with(ack: AsyncAck, message: Message) -> None:
    """An answer in the ack itself, for a slash command whose answer needs no slow work."""
    await ack(text=message.text, blocks=message.blocks, response_type="ephemeral")


async def reply(respond: AsyncRespond, message: Message) -> None:
    """Through the request's response_url, never replacing the message clicked on."""
    await respond(
        text=message.text, blocks=message.blocks, response_type="ephemeral", replace_original=False
    )


async def whisper(client: AsyncWebClient, channel: str | None, user: str, message: Message) -> None:
    """Ephemeral in `channel`; in the app's DM with the user if the bot cannot post there."""
    if channel:
        try:
            await client.chat_postEphemeral(
                channel=channel, user=user, text=message.text, blocks=message.blocks
            )
            return
        except SlackApiError as exc:
            log.warning("ephemeral answer in %s failed (%s); sending a DM", channel, exc)
    await client.chat_postMessage(channel=user, text=message.text, blocks=message.blocks)


async def tell(context: AsyncBoltContext, message: Message) -> None:
    """To whoever sent this request: through its response_url, or else (a modal
    submission has none) ephemerally in the channel the modal came from."""
    user, respond = context.user_id, context.respond
    try:
        if context.response_url and respond is not None:
            await reply(respond, message)
        elif user:
            channel = context.get("reply_channel") or context.channel_id
            await whisper(context.client, channel, user, message)
    except (SlackApiError, aiohttp.ClientError, TimeoutError):
        log.exception("could not answer %s: %s", user, message.text)


def _said(error: Exception) -> str:
    if isinstance(error, UserError):
        return str(error)
    # A stack trace helps us, never the person who clicked: log it, answer plainly.
    log.error("Slack request failed", exc_info=error)
    return GENERIC_ERROR


def _form_field(body: dict[str, Any], error: Exception) -> BlockId | None:
    """Where a submitted modal shows a refusal about what was typed or chosen; None for
    refusals about the request itself (who sent it, how old it is) and for bugs."""
    if body.get("type") != "view_submission" or not isinstance(error, UserError):
        return None
    if isinstance(error, NotAllowed | OutOfDate):
        return None
    return FORM_ERROR_BLOCKS.get(str((body.get("view") or {}).get("callback_id")))


class ErrorAnswers:
    """Bolt's error handler (`app.error`): the one place a failure becomes an answer."""

    def __init__(self) -> None:
        # Answers sent after the ack went out; each task stays referenced until done.
        self._pending: set[asyncio.Task[None]] = set()

    async def __call__(
        self,
        error: Exception,
        body: dict[str, Any],
        context: AsyncBoltContext,
        response: BoltResponse | None,
    ) -> BoltResponse | None:
        message = text_message(_said(error))
        if response is None:  # the listener acked already: Slack waits for nothing
            await tell(context, message)
            return None
        ack = context.ack
        if body.get("type") == "block_suggestion":
            return await ack(options=[])  # a menu still loading: no options, no message
        field = _form_field(body, error)
        if field is not None:
            return await ack(
                response_action="errors", errors={field: clip(str(error), FORM_ERROR_LIMIT)}
            )
        # Ack first (it also closes a modal), then tell the person.
        acked = await ack()
        self._later(tell(context, message))
        return acked

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
