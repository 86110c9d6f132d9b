"""The `stockbot` command: the main group and the registration of its command groups.

Each group lives in its own module; they share bot.cli.common and import nothing heavy
until a command runs, so `stockbot --help` answers at once.
"""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.catalog import catalog_group
from bot.cli.common import StockbotGroup
from bot.cli.db import db_group
from bot.cli.orders import orders_group
from bot.cli.poll import poll_command
from bot.cli.review import review_command
from bot.cli.run import run_command
from bot.telemetry.logs import configure_logging

__all__ = ["main"]


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
    configure_logging(verbose)
    ctx.obj = config_path


for command in (db_group, catalog_group, poll_command, run_command, orders_group, review_command):
    main.add_command(command)
