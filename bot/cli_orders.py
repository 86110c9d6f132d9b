"""`stockbot orders …`: import customer orders and close fulfilled or cancelled ones."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.alerts import EvaluationResult
from bot.core.orders import (
    CloseResult,
    OrderImportReport,
    OrderNotFound,
    close_order,
    import_orders,
)
from bot.runtime import Runtime

T = TypeVar("T")


def _with_runtime(ctx: click.Context, work: Callable[[AsyncSession, Settings], Awaitable[T]]) -> T:
    """Run `work` in one transaction, then deliver the alerts it raised (as `poll --once`)."""
    # bot.cli imports this module to register the group: import it when a command runs.
    from bot.cli import DELIVERY_WAIT_SECONDS, _drain, _run, _settings, console

    settings = _settings(ctx)

    async def run() -> tuple[T, int]:
        runtime = await Runtime.start(settings)
        try:
            async with runtime.writes() as session, session.begin():
                result = await work(session, settings)
            pending = await _drain(runtime, time.monotonic() + DELIVERY_WAIT_SECONDS)
            return result, pending
        finally:
            await runtime.close()

    result, pending = _run(run())
    if pending:
        console.print(
            f"[yellow]{pending} alert message(s) could not be delivered yet;[/yellow] they are "
            "stored and will be sent by `stockbot run`.",
            markup=True,
        )
    return result


def _alert_counts(result: EvaluationResult) -> str:
    return (
        f"Backorder alerts: {result.opened} opened, {result.updated} updated, "
        f"{result.resolved} resolved."
    )


@click.group(name="orders")
def orders_group() -> None:
    """Customer orders, to see which ones stock cannot cover (backorders)."""


@orders_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def orders_import(ctx: click.Context, file: Path) -> None:
    """Create or update orders from a CSV file, one row per order line.

    Columns: order_id,customer_name,customer_email,sku,quantity,ordered_at
    """
    from bot.cli import console

    report: OrderImportReport = _with_runtime(
        ctx,
        lambda session, settings: import_orders(
            session,
            file,
            channel=settings.slack.alert_channel,
            group_over=settings.rules.group_alerts_over,
        ),
    )
    console.print(
        f"Imported {file.name}: {report.orders_created} order(s) created, "
        f"{report.orders_updated} updated, {report.orders_unchanged} unchanged; "
        f"{report.lines} order line(s). {report.products_backordered} product(s) now "
        "backordered."
    )
    console.print(_alert_counts(report.alerts))


@orders_group.command("close")
@click.argument("order_id")
@click.option("--cancelled", is_flag=True, help="The order was cancelled (default: fulfilled).")
@click.pass_context
def orders_close(ctx: click.Context, order_id: str, cancelled: bool) -> None:
    """Mark an order fulfilled (or cancelled): it stops waiting for stock."""
    from bot.cli import console

    try:
        result: CloseResult = _with_runtime(
            ctx,
            lambda session, settings: close_order(
                session, order_id, cancelled=cancelled, channel=settings.slack.alert_channel
            ),
        )
    except OrderNotFound as exc:
        console.print(f"[red]Not closed[/red]: {exc}", markup=True)
        ctx.exit(1)
    if result.changed:
        console.print(f"Order {result.external_id} is now {result.status}.")
        console.print(_alert_counts(result.alerts))
    else:
        console.print(f"Order {result.external_id} was already {result.status}: nothing changed.")
