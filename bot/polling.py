"""One poll of one supplier: read its stock, record changes, evaluate alerts.

Stock changes are written in one transaction that the feed guard can roll
back: a feed that suddenly zeroes or drops most SKUs is far more likely to be
broken than a real mass stockout, so it raises one `supplier_feed` alert instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import alerts
from bot.config import RulesSection, Settings, SupplierConfig
from bot.models import AlertKind, Offer, StockObservation, Supplier, utcnow
from bot.rules import active_stock_states
from suppliers import (
    FeedError,
    FeedInvalid,
    StockRecord,
    SupplierAdapter,
    SupplierPaused,
    Validators,
    adapter_class,
)

log = logging.getLogger(__name__)

MISSING = "missing"
UNKNOWN_SKU = "unknown_sku"
# Below this many known SKUs a "mass" drop is just a few products: no guard.
FEED_GUARD_MIN_SKUS = 5


@dataclass(slots=True)
class OfferState:
    """What the poll needs to know of one offer, kept in memory for the whole read."""

    id: int
    quantity: int | None
    availability: str
    price: Decimal | None
    restock_date: date | None
    known: bool  # seen by an earlier poll, so the feed guard counts it
    seen_now: bool = False
    zeroed_now: bool = False


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
    error: str | None = None
    set_aside_examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


class FeedGuardTripped(Exception):
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
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.client = client
        # Called after every poll, e.g. to wake the Slack delivery worker.
        self.on_change = on_change
        self._locks: dict[str, asyncio.Lock] = {}
        self._adapters: dict[str, SupplierAdapter] = {}

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
        async with self._lock(name):
            summary = await self._poll(name, accept_drop=accept_drop)
        if self.on_change is not None:
            self.on_change()
        return summary

    async def _poll(self, name: str, *, accept_drop: bool) -> PollSummary:
        config = self.settings.supplier(name)
        summary = PollSummary(supplier=name)
        adapter = self._adapter(config)
        started = utcnow()
        async with self.sessions() as session, session.begin():
            await ensure_suppliers(session, [config])
        async with self.sessions() as session:
            supplier = await session.scalar(select(Supplier).where(Supplier.name == name))
            assert supplier is not None
            supplier_id = supplier.id
            validators = Validators(supplier.etag, supplier.last_modified)
            offers = await self._load_offers(session, supplier_id)

        try:
            async with self.sessions() as session, session.begin():
                async with adapter.open(validators, skus=list(offers)) as feed:
                    async for batch in feed.batches():
                        summary.rows_read += len(batch)
                        await self._apply_batch(session, batch, offers, summary, started)
                    summary.set_aside = feed.stats.rejected_count
                    summary.set_aside_examples = [
                        f"line {r.line}: {r.reason}" for r in feed.stats.rejected[:5]
                    ]
                    summary.not_modified = feed.not_modified
                    complete = feed.complete and not feed.not_modified
                    new_validators = feed.validators
                # A row set aside still proves the SKU is listed: not "missing".
                for sku in feed.stats.rejected_skus:
                    if sku in offers:
                        offers[sku].seen_now = True
                await self._mark_unknown(session, feed.stats.unknown_skus, offers, summary, started)
                if complete:
                    await self._mark_missing(session, supplier_id, offers, summary, started)
                if not accept_drop and not summary.not_modified:
                    self._guard(name, offers, complete)
                await session.execute(
                    update(Supplier)
                    .where(Supplier.id == supplier_id)
                    .values(etag=new_validators.etag, last_modified=new_validators.last_modified)
                )
        except (FeedError, FeedGuardTripped) as exc:
            summary.changed = summary.missing = 0
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

    async def _record_success(self, supplier_id: int, summary: PollSummary, now: datetime) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(Supplier)
                .where(Supplier.id == supplier_id)
                .values(
                    consecutive_failures=0, last_poll_at=now, last_success_at=now, last_error=None
                )
            )
            summary.alerts_resolved += await alerts.resolve_supplier_alerts(
                session, supplier_id, "The supplier's feed was read successfully again.", now
            )
            states = await active_stock_states(session, supplier_id=supplier_id)
            result = await alerts.evaluate_stock(
                session,
                states,
                group_over=self.rules.group_alerts_over,
                channel=self.settings.slack.alert_channel,
                now=now,
            )
            summary.alerts_opened += result.opened
            summary.alerts_resolved += result.resolved

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
        async with self.sessions() as session, session.begin():
            supplier = await session.get(Supplier, supplier_id)
            assert supplier is not None
            supplier.consecutive_failures += int(count_failure)
            supplier.last_poll_at = now
            supplier.last_error = summary.error
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

    async def _load_offers(self, session: AsyncSession, supplier_id: int) -> dict[str, OfferState]:
        rows = await session.execute(
            select(
                Offer.supplier_sku,
                Offer.id,
                Offer.quantity,
                Offer.availability,
                Offer.price,
                Offer.restock_date,
                Offer.last_seen_at.is_not(None),
            ).where(Offer.supplier_id == supplier_id)
        )
        return {sku: OfferState(*values) for sku, *values in rows}

    async def _apply_batch(
        self,
        session: AsyncSession,
        batch: list[StockRecord],
        offers: dict[str, OfferState],
        summary: PollSummary,
        now: datetime,
    ) -> None:
        changes: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = []
        for record in batch:
            offer = offers.get(record.supplier_sku)
            if offer is None:
                summary.unmatched += 1
                continue
            offer.seen_now = True
            price = record.price if record.price is not None else offer.price
            availability = str(record.availability)
            new = (record.quantity, availability, price, record.restock_date)
            if new == (offer.quantity, offer.availability, offer.price, offer.restock_date):
                continue
            offer.zeroed_now = offer.known and bool(offer.quantity) and record.quantity == 0
            changes.append(
                {
                    "id": offer.id,
                    "quantity": record.quantity,
                    "availability": availability,
                    "price": price,
                    "restock_date": record.restock_date,
                    "changed_at": now,
                }
            )
            history.append(
                {
                    "offer_id": offer.id,
                    "quantity": record.quantity,
                    "previous_quantity": offer.quantity,
                    "availability": availability,
                    "price": price,
                    "observed_at": now,
                }
            )
            offer.quantity, offer.availability, offer.price, offer.restock_date = new
        if changes:
            await session.execute(update(Offer), changes)
            await session.execute(insert(StockObservation), history)
            summary.changed += len(changes)

    async def _mark_unknown(
        self,
        session: AsyncSession,
        skus: set[str],
        offers: dict[str, OfferState],
        summary: PollSummary,
        now: datetime,
    ) -> None:
        """SKUs the supplier says it does not know cannot be ordered there: a stockout
        whose alert says why. Adapters stop asking, so this is reported once."""
        newly = [offers[s] for s in skus if s in offers and offers[s].availability != UNKNOWN_SKU]
        if not newly:
            return
        await session.execute(
            update(Offer),
            [
                {"id": o.id, "quantity": None, "availability": UNKNOWN_SKU, "changed_at": now}
                for o in newly
            ],
        )
        await session.execute(
            insert(StockObservation),
            [
                {
                    "offer_id": o.id,
                    "quantity": None,
                    "previous_quantity": o.quantity,
                    "availability": UNKNOWN_SKU,
                    "observed_at": now,
                }
                for o in newly
            ],
        )
        for offer in newly:
            offer.quantity, offer.availability = None, UNKNOWN_SKU
        summary.changed += len(newly)

    async def _mark_missing(
        self,
        session: AsyncSession,
        supplier_id: int,
        offers: dict[str, OfferState],
        summary: PollSummary,
        now: datetime,
    ) -> None:
        """SKUs absent from a complete feed are gone: out of stock, flagged as missing."""
        missing = [o for o in offers.values() if not o.seen_now and o.availability != MISSING]
        summary.missing = len(missing)
        if missing:
            await session.execute(
                update(Offer),
                [
                    {"id": o.id, "quantity": 0, "availability": MISSING, "changed_at": now}
                    for o in missing
                ],
            )
            await session.execute(
                insert(StockObservation),
                [
                    {
                        "offer_id": o.id,
                        "quantity": 0,
                        "previous_quantity": o.quantity,
                        "availability": MISSING,
                        "observed_at": now,
                    }
                    for o in missing
                ],
            )
            summary.changed += len(missing)
        # One statement instead of one per row: every offer still listed was seen now.
        await session.execute(
            update(Offer)
            .where(Offer.supplier_id == supplier_id, Offer.availability != MISSING)
            .values(last_seen_at=now)
        )

    def _guard(self, name: str, offers: dict[str, OfferState], complete: bool) -> None:
        known = [o for o in offers.values() if o.known]
        if len(known) < FEED_GUARD_MIN_SKUS:
            return
        dropped = sum(1 for o in known if not o.seen_now) if complete else 0
        zeroed = sum(1 for o in known if o.zeroed_now)
        share = (dropped + zeroed) / len(known)
        if share > self.rules.feed_guard_share:
            raise FeedGuardTripped(
                f"This poll would have taken {share:.0%} of the supplier's {len(known)} known "
                f"SKUs out of stock ({dropped} missing from the feed, {zeroed} at zero), which "
                f"is more than the {self.rules.feed_guard_share:.0%} guard. Stock was left as "
                f'it was. If this is real, run `stockbot poll --once --supplier "{name}" '
                "--accept-drop`."
            )
