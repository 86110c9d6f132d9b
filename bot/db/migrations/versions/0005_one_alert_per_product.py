"""one alert per product: low stock, out of stock and backorders share one message

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 10:00:00.000000

Data only; no column changes. A product's open stock alert and open backorder
alert (two Slack messages) become one: the older stays open under the key
`product:<id>`, in the more severe state, with both alerts' figures; the other
is resolved ("now followed in one message") and its message collapses. Groups
left with no open member are resolved. Resolutions become Slack mrkdwn (written
with outside text escaped and people as real mentions), so existing ones are
escaped here, keeping the mentions they held. Resolved history is kept as it was.
"""

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from bot.db.types import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PRODUCT_KINDS = ("out_of_stock", "backorder", "low_stock")  # most severe first
MERGED = "is now followed in one message with its other problems"
EMPTY_GROUP = "every product here is fine again"
_MENTION = re.compile(r"&lt;@([A-Z0-9]+)&gt;")

alerts = sa.table(
    "alerts",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("state", sa.String),
    sa.column("dedup_key", sa.String),
    sa.column("product_id", sa.Integer),
    sa.column("group_id", sa.Integer),
    sa.column("is_group", sa.Boolean),
    sa.column("details", sa.JSON),
    sa.column("resolution", sa.Text),
    sa.column("resolved_at", UTCDateTime()),
    sa.column("changed_at", UTCDateTime()),
    sa.column("snoozed_until", UTCDateTime()),
    sa.column("needs_sync", sa.Boolean),
    sa.column("next_delivery_at", UTCDateTime()),
)


def _sync(now: datetime) -> dict[str, Any]:
    return {"changed_at": now, "needs_sync": True, "next_delivery_at": None}


def _resolve(connection: sa.Connection, ids: list[int], resolution: str, now: datetime) -> None:
    if ids:
        connection.execute(
            alerts.update()
            .where(alerts.c.id.in_(ids))
            .values(
                state="resolved",
                resolved_at=now,
                resolution=resolution,
                snoozed_until=None,
                **_sync(now),
            )
        )


def _merge_product_alerts(connection: sa.Connection, now: datetime) -> None:
    rows = connection.execute(
        sa.select(alerts.c.id, alerts.c.kind, alerts.c.product_id, alerts.c.details)
        .where(
            alerts.c.kind.in_(PRODUCT_KINDS),
            alerts.c.state != "resolved",
            alerts.c.is_group.is_(False),
            alerts.c.product_id.is_not(None),
        )
        .order_by(alerts.c.product_id, alerts.c.id)
    ).all()
    by_product: dict[int, list[Any]] = {}
    for row in rows:
        by_product.setdefault(row.product_id, []).append(row)
    for product_id, open_alerts in by_product.items():
        keep, *others = open_alerts
        kind = min((a.kind for a in open_alerts), key=PRODUCT_KINDS.index)
        details: dict[str, Any] = {}
        for alert in open_alerts:  # stock figures from stock alerts, orders from backorders
            details.update(alert.details or {})
        _resolve(connection, [a.id for a in others], MERGED, now)
        connection.execute(
            alerts.update()
            .where(alerts.c.id == keep.id)
            .values(
                kind=kind,
                dedup_key=f"product:{product_id}",
                details=details,
                **(_sync(now) if others else {}),
            )
        )


def _resolve_empty_groups(connection: sa.Connection, now: datetime) -> None:
    member = alerts.alias("member")
    still_open = sa.exists().where(member.c.group_id == alerts.c.id, member.c.state != "resolved")
    empty = connection.execute(
        sa.select(alerts.c.id).where(
            alerts.c.is_group.is_(True), alerts.c.state != "resolved", ~still_open
        )
    )
    _resolve(connection, list(empty.scalars()), EMPTY_GROUP, now)


def _escape(text: str) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION.sub(r"<@\1>", escaped)


def _escape_resolutions(connection: sa.Connection) -> None:
    special = sa.or_(*(alerts.c.resolution.contains(c) for c in "&<>"))
    rows = connection.execute(sa.select(alerts.c.id, alerts.c.resolution).where(special)).all()
    for alert_id, resolution in rows:
        connection.execute(
            alerts.update().where(alerts.c.id == alert_id).values(resolution=_escape(resolution))
        )


def upgrade() -> None:
    connection = op.get_bind()
    now = datetime.now(UTC)
    _escape_resolutions(connection)
    _merge_product_alerts(connection, now)
    _resolve_empty_groups(connection, now)


def downgrade() -> None:
    # Open product alerts go back to one key per kind; merged ones stay resolved.
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(alerts.c.id, alerts.c.kind, alerts.c.product_id).where(
            alerts.c.dedup_key.like("product:%"), alerts.c.state != "resolved"
        )
    ).all()
    for alert_id, kind, product_id in rows:
        connection.execute(
            alerts.update()
            .where(alerts.c.id == alert_id)
            .values(dedup_key=f"{kind}:product:{product_id}")
        )
