"""The Slack app: Bolt's AsyncApp with Stockbot's listeners, and its web server."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.runtime import Runtime
from bot.slack.render import text_message
from bot.slack.texts import GENERIC_ERROR
from bot.web.server import add_routes
from bot.web.slack_guard import slack_request_guard

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


def create_app(runtime: Runtime) -> AsyncApp:
    """Build the Bolt app; signature verification stays on (Bolt's default)."""
    from handlers import register

    settings = runtime.settings
    assert runtime.slack is not None, "create_app needs SLACK_BOT_TOKEN"
    app = AsyncApp(
        # The client carries the token and SLACK_API_URL.
        client=runtime.slack,
        signing_secret=(
            settings.slack_signing_secret.get_secret_value()
            if settings.slack_signing_secret
            else ""
        ),
        raise_error_for_unhandled_request=False,
    )

    @app.error
    async def _tell_the_user(error: Exception, body: dict[str, Any], respond: Any) -> None:
        # A stack trace helps us, never the person who clicked: log it, answer plainly.
        log.exception("Slack request failed", exc_info=error)
        if body.get("response_url"):
            message = text_message(GENERIC_ERROR)
            await respond(
                text=message.text,
                blocks=message.blocks,
                response_type="ephemeral",
                replace_original=False,
            )

    register(app, runtime)
    return app


def create_web_app(app: AsyncApp | None, runtime: Runtime) -> web.Application:
    """Bolt's aiohttp application (when Slack talks to us over HTTP) plus Stockbot's
    own routes: health and the store order webhooks."""
    if app is None:
        return add_routes(web.Application(), runtime)
    web_app = app.web_app(path=EVENTS_PATH)
    secret = runtime.settings.slack_signing_secret
    # Verified before Bolt parses anything; without a secret nothing gets through.
    web_app.middlewares.append(
        slack_request_guard(secret.get_secret_value() if secret else None, EVENTS_PATH)
    )
    return add_routes(web_app, runtime)
