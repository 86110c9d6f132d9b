"""Store adapters: read a shop's open orders and push stock levels back."""

from stores.base import (
    InventoryUpdate,
    PushResult,
    StoreAdapter,
    StoreError,
    StoreOptions,
    StoreOrder,
    StoreOrderLine,
    StoreRejected,
    StoreUnavailable,
)
from stores.registry import REGISTRY, store_class

__all__ = [
    "REGISTRY",
    "InventoryUpdate",
    "PushResult",
    "StoreAdapter",
    "StoreError",
    "StoreOptions",
    "StoreOrder",
    "StoreOrderLine",
    "StoreRejected",
    "StoreUnavailable",
    "store_class",
]
