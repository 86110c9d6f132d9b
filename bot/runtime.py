"""Everything a running Stockbot holds: settings, database, clients, workers, services.

The composition root: the one place that wires the core's services to Slack (each
gets the delivery worker's `kick` as its plain `on_change` callback).
"""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass, field

import httpx
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import db
from bot.config import Settings
from bot.core import orders, store_orders, store_sync
from bot.core.fixes.choices import CustomerChoices
from bot.core.fixes.customer_notices import CustomerNotifier
from bot.core.fixes.staff_actions import FixActions, StaffActions
from bot.core.polling import Poller, ensure_suppliers
from bot.db.leases import Leases
from bot.db.replicas import Heartbeat, Membership, new_replica_id
from bot.db.sqlite_guard import BotLock, lock_sqlite_bot
from bot.slack.access import OPEN_ACCESS_WARNING, AccessPolicy
from bot.slack.client import slack_client
from bot.slack.outbox import AlertSink, ConsoleSink, Deliverer, SlackSink
from bot.views.lookup import StockLookup
from stores import StoreAdapter, store_class

log = logging.getLogger(__name__)

USER_AGENT = "Stockbot/0.1 (+https://github.com/stockbot)"


def _slack(settings: Settings, *, retries: bool = True) -> AsyncWebClient | None:
    token = settings.slack_bot_token
    if token is None:
        return None
    timeout = int(settings.slack.api_timeout.total_seconds()) or 1
    return slack_client(
        token.get_secret_value(), settings.slack_api_url, timeout=timeout, retries=retries
    )


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
    poller: Poller
    access: AccessPolicy
    # This process among the replicas sharing the database, and the work it leases.
    heartbeat: Heartbeat
    leases: Leases
    # One adapter per configured store, by name, for the life of the process.
    stores: dict[str, StoreAdapter] = field(default_factory=dict)
    # Held by `stockbot run` on SQLite, which serves one bot process.
    bot_lock: BotLock | None = None
    # What people do from Slack: built once, used by the handlers and the scheduler.
    staff: StaffActions = field(init=False)
    fixes: FixActions = field(init=False)
    notifier: CustomerNotifier = field(init=False)
    choices: CustomerChoices = field(init=False)
    lookup: StockLookup = field(init=False)

    def __post_init__(self) -> None:
        # The core's services learn of Slack only as this callback.
        kick = self.deliverer.kick
        self.staff = StaffActions(self.sessions, self.writes, kick)
        self.fixes = FixActions(self.sessions, self.writes, kick, self.settings.slack.alert_channel)
        self.notifier = CustomerNotifier(self.sessions, self.writes, kick, self.settings)
        self.lookup = StockLookup(self.sessions)
        self.choices = CustomerChoices(self.sessions, self.writes, kick, self.settings, self.stores)

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        sink: AlertSink | None = None,
        per_channel_interval: float = 1.0,
        serving: bool = False,
    ) -> Runtime:
        """Open the database (migrating it) and build the clients and workers.
        `serving`: this is `stockbot run`, which SQLite allows once per database."""
        bot_lock = lock_sqlite_bot(settings.database_url) if serving else None
        engine = db.create_engine(settings.database_url)
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
        deliverer = Deliverer(
            sessions, writes, sink, membership, per_channel_interval=per_channel_interval
        )
        poller = Poller(
            settings, sessions, http, on_change=deliverer.kick, exclusive=leases.exclusive
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
            poller,
            access,
            heartbeat,
            leases,
            stores,
            bot_lock,
        )

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

    async def close(self) -> None:
        await self.http.aclose()
        # Leaving frees what this process held for the other replicas at once.
        await self.heartbeat.stop()
        await self.engine.dispose()
        if self.bot_lock is not None:
            self.bot_lock.release()
