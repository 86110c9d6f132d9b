"""What every `stockbot` command shares: output, settings, the event loop, delivery, exit codes.

Only click is imported up front: `stockbot --help` must not pay for asyncio, Rich,
pydantic, SQLAlchemy or Bolt. Each helper imports what it needs when it is called.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from rich.console import Console

    from bot.config import Settings
    from bot.runtime import Runtime

T = TypeVar("T")

# How long a one-shot command waits for Slack before leaving the rest to `stockbot run`.
DELIVERY_WAIT_SECONDS = 30.0


@functools.cache
def console() -> Console:
    """The terminal every command prints to (made on first use: Rich is slow to import)."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def load_cli_settings(ctx: click.Context) -> Settings:
    """The settings from the file given by --config or STOCKBOT_CONFIG (kept in ctx.obj)."""
    # Validation pulls in pydantic and every supplier and store adapter.
    from bot.config import load_settings
    from bot.errors import ConfigError

    config_path = ctx.obj
    if config_path is None:
        raise ConfigError(["no configuration file: pass --config PATH or set STOCKBOT_CONFIG"])
    return load_settings(config_path)


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    import asyncio  # a third of `stockbot --help`'s import time on its own

    return asyncio.run(coroutine)


def with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Start the runtime, run `work` with it, close it; what `work` returned."""
    # The runtime (database, HTTP, Slack clients) loads only when a command runs:
    # `stockbot --help` stays fast.
    from bot.runtime import Runtime

    async def run() -> T:
        runtime = await Runtime.start(settings)
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    return run_coroutine(run())


def run_then_deliver(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> tuple[T, int]:
    """`with_runtime`, and after `work` deliver the alerts it raised (waiting for Slack
    up to DELIVERY_WAIT_SECONDS). Returns what `work` returned and how many alert
    messages are still waiting (see `print_undelivered`)."""

    async def then_deliver(runtime: Runtime) -> tuple[T, int]:
        result = await work(runtime)
        return result, await drain_deliveries(runtime, time.monotonic() + DELIVERY_WAIT_SECONDS)

    return with_runtime(settings, then_deliver)


async def drain_deliveries(runtime: Runtime, deadline: float) -> int:
    """Deliver what is due now, then the charts of the alerts that opened; give up on
    deliveries at the deadline. Returns what is still pending."""
    pending = await _deliver_until(runtime, deadline)
    if runtime.charts is not None:
        await runtime.charts.post_due()
    return pending


async def _deliver_until(runtime: Runtime, deadline: float) -> int:
    import asyncio  # see run_coroutine

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


def print_undelivered(pending: int, later: str) -> None:
    """Say that some alerts wait in the outbox, and which command will send them."""
    if pending:
        console().print(
            f"[yellow]{pending} alert message(s) could not be delivered yet;[/yellow] they are "
            f"stored and will be sent by {later}.",
            markup=True,
        )


class StockbotGroup(click.Group):
    """Turns configuration and import errors into a plain message and exit code 2 or 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: usage errors, --help, Ctrl-C at a prompt
        except Exception as exc:
            code = _explain(exc)
            if code is None:
                raise
            ctx.exit(code)


def _explain(exc: Exception) -> int | None:
    """Print a known error for the user and return the exit code; None for anything else."""
    # Imported here, not at the top: only a command that ran gets this far, and these
    # modules would slow down `stockbot --help`.
    from bot.errors import ConfigError, DatabaseUnavailable, UserError

    if isinstance(exc, ConfigError):
        console().print(f"[red]Configuration error[/red] in {exc}", markup=True)
        return 2
    from bot.core.catalog import CsvImportError

    if isinstance(exc, CsvImportError):
        console().print(f"[red]Import failed[/red]: {exc}", markup=True)
        return 1
    if isinstance(exc, UserError):
        console().print(str(exc), markup=False)
        return 1
    if isinstance(exc, DatabaseUnavailable):
        console().print(f"Database problem: {exc}", markup=False)
        return 1
    from bot.db import is_lock_timeout

    if is_lock_timeout(exc):
        console().print(LOCK_TIMEOUT, markup=False)
        return 1
    return None


# Another process (the running bot's poll, another command) kept SQLite's write lock.
LOCK_TIMEOUT = (
    "The database is busy: another Stockbot process kept it locked for longer than "
    "`sqlite_lock_wait` (30 s by default). Nothing was "
    "changed; run the command again in a moment."
)
