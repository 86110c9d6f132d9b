"""What the outbox sends next, claimed so that no other process sends it too.

New problems first: a message not yet in Slack goes before any update, and among new
ones stockouts and backorders go first, then low stock, then the rest (supplier and
store problems); within each class the oldest alert first. Updates wait behind new
messages, so the changes they carry pile up and go in one call (each update renders
the alert as it is when it is sent). Nothing is held to a channel Slack's Retry-After
still holds (`bot.slack.delivery.holds`).

Each pick is one `UPDATE … WHERE id = (SELECT … ORDER BY … LIMIT 1 FOR UPDATE SKIP
LOCKED)`: on PostgreSQL replicas skip the rows another is claiming, and a problem raised
while a backlog drains is picked at the next call, not after the backlog.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import execute_writes
from bot.db.models import Alert, AlertKind, AlertNote
from bot.db.replicas import Membership
from bot.db.types import utcnow
from bot.slack.delivery.holds import SlackHolds

# The delivery classes, most urgent first.
URGENT_KINDS = (AlertKind.OUT_OF_STOCK, AlertKind.BACKORDER)
NEW_URGENT, NEW_LOW_STOCK, NEW_OTHER, UPDATE = range(4)


def delivery_class() -> ColumnElement[int]:
    return case(
        (Alert.slack_ts.is_not(None), UPDATE),
        (Alert.kind.in_(URGENT_KINDS), NEW_URGENT),
        (Alert.kind == AlertKind.LOW_STOCK, NEW_LOW_STOCK),
        else_=NEW_OTHER,
    )


@dataclass(frozen=True, slots=True)
class OutboxQueue:
    writes: async_sessionmaker[AsyncSession]
    membership: Membership
    holds: SlackHolds

    def due_to_sync(self) -> ColumnElement[bool]:
        """Alerts whose message must be posted or updated now."""
        now = utcnow()
        return and_(
            Alert.needs_sync.is_(True),
            Alert.group_id.is_(None),
            or_(Alert.next_delivery_at.is_(None), Alert.next_delivery_at <= now),
            not_(self._held()),  # stays in the database until the hold passes
        )

    def notes_waiting(self) -> ColumnElement[bool]:
        """Alerts in Slack with thread notes still to post."""
        waiting = select(AlertNote.alert_id).where(AlertNote.posted_ts.is_(None))
        return and_(Alert.id.in_(waiting), Alert.slack_ts.is_not(None), not_(self._held()))

    def _held(self) -> ColumnElement[bool]:
        channels = self.holds.channels_held()
        return Alert.slack_channel.in_(channels) if channels else Alert.id.is_(None)

    async def claim(
        self, condition: ColumnElement[bool], tried: set[int], failed_channels: set[str]
    ) -> int | None:
        """Claim the most urgent alert meeting `condition` that no live process holds."""
        now = utcnow()
        # Rows another transaction is claiming right now are skipped, not waited for.
        first = (
            select(Alert.id)
            .where(condition, self.membership.free(Alert.claimed_by, now))
            .order_by(delivery_class(), Alert.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .correlate(None)
        )
        if tried:
            first = first.where(Alert.id.not_in(tried))
        if failed_channels:
            first = first.where(Alert.slack_channel.not_in(failed_channels))
        claimed = await execute_writes(
            self.writes,
            update(Alert)
            .where(
                Alert.id == first.scalar_subquery(),
                self.membership.free(Alert.claimed_by, now),
            )
            .values(claimed_by=self.membership.id)
            .returning(Alert.id),
        )
        return int(claimed[0]) if claimed else None

    async def release(self, alert_id: int) -> None:
        """Let other processes send it again (it stays due if it failed)."""
        mine = and_(Alert.id == alert_id, Alert.claimed_by == self.membership.id)
        await execute_writes(self.writes, update(Alert).where(mine).values(claimed_by=None))
