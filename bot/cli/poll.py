"""`stockbot poll --once`: poll suppliers now and print a summary."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from bot.cli.common import console, load_cli_settings, print_undelivered, run_then_deliver

if TYPE_CHECKING:
    from rich.table import Table

    from bot.core.polling import PollSummary
    from bot.core.store_sync import PushReport
    from bot.runtime import Runtime


@click.command("poll")
@click.option("--once", is_flag=True, help="Poll once now and exit (the only mode for now).")
@click.option("--supplier", "supplier_name", help="Poll only this supplier.")
@click.option(
    "--accept-drop",
    is_flag=True,
    help="Accept a feed even if it takes most SKUs out of stock at once (feed guard).",
)
@click.pass_context
def poll_command(
    ctx: click.Context, once: bool, supplier_name: str | None, accept_drop: bool
) -> None:
    """Poll suppliers now and print a summary; alerts go to Slack or the console."""
    if not once:
        raise click.UsageError("add --once to poll now; `stockbot run` polls on a schedule")
    settings = load_cli_settings(ctx)
    names = (
        [settings.supplier(supplier_name).name]
        if supplier_name
        else [s.name for s in settings.suppliers]
    )

    async def poll(runtime: Runtime) -> tuple[list[PollSummary], list[PushReport]]:
        summaries = [await runtime.poll_cycle(n, accept_drop=accept_drop) for n in names]
        # Stock the polls changed goes to the storefronts now (failures are kept).
        return summaries, await runtime.push_store_inventory()

    if not settings.slack_configured:
        console().print(
            "Slack is not configured (SLACK_BOT_TOKEN is not set): alerts are shown here."
        )
    (summaries, pushes), pending = run_then_deliver(settings, poll)
    console().print(_summary_table(summaries))
    for push in pushes:
        failed = f", {push.failed} failed (kept; retried later)" if push.failed else ""
        console().print(f"Store {push.store}: {push.pushed} stock update(s) sent{failed}")
    for summary in summaries:
        for example in summary.set_aside_examples:
            console().print(f"  {summary.supplier}: set aside {example}", markup=False)
        for note in summary.notes:
            console().print(f"  {summary.supplier}: {note}", markup=False)
    print_undelivered(pending, "`stockbot run` (or the next `poll --once`)")
    if any(s.error for s in summaries):
        sys.exit(1)


def _summary_table(summaries: list[PollSummary]) -> Table:
    from rich.table import Table  # Rich is slow to import: see common.console

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
