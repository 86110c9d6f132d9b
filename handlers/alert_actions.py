"""Buttons on alert messages: acknowledge and snooze."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.actions import AlertActionError, StaffActions
from bot.render import ACKNOWLEDGE_ACTION, SNOOZE_ACTION, text_message
from bot.runtime import Runtime


async def _tell(respond: AsyncRespond, text: str) -> None:
    message = text_message(text)
    await respond(
        text=message.text, blocks=message.blocks, response_type="ephemeral", replace_original=False
    )


def _alert_id(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise AlertActionError(
            "That button is out of date; use the latest alert message."
        ) from None


def register(app: AsyncApp, runtime: Runtime) -> None:
    actions = StaffActions(runtime.sessions, runtime.deliverer)

    @app.action(ACKNOWLEDGE_ACTION)
    async def acknowledge(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        try:
            await actions.acknowledge(_alert_id(action.get("value", "")), body["user"]["id"])
        except AlertActionError as exc:
            await _tell(respond, str(exc))

    @app.action(SNOOZE_ACTION)
    async def snooze(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        raw = (action.get("selected_option") or {}).get("value", "")
        alert_id, _, choice = raw.partition(":")
        try:
            await actions.snooze(_alert_id(alert_id), body["user"]["id"], choice)
        except AlertActionError as exc:
            await _tell(respond, str(exc))
