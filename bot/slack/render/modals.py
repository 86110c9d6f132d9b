"""Opening a modal, which must happen within 3 s of the click or command."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import UserError
from bot.slack.texts import SLOW_FORM


async def open_modal(client: AsyncWebClient, trigger_id: str, view: dict[str, Any]) -> None:
    """Open `view`; call it straight after the ack, as trigger_id expires 3 s after the click."""
    try:
        await client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        error = str(exc.response.get("error", "error"))
        if error == "exchanged_trigger_id":
            return  # a Slack retry of a click whose form is already open
        raise UserError(SLOW_FORM.format(error=error)) from None
