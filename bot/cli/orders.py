"""`stockbot orders …`: import customer orders and close fulfilled or cancelled ones."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from bot.cli.common import console, load_cli_settings, print_undelivered, run_then_deliver

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.config import Settings
    from bot.core.alerts import EvaluationResult
    from bot.core.orders import CloseResult, OrderImportReport
    from bot.runtime import Runtime

T = TypeVar("T")


def _with_runtime(ctx: click.Context, work: Callable[[AsyncSession, Settings], Awaitable[T]]) -> T:
    """Run `work` in one transaction, then deliver the alerts it raised (as `poll --once`)."""
    settings = load_cli_settings(ctx)

    async def in_transaction(runtime: Runtime) -> T:
        async with runtime.writes() as session, session.begin():
            return await work(session, settings)

    result, pending = run_then_deliver(settings, in_transaction)
    print_undelivered(pending, "`stockbot run`")
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

    Columns: order_id,customer_name,customer_email,sku,quantity,ordered_at and, optionally,
    status (open, the default; fulfilled or cancelled: history that waits for nothing).
    """
    from bot.core.orders import import_orders  # with SQLAlchemy: only when the command runs

    report: OrderImportReport = _with_runtime(
        ctx,
        lambda session, settings: import_orders(
            session,
            file,
            channel=settings.slack.alert_channel,
            group_over=settings.rules.group_alerts_over,
        ),
    )
    console().print(
        f"Imported {file.name}: {report.orders_created} order(s) created, "
        f"{report.orders_updated} updated, {report.orders_unchanged} unchanged; "
        f"{report.lines} order line(s). {report.products_backordered} product(s) now "
        "backordered."
    )
    console().print(_alert_counts(report.alerts))


@orders_group.command("close")
@click.argument("order_id")
@click.option("--cancelled", is_flag=True, help="The order was cancelled (default: fulfilled).")
@click.option(
    "--source",
    metavar="NAME",
    help="Where the order comes from: 'csv' (imported) or a store's name. "
    "Default: the imported order, else the only order with that ID.",
)
@click.pass_context
def orders_close(ctx: click.Context, order_id: str, cancelled: bool, source: str | None) -> None:
    """Mark an order fulfilled (or cancelled): it stops waiting for stock, and stays
    closed whatever its store says later."""
    # With SQLAlchemy: only when it runs.
    from rich.markup import escape

    from bot.core.orders import OrderAmbiguous, OrderNotFound, close_order
    from bot.db.models import CSV_SOURCE

    try:
        result: CloseResult = _with_runtime(
            ctx,
            lambda session, settings: close_order(
                session,
                order_id,
                source=source,
                cancelled=cancelled,
                channel=settings.slack.alert_channel,
            ),
        )
    except OrderAmbiguous as exc:
        console().print(
            f"[red]Not closed[/red]: {escape(str(exc))} Say which with --source NAME.",
            markup=True,
        )
        ctx.exit(1)
    except OrderNotFound as exc:
        console().print(f"[red]Not closed[/red]: {escape(str(exc))}", markup=True)
        ctx.exit(1)
    order = f"Order {result.external_id}"
    if result.source != CSV_SOURCE:
        order += f" from {result.source}"
    if result.changed:
        console().print(f"{order} is now {result.status}.", markup=False)
        console().print(_alert_counts(result.alerts))
    else:
        console().print(f"{order} was already {result.status}: nothing changed.", markup=False)
    if result.also_in:
        others = " and ".join(result.also_in)
        verb = "has" if len(result.also_in) == 1 else "have"
        console().print(
            f"Note: {others} also {verb} an order {result.external_id}, left as it was; "
            "to close it, add --source NAME.",
            markup=False,
        )
