"""The buttons and menus on an alert message: acknowledge and snooze on every open
alert; switch supplier, undo, substitute and email customers on product alerts."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    InteractiveElement,
    Option,
    StaticSelectElement,
)

from bot.core.alerts import SNOOZE_CHOICES, snooze_label
from bot.core.text import clip
from bot.slack.ids import ActionId, BlockId
from bot.slack.render.base import BUTTON_LIMIT
from bot.slack.render.stock_text import money, quantity_text
from bot.slack.values import AlertRef, OfferChoice, SnoozeChoice, SwitchRef
from bot.views.cards import AlertCard

PRODUCT_KINDS = ("low_stock", "out_of_stock", "backorder")
MAX_OPTIONS = 100


def _switch_elements(card: AlertCard) -> list[InteractiveElement]:
    """The best supplier to switch to as a button; any other one in a menu."""
    elements: list[InteractiveElement] = []
    best = card.best_switch
    if best is not None:
        percent = best.price_change_percent
        change = (
            ""
            if percent is None
            else (", same price" if round(percent) == 0 else f", {percent:+.0f}%")
        )
        elements.append(
            ButtonElement(
                text=clip(
                    f"Switch to {best.supplier} ({best.quantity} in stock{change})", BUTTON_LIMIT
                ),
                action_id=ActionId.SWITCH,
                value=OfferChoice(alert_id=card.alert_id, offer_id=best.offer_id).encode(),
            )
        )
    if len(card.switch_options) > (1 if best else 0):
        elements.append(
            StaticSelectElement(
                placeholder="Other supplier…",
                action_id=ActionId.SWITCH_PICK,
                options=[
                    Option(
                        value=OfferChoice(
                            alert_id=card.alert_id, offer_id=option.offer_id
                        ).encode(),
                        label=clip(
                            f"{option.supplier} · "
                            f"{quantity_text(option.quantity, 'unknown')} · "
                            f"{money(option.price)}",
                            BUTTON_LIMIT,
                        ),
                    )
                    for option in card.switch_options[:MAX_OPTIONS]
                ],
            )
        )
    return elements


def _fix_elements(card: AlertCard) -> list[InteractiveElement]:
    """Switch supplier, substitute, notify: the ways to fix a product alert."""
    alert = AlertRef(alert_id=card.alert_id).encode()
    elements = _switch_elements(card)
    elements.append(ButtonElement(text="Substitute…", action_id=ActionId.SUBSTITUTE, value=alert))
    if card.orders and card.orders.open_orders:
        elements.append(
            ButtonElement(text="Email customers…", action_id=ActionId.NOTIFY_CUSTOMERS, value=alert)
        )
    return elements


def _undo_element(card: AlertCard) -> ButtonElement | None:
    if card.last_switch is None or not card.last_switch.undoable:
        return None
    return ButtonElement(
        text="Undo switch",
        action_id=ActionId.UNDO_SWITCH,
        value=SwitchRef(audit_id=card.last_switch.audit_id).encode(),
        style="danger",
    )


def _state_elements(card: AlertCard) -> list[InteractiveElement]:
    elements: list[InteractiveElement] = []
    if card.state != "acknowledged":
        elements.append(
            ButtonElement(
                text="Acknowledge",
                action_id=ActionId.ACKNOWLEDGE,
                value=AlertRef(alert_id=card.alert_id).encode(),
                style="primary",
            )
        )
    elements.append(
        StaticSelectElement(
            placeholder="Snooze…",
            action_id=ActionId.SNOOZE,
            options=[
                Option(
                    value=SnoozeChoice(alert_id=card.alert_id, length=length).encode(),
                    label=f"Snooze {snooze_label(length)}",
                )
                for length in SNOOZE_CHOICES
            ],
        )
    )
    return elements


def action_blocks(card: AlertCard) -> list[Block]:
    """What people can do about the alert: nothing but undo once it is resolved."""
    undo = _undo_element(card)
    fixes_block = BlockId.ALERT_FIXES.of(card.alert_id)
    if card.is_resolved:
        return [ActionsBlock(block_id=fixes_block, elements=[undo])] if undo else []
    blocks: list[Block] = [
        ActionsBlock(
            block_id=BlockId.ALERT_ACTIONS.of(card.alert_id), elements=_state_elements(card)
        )
    ]
    if card.product is not None and card.kind in PRODUCT_KINDS:
        fixes = _fix_elements(card)
        if undo:
            fixes.insert(0, undo)
        blocks.append(ActionsBlock(block_id=fixes_block, elements=fixes))
    return blocks
