"""Which adapter class serves each `kind` of store: one entry per kind."""

from __future__ import annotations

from stores.base import StoreAdapter
from stores.shopify import ShopifyStore
from stores.woocommerce import WooCommerceStore
from transport import KindRegistry

REGISTRY: KindRegistry[StoreAdapter] = KindRegistry("store", [ShopifyStore, WooCommerceStore])
store_class = REGISTRY.lookup
