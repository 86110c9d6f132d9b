"""Shared pieces of the generic feed adapters (CSV, JSON, ...).

* Field values: `parse_sku`, `parse_quantity`, `parse_price`, `parse_decimal`,
  `parse_restock_date` turn what suppliers write into typed values, raising
  ValueError with a reason a shop owner can read.
* Field names: `FieldMatcher` finds the SKU / quantity / price / restock date
  columns (or JSON keys) by alias, or by the supplier's explicit `mapping`.
* Rows: `RecordBuilder` validates one row, sets aside bad ones in `FeedStats`
  and rejects duplicate SKUs.
* Text: `decode_text`/`utf8_chunks` undo the feed's encoding as bytes stream in.

The adapter plumbing (options, opening, batching) is in `suppliers.feed_adapter`.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Final

from suppliers.base import (
    Availability,
    FeedStats,
    StockRecord,
)
from suppliers.limits import FeedLimits
from transport import chained, prefetch

# --- field names -------------------------------------------------------------------

SKU, QUANTITY, PRICE, RESTOCK_DATE = range(4)
FIELDS: Final = ("sku", "quantity", "price", "restock_date")
REQUIRED_FIELDS: Final = ("sku", "quantity")

DEFAULT_ALIASES: Final[Mapping[str, tuple[str, ...]]] = {
    "sku": ("sku", "Product Code", "product_code", "item_sku"),
    "quantity": ("qty", "quantity", "stock", "AvailableQuantity", "QOH", "inventory"),
    "price": ("price", "cost", "wholesalePrice", "wholesale_price"),
    "restock_date": ("restock_date", "eta", "availability_date", "restock"),
}

_NAME_NOISE = str.maketrans("", "", " _-\t\ufeff")


def normalise_name(name: str) -> str:
    """'Product Code', 'product_code' and 'PRODUCT-CODE' all become 'productcode'."""
    return name.translate(_NAME_NOISE).casefold()


class FieldMatcher:
    """Decides which column or key holds each logical field.

    A field named in `mapping` is looked up by that name only (exactly, then
    ignoring case/spaces/underscores/dashes); other fields use `DEFAULT_ALIASES`,
    where an earlier alias wins over a later one when a feed has both.
    """

    _CACHE_LIMIT = 1000  # JSON keys seen; guards against feeds keyed by SKU

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        mapping = mapping or {}
        self.looked_for: dict[str, tuple[str, ...]] = {}
        self._exact: dict[str, int] = {}
        self._normalised: dict[str, tuple[int, int]] = {}
        for index, name in enumerate(FIELDS):
            if name in mapping:
                column = mapping[name]
                self.looked_for[name] = (column,)
                self._exact[column] = index
                self._normalised[normalise_name(column)] = (index, 0)
        for index, name in enumerate(FIELDS):
            if name in mapping:
                continue
            self.looked_for[name] = DEFAULT_ALIASES[name]
            for rank, alias in enumerate(DEFAULT_ALIASES[name]):
                self._normalised.setdefault(normalise_name(alias), (index, rank))
        self._cache: dict[str, tuple[int, int] | None] = {}

    def classify(self, name: str) -> tuple[int, int] | None:
        """(field index, rank) for a column/key name, or None if it is not one of ours."""
        try:
            return self._cache[name]
        except KeyError:
            pass
        exact = self._exact.get(name)
        hit = (exact, -1) if exact is not None else self._normalised.get(normalise_name(name))
        if len(self._cache) < self._CACHE_LIMIT:
            self._cache[name] = hit
        return hit

    def columns(self, header: Sequence[str]) -> list[int | None]:
        """Column index of each field in FIELDS order (None when absent)."""
        best: list[tuple[int, int] | None] = [None] * len(FIELDS)
        for position, name in enumerate(header):
            hit = self.classify(name.strip())
            if hit is None:
                continue
            index, rank = hit
            current = best[index]
            if current is None or rank < current[0]:
                best[index] = (rank, position)
        return [None if found is None else found[1] for found in best]

    def missing_message(self, where: str, field: str, found: Sequence[str], noun: str) -> str:
        """Explain a missing required column and how to map it (quoting only a
        short excerpt of what was found: it may be any file's first line)."""
        wanted = ", ".join(self.looked_for[field])
        names = ", ".join(name for name in found if name)
        seen = excerpt(names) if names else "none"
        label = "SKU" if field == "sku" else field
        return (
            f"Supplier feed at {where} has no {label} {noun}: looked for {wanted}; "
            f"found {seen}. If it has another name, set mapping = {{ {field} = "
            f'"<{noun} name>" }} in the supplier settings'
        )


# --- field values ------------------------------------------------------------------

# Words suppliers use for "we don't know": read as unknown, never as 0.
UNKNOWN_WORDS: Final = frozenset({"", "n/a", "na", "unknown", "null"})
_NO_DATE_WORDS: Final = UNKNOWN_WORDS | {"tba", "tbd", "0000-00-00"}
MAX_QUANTITY: Final = 2**31 - 1
_SHOWN_CHARS = 40
EXCERPT_CHARS: Final = 60  # the longest quote of a feed's own text in a message

_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
# A comma or dot is read as a thousands separator only in well-formed groups of
# three ("1,234.50", "1.234.567"); "0,125" stays a decimal comma.
_COMMA_GROUPED = re.compile(r"[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?")
_DOT_GROUPED = re.compile(r"[+-]?[1-9]\d{0,2}(?:\.\d{3})+(?:,\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")
# A price may carry a currency code or symbol on either side: "€12,50", "12.50 EUR".
_CURRENCY = r"(?:[^\W\d_]{1,3}\.?|[^\w\s.,'+-])"
_MONEY = re.compile(rf"{_CURRENCY}?\s*([+-]?[\d.,'\s]*\d[.,]?)\s*{_CURRENCY}?")
_GROUP_SPACES = str.maketrans("", "", " '\u00a0\u202f")
# The fast path of `RecordBuilder.build`: "12", "12.50", ".5" (no sign, no grouping).
_UNSIGNED_PLAIN = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)")
_FAST_DIGITS = len(str(MAX_QUANTITY)) - 1  # a quantity this short is never too large
_IN_STOCK, _OUT_OF_STOCK = Availability.IN_STOCK, Availability.OUT_OF_STOCK


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """Feed text quoted for a message: control characters written as escapes (a
    feed can hold anything), and at most `limit` characters, quotes included."""
    visible = "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text[:limit]
    )
    if len(visible) > limit - 2:
        visible = visible[: limit - 5] + "..."
    return f'"{visible}"'


def show(value: object) -> str:
    """A raw value quoted for a message, shortened so one row cannot flood a report."""
    return excerpt(str(value), _SHOWN_CHARS + 2)


class UnreadableSku(ValueError):
    """The row has a SKU, but it cannot be read: it might be any SKU at all."""


def parse_sku(value: object) -> str:
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        text = str(int(value))
    elif value is None:
        raise ValueError("no SKU")
    else:
        raise UnreadableSku(f"SKU {show(value)} is not text")
    if not text:
        raise ValueError("empty SKU")
    if "\ufffd" in text:
        raise UnreadableSku(f"SKU {show(text)} is not readable text - check the encoding setting")
    return text


def parse_decimal(text: str) -> Decimal:
    """Parse '12.5', '12,5', '1.234,50', '1,234.50', '1 234,50'; ValueError otherwise."""
    text = text.strip().translate(_GROUP_SPACES)
    if _PLAIN_NUMBER.fullmatch(text):
        return Decimal(text)
    if _COMMA_GROUPED.fullmatch(text):
        return Decimal(text.replace(",", ""))
    if _DOT_GROUPED.fullmatch(text):
        return Decimal(text.replace(".", "").replace(",", "."))
    if _DECIMAL_COMMA.fullmatch(text):
        return Decimal(text.replace(",", "."))
    raise ValueError("not a number")


def parse_quantity(value: object) -> int | None:
    """Stock quantity, or None when the supplier says it does not know.

    '>50' and '50+' mean "at least 50" and read as 50: reporting the lower bound
    can never promise stock that is not there. '<5' could be 0 and is rejected.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():  # fast path: the usual case
            return _checked_quantity(int(text), value)
        return _parse_quantity_text(text, value)
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"quantity {show(value)} is not a number")
    if isinstance(value, int):
        return _checked_quantity(value, value)
    if isinstance(value, Decimal | float):
        return _checked_quantity(_whole_number(Decimal(value), value), value)
    raise ValueError(f"quantity {show(value)} is not a number")


def _parse_quantity_text(text: str, raw: str) -> int | None:
    if text.casefold() in UNKNOWN_WORDS:
        return None
    if text.startswith("<"):
        raise ValueError(f"quantity {show(raw)} only gives an upper limit")
    if text.startswith(">"):
        text = text.lstrip(">=").strip()
    elif text.endswith("+"):
        text = text[:-1].strip()
    try:
        number = parse_decimal(text)
    except ValueError:
        raise ValueError(f"quantity {show(raw)} is not a number") from None
    return _checked_quantity(_whole_number(number, raw), raw)


def _whole_number(number: Decimal, raw: object) -> int:
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError(f"quantity {show(raw)} is not a whole number")
    return int(number)


def _checked_quantity(quantity: int, raw: object) -> int:
    if quantity < 0:
        raise ValueError(f"negative quantity {show(raw)}")
    if quantity > MAX_QUANTITY:
        raise ValueError(f"quantity {show(raw)} is implausibly large")
    return quantity


def parse_price(value: object) -> Decimal | None:
    """A price as Decimal (never float); currency symbols and codes are ignored."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"price {show(value)} is not a number")
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, str):
        parsed = _parse_price_text(value)
        if parsed is None:
            return None
        number = parsed
    else:
        raise ValueError(f"price {show(value)} is not a number")
    if not number.is_finite():
        raise ValueError(f"price {show(value)} is not a number")
    if number < 0:
        raise ValueError(f"negative price {show(value)}")
    return number


def _parse_price_text(raw: str) -> Decimal | None:
    text = raw.strip()
    if _PLAIN_NUMBER.fullmatch(text):  # fast path
        return Decimal(text)
    try:
        return parse_decimal(text)  # decimal comma, thousands separators
    except ValueError:
        pass
    if text.casefold() in UNKNOWN_WORDS:
        return None
    match = _MONEY.fullmatch(text)
    try:
        if match is None:
            raise ValueError
        return parse_decimal(match.group(1).rstrip(".,"))
    except (ValueError, InvalidOperation):
        raise ValueError(f"price {show(raw)} is not a number") from None


def parse_restock_date(value: object) -> date | None:
    """ISO dates ('2026-12-01') and timestamps ('2026-12-01T00:00:00Z') only.

    '01/12/2026' is rejected: it means 1 December or 12 January depending on
    the supplier's country, and guessing wrong would mislead the shop.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"restock date {show(value)} is not a date")
    text = value.strip()
    if text.casefold() in _NO_DATE_WORDS:
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text).date()
    except ValueError:
        raise ValueError(f"restock date {show(value)} is not a YYYY-MM-DD date") from None


# --- rows ----------------------------------------------------------------------


class RecordBuilder:
    """Turns one row's raw values into a StockRecord, or sets the row aside.

    `unit` names what `line` counts in messages: "line" for CSV, "item" for JSON.
    The first row with a SKU wins; later rows with the same SKU are rejected,
    because which of two contradicting rows is right cannot be known. Past
    `limits.max_rows` rows the read fails.
    """

    __slots__ = ("_blanks", "_first_seen", "_limits", "_unit", "stats")

    def __init__(self, stats: FeedStats, unit: str = "line", limits: FeedLimits | None = None):
        self.stats = stats
        self._unit = unit
        self._limits = limits
        self._blanks = 0
        self._first_seen: dict[str, int] = {}

    def _count_row(self) -> None:
        stats = self.stats
        stats.rows_read += 1
        if self._limits is not None and stats.rows_read + self._blanks > self._limits.max_rows:
            raise self._limits.too_many_rows()

    def blank(self) -> None:
        """A blank line: no row, but it counts toward the row limit all the same
        (a gzip of nothing but newlines must not keep a poll busy for minutes)."""
        self._blanks += 1
        if self._limits is not None and self.stats.rows_read + self._blanks > self._limits.max_rows:
            raise self._limits.too_many_rows()

    def reject(self, line: int, reason: str, sku: str | None = None) -> None:
        """Count a row that could not even be split into fields; `sku` is its SKU
        when that much could be read (else the row may hide any SKU)."""
        self._count_row()
        if sku is None or "\ufffd" in sku:
            self.stats.reject_unreadable(line, reason)
        else:
            self.stats.reject(line, reason, sku)

    def build(
        self,
        line: int,
        sku: object,
        quantity: object,
        price: object = None,
        restock_date: object = None,
    ) -> StockRecord | None:
        self._count_row()
        # Fast path, the usual row of a big feed: a text SKU, a plain whole-number
        # quantity, a plain non-negative price (or none), no restock date. Anything
        # else (and every row that would be set aside) takes the full path below.
        if isinstance(sku, str) and isinstance(quantity, str) and restock_date is None:
            sku_text = sku.strip()
            count_text = quantity.strip()
            if (
                sku_text
                and count_text.isdigit()
                and count_text.isascii()
                and len(count_text) <= _FAST_DIGITS
                and "\ufffd" not in sku_text
            ):
                cost: Decimal | None = None
                if price is not None:
                    price_text = price.strip() if isinstance(price, str) else ""
                    if _UNSIGNED_PLAIN.fullmatch(price_text):
                        cost = Decimal(price_text)
                    else:
                        return self._build(line, sku, quantity, price, restock_date)
                if self._first_seen.setdefault(sku_text, line) != line:
                    return self._build(line, sku, quantity, price, restock_date)
                count = int(count_text)
                return StockRecord(
                    sku_text, count, cost, None, _IN_STOCK if count > 0 else _OUT_OF_STOCK
                )
        return self._build(line, sku, quantity, price, restock_date)

    def _build(
        self,
        line: int,
        sku: object,
        quantity: object,
        price: object,
        restock_date: object,
    ) -> StockRecord | None:
        stats = self.stats
        try:
            sku_text = parse_sku(sku)
        except UnreadableSku as exc:
            stats.reject_unreadable(line, str(exc))
            return None
        except ValueError as exc:
            stats.reject(line, str(exc))
            return None
        first = self._first_seen.setdefault(sku_text, line)
        if first != line:
            stats.reject(
                line,
                f"duplicate SKU {show(sku_text)} (first seen on {self._unit} {first})",
                sku_text,
            )
            return None
        try:
            count = parse_quantity(quantity)
            cost = parse_price(price)
            restock = parse_restock_date(restock_date)
        except ValueError as exc:
            stats.reject(line, f"SKU {show(sku_text)}: {exc}", sku_text)
            return None
        return StockRecord(sku_text, count, cost, restock, StockRecord.availability_for(count))


# --- text ----------------------------------------------------------------------

_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _encoding_for(head: bytes, encoding: str) -> tuple[str, int]:
    """(encoding to use, BOM bytes to skip). A UTF-8 BOM is always dropped; a
    UTF-16 BOM (Excel's "Unicode text") overrides the utf-8 default."""
    if head.startswith(_UTF8_BOM):
        return encoding, len(_UTF8_BOM)
    if codecs.lookup(encoding).name == "utf-8" and head.startswith(_UTF16_BOMS):
        return "utf-16", 0
    return encoding, 0


async def decode_text(chunks: AsyncIterator[bytes], encoding: str) -> AsyncIterator[str]:
    """Decode incrementally. Undecodable bytes become U+FFFD so one bad product
    name does not sink the feed; `parse_sku` refuses SKUs containing it."""
    head, rest = await prefetch(chunks, len(_UTF8_BOM))
    encoding, skip = _encoding_for(head, encoding)
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    async for chunk in chained(head[skip:], rest):
        if text := decoder.decode(chunk):
            yield text
    if text := decoder.decode(b"", final=True):
        yield text


async def utf8_chunks(chunks: AsyncIterator[bytes], encoding: str) -> AsyncIterator[bytes]:
    """The body as UTF-8 bytes without BOM (what JSON parsers want)."""
    head, rest = await prefetch(chunks, len(_UTF8_BOM))
    actual, skip = _encoding_for(head, encoding)
    if codecs.lookup(actual).name == "utf-8":
        async for chunk in chained(head[skip:], rest):
            yield chunk
        return
    async for text in decode_text(chained(head, rest), encoding):
        yield text.encode()
