"""Which adapter class serves each `kind` of supplier: one line per kind."""

from __future__ import annotations

from suppliers.base import SupplierAdapter
from suppliers.csv_feed import CsvFeedAdapter
from suppliers.json_feed import JsonFeedAdapter

REGISTRY: dict[str, type[SupplierAdapter]] = {}
REGISTRY[CsvFeedAdapter.kind] = CsvFeedAdapter
REGISTRY[JsonFeedAdapter.kind] = JsonFeedAdapter


def adapter_class(kind: str) -> type[SupplierAdapter]:
    try:
        return REGISTRY[kind]
    except KeyError:
        known = ", ".join(sorted(REGISTRY)) or "none"
        raise KeyError(f"unknown supplier kind {kind!r} (known kinds: {known})") from None
