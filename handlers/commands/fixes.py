"""`/switch-supplier SKU SUPPLIER` and `/substitute SKU SUBSTITUTE_SKU`: the same
services as the alert's buttons, so both paths behave (and refuse) alike."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond

from bot.slack.answers import reply
from bot.slack.render.fix_messages import substituted_message, switched_message
from bot.slack.services import Services
from bot.slack.values import SubstituteArgs, SwitchArgs


async def switch_supplier(
    ack: AsyncAck, command: dict[str, Any], user_id: str, services: Services, respond: AsyncRespond
) -> None:
    await ack()
    args = SwitchArgs.parse(command.get("text", ""))
    result = await services.fixes.switch(user_id, sku=args.sku, supplier_name=args.supplier)
    await reply(respond, switched_message(result))


async def substitute(
    ack: AsyncAck, command: dict[str, Any], user_id: str, services: Services, respond: AsyncRespond
) -> None:
    await ack()
    args = SubstituteArgs.parse(command.get("text", ""))
    result = await services.fixes.substitute(user_id, args.substitute_sku, sku=args.sku)
    await reply(respond, substituted_message(result))
