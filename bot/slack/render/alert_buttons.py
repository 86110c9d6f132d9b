"""The controls on an alert message, one row that fits a phone: the one-click switch
when a good alternative exists, Acknowledge, and the rest behind an overflow menu.
A group (storm) gets what makes sense for many products at once."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    InteractiveElement,
    Option,
    OverflowMenuElement,
    StaticSelectElement,
)

from bot.core.alerts import SNOOZE_CHOICES, snooze_label
from bot.core.fixes.choices import CancelRequest
from bot.core.fixes.switching import SwitchOption
from bot.core.problems.states import PRODUCT_PROBLEMS
from bot.core.text import clip, escape
from bot.slack.ids import ActionId, BlockId
from bot.slack.render.base import BUTTON_LIMIT, plural
from bot.slack.render.stock_text import money, price_change, switch_reason
from bot.slack.values import (
    AlertRef,
    CancelRef,
    MenuChoice,
    MenuItem,
    OfferChoice,
    SnoozeChoice,
    SwitchRef,
)
from bot.views.cards import AlertCard

MAX_OPTIONS = 100
# Cancel buttons on one alert; more requests are listed in `/backorders SKU`.
MAX_CANCEL_BUTTONS = 5
CONFIRM_TITLE_LIMIT = 100
_SNOOZE_ITEMS = {"1h": MenuItem.SNOOZE_1H, "4h": MenuItem.SNOOZE_4H, "24h": MenuItem.SNOOZE_24H}


def _switch_button(card: AlertCard) -> ButtonElement | None:
    best = card.best_switch
    if best is None:
        return None
    change = price_change(best.price_change_percent)
    change = f", {change}" if change else ""
    return ButtonElement(
        text=clip(f"Switch to {best.supplier} ({best.quantity} in stock{change})", BUTTON_LIMIT),
        action_id=ActionId.SWITCH,
        value=OfferChoice(alert_id=card.alert_id, offer_id=best.offer_id).encode(),
        style="primary",
    )


def _other_suppliers(card: AlertCard, currency: str) -> StaticSelectElement | None:
    """The other in-stock alternatives (switching to one without stock is refused)."""
    best = card.best_switch
    others = [o for o in card.switch_options if o.in_stock and o is not best]
    if not others:
        return None
    return StaticSelectElement(
        placeholder="Other supplier…",
        action_id=ActionId.SWITCH_PICK,
        options=[
            Option(
                value=OfferChoice(alert_id=card.alert_id, offer_id=option.offer_id).encode(),
                label=clip(_option_label(option, currency), BUTTON_LIMIT),
            )
            for option in others[:MAX_OPTIONS]
        ],
    )


def _option_label(option: SwitchOption, currency: str) -> str:
    """'Globex · lasts 8 days, reliable · 40 · $9.99': the reason first, so a phone's
    narrow menu still shows why."""
    reason = switch_reason(option)
    why = f" · {reason}" if reason else ""
    return f"{option.supplier}{why} · {option.quantity:,} · {money(option.price, currency)}"


def _undo_button(card: AlertCard) -> ButtonElement | None:
    if card.last_switch is None or not card.last_switch.undoable:
        return None
    return ButtonElement(
        text="Undo switch",
        action_id=ActionId.UNDO_SWITCH,
        value=SwitchRef(audit_id=card.last_switch.audit_id).encode(),
        style="danger",
    )


def _follow_up_buttons(card: AlertCard) -> list[ButtonElement]:
    """Tell customers already emailed the news: a new restock date, or "on its way"."""
    due = card.follow_ups
    buttons = []
    if due.back_in_stock:
        buttons.append(
            ButtonElement(
                text=clip(
                    f"Tell {plural(due.back_in_stock, 'customer')} their order is on its way",
                    BUTTON_LIMIT,
                ),
                action_id=ActionId.NOTIFY_BACK_IN_STOCK,
                value=AlertRef(alert_id=card.alert_id).encode(),
                style="primary",
            )
        )
    if due.date_update and due.new_date is not None:
        buttons.append(
            ButtonElement(
                text=clip(
                    f"Update {plural(due.date_update, 'customer')} "
                    f"(new date {due.new_date.day} {due.new_date:%b})",
                    BUTTON_LIMIT,
                ),
                action_id=ActionId.NOTIFY_DATE_UPDATE,
                value=AlertRef(alert_id=card.alert_id).encode(),
            )
        )
    return buttons


def _acknowledge(card: AlertCard, text: str = "Acknowledge") -> ButtonElement | None:
    if card.state == "acknowledged":
        return None
    return ButtonElement(
        text=text,
        action_id=ActionId.ACKNOWLEDGE,
        value=AlertRef(alert_id=card.alert_id).encode(),
    )


def _menu(card: AlertCard, *, fixes: bool) -> OverflowMenuElement:
    """Snooze, and on product alerts substitute and email customers (at most 5 options)."""
    items = [(f"Snooze {snooze_label(length)}", item) for length, item in _SNOOZE_ITEMS.items()]
    if fixes:
        items.append(("Substitute…", MenuItem.SUBSTITUTE))
        if card.orders and card.orders.open_orders:
            items.append(("Email customers…", MenuItem.NOTIFY))
    return OverflowMenuElement(
        action_id=ActionId.ALERT_MENU,
        options=[
            Option(value=MenuChoice(item=item, alert_id=card.alert_id).encode(), label=label)
            for label, item in items
        ],
    )


def _group_elements(card: AlertCard) -> list[InteractiveElement]:
    """Acknowledge all, snooze all, open the list: for many products at once."""
    elements: list[InteractiveElement] = []
    acknowledge = _acknowledge(card, "Acknowledge all")
    if acknowledge is not None:
        elements.append(acknowledge)
    elements.append(
        StaticSelectElement(
            placeholder="Snooze all…",
            action_id=ActionId.SNOOZE,
            options=[
                Option(
                    value=SnoozeChoice(alert_id=card.alert_id, length=length).encode(),
                    label=f"Snooze all {snooze_label(length)}",
                )
                for length in SNOOZE_CHOICES
            ],
        )
    )
    elements.append(
        ButtonElement(
            text="Open list",
            action_id=ActionId.OPEN_GROUP_LIST,
            value=AlertRef(alert_id=card.alert_id).encode(),
        )
    )
    return elements


def _elements(card: AlertCard, currency: str) -> list[InteractiveElement]:
    if card.is_group:
        return _group_elements(card)
    is_product = card.product is not None and card.kind in PRODUCT_PROBLEMS
    candidates = [
        _undo_button(card),
        *(_follow_up_buttons(card) if is_product else []),
        _switch_button(card) if is_product else None,
        _other_suppliers(card, currency) if is_product else None,
        _acknowledge(card),
        _menu(card, fixes=is_product),
    ]
    return [element for element in candidates if element is not None]


def action_blocks(card: AlertCard, currency: str) -> list[Block]:
    """What people can do about the alert: nothing but undo once it is resolved."""
    if card.is_resolved:
        # Undo, and telling the customers their order is on its way.
        undo = _undo_button(card)
        elements: list[InteractiveElement] = [
            *([undo] if undo is not None else []),
            *_follow_up_buttons(card),
        ]
        block = BlockId.ALERT_FIXES.of(card.alert_id)
        return [ActionsBlock(block_id=block, elements=elements)] if elements else []
    return [
        ActionsBlock(
            block_id=BlockId.ALERT_ACTIONS.of(card.alert_id), elements=_elements(card, currency)
        )
    ]


def _cancel_button(card: AlertCard, request: CancelRequest) -> ButtonElement:
    number, service = request.order_number, request.store_service or ""
    return ButtonElement(
        text=clip(f"Cancel order {number} in {service}", BUTTON_LIMIT),
        action_id=ActionId.CANCEL_ORDER,
        value=CancelRef(alert_id=card.alert_id, choice_id=request.choice_id).encode(),
        style="danger",
        confirm=ConfirmObject(
            title=clip(f"Cancel order {number}?", CONFIRM_TITLE_LIMIT),
            text=clip(
                f"This cancels order {escape(number)} in {escape(service)} and refunds the "
                "customer, who asked to cancel. It cannot be undone.",
                300,
            ),
            confirm="Cancel order",
            deny="Keep it",
            style="danger",
        ),
    )


def cancel_blocks(card: AlertCard) -> list[Block]:
    """One button per order whose customer asked to cancel, where its store can do it."""
    if card.is_resolved:
        return []
    requests = [r for r in card.cancel_requests if r.store_service and not r.started]
    buttons: list[InteractiveElement] = [
        _cancel_button(card, request) for request in requests[:MAX_CANCEL_BUTTONS]
    ]
    if not buttons:
        return []
    return [ActionsBlock(block_id=BlockId.ALERT_CANCELS.of(card.alert_id), elements=buttons)]
