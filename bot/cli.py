"""The `stockbot` command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from bot import db
from bot.cli_orders import orders_group
from bot.config import Settings, load_settings
from bot.core.catalog import CsvImportError, import_catalog
from bot.core.polling import PollSummary
from bot.core.store_sync import PushReport
from bot.errors import ConfigError
from bot.runtime import Runtime

T = TypeVar("T")
console = Console(highlight=False, soft_wrap=True)
log = logging.getLogger("stockbot")

DELIVERY_WAIT_SECONDS = 30.0


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # Request URLs can carry credentials in query strings: keep them out of logs.
    for noisy in ("httpx", "httpcore", "apscheduler", "aiosqlite", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class StockbotGroup(click.Group):
    """Turns configuration and import errors into a plain message and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            console.print(f"[red]Configuration error[/red] in {exc}", markup=True)
            ctx.exit(2)
        except CsvImportError as exc:
            console.print(f"[red]Import failed[/red]: {exc}", markup=True)
            ctx.exit(1)


@click.group(cls=StockbotGroup)
@click.option(
    "--config",
    "config_path",
    envvar="STOCKBOT_CONFIG",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Path of the TOML configuration file (or set STOCKBOT_CONFIG).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debugging detail.")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, verbose: bool) -> None:
    """Stockbot watches your suppliers' stock and alerts your team in Slack."""
    _configure_logging(verbose)
    ctx.obj = config_path


def _settings(ctx: click.Context) -> Settings:
    config_path = ctx.obj
    if config_path is None:
        raise ConfigError(["no configuration file: pass --config PATH or set STOCKBOT_CONFIG"])
    return load_settings(config_path)


@main.group(name="db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply database migrations (also done automatically at start-up)."""
    settings = _settings(ctx)

    async def upgrade() -> str | None:
        engine = db.create_engine(settings.database_url)
        try:
            await db.upgrade(engine)
            return await db.current_revision(engine)
        finally:
            await engine.dispose()

    console.print(f"Database is at revision {_run(upgrade())}.")


@main.group(name="catalog")
def catalog_group() -> None:
    """Products and which suppliers offer them."""


@catalog_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def catalog_import(ctx: click.Context, file: Path) -> None:
    """Create or update products and supplier offers from a CSV file.

    Columns: sku,title,supplier,supplier_sku,priority,low_stock_threshold[,price]
    """
    settings = _settings(ctx)

    async def run() -> Any:
        runtime = await Runtime.start(settings)
        try:
            async with runtime.writes() as session, session.begin():
                return await import_catalog(
                    session, file, {supplier.name for supplier in settings.suppliers}
                )
        finally:
            await runtime.close()

    report = _run(run())
    console.print(
        f"Imported {file.name}: {report.products_created} product(s) created, "
        f"{report.products_updated} updated; {report.offers_created} supplier offer(s) created, "
        f"{report.offers_updated} updated."
    )
    for warning in report.warnings:
        console.print(f"[yellow]Warning:[/yellow] {warning}", markup=True)


def _summary_table(summaries: list[PollSummary]) -> Table:
    table = Table(title="Poll summary")
    for column in ("supplier", "rows read", "changed", "set aside", "opened", "resolved", "status"):
        table.add_column(column, justify="left" if column in ("supplier", "status") else "right")
    for s in summaries:
        status = (
            f"[red]failed[/red]: {s.error}"
            if s.error
            else ("unchanged (304)" if s.not_modified else "[green]ok[/green]")
        )
        table.add_row(
            s.supplier,
            str(s.rows_read),
            str(s.changed),
            str(s.set_aside),
            str(s.alerts_opened),
            str(s.alerts_resolved),
            status,
        )
    return table


async def _drain(runtime: Runtime, deadline: float) -> int:
    """Deliver what is due now; give up at the deadline. Returns what is still pending."""
    while True:
        report = await runtime.deliverer.deliver_due()
        pending, next_at = await runtime.deliverer.pending()
        if pending == 0 or time.monotonic() >= deadline:
            return pending
        if report.delivered == 0:
            if next_at is None:
                return pending
            wait = (next_at.timestamp() - time.time()) if next_at else 1.0
            if time.monotonic() + wait >= deadline:
                return pending
            await asyncio.sleep(max(wait, 0.05))


@main.command()
@click.option("--once", is_flag=True, help="Poll once now and exit (the only mode for now).")
@click.option("--supplier", "supplier_name", help="Poll only this supplier.")
@click.option(
    "--accept-drop",
    is_flag=True,
    help="Accept a feed even if it takes most SKUs out of stock at once (feed guard).",
)
@click.pass_context
def poll(ctx: click.Context, once: bool, supplier_name: str | None, accept_drop: bool) -> None:
    """Poll suppliers now and print a summary; alerts go to Slack or the console."""
    if not once:
        raise click.UsageError("add --once to poll now; `stockbot run` polls on a schedule")
    settings = _settings(ctx)
    names = (
        [settings.supplier(supplier_name).name]
        if supplier_name
        else [s.name for s in settings.suppliers]
    )

    async def run() -> tuple[list[PollSummary], int, list[PushReport]]:
        runtime = await Runtime.start(settings)
        try:
            summaries = [await runtime.poller.poll(n, accept_drop=accept_drop) for n in names]
            # Stock the polls changed goes to the storefronts now (failures are kept).
            pushes = await runtime.push_store_inventory()
            pending = await _drain(runtime, time.monotonic() + DELIVERY_WAIT_SECONDS)
            return summaries, pending, pushes
        finally:
            await runtime.close()

    if not settings.slack_configured:
        console.print(
            "Slack is not configured (SLACK_BOT_TOKEN is not set): alerts are shown here."
        )
    summaries, pending, pushes = _run(run())
    console.print(_summary_table(summaries))
    for push in pushes:
        failed = f", {push.failed} failed (kept; retried later)" if push.failed else ""
        console.print(f"Store {push.store}: {push.pushed} stock update(s) sent{failed}")
    for summary in summaries:
        for example in summary.set_aside_examples:
            console.print(f"  {summary.supplier}: set aside {example}")
    if pending:
        console.print(
            f"[yellow]{pending} alert message(s) could not be delivered yet;[/yellow] they are "
            "stored and will be sent by `stockbot run` (or the next `poll --once`).",
            markup=True,
        )
    if any(s.error for s in summaries):
        sys.exit(1)


@main.command()
@click.option("--http", "http_mode", is_flag=True, help="Serve Slack requests over HTTP.")
@click.option("--port", default=3000, show_default=True, help="Port for --http and store webhooks.")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address for --http.")
@click.pass_context
def run(ctx: click.Context, http_mode: bool, port: int, host: str) -> None:
    """Run the bot: poll on schedule, post alerts, answer Slack (Ctrl-C stops)."""
    settings = _settings(ctx)
    if settings.slack_configured and http_mode and settings.slack_signing_secret is None:
        raise ConfigError(["environment.SLACK_SIGNING_SECRET: required with --http"])
    if settings.slack_configured and not http_mode and settings.slack_app_token is None:
        raise ConfigError(["environment.SLACK_APP_TOKEN: required for Socket Mode (or use --http)"])
    with contextlib.suppress(KeyboardInterrupt):
        _run(serve(settings, http_mode=http_mode, host=host, port=port))


async def serve(settings: Settings, *, http_mode: bool, host: str, port: int) -> None:
    from aiohttp import web

    from bot.app import create_app, create_web_app
    from bot.scheduler import build_scheduler
    from bot.slack.render import console_alert_summary
    from bot.views.lookup import open_alert_summary

    runtime = await Runtime.start(settings, serving=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    cleanups: list[Any] = []
    app = create_app(runtime) if settings.slack_configured else None
    if not settings.slack_configured:
        console.print(
            "Slack is not configured (SLACK_BOT_TOKEN is not set): polling anyway and printing "
            "alerts here. Press Ctrl-C to stop."
        )
        async with runtime.sessions() as session:
            console.print(console_alert_summary(await open_alert_summary(session)), markup=False)
    elif not http_mode:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

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


main.add_command(orders_group)
