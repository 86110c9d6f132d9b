"""JSON supplier feeds: an array of objects, parsed as it streams in with ijson.

The array is the document itself, the one at `records_path`, or else the one
array of objects inside the document (two such arrays: the feed asks for
`records_path` rather than have Stockbot guess).
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any, ClassVar

import ijson
from pydantic import field_validator

from suppliers.base import FeedInvalid, StockRecord
from suppliers.feed_adapter import FeedAdapterBase, FeedOptions
from suppliers.parsing import (
    FIELDS,
    QUANTITY,
    SKU,
    FieldMatcher,
    RecordBuilder,
    excerpt,
    utf8_chunks,
)

_PATH = re.compile(r"[^.\s]+(?:\.[^.\s]+)*")
_MISSING: Any = object()
_KEYS_SHOWN = 12


class JsonFeedOptions(FeedOptions):
    # Dotted path to the array of products, e.g. "data.products"; "" = the
    # document itself, or the one array of objects inside it. Mapping values
    # may be dotted paths too.
    records_path: str = ""

    @field_validator("records_path")
    @classmethod
    def _dotted(cls, path: str) -> str:
        path = path.strip()
        if path and not _PATH.fullmatch(path):
            raise ValueError(f"{path!r} is not a dotted path like data.products")
        return path


class JsonFeedAdapter(FeedAdapterBase):
    """A supplier publishing its stock as a JSON document (URL or local path)."""

    kind: ClassVar[str] = "json_feed"
    Options: ClassVar[type[FeedOptions]] = JsonFeedOptions
    unit: ClassVar[str] = "item"
    options: JsonFeedOptions

    async def parse(
        self, chunks: AsyncIterator[bytes], builder: RecordBuilder, source: str
    ) -> AsyncGenerator[list[StockRecord], None]:
        path = self.options.records_path
        finder = _ListFinder(path, source)
        items = ijson.sendable_list()
        extract = _ItemReader(self.options.mapping, builder)
        parser: Any = _items_parser(items, path) if path else None
        # Without records_path: the document's start, kept until the finder
        # knows where the list is.
        held: list[bytes] = []
        async for chunk in utf8_chunks(chunks, self.options.encoding):
            finder.send(chunk)
            if parser is None:
                held.append(chunk)
                if finder.found is None:
                    continue
                parser = _items_parser(items, finder.found)
            for piece in held or [chunk]:
                _send(parser, piece, source)
                records = extract.records(items)
                del items[:]
                yield records
            held = []
        found = finder.finish()
        if parser is None:  # the list was only known at the end
            parser = _items_parser(items, found)
            for piece in held:
                _send(parser, piece, source)
        _finish(parser, source)
        last = extract.records(items)
        extract.check_fields_seen(source)
        yield last


def _items_parser(items: list[Any], path: str) -> Any:
    """An ijson parser putting each object of the list at `path` into `items`."""
    return ijson.items_coro(items, f"{path}.item" if path else "item")


def _send(parser: Any, chunk: bytes, source: str) -> None:
    try:
        parser.send(chunk)
    except ijson.JSONError as exc:
        raise FeedInvalid(_damaged(source, exc)) from exc


def _finish(parser: Any, source: str) -> None:
    try:
        parser.close()
    except ijson.JSONError as exc:
        raise FeedInvalid(_damaged(source, exc)) from exc


def _damaged(source: str, error: Exception) -> str:
    # ijson's message quotes the document around the error: keep a short excerpt.
    lines = str(error).strip().splitlines()
    reason = excerpt(lines[0]) if lines else "parse error"
    return f"Supplier feed at {source} is not valid JSON or was cut off ({reason})"


def _shown_path(path: str) -> str:
    return f'"{path}"' if path else "the top level"


class _ListFinder:
    """Finds the list of products in the document, from its parse events.

    With `records_path` it checks that the path really holds a list: ijson
    silently yields no items for a wrong path, which would look like an empty
    catalogue (every product gone); it stops looking once the list starts.
    Without it, the document itself may be the list; or, if it is an object,
    the one list of objects inside it is taken. That needs the whole document
    scanned, since a second such list would make it a guess.
    """

    def __init__(self, path: str, source: str) -> None:
        self._path = path
        self._source = source
        self._events = ijson.sendable_list()
        self._parser = ijson.parse_coro(self._events)
        self._top_keys: list[str] = []
        self._top_kind: str | None = None
        self._inside = ""  # item prefix of the list found: its products' events
        self._lists: set[str] = set()  # lists open now (a key may be named "item")
        self._done = False
        self.found: str | None = None  # the list's path ("" = the document)

    def send(self, chunk: bytes) -> None:
        if self._done:
            return
        _send(self._parser, chunk, self._source)
        self._scan()

    def finish(self) -> str:
        """The list's path; raises FeedInvalid when there is none."""
        if not self._done:
            _finish(self._parser, self._source)
            self._scan()
        if self.found is not None:
            return self.found
        keys = excerpt(", ".join(self._top_keys[:_KEYS_SHOWN])) if self._top_keys else "none"
        if self._path:
            raise FeedInvalid(
                f"Supplier feed at {self._source} has no list of products at "
                f"{_shown_path(self._path)} (top-level keys: {keys}); "
                "check records_path in the supplier settings"
            )
        if self._top_kind == "start_map":
            raise FeedInvalid(
                f"Supplier feed at {self._source} has no list of products (it is an "
                f"object with the keys {keys}); if the products are in a list deeper "
                'inside it, set records_path to where, e.g. records_path = "data.products"'
            )
        what = _event_kind(self._top_kind or "nothing")
        raise FeedInvalid(
            f"Supplier feed at {self._source} has {what} at the top level, not a list of products"
        )

    def _scan(self) -> None:
        if self._path:
            self._scan_for_path()
        else:
            self._scan_for_a_list()
        del self._events[:]

    def _scan_for_path(self) -> None:
        for prefix, event, value in self._events:
            if prefix == "" and event == "map_key":
                self._top_keys.append(value)
            if prefix == self._path and event != "map_key":
                if event != "start_array":
                    raise FeedInvalid(
                        f"Supplier feed at {self._source} has {_event_kind(event)} at "
                        f"{_shown_path(self._path)}, not a list of products; check "
                        "records_path in the supplier settings"
                    )
                self.found, self._done = self._path, True
                return

    def _scan_for_a_list(self) -> None:
        for prefix, event, value in self._events:
            inside = self._inside
            if inside and (prefix == inside or prefix.startswith(inside + ".")):
                continue  # within a product of the list found
            if prefix == "":
                if self._top_kind is None:
                    self._top_kind = event
                    if event == "start_array":  # the document is the list
                        self.found, self._done = "", True
                        return
                if event == "map_key":
                    self._top_keys.append(value)
            elif event == "start_array":
                self._lists.add(prefix)
            elif event == "end_array":
                self._lists.discard(prefix)
            elif event == "start_map" and prefix.removesuffix(".item") in self._lists:
                self._candidate(prefix)

    def _candidate(self, item_prefix: str) -> None:
        """A list whose items are objects, at `item_prefix` minus ".item"."""
        path = item_prefix.removesuffix(".item")
        if path == self.found:
            return
        if self.found is None:
            self.found, self._inside = path, item_prefix
            return
        first, second = excerpt(self.found, 40), excerpt(path, 40)
        raise FeedInvalid(
            f"Supplier feed at {self._source} has two lists of objects, {first} and "
            f"{second}, and Stockbot will not guess which holds the stock; set "
            f"records_path in the supplier settings, e.g. records_path = {first}"
        )


def _event_kind(event: str) -> str:
    return {
        "start_map": "an object",
        "start_array": "a list",
        "string": "text",
        "number": "a number",
        "boolean": "true/false",
        "null": "null",
    }.get(event, event)


class _ItemReader:
    """Picks the SKU, quantity, price and restock date out of each JSON object."""

    def __init__(self, mapping: Mapping[str, str], builder: RecordBuilder) -> None:
        self._matcher = FieldMatcher(mapping)
        self._builder = builder
        self._index = 0
        self._seen = [False] * len(FIELDS)
        self._first_keys: list[str] | None = None
        # Mapped names containing dots are paths into nested objects.
        self._paths = {
            FIELDS.index(field): tuple(name.split("."))
            for field, name in mapping.items()
            if "." in name
        }

    def records(self, items: list[Any]) -> list[StockRecord]:
        records = []
        for item in items:
            self._index += 1
            if not isinstance(item, dict):
                self._builder.reject(self._index, f"item is {_kind(item)}, not an object")
                continue
            values = self._fields(item)
            record = self._builder.build(self._index, *values)
            if record is not None:
                records.append(record)
        return records

    def _fields(self, item: dict[str, Any]) -> list[Any]:
        if self._first_keys is None:
            self._first_keys = list(item)
        values: list[Any] = [_MISSING] * len(FIELDS)
        ranks = [1 << 30] * len(FIELDS)
        classify = self._matcher.classify
        for key, value in item.items():
            hit = classify(key)
            if hit is not None and hit[1] < ranks[hit[0]]:
                values[hit[0]], ranks[hit[0]] = value, hit[1]
        for index, path in self._paths.items():
            if values[index] is _MISSING:
                values[index] = _walk(item, path)
        for index, value in enumerate(values):
            if value is _MISSING:
                values[index] = None
            else:
                self._seen[index] = True
        return values

    def check_fields_seen(self, source: str) -> None:
        """No item had a SKU or quantity at all: the names are wrong, not the data."""
        if self._index == 0 or self._first_keys is None:
            return
        for index in (SKU, QUANTITY):
            if not self._seen[index]:
                raise FeedInvalid(
                    self._matcher.missing_message(
                        source, FIELDS[index], self._first_keys[:_KEYS_SHOWN], "key"
                    )
                )


def _walk(item: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = item
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "text"
    return "a number" if not isinstance(value, bool) else "true/false"
