"""SKUs a supplier said it does not know: not asked every poll, not forgotten either.

A SKU answered "not found" is asked again after a while (it may be listed
again, or the answer may have been a glitch) and as soon as the catalog's SKUs
for the supplier change (a re-import may have corrected it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta


class NotFoundSkus:
    """When each SKU was last answered "not found"."""

    def __init__(self) -> None:
        self._since: dict[str, datetime] = {}
        self._catalog: frozenset[str] | None = None

    def __contains__(self, sku: object) -> bool:
        return sku in self._since

    def due(self, sku: str, now: datetime, every: timedelta) -> bool:
        """Whether to ask about `sku` this poll."""
        since = self._since.get(sku)
        return since is None or now - since >= every

    def remember(self, skus: Iterable[str], now: datetime) -> None:
        for sku in skus:
            self._since[sku] = now

    def forget(self, skus: Iterable[str]) -> None:
        for sku in skus:
            self._since.pop(sku, None)

    def catalog(self, skus: Iterable[str]) -> None:
        """The catalog's SKUs for this poll; when they changed, ask about all again."""
        current = frozenset(skus)
        if self._catalog is not None and current != self._catalog:
            self._since.clear()
        self._catalog = current
