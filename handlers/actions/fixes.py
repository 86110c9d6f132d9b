"""Fixing a product alert: switch supplier, undo the switch, open the substitute modal."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.answers import reply
from bot.slack.render.fix_messages import switched_message, undone_message
from bot.slack.render.modals import open_modal
from bot.slack.render.substitute_modal import substitute_modal
from bot.slack.services import Services
from bot.slack.values import AlertRef, OfferChoice, SubstituteForm, SwitchRef


async def switch_supplier(
    ack: AsyncAck, clicked: OfferChoice, user_id: str, services: Services, respond: AsyncRespond
) -> None:
    await ack()
    result = await services.fixes.switch(
        user_id, alert_id=clicked.alert_id, offer_id=clicked.offer_id
    )
    await reply(respond, switched_message(result))


async def undo_switch(
    ack: AsyncAck, clicked: SwitchRef, user_id: str, services: Services, respond: AsyncRespond
) -> None:
    await ack()
    result = await services.fixes.undo_switch(user_id, clicked.audit_id)
    await reply(respond, undone_message(result))


async def open_substitute_modal(
    ack: AsyncAck,
    clicked: AlertRef,
    body: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    services: Services,
) -> None:
    await ack()
    await show_substitute_modal(clicked.alert_id, body, context, client, services)


async def show_substitute_modal(
    alert_id: int,
    body: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    services: Services,
) -> None:
    """The substitute dialog for an alert's product (from its button or its menu)."""
    product_id, sku, title = await services.fixes.product_title(alert_id=alert_id)
    form = SubstituteForm(
        alert_id=alert_id, product_id=product_id, sku=sku, channel_id=context.channel_id
    )
    await open_modal(client, body["trigger_id"], substitute_modal(title, form))
