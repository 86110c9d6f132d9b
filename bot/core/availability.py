"""One availability vocabulary: what suppliers report, plus what only Stockbot can tell.

`suppliers.Availability` is what an adapter reads from a feed. Two more states are
Stockbot's own conclusions, never in a feed: they live in `Unlisted`, so the
adapters' enum stays the adapters'. Both are `StrEnum`s, stored as their values
in `offers.availability`, and compare equal to those strings.
"""

from __future__ import annotations

import enum

from suppliers import Availability

__all__ = ["STOCKOUT", "Availability", "Unlisted", "is_stockout"]


class Unlisted(enum.StrEnum):
    """The supplier no longer lists the SKU: Stockbot's conclusion, not a feed value."""

    MISSING = "missing"  # gone from a complete feed
    UNKNOWN_SKU = "unknown_sku"  # the supplier says it does not know the SKU


# Availabilities that mean "cannot ship" even when no quantity is given.
STOCKOUT: frozenset[str] = frozenset(
    {Availability.OUT_OF_STOCK, Availability.DISCONTINUED, Unlisted.MISSING, Unlisted.UNKNOWN_SKU}
)


def is_stockout(availability: str) -> bool:
    return availability in STOCKOUT
