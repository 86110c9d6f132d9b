"""Which adapter class serves each `kind` of supplier: one entry per kind."""

from __future__ import annotations

from suppliers.base import SupplierAdapter
from suppliers.bigbuy import BigBuyAdapter
from suppliers.cj_dropshipping import CjDropshippingAdapter
from suppliers.csv_feed import CsvFeedAdapter
from suppliers.json_feed import JsonFeedAdapter
from suppliers.printful import PrintfulAdapter
from transport import KindRegistry

REGISTRY: KindRegistry[SupplierAdapter] = KindRegistry(
    "supplier",
    [CsvFeedAdapter, JsonFeedAdapter, CjDropshippingAdapter, BigBuyAdapter, PrintfulAdapter],
)
adapter_class = REGISTRY.lookup
