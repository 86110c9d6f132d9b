"""The answers to the person who switched a supplier, undid a switch or chose a substitute."""

from __future__ import annotations

from bot.core.fixes.choices import CancelResult
from bot.core.fixes.substitution import SubstitutionResult
from bot.core.fixes.switching import SwitchResult
from bot.core.text import escape
from bot.slack.render.base import Message, text_message


def switched_message(result: SwitchResult) -> Message:
    sku, supplier = escape(result.product_sku), escape(result.to_supplier)
    if not result.changed:
        return text_message(f"{sku} already gets its stock from {supplier}.")
    stock = f" ({result.quantity} in stock)" if result.quantity is not None else ""
    return text_message(f"Switched {sku} to {supplier}{stock}.")


def undone_message(result: SwitchResult) -> Message:
    sku, supplier = escape(result.product_sku), escape(result.to_supplier)
    return text_message(f"Switch undone: {sku} is back on {supplier}.")


def substituted_message(result: SubstitutionResult) -> Message:
    return text_message(
        f"{escape(result.substitute_sku)} {escape(result.substitute_title)} is now offered "
        f"instead of {escape(result.product_sku)} to the {result.orders} waiting order(s)."
    )


def order_cancelled_message(result: CancelResult) -> Message:
    already = " (it already was: nothing was done twice)" if result.already else ""
    return text_message(
        f"Order {escape(result.order_number)} is cancelled in {escape(result.store_service)}, "
        f"as its customer asked{already}."
    )
