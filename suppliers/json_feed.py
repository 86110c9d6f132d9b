"""JSON supplier feeds: an array of objects, parsed as it streams in with ijson."""

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
    utf8_chunks,
)

_PATH = re.compile(r"[^.\s]+(?:\.[^.\s]+)*")
_MISSING: Any = object()
_KEYS_SHOWN = 12


class JsonFeedOptions(FeedOptions):
    # Dotted path to the array of products, e.g. "data.products"; "" = the
    # document itself is the array. Mapping values may be dotted paths too.
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
        items = ijson.sendable_list()
        parser = ijson.items_coro(items, f"{path}.item" if path else "item")
        probe = _ArrayProbe(path, source)
        extract = _ItemReader(self.options.mapping, builder)
        async for chunk in utf8_chunks(chunks, self.options.encoding):
            _send(parser, chunk, source)
            probe.send(chunk)
            records = extract.records(items)
            del items[:]
            yield records
        _finish(parser, source)
        probe.finish()
        last = extract.records(items)
        extract.check_fields_seen(source)
        yield last


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
    # ijson's message quotes the document around the error; keep the first line.
    reason = str(error).strip().splitlines()[0] if str(error).strip() else "parse error"
    return f"Supplier feed at {source} is not valid JSON or was cut off ({reason})"


class _ArrayProbe:
    """Checks that `records_path` really is an array.

    ijson silently yields no items for a wrong path, which would look like an
    empty catalogue (every product gone). This second, event-level parser only
    runs until the array starts, so it costs little on a good feed.
    """

    def __init__(self, path: str, source: str) -> None:
        self._path = path
        self._source = source
        self._events = ijson.sendable_list()
        self._parser = ijson.parse_coro(self._events)
        self._top_keys: list[str] = []
        self._found = False

    def send(self, chunk: bytes) -> None:
        if self._found:
            return
        _send(self._parser, chunk, self._source)
        self._scan()

    def finish(self) -> None:
        if self._found:
            return
        _finish(self._parser, self._source)
        self._scan()
        if not self._found:
            keys = ", ".join(self._top_keys[:_KEYS_SHOWN]) or "none"
            raise FeedInvalid(
                f"Supplier feed at {self._source} has no list of products at "
                f"{self._where()} (top-level keys: {keys}); "
                "check records_path in the supplier settings"
            )

    def _where(self) -> str:
        return f'"{self._path}"' if self._path else "the top level"

    def _scan(self) -> None:
        for prefix, event, value in self._events:
            if prefix == "" and event == "map_key":
                self._top_keys.append(value)
            if prefix == self._path and event != "map_key":
                if event != "start_array":
                    what = "an object" if event == "start_map" else f"a {event}"
                    raise FeedInvalid(
                        f"Supplier feed at {self._source} has {what} at {self._where()}, "
                        "not a list of products; check records_path in the supplier settings"
                    )
                self._found = True
                break
        del self._events[:]


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
