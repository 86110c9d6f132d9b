"""`stockbot catalog …`: products and which suppliers offer them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.common import console, load_cli_settings, with_runtime

if TYPE_CHECKING:
    from bot.core.catalog import ImportReport
    from bot.runtime import Runtime


@click.group(name="catalog")
def catalog_group() -> None:
    """Products and which suppliers offer them."""


@catalog_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def catalog_import(ctx: click.Context, file: Path) -> None:
    """Create or update products and supplier offers from a CSV file.

    Columns: sku,title,supplier,supplier_sku,priority,low_stock_threshold[,price]
    """
    # The database stack loads only when the command runs: `stockbot --help` stays fast.
    from bot.core.catalog import import_catalog

    settings = load_cli_settings(ctx)

    async def run(runtime: Runtime) -> ImportReport:
        async with runtime.writes() as session, session.begin():
            return await import_catalog(
                session, file, {supplier.name for supplier in settings.suppliers}
            )

    report = with_runtime(settings, run)
    console().print(
        f"Imported {file.name}: {report.products_created} product(s) created, "
        f"{report.products_updated} updated; {report.offers_created} supplier offer(s) created, "
        f"{report.offers_updated} updated."
    )
    for warning in report.warnings:
        console().print(f"[yellow]Warning:[/yellow] {warning}", markup=True)
