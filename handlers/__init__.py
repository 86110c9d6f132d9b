"""Slack listeners: ack fast, call a `bot` service, render the answer."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.runtime import Runtime
from handlers import (
    alert_actions,
    backorders_command,
    fix_actions,
    notify_customers,
    stock_command,
)


def register(app: AsyncApp, runtime: Runtime) -> None:
    stock_command.register(app, runtime)
    alert_actions.register(app, runtime)
    fix_actions.register(app, runtime)
    notify_customers.register(app, runtime)
    backorders_command.register(app, runtime)
