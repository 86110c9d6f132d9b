"""Which adapter class serves each `kind` of supplier: one line per kind."""

from __future__ import annotations

from suppliers.base import SupplierAdapter
from suppliers.bigbuy import BigBuyAdapter
from suppliers.cj_dropshipping import CjDropshippingAdapter
from suppliers.csv_feed import CsvFeedAdapter
from suppliers.json_feed import JsonFeedAdapter
from suppliers.printful import PrintfulAdapter

REGISTRY: dict[str, type[SupplierAdapter]] = {}
REGISTRY[CsvFeedAdapter.kind] = CsvFeedAdapter
REGISTRY[JsonFeedAdapter.kind] = JsonFeedAdapter
REGISTRY[CjDropshippingAdapter.kind] = CjDropshippingAdapter
REGISTRY[BigBuyAdapter.kind] = BigBuyAdapter
REGISTRY[PrintfulAdapter.kind] = PrintfulAdapter


def adapter_class(kind: str) -> type[SupplierAdapter]:
    try:
        return REGISTRY[kind]
    except KeyError:
        known = ", ".join(sorted(REGISTRY)) or "none"
        raise KeyError(f"unknown supplier kind {kind!r} (known kinds: {known})") from None
