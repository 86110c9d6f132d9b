"""Alert lifecycle: open, group, resolve, acknowledge and snooze; supplier and store
alerts. Product alerts decide their state in `bot.core.problems`.

Alerts are stored first and marked `needs_sync`; `bot.slack.delivery.outbox` tells Slack
later. So nothing is lost when Slack is down and nothing is posted twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.text import mention
from bot.db.models import Alert, AlertKind, AlertNote, AlertState, AuditEntry
from bot.db.types import utcnow
from bot.errors import UserError

SYSTEM_ACTOR = "stockbot"


@dataclass(slots=True)
class EvaluationResult:
    opened: int = 0
    resolved: int = 0
    updated: int = 0
    grouped: int = 0
    touched_alert_ids: set[int] = field(default_factory=set)
    # Products whose alert (at risk, low stock, out of stock, backorder) opened now:
    # the hook for what follows an opening, such as a chart in the new thread.
    opened_product_ids: set[int] = field(default_factory=set)


def supplier_dedup_key(kind: str, supplier_id: int) -> str:
    return f"{kind}:supplier:{supplier_id}"


def touch(alert: Alert, now: datetime) -> None:
    alert.changed_at = now
    alert.needs_sync = True
    alert.next_delivery_at = None


async def note_in_thread(session: AsyncSession, alert: Alert, text: str, now: datetime) -> None:
    """A reply under the alert's message (a grouped alert's goes to its group's thread),
    posted by the delivery worker. `text` is Slack mrkdwn, outside text escaped."""
    thread = await session.get(Alert, alert.group_id) if alert.group_id else None
    session.add(AlertNote(alert_id=(thread or alert).id, text=text, created_at=now))


def mark_resolved(alert: Alert, now: datetime, resolution: str) -> None:
    """`resolution` is Slack mrkdwn: how it ended, outside text escaped."""
    alert.state = AlertState.RESOLVED
    alert.resolved_at = now
    alert.resolution = resolution
    alert.snoozed_until = None
    touch(alert, now)


def alert_values(
    kind: str,
    dedup_key: str,
    channel: str,
    now: datetime,
    **values: Any,
) -> dict[str, Any]:
    """Column values of a new open alert."""
    return {
        "kind": kind,
        "state": AlertState.OPEN,
        "dedup_key": dedup_key,
        "slack_channel": channel,
        "opened_at": now,
        "changed_at": now,
        # Members of a group are shown in the group's message, never on their own.
        "needs_sync": values.get("group_id") is None,
        "delivery_attempts": 0,
        "summary": values.pop("summary", ""),
        "is_group": values.pop("is_group", False),
        "details": values.pop("details", {}),
        "product_id": None,
        "supplier_id": None,
        "group_id": None,
        **values,
    }


def new_alert(kind: str, dedup_key: str, channel: str, now: datetime, **values: Any) -> Alert:
    return Alert(**alert_values(kind, dedup_key, channel, now, **values))


async def open_group(
    session: AsyncSession,
    kind: AlertKind,
    supplier_id: int | None,
    count: int,
    channel: str,
    now: datetime,
) -> int:
    """One message for `count` new alerts of one supplier (a storm); its id. `kind` is
    the worst of them when it opened; the message shows its members as they are now."""
    group = new_alert(
        kind,
        f"group:{kind}:supplier:{supplier_id}:{now.isoformat()}",
        channel,
        now,
        supplier_id=supplier_id,
        is_group=True,
        details={"count": count},
    )
    session.add(group)
    await session.flush()
    return group.id


async def settle_groups(
    session: AsyncSession,
    group_ids: set[int],
    now: datetime,
    resolution: str = "every product here is fine again",
) -> None:
    """Refresh grouped messages; resolve a group once all its members are resolved."""
    for group_id in group_ids:
        group = await session.get(Alert, group_id)
        if group is None or group.state == AlertState.RESOLVED:
            continue
        still_open = await session.scalar(
            select(Alert.id).where(Alert.group_id == group_id, Alert.state != AlertState.RESOLVED)
        )
        if still_open is None:
            mark_resolved(group, now, resolution)
        else:
            touch(group, now)


async def raise_supplier_alert(
    session: AsyncSession,
    kind: AlertKind,
    supplier_id: int,
    summary: str,
    channel: str,
    now: datetime | None = None,
) -> bool:
    """Open a supplier-level alert, or refresh the open one. True when newly opened."""
    key = supplier_dedup_key(kind, supplier_id)
    return await _raise(session, kind, key, summary, channel, now, supplier_id=supplier_id)


async def resolve_supplier_alerts(
    session: AsyncSession, supplier_id: int, resolution: str, now: datetime | None = None
) -> int:
    now = now or utcnow()
    alerts = (
        await session.scalars(
            select(Alert).where(
                Alert.supplier_id == supplier_id,
                Alert.kind.in_((AlertKind.SUPPLIER_FEED, AlertKind.SUPPLIER_DOWN)),
                Alert.state != AlertState.RESOLVED,
            )
        )
    ).all()
    for alert in alerts:
        mark_resolved(alert, now, resolution)
    return len(alerts)


def store_dedup_key(kind: str, store: str) -> str:
    return f"{kind}:store:{store}"


async def raise_store_alert(
    session: AsyncSession,
    kind: AlertKind,
    store: str,
    summary: str,
    channel: str,
    now: datetime | None = None,
) -> bool:
    """Open a store-level alert (no supplier, no product), or refresh the open one.
    True when newly opened."""
    key = store_dedup_key(kind, store)
    return await _raise(session, kind, key, summary, channel, now, details={"store": store})


async def _open_by_key(session: AsyncSession, key: str) -> Alert | None:
    return await session.scalar(
        select(Alert).where(Alert.dedup_key == key, Alert.state != AlertState.RESOLVED)
    )


async def _raise(
    session: AsyncSession,
    kind: AlertKind,
    key: str,
    summary: str,
    channel: str,
    now: datetime | None,
    **values: Any,
) -> bool:
    """Open the alert with this key, or refresh the open one's summary; True when opened."""
    now = now or utcnow()
    alert = await _open_by_key(session, key)
    if alert is None:
        session.add(new_alert(kind, key, channel, now, summary=summary, **values))
        await session.flush()
        return True
    if alert.summary != summary:
        alert.summary = summary
        touch(alert, now)
    return False


async def resolve_store_alert(
    session: AsyncSession, kind: AlertKind, store: str, resolution: str, now: datetime | None = None
) -> bool:
    """Resolve the open store-level alert of `kind`, if any. True when one was resolved."""
    alert = await _open_by_key(session, store_dedup_key(kind, store))
    if alert is None:
        return False
    mark_resolved(alert, now or utcnow(), resolution)
    return True


async def _actionable_alert(session: AsyncSession, alert_id: int) -> Alert:
    alert = await session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise UserError("That alert no longer exists.")
    if alert.state == AlertState.RESOLVED:
        raise UserError("That alert is already resolved: nothing to do.")
    return alert


def audit(
    session: AsyncSession,
    actor: str,
    action: str,
    alert: Alert | None = None,
    *,
    product_id: int | None = None,
    **details: Any,
) -> None:
    """Record who did what in the audit log (people by Slack user ID, or `stockbot`)."""
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            alert_id=alert.id if alert else None,
            product_id=product_id
            if product_id is not None
            else (alert.product_id if alert else None),
            details=details,
            at=utcnow(),
        )
    )


async def _open_members(session: AsyncSession, group: Alert) -> list[Alert]:
    """A group's members still open: what "acknowledge all" and "snooze all" act on."""
    if not group.is_group:
        return []
    return list(
        await session.scalars(
            select(Alert).where(Alert.group_id == group.id, Alert.state != AlertState.RESOLVED)
        )
    )


async def _set_state(
    session: AsyncSession,
    alert: Alert,
    user_id: str,
    now: datetime,
    snoozed_until: datetime | None,
    note: str,
) -> int:
    """Acknowledge the alert (`snoozed_until` None) or snooze it until then, with every
    product still open in its group; `note` goes in the thread, saying how many
    products that was. Returns that number."""
    members = await _open_members(session, alert)
    for each in (alert, *members):
        if snoozed_until is None:
            each.state = AlertState.ACKNOWLEDGED
            each.acknowledged_by = user_id
        else:
            each.state = AlertState.SNOOZED
            each.snoozed_by = user_id
        each.snoozed_until = snoozed_until
        touch(each, now)
    every = f" (all {len(members)} open products)" if members else ""
    session.add(AlertNote(alert_id=alert.id, text=f"{note}{every}.", created_at=now))
    return len(members)


async def acknowledge(session: AsyncSession, alert_id: int, user_id: str) -> Alert:
    """Acknowledge an alert; on a group, every product still open in it too."""
    alert = await _actionable_alert(session, alert_id)
    if alert.state == AlertState.ACKNOWLEDGED:
        return alert  # a double click or a Slack retry changes nothing
    note = f"Acknowledged by {mention(user_id)}"
    members = await _set_state(session, alert, user_id, utcnow(), None, note)
    audit(session, user_id, "acknowledge_alert", alert, members=members)
    await session.flush()
    return alert


SNOOZE_CHOICES = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "24h": timedelta(hours=24)}


def snooze_label(choice: str) -> str:
    return {"1h": "1 hour", "4h": "4 hours", "24h": "24 hours"}[choice]


async def snooze(session: AsyncSession, alert_id: int, user_id: str, choice: str) -> Alert:
    if choice not in SNOOZE_CHOICES:
        raise UserError(f"Unknown snooze length {choice!r}; choose 1h, 4h or 24h.")
    alert = await _actionable_alert(session, alert_id)
    now = utcnow()
    until = now + SNOOZE_CHOICES[choice]
    if (
        alert.state == AlertState.SNOOZED
        and alert.snoozed_until
        and alert.snoozed_until >= until - (timedelta(minutes=1))
    ):
        return alert  # same snooze clicked twice
    note = f"Snoozed for {snooze_label(choice)} by {mention(user_id)}"
    await _set_state(session, alert, user_id, now, until, note)
    audit(session, user_id, "snooze_alert", alert, duration=choice, until=until.isoformat())
    await session.flush()
    return alert


async def wake_snoozed(session: AsyncSession, now: datetime | None = None) -> int:
    """End snoozes that are due and remind the channel in the alert's thread."""
    now = now or utcnow()
    due = (
        await session.scalars(
            select(Alert).where(Alert.state == AlertState.SNOOZED, Alert.snoozed_until <= now)
        )
    ).all()
    for alert in due:
        alert.state = AlertState.OPEN
        alert.snoozed_until = None
        touch(alert, now)
        if alert.group_id is not None:
            continue  # snoozed with its group: the group's thread gets the reminder
        session.add(
            AlertNote(
                alert_id=alert.id,
                text=f"Reminder: the snooze by {mention(alert.snoozed_by or '')} has ended and "
                "this is still unresolved.",
                created_at=now,
            )
        )
    return len(due)
