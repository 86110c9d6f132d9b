"""demand forecasts by day: an index on demand_forecasts.day

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 01:30:00.000000

Each forecast recompute (after every changed poll, every few minutes) reads which
products already have today's forecast kept and drops the days past the window;
without an index on `day` both read all of the table (up to 90 days of every
product's forecast, millions of rows).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_demand_forecasts_day"), "demand_forecasts", ["day"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_demand_forecasts_day"), table_name="demand_forecasts")
