"""Deliver stored alerts to Slack (or the console): the outbox worker.

Each alert marked `needs_sync` is posted once (its channel and ts are stored
straight away) and updated in place afterwards; thread notes follow. A failed
call is retried later, honouring Slack's `Retry-After`, so nothing is lost or
posted twice, across restarts too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiohttp
from rich.console import Console
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.currency import DEFAULT_CURRENCY
from bot.db.models import Alert, AlertNote
from bot.db.types import utcnow
from bot.slack.console import console_text
from bot.slack.render.alert_message import alert_message
from bot.views.cards import AlertCard, alert_card

log = logging.getLogger(__name__)

# Errors that a retry in a few seconds will not fix: back off for longer.
PERMANENT_ERRORS = {
    "channel_not_found": "the alert channel was not found: check [slack] alert_channel",
    "not_in_channel": "the bot is not in the alert channel: invite it with /invite @Stockbot",
    "is_archived": "the alert channel is archived",
    "invalid_auth": "SLACK_BOT_TOKEN is not valid",
    "not_authed": "SLACK_BOT_TOKEN is missing",
    "account_inactive": "the Slack app was uninstalled or its token revoked",
    "token_revoked": "the Slack app was uninstalled or its token revoked",
    "missing_scope": "the Slack app lacks a scope; reinstall it from app_manifest.yml",
}
PERMANENT_BACKOFF = timedelta(minutes=5)
MAX_BACKOFF = timedelta(minutes=10)


class RetryLater(Exception):
    def __init__(self, reason: str, after: timedelta) -> None:
        super().__init__(reason)
        self.after = after


class MessageGone(Exception):
    """The message to update was deleted in Slack: post a fresh one."""


@dataclass(frozen=True, slots=True)
class Posted:
    channel: str
    ts: str


class AlertSink(Protocol):
    async def post(self, card: AlertCard, channel: str) -> Posted: ...
    async def update(self, card: AlertCard, channel: str, ts: str) -> None: ...
    async def reply(self, channel: str, thread_ts: str, text: str) -> str: ...


class SlackSink:
    """Alert messages through the Slack Web API."""

    def __init__(self, client: AsyncWebClient, currency: str = DEFAULT_CURRENCY) -> None:
        self.client = client
        self.currency = currency

    async def post(self, card: AlertCard, channel: str) -> Posted:
        message = alert_message(card, self.currency)
        response = await self._call(
            self.client.chat_postMessage,
            channel=channel,
            text=message.text,
            blocks=message.blocks,
            unfurl_links=False,
        )
        return Posted(channel=str(response["channel"]), ts=str(response["ts"]))

    async def update(self, card: AlertCard, channel: str, ts: str) -> None:
        message = alert_message(card, self.currency)
        await self._call(
            self.client.chat_update,
            channel=channel,
            ts=ts,
            text=message.text,
            blocks=message.blocks,
        )

    async def reply(self, channel: str, thread_ts: str, text: str) -> str:
        response = await self._call(
            self.client.chat_postMessage, channel=channel, thread_ts=thread_ts, text=text
        )
        return str(response["ts"])

    async def _call(
        self, method: Callable[..., Awaitable[AsyncSlackResponse]], **kwargs: Any
    ) -> dict[str, Any]:
        try:
            response = await method(**kwargs)
        except SlackApiError as exc:
            raise _classify(exc) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RetryLater(
                f"Slack could not be reached ({type(exc).__name__})", timedelta(0)
            ) from None
        return dict(response.data) if isinstance(response.data, dict) else {}


def _classify(exc: SlackApiError) -> Exception:
    status = exc.response.status_code
    error = str(exc.response.get("error", "") or "")
    if status == 429 or error == "ratelimited":
        retry_after = int(
            exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 1))
        )
        return RetryLater("Slack asked us to slow down", timedelta(seconds=max(retry_after, 1)))
    if error == "message_not_found":
        return MessageGone()
    if error in PERMANENT_ERRORS:
        return RetryLater(f"{error}: {PERMANENT_ERRORS[error]}", PERMANENT_BACKOFF)
    if status >= 500:
        return RetryLater(f"Slack answered HTTP {status}", timedelta(0))
    return RetryLater(f"Slack refused the message ({error or status})", PERMANENT_BACKOFF)


class ConsoleSink:
    """Alerts printed to the terminal when Slack is not configured."""

    def __init__(self, console: Console | None = None, currency: str = DEFAULT_CURRENCY) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.currency = currency
        self._counter = 0

    async def post(self, card: AlertCard, channel: str) -> Posted:
        self.console.print(f"[bold]ALERT[/bold] {console_text(card, self.currency)}", markup=True)
        self._counter += 1
        return Posted(channel="console", ts=f"console.{card.alert_id}")

    async def update(self, card: AlertCard, channel: str, ts: str) -> None:
        label = "RESOLVED" if card.is_resolved else "UPDATED"
        text = console_text(card, self.currency)
        self.console.print(f"[bold]{label}[/bold] {text}", markup=True)

    async def reply(self, channel: str, thread_ts: str, text: str) -> str:
        self.console.print(f"    ↳ {text}", markup=False)
        return thread_ts


@dataclass(slots=True)
class DeliveryReport:
    delivered: int = 0
    deferred: int = 0
    last_error: str | None = None


class Deliverer:
    """Sends what the outbox holds; one instance, so calls are naturally serialised."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sink: AlertSink,
        *,
        per_channel_interval: float = 1.0,
        batch_size: int = 100,
    ) -> None:
        self.sessions = sessions
        self.sink = sink
        self.per_channel_interval = per_channel_interval
        self.batch_size = batch_size
        self._last_sent: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    def kick(self) -> None:
        """Ask the running worker to deliver now."""
        self._wake.set()

    async def _pace(self, channel: str) -> None:
        # Slack allows about one message per second per channel.
        wait = self._last_sent.get(channel, 0) + self.per_channel_interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_sent[channel] = time.monotonic()

    async def deliver_due(self) -> DeliveryReport:
        async with self._lock:
            report = DeliveryReport()
            now = utcnow()
            async with self.sessions() as session:
                due = (
                    await session.scalars(
                        select(Alert)
                        .where(
                            Alert.needs_sync.is_(True),
                            Alert.group_id.is_(None),
                            (Alert.next_delivery_at.is_(None)) | (Alert.next_delivery_at <= now),
                        )
                        .order_by(Alert.id)
                        .limit(self.batch_size)
                    )
                ).all()
                blocked_channels: set[str] = set()
                for alert in due:
                    channel = alert.slack_channel or ""
                    if channel in blocked_channels:
                        report.deferred += 1
                        continue
                    try:
                        await self._sync_alert(session, alert)
                        await self._post_notes(session, alert)
                        report.delivered += 1
                    except RetryLater as exc:
                        await self._defer(session, alert, exc)
                        blocked_channels.add(channel)
                        report.deferred += 1
                        report.last_error = str(exc)
                notes_only = await self._alerts_with_unposted_notes(
                    session, exclude={a.id for a in due}
                )
                for alert in notes_only:
                    try:
                        await self._post_notes(session, alert)
                    except RetryLater as exc:
                        report.last_error = str(exc)
                        break
            return report

    async def _sync_alert(self, session: AsyncSession, alert: Alert) -> None:
        seen_change = alert.changed_at
        card = await alert_card(session, alert)
        # No transaction stays open while Slack answers: the writes below then
        # start fresh and wait their turn for SQLite's lock instead of failing.
        await session.commit()
        channel = alert.slack_channel or ""
        await self._pace(channel)
        if alert.slack_ts is None:
            posted = await self.sink.post(card, channel)
            # Store the ts at once: from now on this alert is only ever updated.
            alert.slack_channel, alert.slack_ts = posted.channel, posted.ts
            await session.execute(
                update(Alert)
                .where(Alert.id == alert.id)
                .values(slack_channel=posted.channel, slack_ts=posted.ts)
            )
            await session.commit()
        else:
            try:
                await self.sink.update(card, channel, alert.slack_ts)
            except MessageGone:
                posted = await self.sink.post(card, channel)
                alert.slack_ts = posted.ts
                await session.execute(
                    update(Alert).where(Alert.id == alert.id).values(slack_ts=posted.ts)
                )
                await session.commit()
        # Only clear the flag if nobody changed the alert while we were talking to Slack.
        await session.execute(
            update(Alert)
            .where(Alert.id == alert.id, Alert.changed_at == seen_change)
            .values(
                needs_sync=False,
                delivery_attempts=0,
                last_delivery_error=None,
                next_delivery_at=None,
            )
        )
        await session.commit()

    async def _post_notes(self, session: AsyncSession, alert: Alert) -> None:
        if alert.slack_ts is None:
            return
        notes = (
            await session.scalars(
                select(AlertNote)
                .where(AlertNote.alert_id == alert.id, AlertNote.posted_ts.is_(None))
                .order_by(AlertNote.id)
            )
        ).all()
        await session.commit()
        for note in notes:
            await self._pace(alert.slack_channel or "")
            ts = await self.sink.reply(alert.slack_channel or "", alert.slack_ts, note.text)
            note.posted_ts = ts
            await session.commit()

    async def _alerts_with_unposted_notes(
        self, session: AsyncSession, exclude: set[int]
    ) -> list[Alert]:
        waiting = select(AlertNote.alert_id).where(AlertNote.posted_ts.is_(None))
        # A message changed since this cycle began gets its update first, its notes after.
        updated_later = Alert.needs_sync.is_(True) & Alert.group_id.is_(None)
        return list(
            (
                await session.scalars(
                    select(Alert).where(
                        Alert.id.in_(waiting),
                        Alert.slack_ts.is_not(None),
                        Alert.id.not_in(exclude),
                        ~updated_later,
                    )
                )
            ).all()
        )

    async def _defer(self, session: AsyncSession, alert: Alert, exc: RetryLater) -> None:
        attempts = alert.delivery_attempts + 1
        backoff = exc.after or min(timedelta(seconds=2**attempts), MAX_BACKOFF)
        log.warning("Slack delivery of alert %s deferred %s: %s", alert.id, backoff, exc)
        await session.execute(
            update(Alert)
            .where(Alert.id == alert.id)
            .values(
                delivery_attempts=attempts,
                next_delivery_at=utcnow() + backoff,
                last_delivery_error=str(exc),
            )
        )
        await session.commit()

    async def run(self, poll_every: float = 15.0) -> None:
        """Deliver forever: at once when kicked, and every `poll_every` seconds for retries."""
        while True:
            try:
                await self.deliver_due()
            except Exception:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # a cancellation the database driver wrapped: stop, don't loop
                log.exception("alert delivery failed; will try again")
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll_every):
                    await self._wake.wait()
            self._wake.clear()

    async def pending(self) -> tuple[int, datetime | None]:
        """How many alerts still wait for Slack, and when the next retry is due."""
        async with self.sessions() as session:
            rows = (
                (
                    await session.execute(
                        select(Alert.next_delivery_at).where(
                            Alert.needs_sync.is_(True), Alert.group_id.is_(None)
                        )
                    )
                )
                .scalars()
                .all()
            )
        times = [t for t in rows if t is not None]
        return len(rows), min(times) if times else None
