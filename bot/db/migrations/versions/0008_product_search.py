"""product search: an indexed SKU key, substring indexes, the catalog change log

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00

* `products.sku_key` (the SKU in lower case, indexed): `/stock SKU` without a scan.
* Words of a title without a scan: on SQLite an FTS5 table with the trigram tokenizer
  (`product_search`, kept in step by triggers); on PostgreSQL a pg_trgm GIN index on
  `lower(sku || ' ' || title)` when the extension can be created (without it the same
  queries run as scans: slower, same answers).
* `catalog_changes`: one row per product added, changed or deleted, written by
  triggers, so that each process's typo index (bot.core.fuzzy) learns what changed,
  whoever changed it. A migration that recreates `products` on SQLite (batch mode) drops
  its triggers: it must create them again (tests/test_search.py checks they exist).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRGM_INDEX = "ix_products_search_trgm"

SQLITE_UPGRADE = (
    """CREATE VIRTUAL TABLE product_search USING fts5(
        sku, title, content='products', content_rowid='id', tokenize='trigram')""",
    "INSERT INTO product_search(product_search) VALUES ('rebuild')",
    """CREATE TRIGGER products_search_insert AFTER INSERT ON products BEGIN
        INSERT INTO product_search(rowid, sku, title) VALUES (new.id, new.sku, new.title);
        INSERT INTO catalog_changes(product_id) VALUES (new.id);
    END""",
    """CREATE TRIGGER products_search_delete AFTER DELETE ON products BEGIN
        INSERT INTO product_search(product_search, rowid, sku, title)
            VALUES ('delete', old.id, old.sku, old.title);
        INSERT INTO catalog_changes(product_id) VALUES (old.id);
    END""",
    """CREATE TRIGGER products_search_update AFTER UPDATE OF sku, title ON products
    WHEN old.sku IS NOT new.sku OR old.title IS NOT new.title BEGIN
        INSERT INTO product_search(product_search, rowid, sku, title)
            VALUES ('delete', old.id, old.sku, old.title);
        INSERT INTO product_search(rowid, sku, title) VALUES (new.id, new.sku, new.title);
        INSERT INTO catalog_changes(product_id) VALUES (new.id);
    END""",
)
SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS products_search_update",
    "DROP TRIGGER IF EXISTS products_search_delete",
    "DROP TRIGGER IF EXISTS products_search_insert",
    "DROP TABLE IF EXISTS product_search",
)

# Inserts and deletes: statement-level triggers with transition tables, one INSERT …
# SELECT per statement (a 100,000-row import stays a few hundred statements). Updates: a
# row trigger limited to SKU and title changes, so that the frequent updates of other
# columns (the active offer) never call it.
POSTGRES_UPGRADE = (
    """CREATE OR REPLACE FUNCTION log_catalog_changes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- One writer at a time until commit, so change ids become visible in the
        -- order they are taken: a reader that saw id N has seen every id below it.
        -- Readers (SELECT) are not blocked.
        LOCK TABLE catalog_changes IN SHARE ROW EXCLUSIVE MODE;
        IF TG_LEVEL = 'ROW' THEN
            INSERT INTO catalog_changes (product_id) VALUES (NEW.id);
        ELSIF TG_OP = 'INSERT' THEN
            INSERT INTO catalog_changes (product_id) SELECT id FROM new_rows ORDER BY id;
        ELSE
            INSERT INTO catalog_changes (product_id) SELECT id FROM old_rows ORDER BY id;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER products_catalog_insert AFTER INSERT ON products
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION log_catalog_changes()""",
    """CREATE TRIGGER products_catalog_update AFTER UPDATE OF sku, title ON products
        FOR EACH ROW
        WHEN (OLD.sku IS DISTINCT FROM NEW.sku OR OLD.title IS DISTINCT FROM NEW.title)
        EXECUTE FUNCTION log_catalog_changes()""",
    """CREATE TRIGGER products_catalog_delete AFTER DELETE ON products
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION log_catalog_changes()""",
)
POSTGRES_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS products_catalog_delete ON products",
    "DROP TRIGGER IF EXISTS products_catalog_update ON products",
    "DROP TRIGGER IF EXISTS products_catalog_insert ON products",
    "DROP FUNCTION IF EXISTS log_catalog_changes()",
    f"DROP INDEX IF EXISTS {TRGM_INDEX}",
)


def _backfill_sku_keys() -> None:
    bind = op.get_bind()
    products = sa.table("products", sa.column("id"), sa.column("sku"), sa.column("sku_key"))
    rows = bind.execute(sa.select(products.c.id, products.c.sku)).all()
    update = (
        sa.update(products)
        .where(products.c.id == sa.bindparam("product_id"))
        .values(sku_key=sa.bindparam("key"))
    )
    for start in range(0, len(rows), 5000):
        batch = rows[start : start + 5000]
        bind.execute(update, [{"product_id": i, "key": sku.strip().lower()} for i, sku in batch])


def _create_pg_trgm() -> bool:
    """The extension, if this server has it and we may create it; never fails."""
    bind = op.get_bind()
    available = bind.exec_driver_sql(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'"
    ).first()
    if available is None:
        return False
    savepoint = bind.begin_nested()  # a refusal must not abort the migration's transaction
    try:
        bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def upgrade() -> None:
    # NOT NULL with a constant default: SQLite adds it in place (no table copy, which
    # would cascade deletes through the foreign keys); the models fill it from then on.
    op.add_column(
        "products",
        sa.Column("sku_key", sa.String(length=200), server_default="", nullable=False),
    )
    _backfill_sku_keys()
    op.create_index(op.f("ix_products_sku_key"), "products", ["sku_key"], unique=False)
    op.create_table(
        "catalog_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_changes")),
        sqlite_autoincrement=True,
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_UPGRADE:
            op.execute(statement)
    elif dialect == "postgresql":
        for statement in POSTGRES_UPGRADE:
            op.execute(statement)
        if _create_pg_trgm():
            op.execute(
                f"CREATE INDEX {TRGM_INDEX} ON products "
                "USING gin (lower(sku || ' ' || title) gin_trgm_ops)"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_DOWNGRADE, "postgresql": POSTGRES_DOWNGRADE}.get(
        dialect, ()
    ):
        op.execute(statement)
    op.drop_table("catalog_changes")
    op.drop_index(op.f("ix_products_sku_key"), table_name="products")
    op.drop_column("products", "sku_key")
