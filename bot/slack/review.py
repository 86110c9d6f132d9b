"""The daily picture delivered: the daily review posted once a day in the alert
channel (or printed without Slack), and the App Home dashboard published to whoever
opens it, refreshed after polls for recent viewers at most once a minute each.

The database decides what happens once: a review date is claimed by inserting its row
before posting (bot.core.review.daily), a viewer's refresh by moving its publish time
(bot.core.review.home), so restarts and replicas never double either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import ReviewSection
from bot.core.review import daily, home
from bot.db.types import utcnow
from bot.slack.console import console_message
from bot.slack.delivery.worker import Wakeup, one_round
from bot.slack.render.review import home_view, review_message
from bot.views.review import ReviewBoard

if TYPE_CHECKING:  # the Slack client loads aiohttp: only when Slack is configured
    from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


@dataclass(eq=False)
class DailyReviews:
    """Posts the daily review: when due (the schedule), or now (`stockbot review`)."""

    board: ReviewBoard
    writes: async_sessionmaker[AsyncSession]
    client: AsyncWebClient | None
    config: ReviewSection
    channel: str
    currency: str
    echo: Callable[[str], None] = print  # where the review goes without Slack

    async def post_if_due(self, now: datetime | None = None) -> bool:
        """Post today's review if its time has come and no process posted it yet."""
        now = now or utcnow()
        if self.config.time is None:
            return False
        day = daily.due_day(now, self.config.time, self.config.zone)
        if day is None:
            return False
        async with self.writes() as session, session.begin():
            if not await daily.claim(session, day, now, self.channel):
                return False
        await self._send(day, now, claimed=True)
        return True

    async def tick(self) -> None:
        """The schedule's check, every minute: post if due. A post Slack refused is
        logged and tried again at the next tick (its date was released)."""
        try:
            await self.post_if_due()
        except SlackApiError as exc:
            log.warning("the daily review was not posted (%s); trying again soon", exc)

    async def post_now(self, now: datetime | None = None) -> str | None:
        """Post (or print) the review now, whether or not today's went out; it counts as
        today's, so the schedule does not post another. Returns the message's ts."""
        now = now or utcnow()
        day = now.astimezone(self.config.zone).date()
        async with self.writes() as session, session.begin():
            claimed = await daily.claim(session, day, now, self.channel)
        return await self._send(day, now, claimed=claimed)

    async def _release(self, day: date, claimed: bool) -> None:
        if claimed:
            async with self.writes() as session, session.begin():
                await daily.release(session, day)

    async def _send(self, day: date, now: datetime, *, claimed: bool) -> str | None:
        try:
            review = await self.board.review(now)
        except Exception:
            await self._release(day, claimed)  # nothing was shown: a later tick retries
            raise
        message = review_message(review, self.currency, day)
        ts: str | None = None
        if self.client is None:
            self.echo(console_message(message))
        else:
            try:
                response = await self.client.chat_postMessage(
                    channel=self.channel, text=message.text, blocks=message.blocks
                )
            except SlackApiError:
                # Slack answered with a refusal: nothing was shown, a later tick retries.
                # (A timeout keeps the date: the post may have landed.)
                await self._release(day, claimed)
                raise
            ts = str(response["ts"])
        async with self.writes() as session, session.begin():
            await daily.posted(session, day, ts, review.summary)
        return ts


@dataclass(eq=False)
class HomeTabs:
    """Publishes the App Home dashboard (`views.publish`) for one person at a time."""

    board: ReviewBoard
    writes: async_sessionmaker[AsyncSession]
    client: AsyncWebClient | None
    currency: str
    _wakeup: Wakeup = field(default_factory=Wakeup, init=False)

    async def opened(self, user_id: str, now: datetime | None = None) -> None:
        """`user_id` opened the Home tab: show them the dashboard now."""
        now = now or utcnow()
        async with self.writes() as session, session.begin():
            await home.opened(session, user_id, now)
        await self._publish([user_id], now)

    async def refresh_due(self, now: datetime | None = None) -> int:
        """Republish for recent viewers not refreshed in the last minute; returns how many."""
        now = now or utcnow()
        async with self.writes() as session, session.begin():
            users = await home.claim_due(session, now)
        if users:
            await self._publish(users, now)
        return len(users)

    async def _publish(self, users: list[str], now: datetime) -> None:
        if self.client is None:
            return
        view = home_view(await self.board.review(now), self.currency)
        for user_id in users:
            try:
                await self.client.views_publish(user_id=user_id, view=view)
            except SlackApiError as exc:
                log.warning("could not publish the Home tab of %s: %s", user_id, exc)

    def kick(self) -> None:
        """Stock changed (a poll ran): refresh recent viewers soon."""
        self._wakeup.kick()

    async def run(self) -> None:
        """Refresh after each kick, for as long as the bot runs."""
        while True:
            await self._wakeup.wait(None)
            await one_round(self.refresh_due, log, "refreshing the Home tabs failed")
