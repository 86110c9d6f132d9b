"""review: supplier poll history, one daily review per date, App Home viewers

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 19:45:00.000000

`supplier_polls` keeps one row per poll (succeeded or not): the scorecard's feed
uptime; offers are indexed by supplier and restock date for its restock-date figure.
`daily_reviews` has one row per review date, inserted before the review is
posted, so a review goes out once a day whichever process (or restart) gets there
first. `home_views` remembers who opened the App Home and when it was last
published, so refreshes after polls go to recent viewers at most once a minute.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.types import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "supplier_polls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["suppliers.id"],
            name=op.f("fk_supplier_polls_supplier_id_suppliers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_polls")),
    )
    op.create_index(
        "ix_supplier_polls_supplier_at", "supplier_polls", ["supplier_id", "at"], unique=False
    )
    op.create_index(
        "ix_offers_supplier_restock_date", "offers", ["supplier_id", "restock_date"], unique=False
    )
    op.create_table(
        "daily_reviews",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=True),
        sa.Column("posted_ts", sa.String(length=50), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_daily_reviews")),
    )
    op.create_table(
        "home_views",
        sa.Column("user_id", sa.String(length=50), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_home_views")),
    )


def downgrade() -> None:
    op.drop_table("home_views")
    op.drop_table("daily_reviews")
    op.drop_index("ix_offers_supplier_restock_date", table_name="offers")
    op.drop_index("ix_supplier_polls_supplier_at", table_name="supplier_polls")
    op.drop_table("supplier_polls")
