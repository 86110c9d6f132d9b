"""Buttons and menus on alert messages. Each value is parsed (`clicked`) and the
person's access checked before the listener runs."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.ids import ActionId
from bot.slack.middleware import allowed_only, clicked
from bot.slack.values import AlertRef, CancelRef, MenuChoice, OfferChoice, SnoozeChoice, SwitchRef
from handlers.actions.alert import acknowledge, snooze
from handlers.actions.choices import cancel_order
from handlers.actions.fixes import open_substitute_modal, switch_supplier, undo_switch
from handlers.actions.menu import alert_menu, open_group_list
from handlers.actions.notify import EMAIL_BUTTONS, open_notify_modal


def register(app: AsyncApp) -> None:
    app.action(ActionId.ACKNOWLEDGE, middleware=[clicked(AlertRef), allowed_only])(acknowledge)
    app.action(ActionId.SNOOZE, middleware=[clicked(SnoozeChoice), allowed_only])(snooze)
    # The button offers the best supplier, the menu any other: one listener for both.
    for switch in (ActionId.SWITCH, ActionId.SWITCH_PICK):
        app.action(switch, middleware=[clicked(OfferChoice), allowed_only])(switch_supplier)
    app.action(ActionId.UNDO_SWITCH, middleware=[clicked(SwitchRef), allowed_only])(undo_switch)
    app.action(ActionId.SUBSTITUTE, middleware=[clicked(AlertRef), allowed_only])(
        open_substitute_modal
    )
    # Email customers, and the follow-ups (the new date, "on its way"): one listener.
    for email_button in EMAIL_BUTTONS:
        app.action(email_button, middleware=[clicked(AlertRef), allowed_only])(open_notify_modal)
    app.action(ActionId.CANCEL_ORDER, middleware=[clicked(CancelRef), allowed_only])(cancel_order)
    # Messages posted before the overflow menu keep their buttons: both stay wired.
    app.action(ActionId.ALERT_MENU, middleware=[clicked(MenuChoice), allowed_only])(alert_menu)
    # Looking is open to everyone.
    app.action(ActionId.OPEN_GROUP_LIST, middleware=[clicked(AlertRef)])(open_group_list)
