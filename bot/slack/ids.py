"""Every ID Slack echoes back to us: action, block and callback IDs, and slash commands.

The Block Kit builders and the listeners both use these, so a button and the listener
for it cannot drift apart. The values are the wire format of messages already posted
in Slack: never change one, add a new member instead.
"""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    # On alert messages.
    ACKNOWLEDGE = "acknowledge_alert"
    SNOOZE = "snooze_alert"
    SWITCH = "switch_supplier"
    SWITCH_PICK = "switch_supplier_pick"
    UNDO_SWITCH = "undo_switch"
    # A waiting customer asked to cancel: staff cancel the order in its store.
    CANCEL_ORDER = "cancel_order_in_store"
    SUBSTITUTE = "substitute_product"
    NOTIFY_CUSTOMERS = "notify_customers"
    # Follow-ups to customers already emailed: the new restock date, or "on its way".
    NOTIFY_DATE_UPDATE = "notify_date_update"
    NOTIFY_BACK_IN_STOCK = "notify_back_in_stock"
    # The overflow menu of a product alert (snooze, substitute, email), and a group's list.
    ALERT_MENU = "alert_menu"
    OPEN_GROUP_LIST = "open_group_list"
    # Inside modals (the substitute menu also asks for its options by this ID).
    SUBSTITUTE_PICK = "substitute_pick"
    SUBSTITUTE_NOTE = "substitute_note"
    NOTIFY_MESSAGE = "message"


class BlockId(StrEnum):
    ALERT_ACTIONS = "alert_actions"
    ALERT_FIXES = "alert_fixes"
    ALERT_CANCELS = "alert_cancels"
    SUBSTITUTE_PICK = "substitute_pick"
    SUBSTITUTE_NOTE = "substitute_note"
    NOTIFY_MESSAGE = "notify_message"

    def of(self, alert_id: int) -> str:
        """The block's ID on one alert's message (block IDs must differ per message)."""
        return f"{self}:{alert_id}"


class CallbackId(StrEnum):
    SUBSTITUTE_MODAL = "substitute_product_modal"
    NOTIFY_MODAL = "notify_customers_modal"
    GROUP_LIST_MODAL = "group_list_modal"


class Command(StrEnum):
    """The slash commands declared in app_manifest.yml."""

    STOCK = "/stock"
    BACKORDERS = "/backorders"
    SWITCH_SUPPLIER = "/switch-supplier"
    SUBSTITUTE = "/substitute"
    NOTIFY_CUSTOMERS = "/notify-customers"
    SUPPLIERS = "/suppliers"


# Where a refusal shows in each modal when it is about what was typed or chosen.
FORM_ERROR_BLOCKS: dict[str, BlockId] = {
    CallbackId.SUBSTITUTE_MODAL: BlockId.SUBSTITUTE_PICK,
    CallbackId.NOTIFY_MODAL: BlockId.NOTIFY_MESSAGE,
}
