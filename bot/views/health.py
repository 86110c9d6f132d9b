"""How Stockbot is doing, read from the database: for /healthz, /readyz and /metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.leases import poll_lease
from bot.db.models import Alert, AlertNote, AlertState, Lease, Supplier

# An outbox item older than this means Slack has not been reached for a while.
OUTBOX_STUCK_AFTER = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Health:
    alerts_open: dict[str, int]
    outbox_depth: int
    outbox_oldest: timedelta | None
    supplier_failures: dict[str, int]
    reasons: list[str] = field(default_factory=list)  # why it is degraded; empty when fine

    @property
    def degraded(self) -> bool:
        return bool(self.reasons)


async def health(session: AsyncSession, *, now: datetime, supplier_down_after: int) -> Health:
    kinds = await session.execute(
        select(Alert.kind, func.count())
        .where(Alert.state != AlertState.RESOLVED, Alert.is_group.is_(False))
        .group_by(Alert.kind)
    )
    waiting_alerts = select(func.count(), func.min(Alert.changed_at)).where(
        Alert.needs_sync.is_(True), Alert.group_id.is_(None)
    )
    waiting_notes = select(func.count(), func.min(AlertNote.created_at)).where(
        AlertNote.posted_ts.is_(None)
    )
    alert_count, alert_oldest = (await session.execute(waiting_alerts)).one()
    note_count, note_oldest = (await session.execute(waiting_notes)).one()
    oldest = min((t for t in (alert_oldest, note_oldest) if t is not None), default=None)
    age = now - oldest if oldest is not None else None
    suppliers = await session.execute(select(Supplier.name, Supplier.consecutive_failures))
    failures = dict(suppliers.tuples().all())
    reasons = [
        f"supplier {name} failed its last {count} polls"
        for name, count in sorted(failures.items())
        if count >= supplier_down_after
    ]
    if age is not None and age > OUTBOX_STUCK_AFTER:
        minutes = int(age.total_seconds() // 60)
        reasons.append(f"{alert_count + note_count} Slack messages waiting, oldest {minutes} min")
    return Health(
        alerts_open=dict(kinds.tuples().all()),
        outbox_depth=alert_count + note_count,
        outbox_oldest=age,
        supplier_failures=failures,
        reasons=reasons,
    )


async def poll_leases_held(
    session: AsyncSession, holder: str, suppliers: list[str]
) -> dict[str, bool]:
    """For each supplier, whether process `holder` (a replica id) holds its poll lease now.
    The leases table decides, so every replica's answer agrees with the others'."""
    names = {poll_lease(name): name for name in suppliers}
    held = await session.scalars(
        select(Lease.name).where(Lease.name.in_(names), Lease.holder == holder)
    )
    mine = {names[name] for name in held}
    return {name: name in mine for name in suppliers}
