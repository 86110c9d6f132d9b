"""`stockbot run`: the long-running bot (schedule, alerts, Slack, store webhooks)."""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import click

from bot.cli.common import console, load_cli_settings, run_coroutine

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger("stockbot")


@click.command("run")
@click.option("--http", "http_mode", is_flag=True, help="Serve Slack requests over HTTP.")
@click.option("--port", default=3000, show_default=True, help="Port for --http and store webhooks.")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address for --http.")
@click.pass_context
def run_command(ctx: click.Context, http_mode: bool, port: int, host: str) -> None:
    """Run the bot: poll on schedule, post alerts, answer Slack (Ctrl-C stops)."""
    from bot.errors import ConfigError  # loaded by the settings anyway; kept off --help

    settings = load_cli_settings(ctx)
    if settings.slack_configured and http_mode and settings.slack_signing_secret is None:
        raise ConfigError(["environment.SLACK_SIGNING_SECRET: required with --http"])
    if settings.slack_configured and not http_mode and settings.slack_app_token is None:
        raise ConfigError(["environment.SLACK_APP_TOKEN: required for Socket Mode (or use --http)"])
    with contextlib.suppress(KeyboardInterrupt):
        run_coroutine(serve(settings, http_mode=http_mode, host=host, port=port))


async def serve(settings: Settings, *, http_mode: bool, host: str, port: int) -> None:
    # Bolt, aiohttp, the scheduler and the runtime (and asyncio) load only when the bot
    # runs: they are most of the start-up time, and `stockbot --help` needs none of them.
    import asyncio

    from aiohttp import web
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from bot.app import create_app, create_web_app
    from bot.runtime import Runtime
    from bot.scheduler import build_scheduler
    from bot.slack.console import console_alert_summary
    from bot.views.lookup import open_alert_summary

    runtime = await Runtime.start(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    cleanups: list[Callable[[], Awaitable[None]]] = []
    app = create_app(runtime) if settings.slack_configured else None
    if app is None:
        console().print(
            "Slack is not configured (SLACK_BOT_TOKEN is not set): polling anyway and printing "
            "alerts here. Press Ctrl-C to stop."
        )
        async with runtime.sessions() as session:
            console().print(console_alert_summary(await open_alert_summary(session)), markup=False)
    elif not http_mode:
        assert settings.slack_app_token is not None
        handler = AsyncSocketModeHandler(app, settings.slack_app_token.get_secret_value())
        await handler.connect_async()
        cleanups.append(handler.close_async)
        log.info("connected to Slack in Socket Mode")
    # Slack over HTTP, and store webhooks whatever the Slack mode, need a web server.
    webhooks = (settings.shopify_webhook_secret, settings.woocommerce_webhook_secret)
    if http_mode or any(secret is not None for secret in webhooks):
        runner = web.AppRunner(create_web_app(app if http_mode else None, runtime))
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        cleanups.append(runner.cleanup)
        log.info("listening on http://%s:%s (health check: /healthz)", host, port)

    scheduler = build_scheduler(runtime)
    scheduler.start()
    worker = asyncio.create_task(runtime.deliverer.run())
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        scheduler.shutdown(wait=False)
        worker.cancel()
        with contextlib.suppress(BaseException):
            await worker
        for cleanup in reversed(cleanups):
            await cleanup()
        await runtime.close()
