"""Fixing a product alert from Slack: switch supplier, undo, substitute.

Buttons on the alert and the `/switch-supplier` and `/substitute` commands
call the same services, so both paths behave (and refuse) alike.
"""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.fixes.switching import SwitchResult
from bot.errors import UserError
from bot.runtime import Runtime
from bot.slack.render import (
    SUBSTITUTE_ACTION,
    SUBSTITUTE_MODAL,
    SUBSTITUTE_NOTE,
    SUBSTITUTE_PICK,
    SWITCH_ACTION,
    SWITCH_PICK_ACTION,
    UNDO_SWITCH_ACTION,
    substitute_modal,
    substitute_options,
)
from handlers.common import OUT_OF_DATE, allowed, clicked_id, parse_id, tell

SWITCH_USAGE = (
    "Usage: `/switch-supplier SKU SUPPLIER`, e.g. `/switch-supplier MUG-001 Nordic Goods`."
)
SUBSTITUTE_USAGE = "Usage: `/substitute SKU SUBSTITUTE_SKU`, e.g. `/substitute MUG-001 MUG-002`."


def _switched(result: SwitchResult) -> str:
    if not result.changed:
        return f"{result.product_sku} already gets its stock from {result.to_supplier}."
    stock = f" ({result.quantity} in stock)" if result.quantity is not None else ""
    return f"Switched {result.product_sku} to {result.to_supplier}{stock}."


def _pair(raw: str) -> tuple[int | None, int | None]:
    first, _, second = raw.partition(":")
    return parse_id(first), parse_id(second)


def register(app: AsyncApp, runtime: Runtime) -> None:
    fixes = runtime.fixes

    async def switch_from_alert(user: str, raw: str, respond: AsyncRespond) -> None:
        alert_id, offer_id = _pair(raw)
        if alert_id is None or offer_id is None:
            await tell(respond, OUT_OF_DATE)
        elif await allowed(runtime, user, respond):
            try:
                await tell(
                    respond,
                    _switched(await fixes.switch(user, alert_id=alert_id, offer_id=offer_id)),
                )
            except UserError as exc:
                await tell(respond, str(exc))

    @app.action(SWITCH_ACTION)
    async def switch_button(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        await switch_from_alert(body["user"]["id"], action.get("value", ""), respond)

    @app.action(SWITCH_PICK_ACTION)
    async def switch_pick(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        raw = (action.get("selected_option") or {}).get("value", "")
        await switch_from_alert(body["user"]["id"], raw, respond)

    @app.action(UNDO_SWITCH_ACTION)
    async def undo(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        user = body["user"]["id"]
        audit_id = await clicked_id(runtime, action.get("value", ""), user, respond)
        if audit_id is not None:
            try:
                result = await fixes.undo_switch(user, audit_id)
                await tell(
                    respond, f"Switch undone: {result.product_sku} is back on {result.to_supplier}."
                )
            except UserError as exc:
                await tell(respond, str(exc))

    @app.command("/switch-supplier")
    async def switch_command(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        sku, _, supplier = command.get("text", "").strip().partition(" ")
        user = command["user_id"]
        if not sku or not supplier.strip():
            await tell(respond, SWITCH_USAGE)
        elif await allowed(runtime, user, respond):
            try:
                await tell(
                    respond,
                    _switched(await fixes.switch(user, sku=sku, supplier_name=supplier.strip())),
                )
            except UserError as exc:
                await tell(respond, str(exc))

    async def open_substitute_modal(
        client: AsyncWebClient, trigger_id: str, *, alert_id: int | None, sku: str | None
    ) -> None:
        product_id, product_sku, title = await fixes.product_title(alert_id=alert_id, sku=sku)
        metadata = json.dumps({"alert_id": alert_id, "product_id": product_id, "sku": product_sku})
        await client.views_open(
            trigger_id=trigger_id, view=substitute_modal(product_sku, title, metadata)
        )

    @app.action(SUBSTITUTE_ACTION)
    async def substitute_button(
        ack: AsyncAck,
        action: dict[str, Any],
        body: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        alert_id = await clicked_id(runtime, action.get("value", ""), body["user"]["id"], respond)
        if alert_id is not None:
            try:
                await open_substitute_modal(client, body["trigger_id"], alert_id=alert_id, sku=None)
            except UserError as exc:
                await tell(respond, str(exc))

    @app.options(SUBSTITUTE_PICK)
    async def substitute_choices(ack: AsyncAck, body: dict[str, Any]) -> None:
        metadata = json.loads(body.get("view", {}).get("private_metadata") or "{}")
        try:
            choices = await fixes.substitute_choices(
                body.get("value", ""), alert_id=metadata.get("alert_id"), sku=metadata.get("sku")
            )
        except UserError:
            choices = []
        await ack(options=substitute_options(choices))

    @app.view(SUBSTITUTE_MODAL)
    async def substitute_submitted(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        user = body["user"]["id"]
        values = view["state"]["values"]
        chosen = (values[SUBSTITUTE_PICK][SUBSTITUTE_PICK].get("selected_option") or {}).get(
            "value"
        )
        note = values.get(SUBSTITUTE_NOTE, {}).get(SUBSTITUTE_NOTE, {}).get("value") or ""
        metadata = json.loads(view.get("private_metadata") or "{}")
        if not chosen:
            await ack(response_action="errors", errors={SUBSTITUTE_PICK: "Pick a substitute."})
            return
        if not await runtime.access.may_act(user):
            await ack(
                response_action="errors",
                errors={SUBSTITUTE_PICK: "You are not allowed to do this."},
            )
            return
        try:
            await fixes.substitute(
                user, chosen, alert_id=metadata.get("alert_id"), sku=metadata.get("sku"), note=note
            )
        except UserError as exc:
            await ack(response_action="errors", errors={SUBSTITUTE_PICK: str(exc)[:150]})
            return
        await ack()

    @app.command("/substitute")
    async def substitute_command(
        ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        words = command.get("text", "").split()
        user = command["user_id"]
        if len(words) != 2:
            await tell(respond, SUBSTITUTE_USAGE)
        elif await allowed(runtime, user, respond):
            try:
                result = await fixes.substitute(user, words[1], sku=words[0])
            except UserError as exc:
                await tell(respond, str(exc))
                return
            await tell(
                respond,
                f"{result.substitute_sku} {result.substitute_title} is now offered instead of "
                f"{result.product_sku} to the {result.orders} waiting order(s).",
            )
