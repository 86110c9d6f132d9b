"""Supplier adapters: fetch and parse supplier stock into normalised records."""

from suppliers.base import (
    AdapterOptions,
    Availability,
    FeedError,
    FeedInvalid,
    FeedRead,
    FeedStats,
    FeedUnavailable,
    ReadBounds,
    RejectedRow,
    StockRecord,
    SupplierAdapter,
    SupplierPaused,
    Validators,
)
from suppliers.registry import REGISTRY, adapter_class

__all__ = [
    "REGISTRY",
    "AdapterOptions",
    "Availability",
    "FeedError",
    "FeedInvalid",
    "FeedRead",
    "FeedStats",
    "FeedUnavailable",
    "ReadBounds",
    "RejectedRow",
    "StockRecord",
    "SupplierAdapter",
    "SupplierPaused",
    "Validators",
    "adapter_class",
]
