"""orders keyed by (source, external_id); why an order was closed

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00.000000

Every source numbers its orders on its own, so an order id is unique per source
only. Existing rows keep their source and id: the old constraint (unique id
across all sources) implies the new one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite rebuilds the table (copying every row); PostgreSQL alters it.
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint("uq_orders_external_id", type_="unique")
        batch_op.create_unique_constraint("uq_orders_source_external_id", ["source", "external_id"])
        batch_op.add_column(sa.Column("close_reason", sa.String(length=20), nullable=True))


def downgrade() -> None:
    # Fails while two sources share an order id: there is no single order to keep.
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("close_reason")
        batch_op.drop_constraint("uq_orders_source_external_id", type_="unique")
        batch_op.create_unique_constraint("uq_orders_external_id", ["external_id"])
