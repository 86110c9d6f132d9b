"""Which adapter class serves each `kind` of store: one line per kind."""

from __future__ import annotations

from stores.base import StoreAdapter
from stores.shopify import ShopifyStore
from stores.woocommerce import WooCommerceStore

REGISTRY: dict[str, type[StoreAdapter]] = {}
REGISTRY[ShopifyStore.kind] = ShopifyStore
REGISTRY[WooCommerceStore.kind] = WooCommerceStore


def store_class(kind: str) -> type[StoreAdapter]:
    try:
        return REGISTRY[kind]
    except KeyError:
        known = ", ".join(sorted(REGISTRY)) or "none"
        raise KeyError(f"unknown store kind {kind!r} (known kinds: {known})") from None
