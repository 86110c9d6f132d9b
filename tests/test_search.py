"""`/stock` search: SKUs by index, words by FTS5 / pg_trgm, typos by the per-process
fuzzy index, and the catalog change log that keeps every process's index current."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import delete, text

from bot import db
from bot.config import load_settings
from bot.core import fuzzy
from bot.core.catalog import CsvImportError, catalog_rows, check_catalog
from bot.core.search import close_matches, matching_words, product_by_sku
from bot.db.models import Product
from bot.runtime import Runtime
from bot.views.lookup import Matches, NotFound, ProductCard
from tests import probes
from tests.helpers import CATALOG_HEADER, Stack, write_catalog

CATALOG = [
    CATALOG_HEADER,
    "MUG-1,Blue ceramic mug,Acme,A-MUG1,1,5,4.00",
    "MUG-2,Green ceramic mug,Acme,A-MUG2,1,5,4.00",
    "CAP-2,Red cap,Beta,B-CAP2,1,3,2.00",
    "TEE-100,100% cotton tee,Acme,A-TEE,1,2,9.00",
    "SNAKE_1,Snake_case sticker,Beta,B-SNK,1,2,1.00",
    'QUO-1,The "quoted" poster,Acme,A-QUO,1,2,3.00',
    "ECO-É1,Crème brûlée torch,Beta,B-ECO,1,2,15.00",
]


def row(sku: str, title: str, supplier: str = "Acme", n: int = 0) -> str:
    return f"{sku},{title},{supplier},{supplier[0]}-{sku}-{n},1,5,1.00"


async def stock(stack: Stack, query: str) -> object:
    return await stack.runtime.lookup.stock(query)


async def words(stack: Stack, query: str) -> tuple[list[str], int]:
    async with stack.runtime.sessions() as session:
        found = await matching_words(session, query)
    return [sku for sku, _ in found.products], found.total


async def suggestions(stack: Stack, query: str) -> list[str]:
    async with stack.runtime.sessions() as session:
        return [sku for sku, _ in await close_matches(session, query)]


# --- SKUs ---------------------------------------------------------------------------------


async def test_sku_is_found_whatever_its_case_and_blanks(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    for typed in ("MUG-1", "mug-1", "  Mug-1 "):
        answer = await stock(stack, typed)
        assert isinstance(answer, ProductCard) and answer.sku == "MUG-1"
    # Python's lower() folds every alphabet, not only ASCII as SQLite's does.
    answer = await stock(stack, "eco-é1")
    assert isinstance(answer, ProductCard) and answer.sku == "ECO-É1"


async def test_exact_spelling_wins_when_skus_differ_only_by_case(stack: Stack) -> None:
    await stack.import_catalog([CATALOG_HEADER, row("ab-1", "Lower"), row("AB-1", "Upper")])
    async with stack.runtime.sessions() as session:
        for typed, expected in (("AB-1", "AB-1"), ("ab-1", "ab-1"), ("Ab-1", "ab-1")):
            product = await product_by_sku(session, typed)
            assert product is not None and product.sku == expected


async def test_sku_key_is_kept_for_orm_inserts_and_sku_changes(stack: Stack) -> None:
    async with stack.runtime.writes() as session, session.begin():
        session.add(Product(sku="NEW-Ö1", title="Added by hand", low_stock_threshold=0))
    async with stack.runtime.writes() as session, session.begin():
        product = await product_by_sku(session, "new-ö1")
        assert product is not None
        product.sku = "RENAMED-1"
    async with stack.runtime.sessions() as session:
        assert await product_by_sku(session, "new-ö1") is None
        assert await product_by_sku(session, "renamed-1") is not None


# --- words --------------------------------------------------------------------------------


async def test_words_match_sku_or_title_in_sku_order_with_a_total(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    assert await words(stack, "ceramic mug") == (["MUG-1", "MUG-2"], 2)
    assert await words(stack, "CERAMIC blue") == (["MUG-1"], 1)
    # One word in the SKU, another in the title; short words (no trigram) too.
    assert await words(stack, "mug-2 green") == (["MUG-2"], 1)
    assert await words(stack, "re ca") == (["CAP-2"], 1)
    assert await words(stack, "ceramic nothing") == ([], 0)


async def test_like_wildcards_are_plain_characters(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    assert await words(stack, "%") == (["TEE-100"], 1)
    assert await words(stack, "_") == (["SNAKE_1"], 1)
    assert await words(stack, "0% c") == (["TEE-100"], 1)
    assert await words(stack, "e_c") == (["SNAKE_1"], 1)
    assert await words(stack, "/") == ([], 0)  # the escape character itself
    # /stock % used to list every product: now it is a search like any other.
    answer = await stock(stack, "%")
    assert isinstance(answer, ProductCard) and answer.sku == "TEE-100"
    answer = await stock(stack, "%_")
    assert isinstance(answer, NotFound)


async def test_quotes_and_accents_in_words(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    assert await words(stack, '"quoted"') == (["QUO-1"], 1)
    assert await words(stack, '"') == (["QUO-1"], 1)
    assert await words(stack, "crème") == (["ECO-É1"], 1)


async def test_many_matches_show_the_first_few_and_count_them_all(stack: Stack) -> None:
    rows = [row(f"LAMP-{n:03d}", f"Desk lamp model {n}") for n in range(25)]
    await stack.import_catalog([CATALOG_HEADER, *rows])
    answer = await stock(stack, "desk LAMP")
    assert isinstance(answer, Matches)
    assert answer.total == 25
    assert [sku for sku, _ in answer.products] == [f"LAMP-{n:03d}" for n in range(10)]


async def test_words_agree_with_plain_substring_search(stack: Stack) -> None:
    """Whatever index answers, the answer is the plain definition: every word is in
    the lower-cased SKU or title (ASCII here, where every database folds alike)."""
    rng = random.Random(3)
    vocabulary = ["mug", "Cap", "tee", "x", "ab", "blue", "BLUE-ish", "a%b", "c_d", "it's"]
    catalog = {
        f"P{n:03d}-{rng.choice(vocabulary)}": " ".join(rng.sample(vocabulary, 3))
        for n in range(150)
    }
    rows = [row(sku, title.replace(",", ""), n=n) for n, (sku, title) in enumerate(catalog.items())]
    await stack.import_catalog([CATALOG_HEADER, *rows])
    for query in ("mug", "blue", "ue-", "x", "ab blue", "%", "_", "a%b", "it's cap", "p01"):
        expected = sorted(
            sku
            for sku, title in catalog.items()
            if all(w in sku.lower() or w in title.lower() for w in query.lower().split())
        )
        skus, total = await words(stack, query)
        assert (skus, total) == (expected[:10], len(expected)), query


async def test_word_index_follows_the_catalog(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    await stack.import_catalog([CATALOG_HEADER, row("MUG-1", "Blue porcelain mug")])
    assert await words(stack, "ceramic") == (["MUG-2"], 1)
    assert await words(stack, "porcelain") == (["MUG-1"], 1)
    await probes.arrange_product_deleted(stack, "MUG-2")
    assert await words(stack, "ceramic") == ([], 0)


# --- typos --------------------------------------------------------------------------------


async def test_typos_get_sensible_suggestions(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    assert (await suggestions(stack, "MUG-3"))[:2] == ["MUG-1", "MUG-2"]
    assert (await suggestions(stack, "mgu-1"))[0] == "MUG-1"  # swapped letters
    assert (await suggestions(stack, "Blue ceramc mug"))[0] == "MUG-1"
    assert await suggestions(stack, "qzxv wplk") == []
    answer = await stock(stack, "Grean ceramic mgu")
    assert isinstance(answer, NotFound)
    assert answer.suggestions[0] == ("MUG-2", "Green ceramic mug")


async def test_typo_index_follows_changes_made_anywhere(stack: Stack, tmp_path: Path) -> None:
    await stack.import_catalog(CATALOG)
    assert "MUG-1" in await suggestions(stack, "MUG-3")
    # Another process (its own engine and cache) changes the catalog.
    other = await Runtime.start(load_settings(stack.config_path))
    try:
        async with other.sessions() as session, session.begin():
            session.add(Product(sku="MUG-4", title="Yellow ceramic mug", low_stock_threshold=0))
            await session.execute(delete(Product).where(Product.sku == "MUG-1"))
        async with other.sessions() as session:
            assert "MUG-4" in [sku for sku, _ in await close_matches(session, "MUG-3")]
    finally:
        await other.close()
    found = await suggestions(stack, "MUG-3")
    assert "MUG-4" in found and "MUG-1" not in found
    await stack.import_catalog([CATALOG_HEADER, row("MUG-4", "Yellow stoneware jug")])
    assert (await suggestions(stack, "yellow stoneware jgu"))[0] == "MUG-4"


async def test_index_catches_up_or_reloads_when_the_log_was_pruned(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    async with stack.runtime.sessions() as session:
        before = await fuzzy.current_index(session)
    big = [row(f"BULK-{n:05d}", f"Bulk item {n}") for n in range(fuzzy.KEEP_CHANGES + 50)]
    await stack.import_catalog([CATALOG_HEADER, *big])
    assert await probes.catalog_changes_logged(stack) == fuzzy.KEEP_CHANGES  # pruned
    async with stack.runtime.sessions() as session:
        oldest, newest = await fuzzy.catalog_version(session)
        assert oldest > before.version + 1
        after = await fuzzy.current_index(session)
        assert after.version == newest
        assert len(after) == len(CATALOG) - 1 + len(big)
        assert (await close_matches(session, "bulk-00042"))[0][0] == "BULK-00042"


def test_index_updates_in_place_and_compacts() -> None:
    index = fuzzy.FuzzyIndex.build(1, [(i, f"S-{i}", f"Item {i}") for i in range(1, 9)])
    index = index.updated(2, [(9, "S-9", "Item 9"), (3, "S-3", "Navy cap")], removed=[1])
    assert list(index.ids) == list(range(1, 10)) and index.skus[:2] == [None, "s-2"]
    assert len(index) == 8 and index.titles[2] == "navy cap" and index.version == 2
    assert index.suggest("navy cap") == [3]
    index = index.updated(3, [], removed=[2, 4])  # a third of it gone: compacted
    assert list(index.ids) == [3, 5, 6, 7, 8, 9] and None not in index.skus


# --- the change log and its triggers ------------------------------------------------------


async def test_triggers_are_in_place(stack: Stack) -> None:
    """A later migration that recreates `products` must recreate these (see 0004)."""
    sqlite = stack.runtime.engine.dialect.name == "sqlite"
    prefix = "products_search" if sqlite else "products_catalog"
    expected = [f"{prefix}_delete", f"{prefix}_insert", f"{prefix}_update"]
    assert await probes.product_triggers(stack) == expected


async def test_only_sku_and_title_changes_are_logged(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    async with stack.runtime.sessions() as session:
        _, first = await fuzzy.catalog_version(session)
    stack.write_feed("Acme", {"A-MUG1": 3})
    await stack.poll("Acme")  # stock and active offers change, not the catalog
    await stack.import_catalog(CATALOG)  # the same file again
    async with stack.runtime.sessions() as session:
        assert (await fuzzy.catalog_version(session))[1] == first
    await stack.import_catalog([CATALOG_HEADER, row("MUG-1", "Large blue ceramic mug")])
    async with stack.runtime.sessions() as session:
        _, newest = await fuzzy.catalog_version(session)
    changed = await probes.catalog_changes_since(stack, first)
    assert changed == [await probes.product_id(stack, "MUG-1")] and newest > first


async def test_migration_backfills_an_existing_catalog(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    engine = stack.runtime.engine
    async with engine.begin() as connection:
        await connection.run_sync(lambda c: command.downgrade(db.alembic_config(c), "0003"))
    await db.upgrade(engine)
    assert await words(stack, "ceramic") == (["MUG-1", "MUG-2"], 2)
    answer = await stock(stack, "eco-é1")
    assert isinstance(answer, ProductCard)
    assert "MUG-1" in await suggestions(stack, "MUG-3")


# --- the import streams -------------------------------------------------------------------


async def test_active_offer_is_the_preferred_one_however_far_apart(stack: Stack) -> None:
    rows = [CATALOG_HEADER, "MUG-1,Blue mug,Beta,B-1,2,5,1.00"]
    rows += [row(f"FILL-{n}", "Filler") for n in range(12_000)]  # more than a chunk between
    rows += ["MUG-1,Blue mug,Acme,A-1,1,5,1.00"]
    report = await stack.import_catalog(rows)
    assert (report.products_created, report.offers_created) == (12_001, 12_002)
    assert await probes.active_supplier_sku(stack, "MUG-1") == "A-1"


def test_a_file_changed_between_check_and_import_is_refused(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, CATALOG)
    checked = check_catalog(path)
    path.write_text(path.read_text(encoding="utf-8").replace("Red cap", "Red hat"), "utf-8")
    with pytest.raises(CsvImportError, match="changed while it was being imported"):
        for _ in catalog_rows(path, checked):
            pass


def test_bytes_that_are_not_utf8_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_bytes(("\n".join(CATALOG[:3]) + "\n").encode() + b"BAD-1,\xff\xfe,Acme,X,1,1,\n")
    with pytest.raises(CsvImportError, match="cannot read the file"):
        check_catalog(path)


# --- PostgreSQL without pg_trgm -----------------------------------------------------------

POSTGRES_ADMIN_URL = os.environ.get("STOCKBOT_TEST_POSTGRES_URL")


@pytest.mark.database
@pytest.mark.skipif(POSTGRES_ADMIN_URL is None, reason="PostgreSQL only")
async def test_without_pg_trgm_search_still_answers(
    tmp_path: Path, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A role that may not create extensions: the migration goes on without the
    trigram index, and the same queries answer (as scans)."""
    import asyncpg

    assert POSTGRES_ADMIN_URL is not None
    name = f"stockbot_notrgm_{os.getpid()}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute("DROP ROLE IF EXISTS stockbot_limited")
        await admin.execute("CREATE ROLE stockbot_limited LOGIN")
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.execute(f'GRANT CONNECT ON DATABASE "{name}" TO stockbot_limited')
        in_db = await asyncpg.connect(POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
        await in_db.execute("GRANT ALL ON SCHEMA public TO stockbot_limited")
        await in_db.close()
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgres@", "stockbot_limited@")
        monkeypatch.setenv("DATABASE_URL", f"{base}/{name}")
        runtime = await Runtime.start(load_settings(config_path))
        try:
            stack = Stack(tmp_path, config_path, load_settings(config_path), runtime, None)  # type: ignore[arg-type]
            await stack.import_catalog(CATALOG)
            async with runtime.sessions() as session:
                trigram_indexes = await session.scalar(
                    text("SELECT count(*) FROM pg_indexes WHERE indexdef LIKE '%gin_trgm_ops%'")
                )
                assert trigram_indexes == 0
            assert await words(stack, "ceramic mug") == (["MUG-1", "MUG-2"], 2)
            assert await words(stack, "%") == (["TEE-100"], 1)
            assert "MUG-1" in await suggestions(stack, "MUG-3")
        finally:
            await runtime.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute("DROP ROLE IF EXISTS stockbot_limited")
        await admin.close()
