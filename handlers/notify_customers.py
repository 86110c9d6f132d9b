"""Email customers: the alert button and `/notify-customers SKU` open a modal with a
preview; submitting it sends the emails in a background task, after the ack."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.fixes.customer_notices import NOT_CONFIGURED, NotifyProblem, Preview
from bot.runtime import Runtime
from bot.slack.access import NOT_ALLOWED
from bot.slack.notify_blocks import (
    EMPTY_MESSAGE,
    MESSAGE_BLOCK,
    NOTIFY_CUSTOMERS_ACTION,
    NOTIFY_MODAL_CALLBACK,
    OUT_OF_DATE_FORM,
    USAGE,
    ModalRef,
    answer_message,
    notify_modal,
    parse_metadata,
    result_message,
    submitted_message,
)
from bot.slack.render import Message, text_message
from bot.slack.texts import GENERIC_ERROR
from handlers.common import allowed, clicked_id, tell

log = logging.getLogger(__name__)

COMMAND = "/notify-customers"
SLOW_FORM = "Slack did not open the form ({error}); please try again."


def register(app: AsyncApp, runtime: Runtime) -> None:
    notifier = runtime.notifier
    # Sending outlives the request; keep each task referenced until it is done.
    sending: set[asyncio.Task[None]] = set()

    def in_background(work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        sending.add(task)
        task.add_done_callback(sending.discard)

    async def open_form(
        client: AsyncWebClient,
        respond: AsyncRespond,
        trigger_id: str,
        channel_id: str,
        find: Coroutine[Any, Any, Any],
    ) -> None:
        try:
            answer = await find
        except NotifyProblem as exc:
            await tell(respond, str(exc))
            return
        if not isinstance(answer, Preview):
            await _say(respond, answer_message(answer))
            return
        try:
            # trigger_id lives 3 s from the click: open the view straight after the ack.
            await client.views_open(trigger_id=trigger_id, view=notify_modal(answer, channel_id))
        except SlackApiError as exc:
            error = str(exc.response.get("error", "error"))
            if error == "exchanged_trigger_id":
                return  # a Slack retry of a click whose form is already open
            await tell(respond, SLOW_FORM.format(error=error))

    @app.action(NOTIFY_CUSTOMERS_ACTION)
    async def button(
        ack: AsyncAck,
        action: dict[str, Any],
        body: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        alert_id = await clicked_id(runtime, action.get("value", ""), body["user"]["id"], respond)
        if alert_id is None:
            return
        if not notifier.configured:
            await tell(respond, NOT_CONFIGURED)
            return
        channel = (body.get("channel") or {}).get("id") or runtime.settings.slack.alert_channel
        await open_form(
            client, respond, body["trigger_id"], channel, notifier.preview_for_alert(alert_id)
        )

    @app.command(COMMAND)
    async def command(
        ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        query = " ".join(command.get("text", "").split())
        # Answers that need no work go in the ack itself.
        if not query or not notifier.configured:
            message = text_message(USAGE if not query else NOT_CONFIGURED)
            await ack(text=message.text, blocks=message.blocks, response_type="ephemeral")
            return
        await ack()
        if await allowed(runtime, command["user_id"], respond):
            await open_form(
                client,
                respond,
                command["trigger_id"],
                command["channel_id"],
                notifier.preview_for_query(query),
            )

    @app.view(NOTIFY_MODAL_CALLBACK)
    async def submit(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        ref = parse_metadata(view.get("private_metadata", ""))
        message = submitted_message(view)
        if ref is None or not message:
            await ack(
                response_action="errors",
                errors={MESSAGE_BLOCK: OUT_OF_DATE_FORM if ref is None else EMPTY_MESSAGE},
            )
            return
        await ack()  # closes the modal; emails never slow the ack
        in_background(send(client, ref, message, body["user"]["id"]))

    async def send(client: AsyncWebClient, ref: ModalRef, message: str, user: str) -> None:
        try:
            # A view submission has no response_url: answers go ephemerally to the channel.
            if not await runtime.access.may_act(user):
                await _whisper(client, ref.channel_id, user, text_message(NOT_ALLOWED))
                return
            result = await notifier.send(ref.alert_id, ref.product_id, message, user)
            if not result.posted_in_thread:
                await _whisper(client, ref.channel_id, user, result_message(result))
        except NotifyProblem as exc:
            await _whisper(client, ref.channel_id, user, text_message(str(exc)))
        except Exception:
            log.exception("emailing customers failed")
            await _whisper(client, ref.channel_id, user, text_message(GENERIC_ERROR))


async def _say(respond: AsyncRespond, message: Message) -> None:
    await respond(
        text=message.text, blocks=message.blocks, response_type="ephemeral", replace_original=False
    )


async def _whisper(client: AsyncWebClient, channel: str, user: str, message: Message) -> None:
    """Ephemeral in `channel`; the app's DM with the user if the bot cannot post there."""
    try:
        await client.chat_postEphemeral(
            channel=channel, user=user, text=message.text, blocks=message.blocks
        )
    except SlackApiError as exc:
        log.warning("ephemeral answer in %s failed (%s); sending a DM", channel, exc)
        try:
            await client.chat_postMessage(channel=user, text=message.text, blocks=message.blocks)
        except SlackApiError:
            log.exception("could not tell %s the result of emailing customers", user)
