"""forecast alerts: each at-risk product's forecast; restock promises and slips

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 20:00:00.000000

`product_forecasts` holds what the last recompute says about the products at or
near risk (the at-risk alert state reads it). `restock_promises` keeps the restock
date each offer's supplier first gave; `restock_slips` counts the dates that moved
later or passed without stock, per supplier.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.types import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "product_forecasts",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.Column("days_of_cover", sa.Float(), nullable=True),
        sa.Column("opens", sa.Boolean(), nullable=False),
        sa.Column("holds", sa.Boolean(), nullable=False),
        sa.Column("rate_per_day", sa.Float(), nullable=False),
        sa.Column("drain_per_day", sa.Float(), nullable=True),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column("fell_from", sa.Integer(), nullable=True),
        sa.Column("fell_to", sa.Integer(), nullable=True),
        sa.Column("fell_seconds", sa.Float(), nullable=True),
        sa.Column("spike_units", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_forecasts_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_product_forecasts")),
    )
    op.create_index(
        op.f("ix_product_forecasts_opens"), "product_forecasts", ["opens"], unique=False
    )
    op.create_table(
        "restock_promises",
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("promised", sa.Date(), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["offers.id"],
            name=op.f("fk_restock_promises_offer_id_offers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("offer_id", name=op.f("pk_restock_promises")),
    )
    op.create_table(
        "restock_slips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("promised", sa.Date(), nullable=False),
        sa.Column("new_date", sa.Date(), nullable=True),
        sa.Column("detected_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["offers.id"],
            name=op.f("fk_restock_slips_offer_id_offers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_restock_slips_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["suppliers.id"],
            name=op.f("fk_restock_slips_supplier_id_suppliers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restock_slips")),
        sa.UniqueConstraint("offer_id", "promised", "kind", name=op.f("uq_restock_slips_offer_id")),
    )
    op.create_index(
        op.f("ix_restock_slips_supplier_id"), "restock_slips", ["supplier_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_restock_slips_supplier_id"), table_name="restock_slips")
    op.drop_table("restock_slips")
    op.drop_table("restock_promises")
    op.drop_index(op.f("ix_product_forecasts_opens"), table_name="product_forecasts")
    op.drop_table("product_forecasts")
