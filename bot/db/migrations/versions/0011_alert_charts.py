"""charts: one row per alert whose stock chart is (to be) shown in its thread

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 20:00:00.000000

`alert_charts` makes the chart of an alert's opening appear once, whatever retries,
restarts or replicas do: a process claims the row before drawing and uploading. Alerts
that exist already opened before charts did: they get a `skipped` row, so upgrading
does not post a chart under every open alert at once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.types import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_charts",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("upload_started_at", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("shown_as", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_charts_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alert_charts")),
    )
    op.create_index(op.f("ix_alert_charts_state"), "alert_charts", ["state"], unique=False)
    op.execute(
        "INSERT INTO alert_charts (alert_id, state, attempts) SELECT id, 'skipped', 0 FROM alerts"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_charts_state"), table_name="alert_charts")
    op.drop_table("alert_charts")
