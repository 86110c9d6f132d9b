"""Catalog import: which products we sell and which suppliers offer them.

The file is validated whole before anything is written, so a bad file changes
nothing and every bad row is reported with its line number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.availability import Availability
from bot.db.models import Offer, Product, Supplier
from bot.errors import UserError

REQUIRED_COLUMNS = ("sku", "title", "supplier", "supplier_sku", "priority", "low_stock_threshold")
OPTIONAL_COLUMNS = ("price",)


class CsvImportError(UserError):
    """A file that cannot be imported; `problems` holds one line per bad row."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:50]
        more = f"\n  … and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(
            f"{path} was not imported ({len(problems)} problem(s); nothing was changed):\n"
            + "\n".join(f"  - {p}" for p in shown)
            + more
        )


@dataclass(frozen=True, slots=True)
class CatalogRow:
    line: int
    sku: str
    title: str
    supplier: str
    supplier_sku: str
    priority: int
    low_stock_threshold: int
    price: Decimal | None


@dataclass(slots=True)
class ImportReport:
    products_created: int = 0
    products_updated: int = 0
    offers_created: int = 0
    offers_updated: int = 0
    warnings: list[str] = field(default_factory=list)


def read_csv_rows(
    path: Path, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> Iterator[tuple[int, dict[str | None, str]]]:
    """Yield (line number, row dict) from a CSV file, checking the header first."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CsvImportError(str(path), [f"cannot read the file: {exc}"]) from None
    sample = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=sample.count) if sample else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in required if name not in header]
    if missing:
        raise CsvImportError(
            str(path),
            [
                f"line 1: missing column(s) {', '.join(missing)}; "
                f"expected {', '.join(required + optional)}"
            ],
        )
    reader.fieldnames = header
    for row in reader:
        # DictReader puts surplus cells under None; the line is the last physical line read.
        yield reader.line_num, row


def _int(value: str, name: str, minimum: int) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {number}")
    return number


def _price(value: str) -> Decimal | None:
    value = value.strip()
    if not value:
        return None
    try:
        price = Decimal(
            value.replace(",", ".") if value.count(",") == 1 and "." not in value else value
        )
    except InvalidOperation:
        raise ValueError(f"price must be a number, got {value!r}") from None
    if price < 0 or not price.is_finite():
        raise ValueError(f"price must be zero or more, got {value!r}")
    return price


def parse_catalog(path: Path) -> list[CatalogRow]:
    """Validate the whole file; raise with every problem found, or return its rows."""
    problems: list[str] = []
    rows: list[CatalogRow] = []
    first_offer_line: dict[tuple[str, str], int] = {}
    supplier_sku_owner: dict[tuple[str, str], tuple[str, int]] = {}
    product_facts: dict[str, tuple[str, int, int]] = {}
    for line, raw in read_csv_rows(path, REQUIRED_COLUMNS, OPTIONAL_COLUMNS):
        if None in raw:
            problems.append(f"line {line}: more cells than columns")
            continue
        values = {key: (raw.get(key) or "").strip() for key in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
        blank = [key for key in REQUIRED_COLUMNS if not values[key]]
        if blank:
            problems.append(f"line {line}: empty {', '.join(blank)}")
            continue
        try:
            row = CatalogRow(
                line=line,
                sku=values["sku"],
                title=values["title"],
                supplier=values["supplier"],
                supplier_sku=values["supplier_sku"],
                priority=_int(values["priority"], "priority", 1),
                low_stock_threshold=_int(values["low_stock_threshold"], "low_stock_threshold", 0),
                price=_price(values["price"]),
            )
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        offer_key = (row.sku, row.supplier)
        if offer_key in first_offer_line:
            problems.append(
                f"line {line}: {row.sku} from {row.supplier} is listed twice "
                f"(first on line {first_offer_line[offer_key]})"
            )
            continue
        first_offer_line[offer_key] = line
        owner = supplier_sku_owner.setdefault((row.supplier, row.supplier_sku), (row.sku, line))
        if owner[0] != row.sku:
            problems.append(
                f"line {line}: {row.supplier}'s SKU {row.supplier_sku} is already used for "
                f"{owner[0]} on line {owner[1]}"
            )
            continue
        facts = product_facts.setdefault(row.sku, (row.title, row.low_stock_threshold, line))
        if facts[:2] != (row.title, row.low_stock_threshold):
            problems.append(
                f"line {line}: {row.sku} has a different title or low_stock_threshold "
                f"than on line {facts[2]}"
            )
            continue
        rows.append(row)
    if problems:
        raise CsvImportError(str(path), problems)
    if not rows:
        raise CsvImportError(str(path), ["the file has no product rows"])
    return rows


async def import_catalog(
    session: AsyncSession, path: Path, configured_suppliers: set[str] | None = None
) -> ImportReport:
    """Create or update products and offers from a catalog CSV, in one transaction."""
    rows = parse_catalog(path)
    report = ImportReport()

    supplier_ids = await _ensure_suppliers(session, {row.supplier for row in rows})
    if configured_suppliers is not None:
        for name in sorted(set(supplier_ids) - configured_suppliers):
            report.warnings.append(
                f"supplier {name!r} is not in the config file, so its stock will not be polled"
            )

    product_ids = await _upsert_products(session, rows, report)
    await _upsert_offers(session, rows, product_ids, supplier_ids, report)
    await _choose_missing_active_offers(session, set(product_ids.values()))
    return report


async def _ensure_suppliers(session: AsyncSession, names: set[str]) -> dict[str, int]:
    existing = dict(
        (await session.execute(select(Supplier.name, Supplier.id).where(Supplier.name.in_(names))))
        .tuples()
        .all()
    )
    for name in sorted(names - set(existing)):
        supplier = Supplier(name=name, consecutive_failures=0)
        session.add(supplier)
        await session.flush()
        existing[name] = supplier.id
    return existing


async def _upsert_products(
    session: AsyncSession, rows: list[CatalogRow], report: ImportReport
) -> dict[str, int]:
    wanted = {row.sku: row for row in rows}
    existing = {
        sku: (pid, title, threshold)
        for sku, pid, title, threshold in (
            await session.execute(
                select(Product.sku, Product.id, Product.title, Product.low_stock_threshold)
            )
        )
        if sku in wanted
    }
    new = [
        {"sku": sku, "title": row.title, "low_stock_threshold": row.low_stock_threshold}
        for sku, row in wanted.items()
        if sku not in existing
    ]
    changed = [
        {
            "id": pid,
            "title": wanted[sku].title,
            "low_stock_threshold": wanted[sku].low_stock_threshold,
        }
        for sku, (pid, title, threshold) in existing.items()
        if (title, threshold) != (wanted[sku].title, wanted[sku].low_stock_threshold)
    ]
    if new:
        await session.execute(insert(Product.__table__), new)
    if changed:
        await session.execute(update(Product), changed)
    report.products_created, report.products_updated = len(new), len(changed)
    return {
        sku: pid
        for sku, pid in (await session.execute(select(Product.sku, Product.id)))
        if sku in wanted
    }


async def _upsert_offers(
    session: AsyncSession,
    rows: list[CatalogRow],
    product_ids: dict[str, int],
    supplier_ids: dict[str, int],
    report: ImportReport,
) -> None:
    existing = {
        (product_id, supplier_id): (offer_id, supplier_sku, priority, price)
        for offer_id, product_id, supplier_id, supplier_sku, priority, price in (
            await session.execute(
                select(
                    Offer.id,
                    Offer.product_id,
                    Offer.supplier_id,
                    Offer.supplier_sku,
                    Offer.priority,
                    Offer.price,
                ).where(Offer.supplier_id.in_(set(supplier_ids.values())))
            )
        )
    }
    new, changed = [], []
    for row in rows:
        key = (product_ids[row.sku], supplier_ids[row.supplier])
        current = existing.get(key)
        if current is None:
            new.append(
                {
                    "product_id": key[0],
                    "supplier_id": key[1],
                    "supplier_sku": row.supplier_sku,
                    "priority": row.priority,
                    "price": row.price,
                    "availability": str(Availability.UNKNOWN),
                }
            )
            continue
        offer_id, supplier_sku, priority, price = current
        # A price from the file only fills in; the supplier's feed price wins later.
        new_price = row.price if row.price is not None else price
        if (supplier_sku, priority, price) != (row.supplier_sku, row.priority, new_price):
            changed.append(
                {
                    "id": offer_id,
                    "supplier_sku": row.supplier_sku,
                    "priority": row.priority,
                    "price": new_price,
                }
            )
    if new:
        await session.execute(insert(Offer.__table__), new)
    if changed:
        await session.execute(update(Offer), changed)
    report.offers_created, report.offers_updated = len(new), len(changed)


async def _choose_missing_active_offers(session: AsyncSession, product_ids: set[int]) -> None:
    """Make the preferred (lowest priority number) offer active where none is yet."""
    candidates = await session.execute(
        select(Offer.product_id, Offer.id)
        .join(Product, Product.id == Offer.product_id)
        .where(Product.active_offer_id.is_(None))
        .order_by(Offer.product_id, Offer.priority, Offer.id)
    )
    chosen: dict[int, int] = {}
    for product_id, offer_id in candidates:
        if product_id in product_ids:
            chosen.setdefault(product_id, offer_id)
    if chosen:
        await session.execute(
            update(Product), [{"id": pid, "active_offer_id": oid} for pid, oid in chosen.items()]
        )
