"""Modal submissions. The metadata is parsed (`form`) and access checked before the
listener runs; a refusal about what was typed shows on the form itself."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.ids import CallbackId
from bot.slack.middleware import allowed_only, form
from bot.slack.values import NotifyForm, SubstituteForm
from handlers.views.notify import send_emails
from handlers.views.substitute import offer_substitute


def register(app: AsyncApp) -> None:
    app.view(CallbackId.SUBSTITUTE_MODAL, middleware=[form(SubstituteForm), allowed_only])(
        offer_substitute
    )
    app.view(CallbackId.NOTIFY_MODAL, middleware=[form(NotifyForm), allowed_only])(send_emails)
