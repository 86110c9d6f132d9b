"""Products in stock that could stand in for the modal's product, matching what is typed."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck

from bot.slack.render.substitute_modal import substitute_options
from bot.slack.services import Services
from bot.slack.values import SubstituteForm


async def substitute_choices(
    ack: AsyncAck, body: dict[str, Any], form: SubstituteForm, services: Services
) -> None:
    choices = await services.fixes.substitute_choices(
        str(body.get("value") or ""), alert_id=form.alert_id, sku=form.sku
    )
    await ack(options=substitute_options(choices, services.currency))
