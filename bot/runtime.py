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
from bot.core.fixes.customer_notices import CustomerNotifier
from bot.core.fixes.staff_actions import FixActions, StaffActions
from bot.core.polling import Poller, ensure_suppliers
from bot.slack.access import OPEN_ACCESS_WARNING, AccessPolicy
from bot.slack.client import CountingWebClient
from bot.slack.outbox import AlertSink, ConsoleSink, Deliverer, SlackSink
from bot.views.lookup import StockLookup
from stores import StoreAdapter, store_class

log = logging.getLogger(__name__)

USER_AGENT = "Stockbot/0.1 (+https://github.com/stockbot)"


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    slack: AsyncWebClient | None
    deliverer: Deliverer
    poller: Poller
    access: AccessPolicy
    # One adapter per configured store, by name, for the life of the process.
    stores: dict[str, StoreAdapter] = field(default_factory=dict)
    # What people do from Slack: built once, used by the handlers and the scheduler.
    staff: StaffActions = field(init=False)
    fixes: FixActions = field(init=False)
    notifier: CustomerNotifier = field(init=False)
    lookup: StockLookup = field(init=False)

    def __post_init__(self) -> None:
        # The core's services learn of Slack only as this callback.
        kick = self.deliverer.kick
        self.staff = StaffActions(self.sessions, kick)
        self.fixes = FixActions(self.sessions, kick, self.settings.slack.alert_channel)
        self.notifier = CustomerNotifier(self.sessions, kick, self.settings)
        self.lookup = StockLookup(self.sessions)

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        sink: AlertSink | None = None,
        per_channel_interval: float = 1.0,
    ) -> Runtime:
        """Open the database (migrating it) and build the clients and workers."""
        engine = db.create_engine(settings.database_url)
        await db.upgrade(engine)
        sessions = db.session_factory(engine)
        async with sessions() as session, session.begin():
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
        token = settings.slack_bot_token
        slack = (
            CountingWebClient(token=token.get_secret_value(), base_url=settings.slack_api_url)
            if token
            else None
        )
        if sink is None:
            currency = settings.catalog.currency
            sink = (
                SlackSink(slack, currency) if slack is not None else ConsoleSink(currency=currency)
            )
        deliverer = Deliverer(sessions, sink, per_channel_interval=per_channel_interval)
        poller = Poller(settings, sessions, http, on_change=deliverer.kick)
        # Everything built so far lives as long as the process: keep the cyclic
        # garbage collector from rescanning it while a poll allocates 100,000 records.
        gc.collect()
        gc.freeze()
        access = AccessPolicy(settings.access, slack)
        if access.open_to_all and slack is not None:
            log.warning(OPEN_ACCESS_WARNING)
        return cls(settings, engine, sessions, http, slack, deliverer, poller, access, stores)

    async def poll_store_orders(self, name: str) -> store_orders.OrderPollReport:
        """Read one store's open orders into the database; StoreError when it cannot."""
        async with self.sessions() as session, session.begin():
            report = await store_orders.poll_orders(
                session, self.stores[name], name, channel=self.settings.slack.alert_channel
            )
        self.deliverer.kick()
        return report

    async def push_store_inventory(self) -> list[store_sync.PushReport]:
        """Send the due stock updates to every store; failures are kept and reported."""
        reports = await store_sync.push_due(
            self.sessions, self.stores, channel=self.settings.slack.alert_channel
        )
        self.deliverer.kick()
        return reports

    async def close(self) -> None:
        await self.http.aclose()
        await self.engine.dispose()
