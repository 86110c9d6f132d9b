"""choices: what waiting customers chose on their choice link

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 19:45:00.000000

`order_choices` keeps each waiting customer's latest choice (wait, take the
substitute, cancel) per order and product, and staff's cancelling in the store.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.types import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_choices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("choice", sa.String(length=20), nullable=False),
        sa.Column("substitute_id", sa.Integer(), nullable=True),
        sa.Column("chosen_at", UTCDateTime(), nullable=False),
        sa.Column("store_service", sa.String(length=50), nullable=True),
        sa.Column("cancel_started_at", UTCDateTime(), nullable=True),
        sa.Column("cancel_started_by", sa.String(length=100), nullable=True),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.Column("cancel_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_choices_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_order_choices_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["substitute_id"],
            ["products.id"],
            name=op.f("fk_order_choices_substitute_id_products"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_choices")),
        sa.UniqueConstraint("order_id", "product_id", name="uq_order_choices_order_product"),
    )
    op.create_index("ix_order_choices_product_id", "order_choices", ["product_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_order_choices_product_id", table_name="order_choices")
    op.drop_table("order_choices")
