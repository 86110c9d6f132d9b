"""replicas, leases and delivery claims: several processes on one database

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "replicas",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seen_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replicas")),
    )
    with op.batch_alter_table("replicas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_replicas_seen_at"), ["seen_at"], unique=False)
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=True),
        sa.Column("taken_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "slack_holds",
        sa.Column("method", sa.String(length=50), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("not_before", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("method", "channel", name=op.f("pk_slack_holds")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("post_started_at", bot.db.types.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("alert_notes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("post_started_at", bot.db.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("alert_notes", schema=None) as batch_op:
        batch_op.drop_column("post_started_at")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("post_started_at")
        batch_op.drop_column("claimed_by")
    op.drop_table("slack_holds")
    op.drop_table("leases")
    with op.batch_alter_table("replicas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_replicas_seen_at"))
    op.drop_table("replicas")
