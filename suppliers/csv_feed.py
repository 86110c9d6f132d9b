"""CSV / TSV / semicolon / pipe supplier feeds, parsed as they stream in."""

from __future__ import annotations

import csv
import re
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import ClassVar

from pydantic import field_validator

from suppliers.base import FeedInvalid, StockRecord
from suppliers.feed_adapter import FeedAdapterBase, FeedOptions
from suppliers.limits import FeedLimits
from suppliers.parsing import (
    FieldMatcher,
    RecordBuilder,
    decode_text,
)

DELIMITERS = (",", ";", "\t", "|")
_QUOTED = re.compile(r'"[^"]*"')


class CsvFeedOptions(FeedOptions):
    delimiter: str | None = None  # None: guess from the header line

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, delimiter: str | None) -> str | None:
        if delimiter is not None and (len(delimiter) != 1 or delimiter in '"\r\n'):
            raise ValueError("the delimiter must be a single character such as , ; | or a tab")
        return delimiter


class CsvFeedAdapter(FeedAdapterBase):
    """A supplier publishing its stock as a delimited text file (URL or local path)."""

    kind: ClassVar[str] = "csv_feed"
    Options: ClassVar[type[FeedOptions]] = CsvFeedOptions
    unit: ClassVar[str] = "line"
    options: CsvFeedOptions

    async def parse(
        self, chunks: AsyncIterator[bytes], builder: RecordBuilder, source: str
    ) -> AsyncGenerator[list[StockRecord], None]:
        feeder = _LineFeeder()
        rows: _RowReader | None = None
        text = decode_text(chunks, self.options.encoding)
        async for lines in split_lines(text, self.limits):
            feeder.push(lines)
            if rows is None:
                delimiter = self.options.delimiter or sniff_delimiter(_first_filled(lines))
                rows = _RowReader(feeder, delimiter, builder, source, self.options)
            yield rows.records()
        if rows is None:
            raise FeedInvalid(f"Supplier feed at {source} is empty")
        feeder.eof = True
        last = rows.records()
        rows.check_header_seen()
        yield last


def _first_filled(lines: list[str]) -> str:
    return next((line for line in lines if line.strip()), "")


def sniff_delimiter(header_line: str) -> str:
    """The candidate occurring most often in the header outside quotes (',' by default)."""
    bare = _QUOTED.sub("", header_line)
    counts = [bare.count(candidate) for candidate in DELIMITERS]
    best = max(counts)
    return DELIMITERS[counts.index(best)] if best else ","


async def split_lines(
    texts: AsyncIterator[str], limits: FeedLimits | None = None
) -> AsyncIterator[list[str]]:
    """Group decoded text into physical lines, each still ending in its newline.

    Splits on '\\n' only (str.splitlines would also split on characters like
    U+2028 that may legitimately occur inside a field). The last line may lack
    a newline. A line longer than `limits.max_line_chars` fails the read: an
    unfinished line is held until its newline, and one endless line (a gzip
    bomb of zeros) would otherwise fill memory.
    """
    pending: list[str] = []  # pieces of the line not ended yet
    pending_size = 0
    async for text in texts:
        pieces = text.split("\n")
        if len(pieces) == 1:
            pending.append(text)
            pending_size += len(text)
        else:
            first = "".join(pending) + pieces[0]
            longest = max(len(first), max(map(len, pieces[1:-1]), default=0))
            if limits is not None and longest > limits.max_line_chars:
                raise limits.line_too_long()
            tail = pieces.pop()
            pieces[0] = first
            pending, pending_size = ([tail] if tail else []), len(tail)
            yield [piece + "\n" for piece in pieces]
        if limits is not None and pending_size > limits.max_line_chars:
            raise limits.line_too_long()
    if pending:
        yield ["".join(pending)]


class _Starved(Exception):
    """The line buffer ran dry in the middle of a CSV record."""


class _LineFeeder:
    """The line iterator csv.reader pulls from, refilled as the download goes on.

    csv.reader reads synchronously but our lines arrive in async chunks. If a
    quoted field spans a chunk boundary the buffer runs dry mid-record: we raise
    _Starved, csv.reader drops its partial record, and `records()` puts that
    record's lines back to be parsed again once more text has arrived.
    """

    def __init__(self) -> None:
        self.eof = False
        self._pending: deque[str] = deque()
        self._taken: list[str] = []  # lines of the record being parsed
        self._lines_done = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self._pending:
            line = self._pending.popleft()
            self._taken.append(line)
            return line
        if self.eof:
            raise StopIteration
        raise _Starved

    def push(self, lines: list[str]) -> None:
        self._pending.extend(lines)

    def records(self, reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str] | csv.Error]]:
        """(first physical line, fields or the csv error) for each complete record."""
        while self._pending or self.eof:
            try:
                row: list[str] | csv.Error = next(reader)
            except _Starved:
                self._pending.extendleft(reversed(self._taken))
                self._taken.clear()
                return
            except StopIteration:
                return
            except csv.Error as exc:
                row = exc
            start = self._lines_done + 1
            self._lines_done += len(self._taken)
            self._taken.clear()
            yield start, row


class _RowReader:
    """Reads the header, then turns each CSV record into a StockRecord."""

    def __init__(
        self,
        feeder: _LineFeeder,
        delimiter: str,
        builder: RecordBuilder,
        source: str,
        options: CsvFeedOptions,
    ) -> None:
        # strict: a stray quote after a closing quote, or a quoted field left
        # open at the end of the file (a truncated last line), is an error.
        self._reader = csv.reader(feeder, delimiter=delimiter, strict=True)
        self._feeder = feeder
        self._builder = builder
        self._source = source
        self._matcher = FieldMatcher(options.mapping)
        self._header_seen = False
        self._width = 0
        self._sku = self._quantity = 0
        self._price: int | None = None
        self._restock: int | None = None

    def records(self) -> list[StockRecord]:
        records: list[StockRecord] = []
        build = self._builder.build
        for line, row in self._feeder.records(self._reader):
            if isinstance(row, csv.Error):
                self._unreadable(line, row)
            elif not row:  # a blank line: skipped, though it counts toward max_rows
                self._builder.blank()
            elif not self._header_seen:
                self._read_header(row)
            else:
                if len(row) != self._width:
                    self._wrong_width(line, row)
                    continue
                price, restock = self._price, self._restock
                record = build(
                    line,
                    row[self._sku],
                    row[self._quantity],
                    None if price is None else row[price],
                    None if restock is None else row[restock],
                )
                if record is not None:
                    records.append(record)
        return records

    def check_header_seen(self) -> None:
        if not self._header_seen:
            raise FeedInvalid(f"Supplier feed at {self._source} has no header line")

    def _read_header(self, header: list[str]) -> None:
        if not any(name.strip() for name in header):
            return  # blank lines before the header
        sku, quantity, price, restock = self._matcher.columns(header)
        if sku is None or quantity is None:
            missing = "sku" if sku is None else "quantity"
            found = [name.strip() for name in header]
            raise FeedInvalid(self._matcher.missing_message(self._source, missing, found, "column"))
        self._sku, self._quantity, self._price, self._restock = sku, quantity, price, restock
        self._header_seen = True
        self._width = len(header)

    def _wrong_width(self, line: int, row: list[str]) -> None:
        sku = row[self._sku].strip() if self._sku < len(row) else ""
        reason = (
            f"has {len(row)} fields but the header has {self._width} "
            "(cut off, or a delimiter inside an unquoted value)"
        )
        self._builder.reject(line, reason, sku or None)

    def _unreadable(self, line: int, error: csv.Error) -> None:
        if not self._header_seen:
            raise FeedInvalid(f"Supplier feed at {self._source} has an unreadable header ({error})")
        self._builder.reject(line, f"unreadable CSV ({error}); the line may be cut off")
