"""Catalog import: which products we sell and which suppliers offer them.

The file is validated whole before anything is written, so a bad file changes
nothing and every bad row is reported with its line number. The file streams through
twice (checked, then staged in the database in chunks and written with a few set-based
statements: bot.core.catalog_stage), so a 100,000-row file never sits in memory whole.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.catalog_stage import CatalogStage, Written
from bot.core.fuzzy import prune_change_log
from bot.db.models import Supplier
from bot.errors import UserError

REQUIRED_COLUMNS = ("sku", "title", "supplier", "supplier_sku", "priority", "low_stock_threshold")
OPTIONAL_COLUMNS = ("price",)
# Rows parsed and staged per executemany: memory stays flat, round trips few.
CHUNK_ROWS = 5_000


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
class ImportReport(Written):
    """What the import wrote, and what the reader should know about it."""

    warnings: list[str] = field(default_factory=list)


class _Digested(io.RawIOBase):
    """A binary file that feeds every byte read into `digest`."""

    def __init__(self, raw: io.BufferedReader, digest: Any) -> None:
        self._raw, self._digest = raw, digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._raw.readinto(buffer) or 0
        self._digest.update(memoryview(buffer)[:count])
        return count

    def close(self) -> None:
        self._raw.close()
        super().close()


def read_csv_rows(
    path: Path, required: tuple[str, ...], optional: tuple[str, ...] = (), digest: Any = None
) -> Iterator[tuple[int, dict[str | None, str]]]:
    """Yield (line number, row dict) from a CSV file as it is read, checking the header
    first. With `digest` (a hashlib object), every byte read is fed into it."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise CsvImportError(str(path), [f"cannot read the file: {exc}"]) from None
    binary: BinaryIO = io.BufferedReader(_Digested(raw, digest)) if digest is not None else raw
    with io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as file:
        try:
            yield from _rows(path, file, required, optional)
        except (OSError, UnicodeDecodeError) as exc:
            raise CsvImportError(str(path), [f"cannot read the file: {exc}"]) from None


def _rows(
    path: Path, file: TextIO, required: tuple[str, ...], optional: tuple[str, ...]
) -> Iterator[tuple[int, dict[str | None, str]]]:
    first = file.readline()
    delimiter = max(",;\t", key=first.count) if first else ","
    reader = csv.DictReader(itertools.chain([first], file), delimiter=delimiter)
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


def _catalog_row(line: int, raw: dict[str | None, str]) -> CatalogRow:
    """One row, checked on its own; ValueError says what is wrong with it."""
    if None in raw:
        raise ValueError("more cells than columns")
    values = {key: (raw.get(key) or "").strip() for key in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
    blank = [key for key in REQUIRED_COLUMNS if not values[key]]
    if blank:
        raise ValueError(f"empty {', '.join(blank)}")
    return CatalogRow(
        line=line,
        sku=values["sku"],
        title=values["title"],
        supplier=values["supplier"],
        supplier_sku=values["supplier_sku"],
        priority=_int(values["priority"], "priority", 1),
        low_stock_threshold=_int(values["low_stock_threshold"], "low_stock_threshold", 0),
        price=_price(values["price"]),
    )


@dataclass(frozen=True, slots=True)
class CheckedCatalog:
    """A catalog file found valid: its suppliers, and a digest of the bytes read."""

    suppliers: frozenset[str]
    rows: int
    sha256: bytes


def check_catalog(path: Path) -> CheckedCatalog:
    """Validate the whole file as it streams by; raise with every problem found.

    Only what the checks across rows need is kept (keys, titles, line numbers), not the
    rows themselves: `catalog_rows` reads them again to import them."""
    problems: list[str] = []
    rows = 0
    suppliers: set[str] = set()
    first_offer_line: dict[tuple[str, str], int] = {}
    supplier_sku_owner: dict[tuple[str, str], tuple[str, int]] = {}
    product_facts: dict[str, tuple[str, int, int]] = {}
    digest = hashlib.sha256()
    for line, raw in read_csv_rows(path, REQUIRED_COLUMNS, OPTIONAL_COLUMNS, digest):
        try:
            row = _catalog_row(line, raw)
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
        suppliers.add(row.supplier)
        rows += 1
    if problems:
        raise CsvImportError(str(path), problems)
    if not rows:
        raise CsvImportError(str(path), ["the file has no product rows"])
    return CheckedCatalog(frozenset(suppliers), rows, digest.digest())


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of `size` items in order (itertools.batched, before Python 3.12)."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def catalog_rows(path: Path, checked: CheckedCatalog) -> Iterator[list[CatalogRow]]:
    """The rows of a file `check_catalog` passed, again, in chunks of CHUNK_ROWS.

    Raises CsvImportError if the file is no longer the one checked (its bytes are
    compared once all are read: the caller's transaction must then roll back)."""
    digest = hashlib.sha256()
    changed = CsvImportError(str(path), ["the file changed while it was being imported"])
    rows = read_csv_rows(path, REQUIRED_COLUMNS, OPTIONAL_COLUMNS, digest)
    for batch in _batched(rows, CHUNK_ROWS):
        try:
            yield [_catalog_row(line, raw) for line, raw in batch]
        except ValueError:
            raise changed from None
    if digest.digest() != checked.sha256:
        raise changed


async def import_catalog(
    session: AsyncSession, path: Path, configured_suppliers: set[str] | None = None
) -> ImportReport:
    """Create or update products and offers from a catalog CSV, in one transaction."""
    # Reading and parsing run in a worker thread: the event loop keeps serving meanwhile.
    checked = await asyncio.to_thread(check_catalog, path)
    warnings: list[str] = []

    supplier_ids = await _ensure_suppliers(session, set(checked.suppliers))
    if configured_suppliers is not None:
        for name in sorted(set(supplier_ids) - configured_suppliers):
            warnings.append(
                f"supplier {name!r} is not in the config file, so its stock will not be polled"
            )

    stage = await CatalogStage.create(await session.connection(), supplier_ids)
    batches = catalog_rows(path, checked)
    while rows := await asyncio.to_thread(next, batches, None):
        await stage.add(rows)
    written = await stage.apply()
    await prune_change_log(session)
    return ImportReport(**asdict(written), warnings=warnings)


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
