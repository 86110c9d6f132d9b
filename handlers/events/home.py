"""`app_home_opened`: publish the dashboard for the person who opened the Home tab."""

from __future__ import annotations

from typing import Any

from bot.slack.services import Services


async def home_opened(event: dict[str, Any], services: Services) -> None:
    # Bolt acks events itself; the Messages tab has no dashboard.
    if event.get("tab", "home") != "home" or not event.get("user"):
        return
    await services.home.opened(str(event["user"]))
