"""forecast: demand forecasts kept per product and day; orders read by date

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10 10:00:00.000000

`demand_forecasts` keeps each day's one-day-ahead forecast as it was made, so
accuracy is judged on what was said at the time. The index on `orders.ordered_at`
serves the sales-history queries, which read a window of order dates.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.types import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "demand_forecasts",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("units", sa.Float(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("made_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_demand_forecasts_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", "day", name=op.f("pk_demand_forecasts")),
    )
    op.create_index("ix_orders_ordered_at", "orders", ["ordered_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_orders_ordered_at", table_name="orders")
    op.drop_table("demand_forecasts")
