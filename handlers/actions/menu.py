"""A product alert's overflow menu (snooze, substitute, email customers) and a
grouped message's *Open list*."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.render.group_list import group_list_modal
from bot.slack.render.modals import open_modal
from bot.slack.services import Services
from bot.slack.values import AlertRef, MenuChoice, MenuItem
from handlers.actions.fixes import show_substitute_modal
from handlers.actions.notify import show_notify_modal


async def alert_menu(
    ack: AsyncAck,
    clicked: MenuChoice,
    user_id: str,
    body: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    respond: AsyncRespond,
    services: Services,
) -> None:
    await ack()
    length = clicked.item.snooze_length
    if length is not None:
        await services.staff.snooze(clicked.alert_id, user_id, length)
    elif clicked.item == MenuItem.SUBSTITUTE:
        await show_substitute_modal(clicked.alert_id, body, context, client, services)
    else:
        await show_notify_modal(clicked.alert_id, body, context, client, respond, services)


async def open_group_list(
    ack: AsyncAck,
    clicked: AlertRef,
    body: dict[str, Any],
    client: AsyncWebClient,
    services: Services,
) -> None:
    await ack()
    # Read first: trigger_id is good for 3 s, and the list is one indexed query.
    answer = await services.lookup.group_list(clicked.alert_id)
    await open_modal(client, body["trigger_id"], group_list_modal(answer))
