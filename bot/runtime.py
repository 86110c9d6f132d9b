"""Everything a running Stockbot holds: settings, database, clients, workers, services.

The composition root: the one place that wires the core's services to Slack (each
gets the delivery worker's `kick` as its plain `on_change` callback).
"""

from __future__ import annotations

import functools
import gc
import logging
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import db
from bot.config import Settings
from bot.core import orders, store_orders, store_sync
from bot.core.fixes.choices import CustomerChoices
from bot.core.fixes.staff_actions import FixActions, StaffActions
from bot.core.fixes.store_notes import NotesReport, StoreNoteWriter
from bot.core.forecast.watch import WatchReport, watch
from bot.core.polling import Poller, PollSummary, ensure_suppliers
from bot.db.leases import Leases
from bot.db.replicas import Heartbeat, Membership, new_replica_id
from bot.db.sqlite_guard import BotLock, lock_sqlite_bot
from bot.db.types import utcnow
from bot.slack.access import OPEN_ACCESS_WARNING, AccessPolicy
from bot.slack.delivery.charts import ChartPoster, ChartTarget, FileCharts, KickingSink, SlackCharts
from bot.slack.delivery.outbox import AlertSink, ConsoleSink, Deliverer, SlackSink
from bot.slack.review import DailyReviews, HomeTabs
from bot.views.lookup import StockLookup
from bot.views.review import ReviewBoard
from stores import StoreAdapter, store_class

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.core.fixes.customer_notices import CustomerNotifier

log = logging.getLogger(__name__)

USER_AGENT = "Stockbot/0.1 (+https://github.com/stockbot)"
# The lease of the forecast recompute: one at a time across replicas.
FORECAST_LEASE = "schedule:forecast"
# A poll that changed more products than this recomputes every forecast.
WHOLE_RECOMPUTE_OVER = 20_000


def _slack(settings: Settings, *, retries: bool = True) -> AsyncWebClient | None:
    token = settings.slack_bot_token
    if token is None:
        return None
    timeout = int(settings.slack.api_timeout.total_seconds()) or 1
    # Imported here: the Slack client loads aiohttp, which a console-only run never needs.
    from bot.slack.client import slack_client

    return slack_client(
        token.get_secret_value(), settings.slack_api_url, timeout=timeout, retries=retries
    )


def _charts(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    writes: async_sessionmaker[AsyncSession],
    membership: Membership,
) -> ChartPoster | None:
    if not settings.charts.enabled:
        return None
    # No automatic retries: an upload retried blindly could show twice.
    client = _slack(settings, retries=False)
    target: ChartTarget = (
        SlackCharts(client) if client is not None else FileCharts(settings.charts.folder)
    )
    return ChartPoster(sessions, writes, target, membership, settings.forecast)


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    # For reads.
    sessions: async_sessionmaker[AsyncSession]
    # For every transaction that writes: it takes SQLite's write lock when it begins,
    # so concurrent writers wait their turn instead of failing "database is locked".
    writes: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    slack: AsyncWebClient | None
    deliverer: Deliverer
    # Stock charts in the threads of alerts as they open (None: [charts] enabled = false).
    charts: ChartPoster | None
    poller: Poller
    access: AccessPolicy
    # This process among the replicas sharing the database, and the work it leases.
    heartbeat: Heartbeat
    leases: Leases
    # One adapter per configured store, by name, for the life of the process.
    stores: dict[str, StoreAdapter] = field(default_factory=dict)
    # Held by `stockbot run` on SQLite, which serves one bot process.
    bot_lock: BotLock | None = None
    # What time it is for polls and forecasts (tests move it).
    clock: Callable[[], datetime] = utcnow
    # What people do from Slack: built once, used by the handlers and the scheduler.
    staff: StaffActions = field(init=False)
    fixes: FixActions = field(init=False)
    # Customers' choices from their links (the page, the thread, the cancel button).
    choices: CustomerChoices = field(init=False)
    # What customers were told and chose, written on their orders in the stores.
    store_notes: StoreNoteWriter = field(init=False)
    lookup: StockLookup = field(init=False)
    # The daily picture: the review, the supplier scorecards, the App Home.
    board: ReviewBoard = field(init=False)
    reviews: DailyReviews = field(init=False)
    home: HomeTabs = field(init=False)

    def __post_init__(self) -> None:
        # The core's services learn of Slack only as this callback.
        kick = self.deliverer.kick
        self.staff = StaffActions(self.sessions, self.writes, kick)
        self.fixes = FixActions(self.sessions, self.writes, kick, self.settings.slack.alert_channel)
        self.choices = CustomerChoices(
            self.sessions,
            self.writes,
            kick,
            self.settings,
            self.stores,
            self.heartbeat.membership,
        )
        self.store_notes = StoreNoteWriter(
            self.sessions, self.writes, self.stores, self.heartbeat.membership, kick
        )
        self.lookup = StockLookup(self.sessions, self.settings.forecast, clock=self.clock)
        settings = self.settings
        self.board = ReviewBoard(self.sessions, settings.database_url, settings.forecast)
        currency = settings.catalog.currency
        self.reviews = DailyReviews(
            self.board,
            self.writes,
            self.slack,
            settings.review,
            settings.slack.alert_channel,
            currency,
        )
        self.home = HomeTabs(self.board, self.writes, self.slack, currency)
        # After each poll: Slack deliveries, and the Home tabs of recent viewers.
        self.poller.on_change = self._after_poll

    def _after_poll(self) -> None:
        self.deliverer.kick()
        self.home.kick()

    @functools.cached_property
    def notifier(self) -> CustomerNotifier:
        """Customer emails, made on first use: the email machinery (templates, SMTP,
        address checks) is loaded only by the processes that send them."""
        from bot.core.fixes.customer_notices import CustomerNotifier

        return CustomerNotifier(self.sessions, self.writes, self.deliverer.kick, self.settings)

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        sink: AlertSink | None = None,
        per_channel_interval: float = 1.0,
        serving: bool = False,
        clock: Callable[[], datetime] = utcnow,
    ) -> Runtime:
        """Open the database (migrating it) and build the clients and workers.
        `serving`: this is `stockbot run`, which SQLite allows once per database."""
        bot_lock = lock_sqlite_bot(settings.database_url) if serving else None
        engine = db.create_engine(
            settings.database_url,
            sqlite_lock_wait=settings.sqlite_lock_wait.total_seconds(),
        )
        await db.upgrade(engine)
        sessions = db.session_factory(engine)
        writes = db.writer_session_factory(engine)
        membership = Membership(new_replica_id(), settings.replicas.takeover_after)
        heartbeat = Heartbeat(writes, membership)
        await heartbeat.start()
        leases = Leases(writes, membership)
        async with writes() as session, session.begin():
            await ensure_suppliers(session, settings.suppliers)
            # Webhook orders filed under "shopify"/"woocommerce" become their store's.
            await orders.adopt_kind_orders(session, {s.name: s.kind for s in settings.stores})
            # A newly configured store starts with every product's stock to push.
            await store_sync.mark_wanted(session, None, [s.name for s in settings.stores])
        http = httpx.AsyncClient(headers={"User-Agent": USER_AGENT}, follow_redirects=True)
        stores = {
            store.name: store_class(store.kind)(store.name, store.options, http, os.environ)
            for store in settings.stores
        }
        slack = _slack(settings)
        if sink is None:
            currency = settings.catalog.currency
            outbox_client = _slack(settings, retries=False)
            sink = (
                SlackSink(outbox_client, currency)
                if outbox_client is not None
                else ConsoleSink(currency=currency)
            )
        charts = _charts(settings, sessions, writes, membership)
        if charts is not None:
            sink = KickingSink(sink, charts.kick)
        deliverer = Deliverer(
            sessions, writes, sink, membership, per_channel_interval=per_channel_interval
        )
        poller = Poller(
            settings,
            sessions,
            http,
            on_change=deliverer.kick,
            exclusive=leases.exclusive,
            clock=clock,
        )
        # Everything built so far lives as long as the process: keep the cyclic
        # garbage collector from rescanning it while a poll allocates 100,000 records.
        gc.collect()
        gc.freeze()
        access = AccessPolicy(settings.access, slack)
        if access.open_to_all and slack is not None:
            log.warning(OPEN_ACCESS_WARNING)
        return cls(
            settings,
            engine,
            sessions,
            writes,
            http,
            slack,
            deliverer,
            charts,
            poller,
            access,
            heartbeat,
            leases,
            stores,
            bot_lock,
            clock,
        )

    async def poll_cycle(self, name: str, *, accept_drop: bool = False) -> PollSummary:
        """One poll of a supplier (scheduled, or `poll --once`): the poll, then, when
        stock changed, the forecasts (their at-risk alerts and restock slips) follow."""
        summary = await self.poller.poll(name, accept_drop=accept_drop)
        if not (summary.ok and summary.changed):
            return summary
        # Every forecast when the whole recompute is due ([forecast] recompute_every:
        # orders and time passing move them too), else only those of the products
        # whose stock changed. Most of a catalog at once is cheaper whole.
        changed = summary.changed_products
        every = self.settings.forecast.recompute_every
        if len(changed) > WHOLE_RECOMPUTE_OVER:
            async with self.leases.exclusive(FORECAST_LEASE):
                await self.watch_forecasts()
        elif (
            await self.leases.run_if_due(FORECAST_LEASE, every, self.watch_forecasts) is None
            and changed
        ):
            # Done lately (or being done elsewhere: this waits for it). Not a whole
            # run, so it does not put the next one off.
            async with self.leases.exclusive(FORECAST_LEASE, counts_as_run=False):
                await self.watch_forecasts(set(changed))
        return summary

    async def watch_forecasts(self, products: Collection[int] | None = None) -> WatchReport:
        """Recompute every forecast (or those of `products`) off the event loop and
        bring the at-risk alerts in line. The caller holds FORECAST_LEASE (or runs it
        through `run_if_due`)."""
        report = await watch(
            self.sessions,
            self.writes,
            self.settings.database_url,
            self.clock(),
            self.settings.forecast,
            channel=self.settings.slack.alert_channel,
            group_over=self.settings.rules.group_alerts_over,
            on_change=self.deliverer.kick,
            products=products,
        )
        log.info(
            "forecasts: %d products, %d at risk, %d spike(s), %d restock slip(s); "
            "%d alert(s) opened, %d resolved",
            report.products,
            report.at_risk,
            report.spikes,
            report.slips,
            report.opened,
            report.resolved,
        )
        return report

    async def poll_store_orders(self, name: str) -> store_orders.OrderPollReport:
        """Read one store's open orders into the database; StoreError when it cannot."""
        async with self.writes() as session, session.begin():
            report = await store_orders.poll_orders(
                session, self.stores[name], name, channel=self.settings.slack.alert_channel
            )
        self.deliverer.kick()
        return report

    async def push_store_inventory(self) -> list[store_sync.PushReport]:
        """Send the due stock updates to every store; failures are kept and reported."""
        reports = await store_sync.push_due(
            self.writes, self.stores, channel=self.settings.slack.alert_channel
        )
        self.deliverer.kick()
        return reports

    async def write_store_notes(self) -> NotesReport:
        """Write the due notes on store orders; failures are retried, then said."""
        report = await self.store_notes.write_due()
        if report.written or report.failed:
            log.info(
                "store notes: %d written, %d failed (%d given up)",
                report.written,
                report.failed,
                report.given_up,
            )
        return report

    async def close(self) -> None:
        await self.http.aclose()
        if self.charts is not None:
            await self.charts.close()
        # Leaving frees what this process held for the other replicas at once.
        await self.heartbeat.stop()
        await self.engine.dispose()
        if self.bot_lock is not None:
            self.bot_lock.release()
