"""`stockbot review`: post the daily review now (print it without Slack)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from bot.cli.common import console, load_cli_settings, with_runtime

if TYPE_CHECKING:
    from bot.runtime import Runtime


@click.command("review")
@click.pass_context
def review_command(ctx: click.Context) -> None:
    """Post the daily review in the alert channel now; without Slack, print it.

    It counts as today's review: the schedule ([review] time) does not post another."""
    settings = load_cli_settings(ctx)

    async def post(runtime: Runtime) -> str | None:
        runtime.reviews.echo = lambda text: console().print(text, markup=False)
        return await runtime.reviews.post_now()

    if not settings.slack_configured:
        console().print(
            "Slack is not configured (SLACK_BOT_TOKEN is not set): the review is shown here."
        )
    ts = with_runtime(settings, post)
    if ts is not None:
        console().print(f"Daily review posted in {settings.slack.alert_channel}.", markup=False)
