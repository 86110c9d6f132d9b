"""Notes in the store: what a store order's customer was told (a notice, a new date,
back in stock) and chose (wait, the substitute, cancel) is written on the order, so
support sees it where they work (`[[stores]] write_order_notes = true`). Shopify: a
tag and a line appended to the order's note; WooCommerce: a private order note. A
choice's note also takes the tags of the customer's earlier choices off (`tagsRemove`,
in the same request), so the tags say what they chose last.

Nothing lost, nothing doubled: a note is queued (`StoreNote`) in the transaction that
records what happened (the email marked sent, the choice recorded), and written later
by `StoreNoteWriter`, never on the way of an email. Each note is claimed by one process
at a time (`claimed_by`, free again once that process stops beating); the adapter's
calls retry on their own (transport), and a failed note is tried again after 2, 4, 8 …
minutes. A write the store took but whose answer was lost is harmless: the adapters
find the line already there. After MAX_ATTEMPTS tries, or GIVE_UP_AFTER since it was
queued, a note is given up on and said once in the product's alert thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.core.alerts import note_in_thread
from bot.core.store_sync import backoff
from bot.core.text import escape
from bot.db import execute_writes
from bot.db.models import (
    Alert,
    CustomerChoice,
    NoticeKind,
    Order,
    OrderChoice,
    StoreNote,
    StoreNoteState,
)
from bot.db.replicas import Membership, claimed
from bot.db.types import utcnow
from stores import StoreAdapter, StoreError, StoreUnavailable

log = logging.getLogger(__name__)

# The tag each event adds to a Shopify order.
TAGS: dict[str, str] = {
    NoticeKind.NOTICE: "stockbot-backordered",
    NoticeKind.DATE_UPDATE: "stockbot-date-updated",
    NoticeKind.BACK_IN_STOCK: "stockbot-back-in-stock",
    CustomerChoice.WAIT: "stockbot-will-wait",
    CustomerChoice.SUBSTITUTE: "stockbot-substitute-accepted",
    CustomerChoice.CANCEL: "stockbot-wants-cancel",
}
# The tags of a customer's choice: an order carries those of the latest choices only.
CHOICE_TAGS: dict[str, str] = {choice: TAGS[choice] for choice in CustomerChoice}
MAX_ATTEMPTS = 5
GIVE_UP_AFTER = timedelta(hours=1)
# Notes one round writes at most (the next round, a minute later, takes the rest).
BATCH = 100
_STAMP_END = " UTC: "


def stores_taking_notes(settings: Settings) -> frozenset[str]:
    """The `[[stores]]` names with `write_order_notes = true`."""
    return frozenset(store.name for store in settings.stores if store.write_order_notes)


async def queue(
    session: AsyncSession,
    stores: frozenset[str],
    order_ids: Iterable[int],
    *,
    product_id: int,
    alert_id: int | None,
    event: str,
    line: str,
    now: datetime,
) -> None:
    """Queue `line` for each of these orders that comes from a store in `stores`, in
    the caller's transaction. `line` says what happened, e.g. "the customer chose to
    wait for Blue mug (MUG-1)."; it is written after a time stamp."""
    ids = sorted(set(order_ids))
    if not stores or not ids:
        return
    rows = await session.execute(
        select(Order.id, Order.source).where(Order.id.in_(ids), Order.source.in_(sorted(stores)))
    )
    # To the second: a customer who changes their mind back gets a line of its own (a
    # line already on the order is taken for a retry's and not added again).
    stamped = f"Stockbot, {now.day} {now:%b %Y %H:%M:%S}{_STAMP_END}{line}"
    for order_id, source in rows:
        session.add(
            StoreNote(
                order_id=order_id,
                product_id=product_id,
                alert_id=alert_id,
                store=source,
                event=event,
                line=stamped,
                tags=[TAGS[event]],
                state=StoreNoteState.PENDING,
                attempts=0,
                created_at=now,
            )
        )


@dataclass(slots=True)
class NotesReport:
    written: int = 0
    failed: int = 0  # attempts that failed (retried later, or given up)
    given_up: int = 0  # of which: said in the thread, not tried again


@dataclass(frozen=True, slots=True)
class _Due:
    id: int
    store: str
    order_number: str
    line: str
    tags: list[str]
    remove_tags: list[str]
    attempts: int
    created_at: datetime
    alert_id: int | None


class StoreNoteWriter:
    """Writes the queued notes. Any number of processes may run one: each claims the
    notes it writes."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        writes: async_sessionmaker[AsyncSession],
        stores: Mapping[str, StoreAdapter],
        membership: Membership,
        on_change: Callable[[], None],
    ) -> None:
        self.sessions = sessions
        self.writes = writes
        self.stores = stores
        self.membership = membership
        # Called after a note was added to an alert's thread (wakes the Slack delivery).
        self.on_change = on_change

    async def write_due(self) -> NotesReport:
        report = NotesReport()
        down: set[str] = set()  # stores not answering: their other notes wait a round

        async def claim(tried: set[int]) -> int | None:
            skip = [StoreNote.id.not_in(sorted(tried))] if tried else []
            if down:
                skip.append(StoreNote.store.not_in(sorted(down)))
            claim = self.membership.claim_oldest(
                StoreNote.id, StoreNote.claimed_by, _due(utcnow()), *skip
            )
            rows = await execute_writes(self.writes, claim)
            return int(rows[0]) if rows else None

        async for note_id in claimed(claim, set(), BATCH):
            try:
                await self._write(note_id, report, down)
            finally:
                await execute_writes(
                    self.writes,
                    update(StoreNote)
                    .where(StoreNote.id == note_id, StoreNote.claimed_by == self.membership.id)
                    .values(claimed_by=None),
                )
        if report.given_up:
            self.on_change()
        return report

    async def _write(self, note_id: int, report: NotesReport, down: set[str]) -> None:
        async with self.sessions() as session:
            found = (
                await session.execute(
                    select(StoreNote, Order.external_id)
                    .join(Order, Order.id == StoreNote.order_id)
                    .where(StoreNote.id == note_id)
                )
            ).first()
            if found is None:  # the order was deleted meanwhile: nothing to write on
                return
            row, number = found
            tags, remove_tags = list(row.tags), list[str]()
            if row.event in CHOICE_TAGS:
                tags, remove_tags = await _choice_tags(session, row.order_id, tags)
        note = _Due(
            row.id,
            row.store,
            number,
            row.line,
            tags,
            remove_tags,
            row.attempts,
            row.created_at,
            row.alert_id,
        )
        error, final = None, False
        store = self.stores.get(note.store)
        if store is None:
            error, final = f"{note.store} is no longer in Stockbot's configuration", True
        else:
            try:
                await store.write_order_note(
                    note.order_number, note.line, note.tags, note.remove_tags
                )
            except StoreUnavailable as exc:
                error = str(exc)
                down.add(note.store)
            except StoreError as exc:
                error = str(exc)
            except Exception:  # never lose a note to a bug: keep it and say so
                log.exception("writing a note on order %s failed", note.order_number)
                error = "unexpected error (see Stockbot's log)"
        await self._record(note, error, final, report)

    async def _record(
        self, note: _Due, error: str | None, final: bool, report: NotesReport
    ) -> None:
        now = utcnow()
        attempts = note.attempts + 1
        async with self.writes() as session, session.begin():
            row = await session.get(StoreNote, note.id)
            if row is None:
                return
            row.attempts = attempts
            if error is None:
                report.written += 1
                row.state, row.done_at, row.last_error = StoreNoteState.WRITTEN, now, None
                row.next_attempt_at = None
                return
            report.failed += 1
            row.last_error = error
            log.warning("note on order %s in %s: %s", note.order_number, note.store, error)
            if not final and attempts < MAX_ATTEMPTS and now - note.created_at < GIVE_UP_AFTER:
                row.next_attempt_at = now + backoff(attempts)
                return
            report.given_up += 1
            row.state, row.done_at = StoreNoteState.FAILED, now
            alert = await session.get(Alert, note.alert_id) if note.alert_id else None
            if alert is not None:
                await note_in_thread(session, alert, failure_text(note, error), now)


async def _choice_tags(
    session: AsyncSession, order_id: int, noted: list[str]
) -> tuple[list[str], list[str]]:
    """(tags to add, tags to take off) for a choice's note: the tags of the order's
    latest choices (one per product it waits for) on, the other choices' off. Read
    when written, not when queued, so the last choice wins whatever order the notes
    are written in (a failed one is retried later). `noted`: the note's own tags, for
    an order whose choices are gone."""
    chosen = set(
        await session.scalars(select(OrderChoice.choice).where(OrderChoice.order_id == order_id))
    )
    wanted = [tag for choice, tag in CHOICE_TAGS.items() if choice in chosen] or noted
    return wanted, [tag for tag in CHOICE_TAGS.values() if tag not in wanted]


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        StoreNote.state == StoreNoteState.PENDING,
        or_(StoreNote.next_attempt_at.is_(None), StoreNote.next_attempt_at <= now),
    )


def failure_text(note: _Due, error: str) -> str:
    """The thread note for a note given up on: which order, why, and what it said."""
    said = note.line.partition(_STAMP_END)[2] or note.line
    # The transport's wording promises another try: this note gets none.
    reason = error.partition("; Stockbot will try again")[0].rstrip(".")
    return (
        f"Stockbot could not write its note on order {escape(note.order_number)} in "
        f"{escape(note.store)} ({escape(reason)}) and has stopped trying. The note said: "
        f"“{escape(said)}” Add it to the order by hand if support needs it."
    )
