"""Alert lifecycle: open, update, group, resolve, acknowledge and snooze.

Alerts are stored first and marked `needs_sync`; `bot.slack.outbox` tells Slack
later. So nothing is lost when Slack is down and nothing is posted twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.rules import StockState
from bot.db.models import Alert, AlertKind, AlertNote, AlertState, AuditEntry
from bot.db.types import utcnow
from bot.errors import UserError

STOCK_KINDS = (AlertKind.LOW_STOCK, AlertKind.OUT_OF_STOCK)
SYSTEM_ACTOR = "stockbot"


@dataclass(slots=True)
class EvaluationResult:
    opened: int = 0
    resolved: int = 0
    updated: int = 0
    grouped: int = 0
    touched_alert_ids: set[int] = field(default_factory=set)


def stock_dedup_key(kind: str, product_id: int) -> str:
    return f"{kind}:product:{product_id}"


def supplier_dedup_key(kind: str, supplier_id: int) -> str:
    return f"{kind}:supplier:{supplier_id}"


def _describe_stock(state: StockState) -> dict[str, Any]:
    return {
        "quantity": state.quantity,
        "availability": state.availability,
        "threshold": state.threshold,
        "supplier_id": state.supplier_id,
    }


def _resolution_text(state: StockState, new_kind: AlertKind | None) -> str:
    if new_kind == AlertKind.OUT_OF_STOCK:
        return "Now out of stock: see the new stockout alert."
    if new_kind == AlertKind.LOW_STOCK:
        return f"Partly restocked ({state.quantity} left, still low): see the new low-stock alert."
    return f"Back in stock: {state.quantity} available (threshold {state.threshold})."


def touch(alert: Alert, now: datetime) -> None:
    alert.changed_at = now
    alert.needs_sync = True
    alert.next_delivery_at = None


def mark_resolved(alert: Alert, now: datetime, resolution: str) -> None:
    alert.state = AlertState.RESOLVED
    alert.resolved_at = now
    alert.resolution = resolution
    alert.snoozed_until = None
    touch(alert, now)


async def evaluate_stock(
    session: AsyncSession,
    states: list[StockState],
    *,
    group_over: int,
    channel: str,
    now: datetime | None = None,
) -> EvaluationResult:
    """Bring stock alerts in line with `states`: open, update in place, resolve."""
    now = now or utcnow()
    result = EvaluationResult()
    open_alerts = (
        await session.scalars(
            select(Alert).where(
                Alert.kind.in_(STOCK_KINDS),
                Alert.state != AlertState.RESOLVED,
                Alert.product_id.is_not(None),
            )
        )
    ).all()
    by_product: dict[int, list[Alert]] = defaultdict(list)
    for alert in open_alerts:
        by_product[alert.product_id].append(alert)  # type: ignore[index]

    groups_to_check: set[int] = set()
    to_open: dict[tuple[AlertKind, int], list[StockState]] = defaultdict(list)
    for state in states:
        wanted = state.alert_kind
        has_wanted = False
        for alert in by_product.get(state.product_id, ()):
            if alert.kind == wanted:
                has_wanted = True
                details = _describe_stock(state)
                if alert.details != details:
                    alert.details = details
                    touch(alert, now)
                    result.updated += 1
                    result.touched_alert_ids.add(alert.id)
                    if alert.group_id:
                        groups_to_check.add(alert.group_id)
            elif state.is_healthy or wanted is not None:
                mark_resolved(alert, now, _resolution_text(state, wanted))
                result.resolved += 1
                result.touched_alert_ids.add(alert.id)
                if alert.group_id:
                    groups_to_check.add(alert.group_id)
        if wanted is not None and not has_wanted:
            to_open[(wanted, state.supplier_id)].append(state)

    await session.flush()
    for (kind, supplier_id), opening in to_open.items():
        group_id = None
        if len(opening) > group_over:
            group_id = await open_group(session, kind, supplier_id, len(opening), channel, now)
            result.grouped += len(opening)
        # One executemany: thousands of alerts in a storm must not cost a round trip each.
        rows = [
            alert_values(
                kind,
                stock_dedup_key(kind, state.product_id),
                channel,
                now,
                product_id=state.product_id,
                supplier_id=state.supplier_id,
                details=_describe_stock(state),
                group_id=group_id,
            )
            for state in opening
        ]
        await session.execute(insert(Alert.__table__), rows)
        result.opened += len(rows)
    await session.flush()
    await settle_groups(session, groups_to_check, now)
    return result


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
    """One message for `count` new alerts of one supplier (a storm); its id."""
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
    resolution: str = "Every product in this group is back in stock.",
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


async def acknowledge(session: AsyncSession, alert_id: int, user_id: str) -> Alert:
    alert = await _actionable_alert(session, alert_id)
    if alert.state == AlertState.ACKNOWLEDGED:
        return alert  # a double click or a Slack retry changes nothing
    now = utcnow()
    alert.state = AlertState.ACKNOWLEDGED
    alert.acknowledged_by = user_id
    alert.snoozed_until = None
    touch(alert, now)
    session.add(AlertNote(alert_id=alert.id, text=f"Acknowledged by <@{user_id}>.", created_at=now))
    audit(session, user_id, "acknowledge_alert", alert)
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
    alert.state = AlertState.SNOOZED
    alert.snoozed_by = user_id
    alert.snoozed_until = until
    touch(alert, now)
    session.add(
        AlertNote(
            alert_id=alert.id,
            text=f"Snoozed for {snooze_label(choice)} by <@{user_id}>.",
            created_at=now,
        )
    )
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
        session.add(
            AlertNote(
                alert_id=alert.id,
                text=f"Reminder: the snooze by <@{alert.snoozed_by}> has ended and this is "
                "still unresolved.",
                created_at=now,
            )
        )
    return len(due)
