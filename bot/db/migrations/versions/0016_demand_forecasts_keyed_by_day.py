"""demand forecasts keyed by day: primary key (day, product_id)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 02:00:00.000000

The forecasts are written a day at a time (the day's first recompute keeps about one
per product), read a day at a time and dropped by day. Keyed by (product_id, day),
each day's rows landed all over the key's index: a day's 80,000 forecasts among 90
days of them dirtied nearly every page of it, about 2 s of writing per day's first
recompute. Keyed by day first, they go at its end, and the key serves the lookups by
day (which products already have today's forecast, which days fell out of the
window). Products are never deleted by Stockbot; one deleted by hand has its
forecasts found by a scan of this table (as the cascade does).

SQLite cannot change a primary key in place: the table is copied (in key order).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.types import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "demand_forecasts"
COLUMNS = "product_id, day, units, method, made_at"


def _rekey(*key: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("pk_demand_forecasts"), TABLE, type_="primary")
        op.create_primary_key(op.f("pk_demand_forecasts"), TABLE, list(key))
        return
    copy = f"{TABLE}_rekeyed"
    op.create_table(
        copy,
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
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_demand_forecasts")),
    )
    order = ", ".join(key)
    op.execute(f"INSERT INTO {copy} ({COLUMNS}) SELECT {COLUMNS} FROM {TABLE} ORDER BY {order}")
    op.drop_table(TABLE)
    op.rename_table(copy, TABLE)


def upgrade() -> None:
    _rekey("day", "product_id")


def downgrade() -> None:
    _rekey("product_id", "day")
