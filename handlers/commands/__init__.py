"""Slash commands (declared in app_manifest.yml). Looking is open to everyone; changing
anything needs access."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.ids import Command
from bot.slack.middleware import allowed_only
from handlers.commands.backorders import backorders
from handlers.commands.fixes import substitute, switch_supplier
from handlers.commands.notify import notify_customers
from handlers.commands.stock import stock
from handlers.commands.suppliers import suppliers


def register(app: AsyncApp) -> None:
    app.command(Command.STOCK)(stock)
    app.command(Command.BACKORDERS)(backorders)
    app.command(Command.SUPPLIERS)(suppliers)
    app.command(Command.SWITCH_SUPPLIER, middleware=[allowed_only])(switch_supplier)
    app.command(Command.SUBSTITUTE, middleware=[allowed_only])(substitute)
    app.command(Command.NOTIFY_CUSTOMERS, middleware=[allowed_only])(notify_customers)
