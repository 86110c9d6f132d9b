"""offer listing: a poll records its time once per supplier, not on every offer

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 01:15:00.000000

`suppliers.listed_at` is the time of the supplier's last poll that read its feed;
`offers.listed` says the offer was in that feed, and then it was last seen at
`suppliers.listed_at`. `offers.last_seen_at` keeps the time for offers not listed
(written when an offer leaves the feed). A poll thus writes only the offers that
left or came back, instead of stamping every listed offer. Existing offers start
unlisted, with the `last_seen_at` they have: the same answers as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.types import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("suppliers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("listed_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("listed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    # Back to one time per offer: the listed offers were last seen at their supplier's poll.
    offers = sa.table(
        "offers",
        sa.column("listed", sa.Boolean()),
        sa.column("supplier_id", sa.Integer()),
        sa.column("last_seen_at", UTCDateTime()),
    )
    suppliers = sa.table("suppliers", sa.column("id", sa.Integer()), sa.column("listed_at"))
    listed_at = (
        sa.select(suppliers.c.listed_at)
        .where(suppliers.c.id == offers.c.supplier_id)
        .scalar_subquery()
    )
    op.execute(offers.update().where(offers.c.listed.is_(True)).values(last_seen_at=listed_at))
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_column("listed")
    with op.batch_alter_table("suppliers", schema=None) as batch_op:
        batch_op.drop_column("listed_at")
