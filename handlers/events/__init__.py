"""Events Slack sends us (subscribed in app_manifest.yml): the App Home being opened."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from handlers.events.home import home_opened


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(home_opened)
