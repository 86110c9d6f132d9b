"""The Slack app: Bolt's AsyncApp with Stockbot's listeners, and its web server."""

from __future__ import annotations

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.runtime import Runtime
from bot.slack.services import Services
from bot.web.server import add_routes
from bot.web.slack_guard import slack_request_guard
from handlers import register

EVENTS_PATH = "/slack/events"


def create_app(runtime: Runtime) -> AsyncApp:
    """Build the Bolt app; signature verification stays on (Bolt's default)."""
    settings = runtime.settings
    assert runtime.slack is not None, "create_app needs SLACK_BOT_TOKEN"
    app = AsyncApp(
        # Named: without a name Bolt reads the whole call stack (inspect.stack(), tens of
        # milliseconds) to name the app after the calling file.
        name="stockbot",
        # The client carries the token and SLACK_API_URL.
        client=runtime.slack,
        signing_secret=(
            settings.slack_signing_secret.get_secret_value()
            if settings.slack_signing_secret
            else ""
        ),
        raise_error_for_unhandled_request=False,
    )
    services = Services(
        staff=runtime.staff,
        fixes=runtime.fixes,
        notifier=runtime.notifier,
        choices=runtime.choices,
        lookup=runtime.lookup,
        board=runtime.board,
        home=runtime.home,
        access=runtime.access,
        alert_channel=settings.slack.alert_channel,
        currency=settings.catalog.currency,
    )
    register(app, services)
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
