"""Options for menus that load as the person types (external selects)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.ids import ActionId
from bot.slack.middleware import form
from bot.slack.values import SubstituteForm
from handlers.options.substitute import substitute_choices


def register(app: AsyncApp) -> None:
    app.options(ActionId.SUBSTITUTE_PICK, middleware=[form(SubstituteForm)])(substitute_choices)
