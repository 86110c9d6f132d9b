"""Buttons on alert messages: acknowledge and snooze."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.errors import UserError
from bot.runtime import Runtime
from bot.slack.render import ACKNOWLEDGE_ACTION, SNOOZE_ACTION
from handlers.common import clicked_id, tell


def register(app: AsyncApp, runtime: Runtime) -> None:
    actions = runtime.staff

    @app.action(ACKNOWLEDGE_ACTION)
    async def acknowledge(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        user = body["user"]["id"]
        alert_id = await clicked_id(runtime, action.get("value", ""), user, respond)
        if alert_id is not None:
            try:
                await actions.acknowledge(alert_id, user)
            except UserError as exc:
                await tell(respond, str(exc))

    @app.action(SNOOZE_ACTION)
    async def snooze(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        user = body["user"]["id"]
        raw_id, _, choice = (action.get("selected_option") or {}).get("value", "").partition(":")
        alert_id = await clicked_id(runtime, raw_id, user, respond)
        if alert_id is not None:
            try:
                await actions.snooze(alert_id, user, choice)
            except UserError as exc:
                await tell(respond, str(exc))
