"""One poll of one supplier: read its stock, record changes, evaluate alerts.

Stock changes are written in one transaction that the feed guard can roll
back: a feed that suddenly zeroes or drops most SKUs is far more likely to be
broken than a real mass stockout, so it raises one `supplier_feed` alert instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import RulesSection, Settings, SupplierConfig
from bot.core import alerts
from bot.core.fixes import switching
from bot.core.reconcile import FeedDiff, GuardCounts, Listing, mark_unknown_skus
from bot.core.stock_changes import stock_changed
from bot.db import SQLITE_BEGIN, writer_session_factory
from bot.db.leases import poll_lease
from bot.db.models import AlertKind, Offer, Supplier, SupplierPoll
from bot.db.types import utcnow
from bot.errors import StockbotError
from bot.telemetry import metrics
from suppliers import (
    FeedError,
    FeedInvalid,
    FeedStats,
    ReadBounds,
    SupplierAdapter,
    SupplierPaused,
    Validators,
    adapter_class,
)

log = logging.getLogger(__name__)

# Below this many known SKUs a "mass" drop is just a few products: no guard.
FEED_GUARD_MIN_SKUS = 5


@dataclass(slots=True)
class PollSummary:
    supplier: str
    rows_read: int = 0
    changed: int = 0
    set_aside: int = 0
    unmatched: int = 0
    missing: int = 0
    alerts_opened: int = 0
    alerts_resolved: int = 0
    not_modified: bool = False
    switched: int = 0
    error: str | None = None
    set_aside_examples: list[str] = field(default_factory=list)
    # The products whose offer at this supplier changed (their forecasts follow).
    changed_products: set[int] = field(default_factory=set)
    # What the reader should know about a poll that went through, e.g. why
    # SKUs missing from the feed were not marked out of stock.
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def _count(summary: PollSummary, seconds: float) -> None:
    """One poll in /metrics."""
    outcome = "failed" if not summary.ok else "not_modified" if summary.not_modified else "ok"
    supplier = summary.supplier
    metrics.POLLS.labels(supplier=supplier, outcome=outcome).inc()
    metrics.POLL_SECONDS.labels(supplier=supplier).observe(seconds)
    metrics.ROWS_READ.labels(supplier=supplier).inc(summary.rows_read)
    metrics.ROWS_SET_ASIDE.labels(supplier=supplier).inc(summary.set_aside)


# The longest a poll keeps the cyclic garbage collector paused: a slow feed or a paced
# API poll may last up to `poll_timeout`, and the whole process shares the collector.
COLLECTOR_PAUSE = 60.0


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection during a poll, for COLLECTOR_PAUSE at the most: it
    allocates a few objects per feed row (none in cycles, all freed by reference
    counting), and each pass of the collector would rescan them all: 10-15% of a
    100,000-row poll. Whatever cycles other tasks make meanwhile are collected once
    it is over. Polls that overlap leave the pause to the first."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    resume = asyncio.get_running_loop().call_later(COLLECTOR_PAUSE, gc.enable)
    try:
        yield
    finally:
        resume.cancel()
        gc.enable()


class FeedGuardTripped(StockbotError):
    """The feed looks broken rather than sold out; nothing was changed."""


async def ensure_suppliers(session: AsyncSession, configs: list[SupplierConfig]) -> None:
    """Create a row for every configured supplier and record its kind."""
    existing = {s.name: s for s in (await session.scalars(select(Supplier))).all()}
    for config in configs:
        row = existing.get(config.name)
        if row is None:
            session.add(Supplier(name=config.name, kind=config.kind, consecutive_failures=0))
        elif row.kind != config.kind:
            row.kind = config.kind


class Poller:
    """Polls suppliers; one instance is shared by the scheduler and the CLI."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        client: httpx.AsyncClient,
        on_change: Callable[[], None] | None = None,
        exclusive: Callable[[str], AbstractAsyncContextManager[object]] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.client = client
        # Called after every poll, e.g. to wake the Slack delivery worker.
        self.on_change = on_change
        self._engine: AsyncEngine = sessions.kw["bind"]
        self._writer_sessions = writer_session_factory(self._engine)
        self._locks: dict[str, asyncio.Lock] = {}
        # Across processes too: one poll of a supplier at a time (a lease, bot.db.leases).
        self._exclusive = exclusive or (lambda _name: contextlib.nullcontext())
        self._adapters: dict[str, SupplierAdapter] = {}
        # What time a poll records (tests move it; the bot's is the wall clock).
        self.clock = clock

    @property
    def rules(self) -> RulesSection:
        return self.settings.rules

    def _adapter(self, config: SupplierConfig) -> SupplierAdapter:
        """One adapter per supplier for the life of the process, so it can keep
        state between polls (access tokens, pacing, SKUs the supplier does not know)."""
        adapter = self._adapters.get(config.name)
        if adapter is None:
            adapter = adapter_class(config.kind)(
                config.name, config.options, self.client, os.environ
            )
            self._adapters[config.name] = adapter
        return adapter

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def poll(self, name: str, *, accept_drop: bool = False) -> PollSummary:
        """Poll one supplier now; waits if a poll of the same supplier is running."""
        async with self._lock(name), self._exclusive(poll_lease(name)):
            started = time.monotonic()
            with _collector_paused():
                summary = await self._poll(name, accept_drop=accept_drop)
            _count(summary, time.monotonic() - started)
        if self.on_change is not None:
            self.on_change()
        return summary

    async def _poll(self, name: str, *, accept_drop: bool) -> PollSummary:
        config = self.settings.supplier(name)
        summary = PollSummary(supplier=name)
        adapter = self._adapter(config)
        started = self.clock()
        async with self.sessions() as session, session.begin():
            await ensure_suppliers(session, [config])
            supplier = await session.scalar(select(Supplier).where(Supplier.name == name))
            assert supplier is not None
            supplier_id = supplier.id
            validators = Validators(supplier.etag, supplier.last_modified)
            skus: list[str] = []
            if adapter.needs_skus:
                skus = list(
                    await session.scalars(
                        select(Offer.supplier_sku).where(Offer.supplier_id == supplier_id)
                    )
                )

        try:
            # Download and parse without SQLite's write lock, so a slow feed never
            # blocks Slack clicks or other suppliers' polls. Bounded in time (adapter
            # work only); "most SKUs not found" is judged like a zeroed feed.
            listing = Listing()
            bounds = ReadBounds(config.poll_timeout.total_seconds(), self.rules.feed_guard_share)
            async with adapter.open(validators, skus=skus, bounds=bounds) as feed:
                async for batch in feed.batches():
                    summary.rows_read += len(batch)
                    listing.add(batch)
                stats, complete = feed.stats, feed.complete and not feed.not_modified
                summary.not_modified, new_validators = feed.not_modified, feed.validators
                if feed.incomplete_reason:
                    summary.notes.append(feed.incomplete_reason)
            listing.rejected = stats.rejected_skus
            # Then compare and write what changed in one short write transaction.
            async with self._engine.connect() as connection:
                await connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
                diff = await FeedDiff.read(connection, supplier_id, listing)
                await self._apply(
                    connection, diff, stats, complete, summary, started, accept_drop=accept_drop
                )
                await connection.execute(
                    update(Supplier)
                    .where(Supplier.id == supplier_id)
                    .values(etag=new_validators.etag, last_modified=new_validators.last_modified)
                )
                await connection.commit()
        except (FeedError, FeedGuardTripped) as exc:
            summary.changed = summary.missing = 0
            summary.changed_products = set()
            summary.error = str(exc)
            # A used-up daily quota is said once and is not the supplier being down.
            paused = isinstance(exc, SupplierPaused)
            bad_content = paused or isinstance(exc, FeedInvalid | FeedGuardTripped)
            await self._record_failure(
                supplier_id, summary, started, bad_content, count_failure=not paused
            )
            return summary

        await self._record_success(supplier_id, summary, started)
        return summary

    async def _apply(
        self,
        connection: AsyncConnection,
        diff: FeedDiff,
        stats: FeedStats,
        complete: bool,
        summary: PollSummary,
        now: datetime,
        *,
        accept_drop: bool,
    ) -> None:
        summary.set_aside = stats.rejected_count
        summary.set_aside_examples = [f"line {r.line}: {r.reason}" for r in stats.rejected[:5]]
        if not accept_drop and not summary.not_modified:
            self._guard(summary.supplier, diff.guard_counts(complete, FEED_GUARD_MIN_SKUS))
        summary.unmatched = diff.unmatched()
        summary.changed = await diff.apply_changes(now)
        unknown = stats.unknown_skus
        summary.changed += await mark_unknown_skus(connection, diff.supplier_id, unknown, now)
        diff.note_unknown(unknown)
        if complete:
            summary.missing = await diff.mark_missing(now, unknown)
            summary.changed += summary.missing
        if not summary.not_modified:  # a 304 read nothing: nobody was seen
            await diff.record_listing(now)
        summary.changed_products = diff.changed_products

    async def _record_success(self, supplier_id: int, summary: PollSummary, now: datetime) -> None:
        async with self._writer_sessions() as session, session.begin():
            await session.execute(
                update(Supplier)
                .where(Supplier.id == supplier_id)
                .values(
                    consecutive_failures=0, last_poll_at=now, last_success_at=now, last_error=None
                )
            )
            # Poll history, for the supplier scorecard's feed uptime.
            session.add(SupplierPoll(supplier_id=supplier_id, at=now, ok=True))
            summary.alerts_resolved += await alerts.resolve_supplier_alerts(
                session, supplier_id, "The supplier's feed was read successfully again.", now
            )
            # Product alerts, backorders and stores follow. The configured stores only:
            # one dropped from the file is no longer pushed.
            result = await stock_changed(
                session,
                None,
                supplier_id=supplier_id,
                stores=[store.name for store in self.settings.stores],
                channel=self.settings.slack.alert_channel,
                now=now,
                group_over=self.rules.group_alerts_over,
            )
            summary.alerts_opened += result.opened
            summary.alerts_resolved += result.resolved
            if self.settings.auto_switch.enabled:
                switched = await switching.auto_switch(
                    session,
                    supplier_id=supplier_id,
                    max_price_increase_percent=self.settings.auto_switch.max_price_increase_percent,
                    channel=self.settings.slack.alert_channel,
                )
                summary.switched = len(switched)

    async def _record_failure(
        self,
        supplier_id: int,
        summary: PollSummary,
        now: datetime,
        bad_content: bool,
        *,
        count_failure: bool = True,
    ) -> None:
        channel = self.settings.slack.alert_channel
        async with self._writer_sessions() as session, session.begin():
            supplier = await session.get(Supplier, supplier_id)
            assert supplier is not None
            supplier.consecutive_failures += int(count_failure)
            supplier.last_poll_at = now
            supplier.last_error = summary.error
            if count_failure:  # a used-up quota is a pause, not a poll that failed
                session.add(SupplierPoll(supplier_id=supplier_id, at=now, ok=False))
            if bad_content and await alerts.raise_supplier_alert(
                session, AlertKind.SUPPLIER_FEED, supplier_id, summary.error or "", channel, now
            ):
                summary.alerts_opened += 1
            failures = supplier.consecutive_failures
            if failures >= self.rules.supplier_down_after and await alerts.raise_supplier_alert(
                session,
                AlertKind.SUPPLIER_DOWN,
                supplier_id,
                f"{failures} polls in a row have failed. Last error: {summary.error}",
                channel,
                now,
            ):
                summary.alerts_opened += 1
        log.warning("poll of %s failed: %s", summary.supplier, summary.error)

    def _guard(self, name: str, counts: GuardCounts) -> None:
        if counts.known < FEED_GUARD_MIN_SKUS:
            return
        dropped, zeroed = counts.dropped, counts.zeroed
        share = (dropped + zeroed) / counts.known
        if share > self.rules.feed_guard_share:
            raise FeedGuardTripped(
                f"This poll would have taken {share:.0%} of the supplier's {counts.known} known "
                f"SKUs out of stock ({dropped} missing from the feed, {zeroed} at zero), which "
                f"is more than the {self.rules.feed_guard_share:.0%} guard. Stock was left as "
                f'it was. If this is real, run `stockbot poll --once --supplier "{name}" '
                "--accept-drop`."
            )
