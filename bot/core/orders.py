"""Customer orders: the CSV import, upserts from the storefront, and closing.

Orders are keyed by their source and that source's own ID (`source`,
`external_id`): each source numbers its orders on its own, so CSV order 1001 and
WooCommerce order 1001 are two orders, and a store only ever touches its own. A
re-import or a repeated webhook updates in place. Every change is followed, in the
same transaction, by `bot.core.stock_changes.stock_changed` for the products it
touched. What a store says of its orders, whether its poll or its webhook told, goes through
`apply_store_orders` under the store's one source, so both give the same order.

Who closed an order decides whether it may open again (`CloseReason`): one the
poll closed only because it was no longer listed reopens when the store reports
it open; one the store itself closed reopens when its poll lists it open (a
webhook may be late, a fresh listing is not); one a person closed stays closed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.core import backorders
from bot.core.alerts import EvaluationResult
from bot.core.catalog import CsvImportError, read_csv_rows
from bot.core.stock_changes import stock_changed
from bot.db.chunks import chunks
from bot.db.models import CSV_SOURCE, CloseReason, Order, OrderLine, OrderStatus, Product
from bot.db.types import utcnow
from bot.errors import UserError
from stores.base import OrderState, StoreOrder

REQUIRED_COLUMNS = ("order_id", "customer_name", "customer_email", "sku", "quantity", "ordered_at")
# Without it every order is open. Fulfilled and cancelled orders are sales history:
# they never wait for stock (cancelled ones are not demand either).
OPTIONAL_COLUMNS = ("status",)
CSV_STATUSES = {status.value: status for status in OrderStatus}
# Any blank here rejects the row; a customer may come without a name or email.
NON_BLANK = ("order_id", "sku", "quantity", "ordered_at")
# Deliberately loose: the point is catching a shifted column, not RFC 5322.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_SUGGESTED_SKUS = 10
# Column sizes (bot.db.models): a longer value is a mistake in the file, not a truncation.
LENGTH_LIMITS = {"order_id": 100, "customer_name": 200, "customer_email": 320, "sku": 200}
# How a store's word on an order that ended becomes Stockbot's: a deleted order waits
# for nothing, like a cancelled one.
CLOSED_AS: dict[OrderState, OrderStatus] = {
    "fulfilled": OrderStatus.FULFILLED,
    "cancelled": OrderStatus.CANCELLED,
    "deleted": OrderStatus.CANCELLED,
}

Outcome = Literal["created", "updated", "unchanged"]
# The stronger reason is kept when an order is closed again: a person's word sticks.
_REASON_RANK: dict[str, int] = {
    CloseReason.UNLISTED: 1,
    CloseReason.STORE: 2,
    CloseReason.PERSON: 3,
}


class OrderNotFound(UserError):
    """No order has that ID; the message says so plainly."""


class OrderAmbiguous(UserError):
    """Several sources have an order with that ID and none was named."""

    def __init__(self, message: str, sources: Sequence[str]) -> None:
        super().__init__(message)
        self.sources = tuple(sources)


@dataclass(frozen=True, slots=True)
class OrderData:
    """One order as a source describes it; `lines` maps product id to quantity."""

    external_id: str
    customer_name: str
    customer_email: str
    ordered_at: datetime
    lines: dict[int, int]
    source: str = CSV_SOURCE
    status: OrderStatus = OrderStatus.OPEN


@dataclass(slots=True)
class OrderImportReport:
    orders_created: int = 0
    orders_updated: int = 0
    orders_unchanged: int = 0
    lines: int = 0
    products_backordered: int = 0
    alerts: EvaluationResult = field(default_factory=EvaluationResult)


@dataclass(frozen=True, slots=True)
class CloseResult:
    external_id: str
    status: str
    changed: bool
    alerts: EvaluationResult
    source: str = CSV_SOURCE
    # Other sources with an order of the same ID (left as they were).
    also_in: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StoreOrderChange:
    external_id: str
    outcome: str  # created | updated | unchanged | closed | ignored
    detail: str = ""


@dataclass(slots=True)
class _Row:
    line: int
    order_id: str
    customer_name: str
    customer_email: str
    sku: str
    quantity: int
    ordered_at: datetime
    status: OrderStatus = OrderStatus.OPEN


def parse_datetime(value: str) -> datetime:
    """ISO 8601; a date alone is midnight UTC, a time without an offset is UTC."""
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"ordered_at must be an ISO 8601 date or date and time "
            f"(e.g. 2024-05-01 or 2024-05-01T14:30:00Z), got {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _quantity(value: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError(f"quantity must be a whole number, got {value!r}") from None
    if number < 1:
        raise ValueError(f"quantity must be at least 1, got {number}")
    return number


def _status(value: str) -> OrderStatus:
    status = CSV_STATUSES.get(value.strip().lower() or OrderStatus.OPEN)
    if status is None:
        raise ValueError(f"status must be open, fulfilled or cancelled, got {value!r}")
    return status


def _parse_rows(path: Path) -> tuple[list[_Row], list[tuple[int, str]]]:
    """Check each row on its own and against earlier rows of the same order."""
    rows: list[_Row] = []
    problems: list[tuple[int, str]] = []
    first: dict[str, _Row] = {}
    for line, raw in read_csv_rows(path, REQUIRED_COLUMNS, OPTIONAL_COLUMNS):
        if None in raw:
            problems.append((line, "more cells than columns"))
            continue
        values = {key: (raw.get(key) or "").strip() for key in REQUIRED_COLUMNS}
        blank = [key for key in NON_BLANK if not values[key]]
        if blank:
            problems.append((line, f"empty {', '.join(blank)}"))
            continue
        email = values["customer_email"]
        try:
            for name, limit in LENGTH_LIMITS.items():
                if len(values[name]) > limit:
                    raise ValueError(f"{name} is longer than {limit} characters")
            if email and not _EMAIL.match(email):
                raise ValueError(f"customer_email is not an email address: {email!r}")
            row = _Row(
                line=line,
                order_id=values["order_id"],
                customer_name=values["customer_name"],
                customer_email=email,
                sku=values["sku"],
                quantity=_quantity(values["quantity"]),
                ordered_at=parse_datetime(values["ordered_at"]),
                status=_status(raw.get("status") or ""),
            )
        except ValueError as exc:
            problems.append((line, str(exc)))
            continue
        earlier = first.setdefault(row.order_id, row)
        conflicts = [
            name
            for name in ("customer_name", "customer_email", "ordered_at", "status")
            if getattr(earlier, name) != getattr(row, name)
        ]
        if conflicts:
            problems.append(
                (
                    line,
                    f"order {row.order_id} has a different {' and '.join(conflicts)} "
                    f"than on line {earlier.line}",
                )
            )
            continue
        rows.append(row)
    return rows, problems


async def resolve_skus(session: AsyncSession, skus: set[str]) -> dict[str, int]:
    """Product ids by SKU: exact matches, then unambiguous case-insensitive ones."""
    found: dict[str, int] = {}
    for chunk in chunks(skus):
        rows = await session.execute(select(Product.sku, Product.id).where(Product.sku.in_(chunk)))
        found.update((sku, product_id) for sku, product_id in rows)
    rest = {sku.lower(): sku for sku in skus - set(found)}
    for chunk in chunks(rest):
        matches: dict[str, list[int]] = {}
        rows = await session.execute(
            select(func.lower(Product.sku), Product.id).where(func.lower(Product.sku).in_(chunk))
        )
        for lowered, product_id in rows:
            matches.setdefault(lowered, []).append(product_id)
        for lowered, ids in matches.items():
            if len(ids) == 1:
                found[rest[lowered]] = ids[0]
    return found


async def _suggestions(session: AsyncSession, unknown: list[str]) -> dict[str, list[str]]:
    """Close SKUs for the first few unknown ones (difflib over the catalog's SKUs)."""
    if not unknown:
        return {}
    catalog = list(await session.scalars(select(Product.sku)))
    lowered = {sku.lower(): sku for sku in catalog}
    return {
        sku: [
            lowered[m]
            for m in difflib.get_close_matches(sku.lower(), list(lowered), n=3, cutoff=0.6)
        ]
        for sku in unknown[:MAX_SUGGESTED_SKUS]
    }


async def parse_orders(session: AsyncSession, path: Path) -> list[OrderData]:
    """Validate the whole file (SKUs against the catalog too); raise with every problem."""
    rows, problems = _parse_rows(path)
    product_ids = await resolve_skus(session, {row.sku for row in rows})
    close = await _suggestions(session, sorted({row.sku for row in rows} - set(product_ids)))
    orders: dict[str, OrderData] = {}
    first_line: dict[tuple[str, int], int] = {}
    for row in rows:
        product_id = product_ids.get(row.sku)
        if product_id is None:
            hint = close.get(row.sku)
            problems.append(
                (
                    row.line,
                    f"unknown SKU {row.sku!r}"
                    + (f"; did you mean {', '.join(hint)}?" if hint else " (not in the catalog)"),
                )
            )
            continue
        # By product, so "MUG-1" and "mug-1" on one order are caught too.
        seen = first_line.setdefault((row.order_id, product_id), row.line)
        if seen != row.line:
            problems.append(
                (
                    row.line,
                    f"{row.sku} is listed twice for order {row.order_id} (first on line {seen})",
                )
            )
            continue
        order = orders.get(row.order_id)
        if order is None:
            order = orders[row.order_id] = OrderData(
                external_id=row.order_id,
                customer_name=row.customer_name,
                customer_email=row.customer_email,
                ordered_at=row.ordered_at,
                lines={},
                status=row.status,
            )
        order.lines[product_id] = row.quantity
    if problems:
        raise CsvImportError(str(path), [f"line {line}: {text}" for line, text in sorted(problems)])
    if not orders:
        raise CsvImportError(str(path), ["the file has no order rows"])
    return list(orders.values())


async def open_order_ids(session: AsyncSession, product_id: int) -> list[int]:
    """The open orders with a line for this product, by id."""
    return list(
        await session.scalars(
            select(Order.id)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(OrderLine.product_id == product_id, Order.status == OrderStatus.OPEN)
            .distinct()
            .order_by(Order.id)
        )
    )


async def load_orders(
    session: AsyncSession, source: str, external_ids: Iterable[str]
) -> dict[str, Order]:
    """`source`'s orders with these IDs (lines loaded), by ID."""
    orders: dict[str, Order] = {}
    for chunk in chunks(external_ids):
        rows = await session.scalars(
            select(Order)
            .where(Order.source == source, Order.external_id.in_(chunk))
            .options(selectinload(Order.lines))
        )
        orders.update((order.external_id, order) for order in rows)
    return orders


async def adopt_kind_orders(session: AsyncSession, stores: Mapping[str, str]) -> int:
    """File orders kept under a store kind's name under that kind's store, when only one
    store of the kind is configured (`stores`: name -> kind); returns how many moved.

    Webhooks filed their orders under "shopify" or "woocommerce" before they were
    matched to a `[[stores]]` table (and still do for a kind without one): once the
    store is configured, they are its orders, which its poll may then close. With
    several stores of one kind, the first to report such an order takes it
    (`apply_store_orders`)."""
    names_by_kind: dict[str, list[str]] = {}
    for name, kind in stores.items():
        names_by_kind.setdefault(kind, []).append(name)
    moved = 0
    for kind, names in names_by_kind.items():
        if len(names) != 1 or names[0] == kind:
            continue
        taken = select(Order.external_id).where(Order.source == names[0]).scalar_subquery()
        result = await session.execute(
            update(Order)
            .where(Order.source == kind, Order.external_id.not_in(taken))
            .values(source=names[0])
            .execution_options(synchronize_session=False)
        )
        moved += max(0, getattr(result, "rowcount", 0) or 0)
    return moved


def apply_order(
    session: AsyncSession, order: Order | None, data: OrderData, now: datetime | None = None
) -> tuple[Outcome, set[int]]:
    """Create or update one order in place; returns what happened and the products
    whose allocation may have changed. A closed order stays closed; a new one takes
    `data.status` (fulfilled or cancelled: history, closed at `now`, waiting for nothing).

    In memory only: the caller flushes and calls `stock_changed` for those products,
    once for a whole batch (`apply_store_orders` does both for store orders)."""
    created = order is None
    if order is None:
        # A new order takes the update path of an empty one.
        order = Order(external_id=data.external_id, source=data.source, lines=[])
        order.status = data.status
        if data.status != OrderStatus.OPEN:
            order.closed_at = now or utcnow()
            by_hand = data.source == CSV_SOURCE
            order.close_reason = CloseReason.PERSON if by_hand else CloseReason.STORE
        session.add(order)
    changed = False
    affected: set[int] = set()
    if order.ordered_at != data.ordered_at:
        # Allocation is oldest first: a new date can move every line of the order.
        affected |= {line.product_id for line in order.lines} | set(data.lines)
    for name in ("customer_name", "customer_email", "ordered_at"):
        if getattr(order, name) != getattr(data, name):
            setattr(order, name, getattr(data, name))
            changed = True
    current = {line.product_id: line for line in order.lines}
    for product_id, line in current.items():
        if product_id not in data.lines:
            order.lines.remove(line)
            affected.add(product_id)
    for product_id, quantity in data.lines.items():
        existing = current.get(product_id)
        if existing is None:
            order.lines.append(OrderLine(product_id=product_id, quantity=quantity, backordered=0))
            affected.add(product_id)
        elif existing.quantity != quantity:
            existing.quantity = quantity
            affected.add(product_id)
    if created:
        return "created", affected if data.status == OrderStatus.OPEN else set()
    changed = changed or bool(affected)
    return ("updated" if changed else "unchanged"), affected


async def import_orders(
    session: AsyncSession,
    path: Path,
    *,
    channel: str,
    group_over: int | None = None,
    now: datetime | None = None,
) -> OrderImportReport:
    """Create or update orders from a CSV file and re-allocate stock, in one transaction.
    `group_over`: more new backorder alerts than this share one message."""
    now = now or utcnow()
    incoming = await parse_orders(session, path)
    report = OrderImportReport(lines=sum(len(order.lines) for order in incoming))
    existing = await load_orders(session, CSV_SOURCE, (order.external_id for order in incoming))
    affected: set[int] = set()
    outcomes: list[Outcome] = []
    for data in incoming:
        order = existing.get(data.external_id)
        outcome, products = apply_order(session, order, data, now)
        if order is not None and data.status != OrderStatus.OPEN:
            # The file says it ended: closed as by hand (an open row never reopens one).
            freed = await mark_closed(
                session, order, data.status, reason=CloseReason.PERSON, now=now
            )
            if freed is not None:
                products |= freed
                outcome = "updated"
        affected |= products
        outcomes.append(outcome)
    report.orders_created = outcomes.count("created")
    report.orders_updated = outcomes.count("updated")
    report.orders_unchanged = outcomes.count("unchanged")
    await session.flush()
    report.alerts = await stock_changed(
        session, affected, channel=channel, now=now, group_over=group_over
    )
    report.products_backordered = await backorders.backordered_product_count(session)
    return report


async def close_order(
    session: AsyncSession,
    external_id: str,
    *,
    source: str | None = None,
    cancelled: bool = False,
    channel: str,
    now: datetime | None = None,
) -> CloseResult:
    """Mark an order fulfilled (or cancelled) by hand: its lines stop waiting for stock,
    and no store reopens it. Without `source`: the CSV order with that ID, else the only
    order with it; OrderAmbiguous when several stores have one."""
    now = now or utcnow()
    found = {
        order.source: order
        for order in await session.scalars(
            select(Order).where(Order.external_id == external_id).options(selectinload(Order.lines))
        )
    }
    sources = sorted(found, key=lambda name: (name != CSV_SOURCE, name.lower(), name))
    if source is not None:
        order = found.get(source)
        if order is None:
            elsewhere = f" Orders with that ID come from: {', '.join(sources)}." if sources else ""
            raise OrderNotFound(f"No order with ID {external_id!r} from {source}.{elsewhere}")
    elif CSV_SOURCE in found:
        order = found[CSV_SOURCE]
    elif len(found) > 1:
        raise OrderAmbiguous(
            f"Order ID {external_id!r} is used by several sources: {', '.join(sources)}.",
            sources,
        )
    elif found:
        [order] = found.values()
    else:
        raise OrderNotFound(
            f"No order with ID {external_id!r}. Use the order's ID in its source: the "
            "order_id column of the import file, or the store's own order id."
        )
    status = OrderStatus.CANCELLED if cancelled else OrderStatus.FULFILLED
    result = await set_status(
        session, order, status, reason=CloseReason.PERSON, channel=channel, now=now
    )
    others = () if source is not None else tuple(s for s in sources if s != order.source)
    return CloseResult(
        external_id,
        status,
        result is not None,
        result or EvaluationResult(),
        source=order.source,
        also_in=others,
    )


async def set_status(
    session: AsyncSession,
    order: Order,
    status: OrderStatus,
    *,
    reason: CloseReason,
    channel: str,
    now: datetime,
) -> EvaluationResult | None:
    """Close an order (lines loaded) as fulfilled or cancelled, for `reason`; None if it
    already was. A closed order waits for nothing, so its products' allocation is
    refreshed."""
    freed = await mark_closed(session, order, status, reason=reason, now=now)
    if freed is None:
        return None
    if not freed:
        return EvaluationResult()
    return await stock_changed(session, freed, channel=channel, now=now)


async def mark_closed(
    session: AsyncSession, order: Order, status: OrderStatus, *, reason: CloseReason, now: datetime
) -> set[int] | None:
    """Close an order (lines loaded) for `reason` without the follow-up: None if it
    already had this status, else the products an open order was holding (the caller
    then calls `stock_changed` for them, once for a batch)."""
    if order.status != OrderStatus.OPEN and _outranks(reason, order.close_reason):
        order.close_reason = reason  # e.g. the store confirms what its poll inferred
    if order.status == status:
        return None
    was_open = order.status == OrderStatus.OPEN
    if was_open:
        order.close_reason = reason
    order.status = status
    order.closed_at = order.closed_at or now
    for line in order.lines:
        line.backordered = 0
    await session.flush()
    return {line.product_id for line in order.lines} if was_open else set()


def _outranks(reason: CloseReason, current: str | None) -> bool:
    """Whether `reason` replaces a closed order's `current` one. An order closed before
    reasons were kept (None) keeps None: it is never reopened by a store."""
    return current is not None and _REASON_RANK[reason] > _REASON_RANK.get(current, 0)


def _may_reopen(order: Order, listing: bool) -> bool:
    """Whether a store reporting this closed order as open opens it again."""
    if order.close_reason == CloseReason.UNLISTED:
        return True  # only inferred: the store now says otherwise
    # The store's own word is undone only by its fresh listing, never by a late webhook.
    return order.close_reason == CloseReason.STORE and listing


async def apply_store_orders(
    session: AsyncSession,
    records: Sequence[StoreOrder],
    *,
    source: str,
    channel: str,
    now: datetime,
    adopt_from: str | None = None,
    listing: bool = False,
) -> list[StoreOrderChange]:
    """Apply what a store says of its orders (from its poll or its webhooks, alike) and
    re-allocate the stock they touch, once; one change per distinct order, the last word on
    an order winning. Only `source`'s orders are read or changed; new ones get it.

    `adopt_from`: where this store's orders were filed before webhooks were matched to
    their store (the store's kind): such an order moves to `source` instead of being
    created twice. `listing`: the records are the store's poll, read just now."""
    latest = {record.external_id: record for record in records}
    product_ids = await resolve_skus(
        session, {line.sku for record in latest.values() for line in record.lines if line.sku}
    )
    existing = await load_orders(session, source, list(latest))
    if adopt_from is not None and adopt_from != source:
        strays = await load_orders(session, adopt_from, [i for i in latest if i not in existing])
        for order in strays.values():
            order.source = source
        existing |= strays
    changes: list[StoreOrderChange] = []
    affected: set[int] = set()
    for external_id, record in latest.items():
        outcome, detail, products = await _apply_store_order(
            session, existing.get(external_id), record, product_ids, source, now, listing
        )
        changes.append(StoreOrderChange(external_id, outcome, detail))
        affected |= products
    await session.flush()
    await stock_changed(session, affected, channel=channel, now=now)
    return changes


def _order_data(
    record: StoreOrder,
    ordered_at: datetime,
    lines: dict[int, int],
    source: str,
    status: OrderStatus = OrderStatus.OPEN,
) -> OrderData:
    """A store order as an import row, its names cut to what the columns hold."""
    return OrderData(
        external_id=record.external_id,
        customer_name=record.customer_name[: LENGTH_LIMITS["customer_name"]],
        customer_email=record.customer_email[: LENGTH_LIMITS["customer_email"]],
        ordered_at=ordered_at,
        lines=lines,
        source=source,
        status=status,
    )


def _fulfilled_history(
    session: AsyncSession,
    record: StoreOrder,
    product_ids: Mapping[str, int],
    source: str,
    now: datetime,
) -> tuple[str, str, set[int]]:
    """An order first seen already fulfilled: kept as sales history with the units its
    lines sold, waiting for nothing."""
    assert record.ordered_at is not None
    lines: dict[int, int] = {}
    for line in record.lines:
        product_id = product_ids.get(line.sku)
        if product_id is not None and line.units_sold > 0:
            lines[product_id] = lines.get(product_id, 0) + line.units_sold
    if not lines:
        return "ignored", "no line item matches a catalog product", set()
    data = _order_data(record, record.ordered_at, lines, source, OrderStatus.FULFILLED)
    apply_order(session, None, data, now)
    return "created", "fulfilled: kept as sales history", set()


async def _apply_store_order(
    session: AsyncSession,
    order: Order | None,
    record: StoreOrder,
    product_ids: Mapping[str, int],
    source: str,
    now: datetime,
    listing: bool,
) -> tuple[str, str, set[int]]:
    """(outcome, detail, products to re-allocate) for one store order."""
    if not record.external_id:
        return "ignored", "unreadable order", set()
    if len(record.external_id) > LENGTH_LIMITS["order_id"]:
        return "ignored", "order id too long", set()
    closed_as = CLOSED_AS.get(record.status)
    if closed_as is not None:
        if order is None:
            if record.status == "fulfilled" and record.ordered_at is not None:
                return _fulfilled_history(session, record, product_ids, source, now)
            return "ignored", "order not known", set()
        freed = await mark_closed(session, order, closed_as, reason=CloseReason.STORE, now=now)
        if freed is None:
            return "unchanged", "", set()
        return "closed", str(closed_as), freed
    if record.status != "open" or record.ordered_at is None:
        return "ignored", "the store's order status is not one Stockbot acts on", set()
    lines: dict[int, int] = {}
    for line in record.lines:
        product_id = product_ids.get(line.sku)
        if product_id is not None and line.quantity > 0:
            # The same SKU on two line items (e.g. different properties) is one line here.
            lines[product_id] = lines.get(product_id, 0) + line.quantity
    if order is None and not lines:
        return "ignored", "no line item matches a catalog product", set()
    reopen = False
    if order is not None and order.status != OrderStatus.OPEN and _may_reopen(order, listing):
        order.status, order.closed_at, order.close_reason = OrderStatus.OPEN, None, None
        reopen = True
    data = _order_data(record, record.ordered_at, lines, source)
    outcome, products = apply_order(session, order, data)
    if reopen:
        # Every line waits again, changed or not.
        return "updated", "reopened", products | set(lines)
    return outcome, "", products
