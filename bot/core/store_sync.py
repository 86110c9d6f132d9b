"""Storefront sync: read the stores' open orders and push stock levels back.

`mark_wanted` works out what each store should show for a product (the active
offer's quantity; backorders allowed while customers wait for it) and flags
the rows that differ from what the store was last sent. `push_due` sends the
flagged rows; a failed push stays flagged, is retried with backoff and is
reported as one `store_push` alert per store until pushes succeed again.
`poll_orders` turns a store's open orders into Stockbot orders.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core import alerts, orders
from bot.core.rules import STOCKOUT_AVAILABILITIES
from bot.db.models import (
    AlertKind,
    CloseReason,
    Offer,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    StoreInventory,
)
from bot.db.types import utcnow
from stores import InventoryUpdate, PushResult, StoreAdapter, StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")

CHUNK = 500  # products per query when working out wanted stock
PUSH_CHUNK = 50  # SKUs per adapter call
MAX_BACKOFF = timedelta(hours=1)
SUMMARY_LIMIT = 1500  # characters of failing SKUs and reasons in the alert
FAILED_SKUS_SHOWN = 10


def _chunks(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def backoff(attempts: int) -> timedelta:
    """2, 4, 8 ... minutes after each failed attempt, at most an hour."""
    return min(timedelta(minutes=2 ** min(attempts, 10)), MAX_BACKOFF)


# --- what the stores should show -------------------------------------------------------


async def known_stores(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(StoreInventory.store).distinct()))


async def mark_wanted(
    session: AsyncSession,
    product_ids: set[int] | None,
    stores: Sequence[str] | None,
    *,
    supplier_id: int | None = None,
) -> int:
    """Record the stock each store should show for these products (None: every
    product, or with `supplier_id` the products that supplier offers) and flag the
    rows that differ from what was pushed. `stores` None: the stores already synced.
    Returns how many rows were newly flagged."""
    if stores is None:
        stores = await known_stores(session)
    if not stores:
        return 0
    if product_ids is not None:
        ids = sorted(product_ids)
    elif supplier_id is not None:
        ids = list(
            await session.scalars(
                select(Offer.product_id)
                .where(Offer.supplier_id == supplier_id)
                .order_by(Offer.product_id)
            )
        )
    else:
        ids = list(
            await session.scalars(
                select(Product.id).where(Product.active_offer_id.is_not(None)).order_by(Product.id)
            )
        )
    flagged = 0
    for chunk in _chunks(ids, CHUNK):
        flagged += await _mark_chunk(session, chunk, stores)
    return flagged


async def _mark_chunk(session: AsyncSession, chunk: Sequence[int], stores: Sequence[str]) -> int:
    wanted: dict[int, int] = {}
    rows = await session.execute(
        select(Product.id, Offer.quantity, Offer.availability)
        .join(Offer, Offer.id == Product.active_offer_id)
        .where(Product.id.in_(chunk))
    )
    for product_id, quantity, availability in rows:
        if availability in STOCKOUT_AVAILABILITIES:
            wanted[product_id] = 0
        elif quantity is not None:  # unknown stock is never published as a number
            wanted[product_id] = max(0, quantity)
    if not wanted:
        return 0
    waiting = set(
        await session.scalars(
            select(OrderLine.product_id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(
                Order.status == OrderStatus.OPEN,
                OrderLine.backordered > 0,
                OrderLine.product_id.in_(list(wanted)),
            )
            .distinct()
        )
    )
    existing = {
        (row.store, row.product_id): row
        for row in await session.scalars(
            select(StoreInventory).where(
                StoreInventory.store.in_(list(stores)),
                StoreInventory.product_id.in_(list(wanted)),
            )
        )
    }
    new_rows = []
    flagged = 0
    for store in stores:
        for product_id, available in wanted.items():
            allow = product_id in waiting
            row = existing.get((store, product_id))
            if row is None:
                new_rows.append(
                    {
                        "store": store,
                        "product_id": product_id,
                        "wanted_available": available,
                        "wanted_backorders": allow,
                        "pushed_available": None,
                        "pushed_backorders": None,
                        "needs_push": True,
                        "attempts": 0,
                        "next_attempt_at": None,
                        "last_error": None,
                        "pushed_at": None,
                    }
                )
                continue
            if row.wanted_available != available or row.wanted_backorders != allow:
                row.wanted_available, row.wanted_backorders = available, allow
            differs = (row.pushed_available, row.pushed_backorders) != (available, allow)
            if differs and not row.needs_push:
                # A row already failing keeps its backoff: a change is no reason to hammer.
                row.needs_push, row.attempts, row.next_attempt_at = True, 0, None
                flagged += 1
            elif not differs and row.needs_push:
                row.needs_push, row.attempts, row.next_attempt_at = False, 0, None
    if new_rows:
        await session.execute(insert(StoreInventory.__table__), new_rows)
        flagged += len(new_rows)
    await session.flush()
    return flagged


# --- pushing ---------------------------------------------------------------------------


@dataclass(slots=True)
class PushReport:
    store: str
    pushed: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (sku, reason)
    alert_opened: bool = False
    alert_resolved: bool = False


async def push_due(
    sessions: async_sessionmaker[AsyncSession],
    adapters: Mapping[str, StoreAdapter],
    *,
    channel: str,
    now: datetime | None = None,
) -> list[PushReport]:
    """Push every due flagged row of every store; failures are retried later and
    reported in one `store_push` alert per store, resolved once pushes work again."""
    reports = []
    for name, adapter in adapters.items():
        reports.append(await _push_store(sessions, name, adapter, channel, now or utcnow()))
    return reports


async def _push_store(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    adapter: StoreAdapter,
    channel: str,
    now: datetime,
) -> PushReport:
    report = PushReport(name)
    after_id = 0
    while True:
        async with sessions() as session, session.begin():
            due = (
                await session.execute(
                    select(
                        StoreInventory.id,
                        Product.sku,
                        StoreInventory.wanted_available,
                        StoreInventory.wanted_backorders,
                    )
                    .join(Product, Product.id == StoreInventory.product_id)
                    .where(
                        StoreInventory.store == name,
                        StoreInventory.needs_push.is_(True),
                        StoreInventory.id > after_id,
                        (StoreInventory.next_attempt_at.is_(None))
                        | (StoreInventory.next_attempt_at <= now),
                    )
                    .order_by(StoreInventory.id)
                    .limit(PUSH_CHUNK)
                )
            ).all()
        if not due:
            break
        after_id = due[-1].id
        updates = [
            InventoryUpdate(row.sku, row.wanted_available, row.wanted_backorders) for row in due
        ]
        results = await _push(adapter, updates)
        await _record(sessions, due, results, now, report)
    async with sessions() as session, session.begin():
        await _report(session, name, report, channel, now)
    return report


async def _push(adapter: StoreAdapter, updates: list[InventoryUpdate]) -> list[PushResult]:
    try:
        results = await adapter.push_inventory(updates)
    except StoreError as exc:
        return [PushResult(update.sku, False, str(exc)) for update in updates]
    except Exception:  # never lose a push to a bug: keep the rows flagged and say so
        log.exception("pushing stock to %s failed", adapter.name)
        return [
            PushResult(update.sku, False, "unexpected error (see Stockbot's log)")
            for update in updates
        ]
    if len(results) != len(updates):
        return [
            PushResult(update.sku, False, "the store answered incompletely") for update in updates
        ]
    return results


async def _record(
    sessions: async_sessionmaker[AsyncSession],
    due: Sequence[object],
    results: list[PushResult],
    now: datetime,
    report: PushReport,
) -> None:
    async with sessions() as session, session.begin():
        for sent, result in zip(due, results, strict=True):
            row = await session.get(StoreInventory, sent.id)  # type: ignore[attr-defined]
            if row is None:  # the product was deleted meanwhile
                continue
            if result.ok:
                report.pushed += 1
                row.pushed_available = sent.wanted_available  # type: ignore[attr-defined]
                row.pushed_backorders = sent.wanted_backorders  # type: ignore[attr-defined]
                row.pushed_at = now
                row.attempts, row.next_attempt_at, row.last_error = 0, None, None
                # Wanted may have moved on while the request was out: then push again.
                row.needs_push = (row.wanted_available, row.wanted_backorders) != (
                    row.pushed_available,
                    row.pushed_backorders,
                )
            else:
                report.failed += 1
                reason = result.error or "the store refused the change"
                report.failures.append((result.sku, reason))
                row.attempts += 1
                row.next_attempt_at = now + backoff(row.attempts)
                row.last_error = reason


async def _report(
    session: AsyncSession, name: str, report: PushReport, channel: str, now: datetime
) -> None:
    if report.failures:
        report.alert_opened = await alerts.raise_store_alert(
            session,
            AlertKind.STORE_PUSH,
            name,
            failure_summary(name, report.failures),
            channel,
            now,
        )
        return
    still_failing = await session.scalar(
        select(func.count())
        .select_from(StoreInventory)
        .where(
            StoreInventory.store == name,
            StoreInventory.needs_push.is_(True),
            StoreInventory.attempts > 0,
        )
    )
    if not still_failing:
        report.alert_resolved = await alerts.resolve_store_alert(
            session,
            AlertKind.STORE_PUSH,
            name,
            "Stock updates reach the store again.",
            now,
        )


def failure_summary(store: str, failures: list[tuple[str, str]]) -> str:
    """`<store>: ...` (the Slack title reads the store's name from it), the failing
    SKUs grouped by reason, clipped."""
    by_reason: dict[str, list[str]] = {}
    for sku, reason in failures:
        by_reason.setdefault(reason, []).append(sku)
    parts = []
    for reason, skus in by_reason.items():
        shown = ", ".join(skus[:FAILED_SKUS_SHOWN])
        if len(skus) > FAILED_SKUS_SHOWN:
            shown += f" and {len(skus) - FAILED_SKUS_SHOWN} more"
        parts.append(f"{shown}: {reason}")
    text = (
        f"{store}: {len(failures)} stock update(s) could not be sent; Stockbot keeps "
        f"retrying them. {' | '.join(parts)}"
    )
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 3] + "..."


# --- orders ----------------------------------------------------------------------------


@dataclass(slots=True)
class OrderPollReport:
    store: str
    listed: int = 0
    created: int = 0
    updated: int = 0
    closed: int = 0
    ignored: int = 0


async def poll_orders(
    session: AsyncSession,
    adapter: StoreAdapter,
    store_name: str,
    *,
    channel: str,
    now: datetime | None = None,
) -> OrderPollReport:
    """Apply the store's orders as its webhooks would (under source = the store's
    name), close this store's open orders no longer listed, and re-allocate stock. A
    StoreError while reading leaves everything as it was."""
    now = now or utcnow()
    listed = await adapter.fill_skus([order async for order in adapter.open_orders()])
    changes = await orders.apply_store_orders(
        session,
        listed,
        source=store_name,
        channel=channel,
        now=now,
        adopt_from=adapter.kind,
        listing=True,
    )
    tally = Counter(change.outcome for change in changes)
    report = OrderPollReport(
        store_name,
        listed=len(listed),
        created=tally["created"],
        updated=tally["updated"],
        closed=tally["closed"],
        ignored=tally["ignored"],
    )
    # Listed but in a status Stockbot cannot read ("unknown") is not gone either.
    listed_ids = {order.external_id for order in listed if order.status in ("open", "unknown")}
    known_open = await session.scalars(
        select(Order.external_id).where(
            Order.source == store_name, Order.status == OrderStatus.OPEN
        )
    )
    # Orders past a page cap were not seen, not closed: only a full listing proves it.
    # Nor does one holding an order whose id could not be read: it may be any of them.
    complete = adapter.orders_complete and all(order.external_id for order in listed)
    gone = (
        [external_id for external_id in known_open if external_id not in listed_ids]
        if complete
        else []
    )
    for order in (await orders.load_orders(session, store_name, gone)).values():
        # Fulfilled or cancelled in the store: either way nobody waits for it any more.
        # Inferred, not told: the store reporting it open again reopens it.
        # set_status re-allocates the stock it frees.
        await orders.set_status(
            session,
            order,
            OrderStatus.FULFILLED,
            reason=CloseReason.UNLISTED,
            channel=channel,
            now=now,
        )
        report.closed += 1
    return report
