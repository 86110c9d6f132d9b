"""Deliver stored alerts to Slack (or the console): the outbox worker.

Each alert marked `needs_sync` is claimed by one process (`claimed_by`, free again
once that process stops beating), posted once and updated in place afterwards;
thread notes follow. Nothing is lost or posted twice, across restarts and replicas:

- a post is marked (`post_started_at`) before the call and carries the alert's id in
  its message metadata; a post whose outcome is unknown (timeout, crash) is looked
  for in the channel's history before being posted again;
- what goes next, new problems first, is `bot.slack.delivery.outbox_queue`'s call; an update
  renders the alert as it is when its turn comes, so queued changes go in one call;
- Slack's Retry-After holds every call to the channel (`bot.slack.delivery.holds`);
- an alert resolved before it was ever shown is not posted at all (nor its notes).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

from rich.console import Console
from slack_sdk.errors import SlackApiError
from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.currency import DEFAULT_CURRENCY
from bot.db.models import Alert, AlertNote, AuditEntry
from bot.db.replicas import Membership, claimed
from bot.db.types import utcnow
from bot.slack.console import console_text
from bot.slack.delivery.holds import SlackHolds
from bot.slack.delivery.outbox_queue import OutboxQueue
from bot.slack.delivery.worker import ClaimingWorker, one_round
from bot.slack.render.alert_message import alert_message
from bot.views.cards import AlertCard, alert_card

if TYPE_CHECKING:  # the Slack client loads aiohttp: only when Slack is configured
    from slack_sdk.web.async_client import AsyncWebClient
    from slack_sdk.web.async_slack_response import AsyncSlackResponse

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


# Message metadata that names what a message shows, so a post whose outcome was
# unknown can be recognised in the channel later (conversations.history).
ALERT_EVENT = "stockbot_alert"
NOTE_EVENT = "stockbot_note"
# How far before a post began its message is looked for (clocks differ a little).
LOOKBACK = timedelta(minutes=5)
# History pages read at most when looking for an earlier post.
HISTORY_PAGES = 10
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")

POST, UPDATE = "chat.postMessage", "chat.update"
T = TypeVar("T")


class RetryLater(Exception):
    """The call did not work out; `outcome_unknown` when Slack may have done it anyway."""

    def __init__(
        self,
        reason: str,
        after: timedelta,
        *,
        rate_limited: bool = False,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(reason)
        self.after = after
        self.rate_limited = rate_limited
        self.outcome_unknown = outcome_unknown


class Held(RetryLater):
    """No call was made: Slack's Retry-After for this channel still runs."""

    def __init__(self, channel: str) -> None:
        super().__init__(f"{channel} is held: Slack asked us to slow down", timedelta(0))


class MessageGone(Exception):
    """The message to update was deleted in Slack: post a fresh one."""


@dataclass(frozen=True, slots=True)
class Posted:
    channel: str
    ts: str


class AlertSink(Protocol):
    async def post(self, card: AlertCard, channel: str) -> Posted: ...
    async def update(self, card: AlertCard, channel: str, ts: str) -> None: ...
    async def reply(self, channel: str, thread_ts: str, text: str, note_id: int) -> str: ...
    async def find_post(self, channel: str, alert_id: int, since: datetime) -> Posted | None: ...
    async def find_reply(self, channel: str, thread_ts: str, note_id: int) -> str | None: ...


def _metadata(event_type: str, **payload: int) -> dict[str, Any]:
    return {"event_type": event_type, "event_payload": payload}


def _carries(message: dict[str, Any], event_type: str, key: str, value: int) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return bool(metadata.get("event_type") == event_type and payload.get(key) == value)


class SlackSink:
    """Alert messages through the Slack Web API."""

    def __init__(self, client: AsyncWebClient, currency: str = DEFAULT_CURRENCY) -> None:
        self.client = client
        self.currency = currency
        self._channel_ids: dict[str, str] = {}

    async def post(self, card: AlertCard, channel: str) -> Posted:
        message = alert_message(card, self.currency)
        response = await self._call(
            self.client.chat_postMessage,
            channel=channel,
            text=message.text,
            blocks=message.blocks,
            unfurl_links=False,
            metadata=_metadata(ALERT_EVENT, alert_id=card.alert_id),
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

    async def reply(self, channel: str, thread_ts: str, text: str, note_id: int) -> str:
        response = await self._call(
            self.client.chat_postMessage,
            channel=channel,
            thread_ts=thread_ts,
            text=text,
            metadata=_metadata(NOTE_EVENT, note_id=note_id),
        )
        return str(response["ts"])

    async def find_post(self, channel: str, alert_id: int, since: datetime) -> Posted | None:
        """The alert's message posted since `since`, if Slack has it."""
        channel_id = await self._channel_id(channel)
        async for message in slack_history(
            self._call,
            self.client.conversations_history,
            HISTORY_PAGES,
            channel=channel_id,
            oldest=f"{(since - LOOKBACK).timestamp():.6f}",
            include_all_metadata=True,
        ):
            if _carries(message, ALERT_EVENT, "alert_id", alert_id):
                return Posted(channel=channel_id, ts=str(message["ts"]))
        return None

    async def find_reply(self, channel: str, thread_ts: str, note_id: int) -> str | None:
        """The note's reply in the thread, if Slack has it."""
        async for message in slack_history(
            self._call,
            self.client.conversations_replies,
            HISTORY_PAGES,
            channel=channel,
            ts=thread_ts,
            include_all_metadata=True,
        ):
            if _carries(message, NOTE_EVENT, "note_id", note_id):
                return str(message["ts"])
        return None

    async def _channel_id(self, channel: str) -> str:
        """History wants the channel's ID; the configuration may name it (#stock-alerts)."""
        if CHANNEL_ID.match(channel):
            return channel
        name = channel.lstrip("#")
        if name not in self._channel_ids:
            cursor = None
            while True:
                page = await self._call(
                    self.client.conversations_list,
                    types="public_channel,private_channel",
                    exclude_archived=True,
                    limit=1000,
                    cursor=cursor,
                )
                for found in page.get("channels") or []:
                    self._channel_ids[str(found["name"])] = str(found["id"])
                cursor = _next_cursor(page)
                if not cursor or name in self._channel_ids:
                    break
        return self._channel_ids.get(name, channel)

    async def _call(
        self, method: Callable[..., Awaitable[AsyncSlackResponse]], **kwargs: Any
    ) -> dict[str, Any]:
        return await slack_call(method, _classify, (), **kwargs)


async def _acted_on(session: AsyncSession, alert_id: int) -> bool:
    """Did anyone (the bot included: an automatic switch) do something about it?"""
    return (
        await session.scalar(select(AuditEntry.id).where(AuditEntry.alert_id == alert_id).limit(1))
    ) is not None


async def slack_call(
    method: Callable[..., Awaitable[AsyncSlackResponse]],
    classify: Callable[[SlackApiError], Exception],
    unreachable: tuple[type[Exception], ...],
    /,
    **kwargs: Any,
) -> dict[str, Any]:
    """`method(**kwargs)`'s data. Slack's error answer raises what `classify` makes of
    it; no answer (a connection error, or one of `unreachable`) raises a RetryLater
    whose outcome is unknown."""
    import aiohttp  # loaded already: the Slack client uses it

    no_answer: tuple[type[Exception], ...] = (
        aiohttp.ClientError,
        TimeoutError,
        OSError,
        *unreachable,
    )
    try:
        response = await method(**kwargs)
    except SlackApiError as exc:
        raise classify(exc) from None
    except no_answer as exc:
        # The request may have reached Slack before the answer was lost.
        raise RetryLater(
            f"Slack could not be reached ({type(exc).__name__})",
            timedelta(0),
            outcome_unknown=True,
        ) from None
    return dict(response.data) if isinstance(response.data, dict) else {}


async def slack_history(
    call: Callable[..., Awaitable[dict[str, Any]]],
    method: Callable[..., Awaitable[AsyncSlackResponse]],
    pages: int,
    **kwargs: Any,
) -> AsyncIterator[dict[str, Any]]:
    """The messages of a history or replies listing, newest page first, `pages` pages
    of 200 at the most; `call` makes each request (and says what its failures mean)."""
    cursor = None
    for _ in range(pages):
        page = await call(method, limit=200, cursor=cursor, **kwargs)
        for message in page.get("messages") or []:
            yield message
        cursor = _next_cursor(page)
        if not cursor:
            break


def _next_cursor(page: dict[str, Any]) -> str | None:
    return (page.get("response_metadata") or {}).get("next_cursor") or None


def _classify(exc: SlackApiError) -> Exception:
    status = exc.response.status_code
    error = str(exc.response.get("error", "") or "")
    if status == 429 or error == "ratelimited":
        retry_after = int(
            exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 1))
        )
        return RetryLater(
            "Slack asked us to slow down",
            timedelta(seconds=max(retry_after, 1)),
            rate_limited=True,
        )
    if error == "message_not_found":
        return MessageGone()
    if error in PERMANENT_ERRORS:
        return RetryLater(f"{error}: {PERMANENT_ERRORS[error]}", PERMANENT_BACKOFF)
    if status >= 500:
        # Slack may have acted before failing to answer.
        return RetryLater(f"Slack answered HTTP {status}", timedelta(0), outcome_unknown=True)
    return RetryLater(f"Slack refused the message ({error or status})", PERMANENT_BACKOFF)


class ConsoleSink:
    """Alerts printed to the terminal when Slack is not configured."""

    def __init__(self, console: Console | None = None, currency: str = DEFAULT_CURRENCY) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.currency = currency

    async def post(self, card: AlertCard, channel: str) -> Posted:
        self.console.print(f"[bold]ALERT[/bold] {console_text(card, self.currency)}", markup=True)
        return Posted(channel="console", ts=f"console.{card.alert_id}")

    async def update(self, card: AlertCard, channel: str, ts: str) -> None:
        label = "RESOLVED" if card.is_resolved else "UPDATED"
        text = console_text(card, self.currency)
        self.console.print(f"[bold]{label}[/bold] {text}", markup=True)

    async def reply(self, channel: str, thread_ts: str, text: str, note_id: int) -> str:
        self.console.print(f"    ↳ {text}", markup=False)
        return thread_ts

    async def find_post(self, channel: str, alert_id: int, since: datetime) -> Posted | None:
        return None  # a console keeps no history: print again rather than lose it

    async def find_reply(self, channel: str, thread_ts: str, note_id: int) -> str | None:
        return None


class _Due(NamedTuple):
    alert: Alert
    card: AlertCard
    worth_showing: bool


@dataclass(slots=True)
class DeliveryReport:
    delivered: int = 0
    deferred: int = 0
    last_error: str | None = None


class Deliverer(ClaimingWorker):
    """Sends what the outbox holds. Any number of processes may run one: each claims
    the alerts it sends, and within a process one round runs at a time."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        writes: async_sessionmaker[AsyncSession],
        sink: AlertSink,
        membership: Membership,
        *,
        per_channel_interval: float = 1.0,
        batch_size: int = 100,
    ) -> None:
        super().__init__(sessions, writes, membership, batch_size)
        self.sink = sink
        self.holds = SlackHolds(writes)
        self.queue = OutboxQueue(writes, membership, self.holds)
        self.per_channel_interval = per_channel_interval
        # When each channel may next be called (time.monotonic()), by its canonical name.
        self._next_turn: dict[str, float] = {}

    # -- one round -------------------------------------------------------------------------

    async def deliver_due(self) -> DeliveryReport:
        async with self._lock:
            report = DeliveryReport()
            await self.holds.load()
            tried: set[int] = set()
            failed_channels: set[str] = set()

            def claim(
                condition: Callable[[], ColumnElement[bool]],
            ) -> Callable[[set[int]], Awaitable[int | None]]:
                return lambda tried: self.queue.claim(condition(), tried, failed_channels)

            due = claim(self.queue.due_to_sync)
            async for alert_id in claimed(due, tried, self.batch_size):
                await self._attempt(alert_id, self._sync_alert, report, failed_channels)
            # Notes of alerts that have nothing else to send.
            notes = claim(self.queue.notes_waiting)
            async for alert_id in claimed(notes, tried, 2 * self.batch_size):
                await self._attempt(alert_id, self._post_notes, report, failed_channels)
            return report

    async def _attempt(
        self,
        alert_id: int,
        work: Callable[[int], Awaitable[bool]],
        report: DeliveryReport,
        failed_channels: set[str],
    ) -> None:
        try:
            if await work(alert_id):
                report.delivered += 1
        except RetryLater as exc:
            channel = await self._defer(alert_id, exc)
            report.deferred += 1
            report.last_error = str(exc)
            if not isinstance(exc, Held) and not exc.rate_limited:
                failed_channels |= self.holds.names_of(channel)
        finally:
            await self.queue.release(alert_id)

    # -- one alert -------------------------------------------------------------------------

    async def _sync_alert(self, alert_id: int) -> bool:
        """Bring the alert's message in line with the alert, then post its notes."""
        due = await self._read_due(alert_id)
        if due is not None and self._turn_in(due.alert.slack_channel or "") > 0:
            # Wait for the channel's turn, then read the alert again: what is sent is the
            # alert as it is then, every change made meanwhile in the one call.
            await self._wait_turn(due.alert.slack_channel or "")
            due = await self._read_due(alert_id)
        if due is None:
            return False
        alert, card, worth_showing = due
        seen_change = alert.changed_at
        posted_or_updated = alert.slack_ts is not None and await self._update(alert, card)
        if not posted_or_updated and not await self._post(alert, card, worth_showing):
            await self._drop(alert)
            return False
        # Only clear the flag if nobody changed the alert while we talked to Slack.
        await self._write(
            update(Alert)
            .where(Alert.id == alert.id, Alert.changed_at == seen_change)
            .values(
                needs_sync=False,
                delivery_attempts=0,
                last_delivery_error=None,
                next_delivery_at=None,
            )
        )
        await self._post_notes(alert.id)
        return True

    async def _read_due(self, alert_id: int) -> _Due | None:
        """The alert and its card, if its message needs posting or updating."""
        async with self.sessions() as session:
            alert = await session.get(Alert, alert_id)
            if alert is None or not alert.needs_sync:
                return None
            worth_showing = alert.is_open or await _acted_on(session, alert.id)
            if alert.slack_ts is None and alert.post_started_at is None and not worth_showing:
                # Opened and resolved while Slack was away: nobody needs to see it now.
                await self._drop(alert)
                return None
            return _Due(alert, await alert_card(session, alert), worth_showing)

    async def _update(self, alert: Alert, card: AlertCard) -> bool:
        """chat.update the alert's message; False if it was deleted in Slack."""
        assert alert.slack_ts is not None
        channel, ts = alert.slack_channel or "", alert.slack_ts
        try:
            await self._slack(UPDATE, channel, lambda: self.sink.update(card, channel, ts))
        except MessageGone:
            return False
        return True

    async def _post(self, alert: Alert, card: AlertCard, worth_showing: bool = True) -> bool:
        """Post the alert's message, unless an earlier post whose outcome was unknown is
        in the channel: then adopt and update that one. False when there is nothing to
        post (resolved, and never shown)."""
        channel = alert.slack_channel or ""
        if alert.post_started_at is not None:
            found = await self._slack(
                "conversations.history",
                channel,
                lambda: self.sink.find_post(channel, alert.id, alert.post_started_at or utcnow()),
                pace=False,
            )
            if found is not None:
                log.info("alert %s was already in Slack (%s): updating it", alert.id, found.ts)
                await self._store_post(alert, found)
                if not await self._update(alert, card):
                    return await self._post(alert, card, worth_showing)
                return True
            if not worth_showing:
                return False
        if self.holds.held(channel):
            raise Held(channel)
        await self._mark_posting(Alert, alert.id)
        alert.post_started_at = utcnow()
        try:
            posted = await self._slack(POST, channel, lambda: self.sink.post(card, channel))
        except RetryLater as exc:
            if not exc.outcome_unknown:
                await self._mark_posting(Alert, alert.id, started=False)
            raise
        await self._store_post(alert, posted)
        return True

    async def _store_post(self, alert: Alert, posted: Posted) -> None:
        """The message's ts, stored at once: from now on it is only ever updated."""
        if alert.slack_channel:
            self.holds.learn(alert.slack_channel, posted.channel)
        alert.slack_channel, alert.slack_ts = posted.channel, posted.ts
        alert.post_started_at = None
        await self._write(
            update(Alert)
            .where(Alert.id == alert.id)
            .values(slack_channel=posted.channel, slack_ts=posted.ts, post_started_at=None)
        )

    async def _mark_posting(
        self, model: type[Alert | AlertNote], row_id: int, *, started: bool = True
    ) -> None:
        await self._write(
            update(model)
            .where(model.id == row_id)
            .values(post_started_at=utcnow() if started else None)
        )

    async def _drop(self, alert: Alert) -> None:
        """Never post it: clear the flag and forget its unsent notes."""
        log.info("alert %s was resolved before Slack saw it: not posted", alert.id)
        await self._write(
            update(Alert)
            .where(Alert.id == alert.id)
            .values(needs_sync=False, next_delivery_at=None, post_started_at=None),
            delete(AlertNote).where(AlertNote.alert_id == alert.id, AlertNote.posted_ts.is_(None)),
        )

    async def _post_notes(self, alert_id: int) -> bool:
        async with self.sessions() as session:
            alert = await session.get(Alert, alert_id)
            if alert is None or alert.slack_ts is None:
                return False
            notes = (
                await session.scalars(
                    select(AlertNote)
                    .where(AlertNote.alert_id == alert.id, AlertNote.posted_ts.is_(None))
                    .order_by(AlertNote.id)
                )
            ).all()
        channel, thread = alert.slack_channel or "", alert.slack_ts
        for note in notes:
            ts = None
            if note.post_started_at is not None:
                ts = await self._slack(
                    "conversations.replies",
                    channel,
                    lambda n=note: self.sink.find_reply(channel, thread, n.id),  # type: ignore[misc]
                    pace=False,
                )
            if ts is None:
                if self.holds.held(channel):
                    raise Held(channel)
                await self._mark_posting(AlertNote, note.id)
                try:
                    ts = await self._slack(
                        POST,
                        channel,
                        lambda n=note: self.sink.reply(channel, thread, n.text, n.id),  # type: ignore[misc]
                    )
                except RetryLater as exc:
                    if not exc.outcome_unknown:
                        await self._mark_posting(AlertNote, note.id, started=False)
                    raise
            await self._write(
                update(AlertNote)
                .where(AlertNote.id == note.id)
                .values(posted_ts=ts, post_started_at=None)
            )
        return bool(notes)

    # -- Slack calls ---------------------------------------------------------------------

    async def _slack(
        self, method: str, channel: str, call: Callable[[], Awaitable[T]], *, pace: bool = True
    ) -> T:
        """One Slack call, unless Retry-After holds the channel; a 429 holds the channel
        for every call, of every process."""
        if self.holds.held(channel):
            raise Held(channel)
        if pace:
            # Slack allows about one message per second per channel.
            await self._wait_turn(channel)
            self._next_turn[self.holds.canonical(channel)] = (
                time.monotonic() + self.per_channel_interval
            )
        try:
            return await call()
        except RetryLater as exc:
            if exc.rate_limited:
                await self.holds.hold(method, channel, utcnow() + exc.after)
            raise

    def _turn_in(self, channel: str) -> float:
        """Seconds until the channel may be called again (0: now)."""
        return max(self._next_turn.get(self.holds.canonical(channel), 0) - time.monotonic(), 0)

    async def _wait_turn(self, channel: str) -> None:
        if wait := self._turn_in(channel):
            await asyncio.sleep(wait)

    async def _defer(self, alert_id: int, exc: RetryLater) -> str:
        """Record a failed attempt; returns the alert's channel. A hold is the channel's
        business, not the alert's: the alert keeps its place in the queue."""
        async with self.sessions() as session:
            alert = await session.get(Alert, alert_id)
        if alert is None:
            return ""
        if isinstance(exc, Held) or exc.rate_limited:
            log.info("Slack delivery of alert %s waits: %s", alert_id, exc)
            return alert.slack_channel or ""
        attempts = alert.delivery_attempts + 1
        backoff = exc.after or min(timedelta(seconds=2**attempts), MAX_BACKOFF)
        log.warning("Slack delivery of alert %s deferred %s: %s", alert_id, backoff, exc)
        await self._write(
            update(Alert)
            .where(Alert.id == alert_id)
            .values(
                delivery_attempts=attempts,
                next_delivery_at=utcnow() + backoff,
                last_delivery_error=str(exc),
            )
        )
        return alert.slack_channel or ""

    # -- the worker ----------------------------------------------------------------------

    async def run(self, poll_every: float = 15.0) -> None:
        """Deliver forever: at once when kicked, when a retry or a hold is due, and every
        `poll_every` seconds (work another process left, or did not finish)."""
        while True:
            next_at: datetime | None = None

            async def deliver() -> None:
                nonlocal next_at
                await self.deliver_due()
                _, next_at = await self.pending()

            wait = poll_every
            if (
                await one_round(deliver, log, "alert delivery failed; will try again")
                and next_at is not None
            ):
                wait = min(wait, max((next_at - utcnow()).total_seconds(), 0.05))
            await self._wakeup.wait(wait)

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
        release = self.holds.next_release()
        if release is not None and len(times) < len(rows):
            times.append(release)
        return len(rows), min(times) if times else None
