"""A picture in the thread: when a product alert opens as low stock or out of stock
(or at risk), its stock chart is posted under its message; without Slack it is saved
as a file and its path printed.

Once per alert, whatever retries, restarts and replicas do: the database decides.
Each alert gets one `alert_charts` row, claimed by one process at a time
(`claimed_by`, free again once that process stops beating); the upload is marked
before it starts, and an upload whose outcome is unknown (a timeout, a crash) is
looked for in the thread before it is tried again.

A chart is an extra: a failure to read, draw or upload it is logged and given up on
(after a few tries for what Slack may heal), and never holds up the alert itself.

Drawing happens in a child process (`ChartDrawer`): matplotlib holds the GIL while it
draws, so a worker thread would still stall the event loop (up to ~0.9 s a chart on
a busy machine).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rich.console import Console
from slack_sdk.errors import SlackApiError, SlackRequestError
from sqlalchemy import ColumnElement, and_, exists, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import ForecastSection
from bot.db.models import Alert, AlertChart, AlertKind, AlertState, ChartState
from bot.db.replicas import Membership, claimed
from bot.db.types import utcnow
from bot.db.upsert import dialect_insert
from bot.slack.delivery.outbox import AlertSink, Posted, RetryLater, slack_call, slack_history
from bot.slack.delivery.worker import ClaimingWorker, one_round
from bot.slack.render.chart_image import chart_png, title
from bot.views.cards import AlertCard

if TYPE_CHECKING:  # the Slack client loads aiohttp: only when Slack is configured
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.views.chart_model import ProductChart

log = logging.getLogger(__name__)

# The states of a product's alert that get a chart when the alert first shows one of them.
CHART_KINDS: frozenset[str] = frozenset(
    {AlertKind.AT_RISK, AlertKind.LOW_STOCK, AlertKind.OUT_OF_STOCK}
)
MAX_ATTEMPTS = 3
# Only alerts that changed this recently get a chart: turning charts on (or a long
# outage) never posts one under every old alert at once.
FRESH = timedelta(days=2)
# After a delivery's kick: time for the outbox to store the message's ts.
SETTLE_SECONDS = 1.0
HISTORY_PAGES = 5
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ChartRefused(Exception):
    """Slack refused the upload for a reason a retry will not fix."""


def _refusal(exc: SlackApiError) -> Exception:
    """Slack's error answer to a chart call: a RetryLater (the upload may work later;
    `outcome_unknown` when Slack may have it already) or a ChartRefused."""
    status = exc.response.status_code
    error = str(exc.response.get("error", "") or status)
    if status == 429 or error == "ratelimited":
        after = int(exc.response.headers.get("Retry-After", 1) or 1)
        return RetryLater("Slack asked us to slow down", timedelta(seconds=after))
    if status >= 500:
        return RetryLater(f"Slack answered HTTP {status}", timedelta(0), outcome_unknown=True)
    return ChartRefused(f"Slack refused the chart ({error})")


class ChartTarget(Protocol):
    async def show(
        self, channel: str, thread_ts: str, name: str, title: str, alt_text: str, png: bytes
    ) -> str: ...
    async def find(self, channel: str, thread_ts: str, name: str) -> str | None: ...


def file_name(sku: str, alert_id: int) -> str:
    """The chart's file name: names the alert, so the thread can be searched for it."""
    return f"{_UNSAFE.sub('_', sku)[:60]}-stock-alert-{alert_id}.png"


def _alt_text(chart: ProductChart) -> str:
    suppliers = ", ".join(line.supplier for line in chart.stock) or "no supplier"
    return (
        f"Chart of {chart.sku}'s stock over up to 30 days at {suppliers}, "
        "the units sold each day, and the forecast down to the predicted stockout."
    )[:1000]


class SlackCharts:
    """Charts uploaded into the alert's thread (files:write)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def show(
        self, channel: str, thread_ts: str, name: str, title: str, alt_text: str, png: bytes
    ) -> str:
        response = await self._call(
            self.client.files_upload_v2,
            channel=channel,
            thread_ts=thread_ts,
            file=png,
            filename=name,
            title=title,
            alt_txt=alt_text,
        )
        files = response.get("files") or [{}]
        return str(files[0].get("id") or "")

    async def find(self, channel: str, thread_ts: str, name: str) -> str | None:
        """The file `name` in the thread, if an earlier upload got it there."""
        replies = self.client.conversations_replies
        async for message in slack_history(
            self._call, replies, HISTORY_PAGES, channel=channel, ts=thread_ts
        ):
            for shared in message.get("files") or []:
                if shared.get("name") == name:
                    return str(shared.get("id") or "")
        return None

    @staticmethod
    async def _call(method: Any, **kwargs: Any) -> dict[str, Any]:
        return await slack_call(method, _refusal, (SlackRequestError,), **kwargs)


class FileCharts:
    """Without Slack: the chart saved in a folder, its path printed under the alert."""

    def __init__(self, folder: Path, console: Console | None = None) -> None:
        self.folder = folder
        self.console = console or Console(highlight=False, soft_wrap=True)

    async def show(
        self, channel: str, thread_ts: str, name: str, title: str, alt_text: str, png: bytes
    ) -> str:
        path = self.folder / name
        await asyncio.to_thread(_save, path, png)
        self.console.print(f"    ↳ chart ({title}): {path}", markup=False)
        return str(path)

    async def find(self, channel: str, thread_ts: str, name: str) -> str | None:
        return None  # saving again writes the same file


def _save(path: Path, png: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(png)
    partial.replace(path)


class ChartDrawer:
    """Draws charts in one child process, started with the first chart (spawned: a
    clean interpreter, no copy of the bot's threads or connections) and kept for the
    next ones; `close` ends it. A child that died is replaced on the next chart."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def png(self, chart: ProductChart) -> bytes:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, chart_png, chart)
        except BrokenProcessPool:
            if self._pool is pool:
                self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


class KickingSink:
    """An alert sink that wakes the chart worker once a message is posted: the chart
    can go into its thread now."""

    def __init__(self, inner: AlertSink, kick: Callable[[], None]) -> None:
        self.inner = inner
        self.kick = kick

    async def post(self, card: AlertCard, channel: str) -> Posted:
        posted = await self.inner.post(card, channel)
        self.kick()
        return posted

    async def update(self, card: AlertCard, channel: str, ts: str) -> None:
        await self.inner.update(card, channel, ts)

    async def reply(self, channel: str, thread_ts: str, text: str, note_id: int) -> str:
        return await self.inner.reply(channel, thread_ts, text, note_id)

    async def find_post(self, channel: str, alert_id: int, since: datetime) -> Posted | None:
        return await self.inner.find_post(channel, alert_id, since)

    async def find_reply(self, channel: str, thread_ts: str, note_id: int) -> str | None:
        return await self.inner.find_reply(channel, thread_ts, note_id)


@dataclass(slots=True)
class ChartReport:
    shown: int = 0
    failed: int = 0
    deferred: int = 0


class ChartPoster(ClaimingWorker):
    """Shows the charts due. Any number of processes may run one: each claims the
    charts it shows, and within a process one round runs at a time."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        writes: async_sessionmaker[AsyncSession],
        target: ChartTarget,
        membership: Membership,
        forecast: ForecastSection,
        *,
        batch_size: int = 20,
    ) -> None:
        super().__init__(sessions, writes, membership, batch_size)
        self.target = target
        self.forecast = forecast
        self.drawer = ChartDrawer()

    async def close(self) -> None:
        """End the drawing process, if one was started."""
        await self.drawer.close()

    async def post_due(self) -> ChartReport:
        async with self._lock:
            report = ChartReport()
            await self._enqueue()
            async for alert_id in claimed(self._claim, set(), self.batch_size):
                try:
                    await self._show(alert_id, report)
                except Exception as exc:  # a chart never breaks anything else
                    log.exception("the chart of alert %s failed", alert_id)
                    await self._finish(
                        alert_id, ChartState.FAILED, error=f"{type(exc).__name__}: {exc}"
                    )
                    report.failed += 1
                finally:
                    await self._write(
                        update(AlertChart)
                        .where(
                            AlertChart.alert_id == alert_id,
                            AlertChart.claimed_by == self.membership.id,
                        )
                        .values(claimed_by=None)
                    )
            return report

    async def run(self, poll_every: float = 30.0) -> None:
        """Show charts forever: soon after a post, and every `poll_every` seconds. The
        first round waits too: start-up (and Slack's acks) come before any drawing."""
        while True:
            await self._wakeup.wait(poll_every)
            await asyncio.sleep(SETTLE_SECONDS)
            await one_round(self.post_due, log, "posting charts failed; will try again")

    # -- the queue -----------------------------------------------------------------------

    async def _enqueue(self) -> None:
        """A row for each alert that shows a chart state now, has its message, and has
        never had a chart: the primary key lets only one replica add it."""
        wanted = select(Alert.id, literal(ChartState.PENDING.value), literal(0)).where(
            Alert.kind.in_(sorted(CHART_KINDS)),
            Alert.state != AlertState.RESOLVED,
            Alert.is_group.is_(False),
            Alert.group_id.is_(None),
            Alert.product_id.is_not(None),
            Alert.slack_ts.is_not(None),
            Alert.changed_at >= utcnow() - FRESH,
            ~exists().where(AlertChart.alert_id == Alert.id),
        )
        await self._write(
            dialect_insert(self.writes, AlertChart.__table__)
            .from_select(["alert_id", "state", "attempts"], wanted)
            .on_conflict_do_nothing()
        )

    def _due(self) -> ColumnElement[bool]:
        return and_(
            AlertChart.state == ChartState.PENDING,
            or_(AlertChart.next_attempt_at.is_(None), AlertChart.next_attempt_at <= utcnow()),
        )

    async def _claim(self, tried: set[int]) -> int | None:
        claim = self.membership.claim_oldest(
            AlertChart.alert_id,
            AlertChart.claimed_by,
            self._due(),
            AlertChart.alert_id.not_in(tried),
        )
        claimed = await self._write(claim)
        return int(claimed[0]) if claimed else None

    # -- one chart -----------------------------------------------------------------------

    async def _show(self, alert_id: int, report: ChartReport) -> None:
        # Loaded with the first chart: numpy and the forecast need not slow down start-up.
        from bot.views.charts import product_chart

        async with self.sessions() as session:
            alert = await session.get(Alert, alert_id)
            row = await session.get(AlertChart, alert_id)
            assert row is not None
            if alert is None or not alert.is_open or alert.product_id is None:
                await self._finish(alert_id, ChartState.SKIPPED, error="resolved before its chart")
                return
            chart = await product_chart(session, alert.product_id, utcnow(), self.forecast)
        if chart is None:
            await self._finish(alert_id, ChartState.SKIPPED, error="the product is gone")
            return
        channel, thread_ts = alert.slack_channel or "", alert.slack_ts or ""
        name = file_name(chart.sku, alert_id)
        try:
            found = None
            if row.upload_started_at is not None:
                found = await self.target.find(channel, thread_ts, name)
            if found is not None:
                log.info("the chart of alert %s was already in its thread", alert_id)
                shown_as = found
            else:
                png = await self.drawer.png(chart)
                await self._write(
                    update(AlertChart)
                    .where(AlertChart.alert_id == alert_id)
                    .values(upload_started_at=utcnow())
                )
                shown_as = await self.target.show(
                    channel, thread_ts, name, title(chart), _alt_text(chart), png
                )
        except RetryLater as exc:
            attempts = row.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                log.warning("gave up on the chart of alert %s: %s", alert_id, exc)
                await self._finish(alert_id, ChartState.FAILED, error=str(exc))
                report.failed += 1
                return
            log.info("the chart of alert %s waits: %s", alert_id, exc)
            after = (
                exc.after if exc.outcome_unknown else max(exc.after, timedelta(seconds=2**attempts))
            )
            await self._write(
                update(AlertChart)
                .where(AlertChart.alert_id == alert_id)
                .values(attempts=attempts, next_attempt_at=utcnow() + after, error=str(exc))
            )
            report.deferred += 1
            return
        except ChartRefused as exc:
            log.warning("no chart for alert %s: %s", alert_id, exc)
            await self._finish(alert_id, ChartState.FAILED, error=str(exc))
            report.failed += 1
            return
        await self._finish(alert_id, ChartState.SHOWN, shown_as=shown_as)
        report.shown += 1

    async def _finish(
        self,
        alert_id: int,
        state: ChartState,
        *,
        error: str | None = None,
        shown_as: str | None = None,
    ) -> None:
        await self._write(
            update(AlertChart)
            .where(AlertChart.alert_id == alert_id)
            .values(state=state, error=error, shown_as=shown_as, done_at=utcnow())
        )
