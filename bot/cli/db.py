"""`stockbot db …`: database maintenance."""

from __future__ import annotations

import click

from bot.cli.common import console, load_cli_settings, run_coroutine


@click.group(name="db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply database migrations (also done automatically at start-up)."""
    # SQLAlchemy and Alembic load only when the command runs: `stockbot --help` stays fast.
    from bot import db

    settings = load_cli_settings(ctx)

    async def upgrade() -> str | None:
        engine = db.create_engine(
            settings.database_url, sqlite_lock_wait=settings.sqlite_lock_wait.total_seconds()
        )
        try:
            await db.upgrade(engine)
            return await db.current_revision(engine)
        finally:
            await engine.dispose()

    console().print(f"Database is at revision {run_coroutine(upgrade())}.")
