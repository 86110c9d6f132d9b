"""`stockbot run`: the long-running bot (schedule, alerts, Slack, store webhooks)."""

from __future__ import annotations

import contextlib
import logging
import signal
from typing import TYPE_CHECKING, Any

import click

from bot.cli.common import console, load_cli_settings, run_coroutine

if TYPE_CHECKING:
    import asyncio

    from bot.config import Settings
    from bot.errors import ConfigError
    from bot.runtime import Runtime
    from bot.slack.socket_mode import AppTokenRefused

log = logging.getLogger("stockbot")

# Slack's refusals of the app-level token, in the owner's words.
APP_TOKEN_HELP = (
    "use the app-level token (xapp-…) from your Slack app's Basic Information → "
    "App-Level Tokens, with the connections:write scope"
)
APP_TOKEN_PROBLEMS = {
    "not_allowed_token_type": "this is not an app-level token",
    "missing_scope": "this token lacks the connections:write scope",
}


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


def app_token_refused(refusal: AppTokenRefused) -> ConfigError:
    """Slack's refusal as a configuration error naming the variable to fix."""
    from bot.errors import ConfigError

    problem = APP_TOKEN_PROBLEMS.get(refusal.error, "Slack refused this token")
    return ConfigError(
        [f"environment.SLACK_APP_TOKEN: {problem} ({refusal.error}): {APP_TOKEN_HELP}"]
    )


async def serve(settings: Settings, *, http_mode: bool, host: str, port: int) -> None:
    """Poll, deliver and serve until SIGTERM or Ctrl-C; Slack's socket connects meanwhile."""
    # Bolt, aiohttp, the scheduler and the runtime (and asyncio) load only when the bot
    # runs: they are most of the start-up time, and `stockbot --help` needs none of them.
    import asyncio

    from bot.runtime import Runtime
    from bot.slack.socket_mode import AppTokenRefused

    runtime = await Runtime.start(settings, serving=True)
    try:
        async with contextlib.AsyncExitStack() as running:
            running.push_async_callback(runtime.close)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            socket = await start(running, runtime, http_mode=http_mode, host=host, port=port)
            await until_stopped(stop, socket)
    except AppTokenRefused as refusal:
        raise app_token_refused(refusal) from None


async def start(
    running: contextlib.AsyncExitStack,
    runtime: Runtime,
    *,
    http_mode: bool,
    host: str,
    port: int,
) -> asyncio.Task[None] | None:
    """Start everything, each undone by `running` at the end; return the Socket Mode task.

    Polling and delivery come first, then the web server: nothing waits for Slack.
    """
    import asyncio

    from aiohttp import web

    from bot.app import create_app, create_web_app
    from bot.scheduler import build_scheduler
    from bot.slack.console import console_alert_summary
    from bot.slack.socket_mode import SocketModeConnection
    from bot.views.lookup import open_alert_summary

    settings = runtime.settings
    app = create_app(runtime) if settings.slack_configured else None
    if app is None:
        console().print(
            "Slack is not configured (SLACK_BOT_TOKEN is not set): polling anyway and printing "
            "alerts here. Press Ctrl-C to stop."
        )
        async with runtime.sessions() as session:
            console().print(console_alert_summary(await open_alert_summary(session)), markup=False)

    scheduler = build_scheduler(runtime)
    logging.getLogger("apscheduler.executors.default").addFilter(CANCELLED_JOBS)
    scheduler.start()
    running.callback(scheduler.shutdown, wait=False)
    running.push_async_callback(cancel, asyncio.create_task(runtime.deliverer.run()))
    # The App Home dashboards of recent viewers follow the polls.
    running.push_async_callback(cancel, asyncio.create_task(runtime.home.run()))
    if runtime.charts is not None:
        running.push_async_callback(cancel, asyncio.create_task(runtime.charts.run()))

    # Slack over HTTP, and store webhooks whatever the Slack mode, need a web server.
    webhooks = (settings.shopify_webhook_secret, settings.woocommerce_webhook_secret)
    if http_mode or any(secret is not None for secret in webhooks):
        runner = web.AppRunner(create_web_app(app if http_mode else None, runtime))
        await runner.setup()
        running.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, host, port).start()
        log.info("listening on http://%s:%s (health check: /healthz)", host, port)

    if app is None or http_mode:
        return None
    assert settings.slack_app_token is not None  # run_command checked it
    connection = SocketModeConnection(app, settings.slack_app_token.get_secret_value())
    running.push_async_callback(connection.close)
    task = asyncio.create_task(connection.run())
    running.push_async_callback(cancel, task)
    return task


async def until_stopped(stop: asyncio.Event, socket: asyncio.Task[None] | None) -> None:
    """Wait for a stop signal, or for the socket to fail for good (its error is raised)."""
    import asyncio

    stopping = asyncio.create_task(stop.wait())
    try:
        waiting = {stopping} | ({socket} if socket else set())
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel(stopping)
    log.info("stopping")
    # From now on jobs are cut short: a connection a cancelled job held is discarded.
    for handler in logging.getLogger().handlers:
        handler.addFilter(DISCARDED_CONNECTIONS)
    if socket is not None and socket.done() and not socket.cancelled():
        socket.result()


async def cancel(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait for it; what it raised was already dealt with elsewhere."""
    if task.done():
        return
    task.cancel()
    with contextlib.suppress(BaseException):
        await task


class _CancelledJobs(logging.Filter):
    """A job cut short by stopping logs one line, not a traceback.

    Only stopping cancels a running job, and a poll writes in one transaction: nothing is
    left half done, so this is no error.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        import asyncio

        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            job = record.args[0] if isinstance(record.args, tuple) and record.args else "a job"
            record.msg, record.args = "%s stopped", (job,)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


CANCELLED_JOBS = _CancelledJobs()


class _DiscardedConnections(logging.Filter):
    """While stopping, SQLAlchemy's pool may log a traceback for a connection that a
    cancelled job still held when it is reset: one line says it, without the trace.
    Nothing is lost: the database rolls back what that transaction had not committed."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("sqlalchemy.pool") and record.exc_info:
            record.msg, record.args = "a database connection of a stopped job was discarded", ()
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


DISCARDED_CONNECTIONS = _DiscardedConnections()
