"""restock dates kept: the restock dates a supplier met

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 01:10:00.000000

`restock_dates_kept` records each restock date an offer came back in stock by;
with `restock_slips` (dates moved later or passed without stock) it gives the
scorecard's "restock dates met". Before, that figure was read from the dates the
offers carry now, which suppliers clear once they restock.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.types import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "restock_dates_kept",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("promised", sa.Date(), nullable=False),
        sa.Column("back_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["offers.id"],
            name=op.f("fk_restock_dates_kept_offer_id_offers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["suppliers.id"],
            name=op.f("fk_restock_dates_kept_supplier_id_suppliers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restock_dates_kept")),
        sa.UniqueConstraint("offer_id", "promised", name=op.f("uq_restock_dates_kept_offer_id")),
    )
    op.create_index(
        op.f("ix_restock_dates_kept_supplier_id"),
        "restock_dates_kept",
        ["supplier_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_restock_dates_kept_supplier_id"), table_name="restock_dates_kept")
    op.drop_table("restock_dates_kept")
