"""customer follow-ups: what each email was (kind, key, restock date told, orders,
Message-ID), so date updates and back-in-stock news go out once and thread

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 19:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer_notifications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=20), server_default="notice", nullable=False)
        )
        batch_op.add_column(
            sa.Column("kind_key", sa.String(length=200), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("restock_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("order_ids", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("message_id", sa.String(length=255), nullable=True))
        batch_op.create_index(
            "ix_customer_notifications_product_customer",
            ["product_id", "customer_email"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("customer_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_notifications_product_customer")
        batch_op.drop_column("message_id")
        batch_op.drop_column("order_ids")
        batch_op.drop_column("restock_date")
        batch_op.drop_column("kind_key")
        batch_op.drop_column("kind")
