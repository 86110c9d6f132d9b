"""The substitute modal submitted: the choice is made before the ack, so a refusal
(e.g. the substitute ran out meanwhile) shows on the form."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck

from bot.errors import UserError
from bot.slack.ids import ActionId, BlockId
from bot.slack.services import Services
from bot.slack.texts import PICK_A_SUBSTITUTE
from bot.slack.values import SubstituteForm, form_input


async def offer_substitute(
    ack: AsyncAck, view: dict[str, Any], form: SubstituteForm, user_id: str, services: Services
) -> None:
    chosen = form_input(view, BlockId.SUBSTITUTE_PICK, ActionId.SUBSTITUTE_PICK)
    if not chosen:
        raise UserError(PICK_A_SUBSTITUTE)
    note = form_input(view, BlockId.SUBSTITUTE_NOTE, ActionId.SUBSTITUTE_NOTE)
    await services.fixes.substitute(
        user_id, chosen, alert_id=form.alert_id, sku=form.sku, note=note
    )
    await ack()
