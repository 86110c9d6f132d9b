"""The contract every supplier adapter fulfils.

An adapter fetches one supplier's stock and yields normalised `StockRecord`s in
batches. Adapters do I/O and parsing only: they know nothing of the database or
Slack, so they can be tested against a fake server and reused anywhere.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    aclosing,
    asynccontextmanager,
    nullcontext,
)
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from suppliers.limits import Deadline
from transport import (
    ServiceAdapter,
    ServiceError,
    ServicePaused,
    ServiceUnavailable,
    ServiceUnusable,
)


class Availability(enum.StrEnum):
    """Google Merchant style availability, plus the states a quantity cannot express."""

    IN_STOCK = "in_stock"
    OUT_OF_STOCK = "out_of_stock"
    DISCONTINUED = "discontinued"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class StockRecord:
    """One supplier SKU's stock as the supplier reported it.

    `quantity` is None when the supplier did not say (never read "unknown" as 0).
    """

    supplier_sku: str
    quantity: int | None
    price: Decimal | None = None
    restock_date: date | None = None
    availability: Availability = Availability.UNKNOWN
    # Per-warehouse quantities behind `quantity`, e.g. (("CN", 700), ("US", 12)).
    warehouses: tuple[tuple[str, int], ...] = ()
    # Days from order to dispatch when the supplier says (e.g. BigBuy handling days).
    lead_time_days: int | None = None

    @staticmethod
    def availability_for(quantity: int | None) -> Availability:
        if quantity is None:
            return Availability.UNKNOWN
        return Availability.IN_STOCK if quantity > 0 else Availability.OUT_OF_STOCK


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row set aside during parsing: where it was and why."""

    line: int
    reason: str
    # The row's SKU when it could be read, so a rejected row is not mistaken for
    # a SKU that vanished from the feed.
    sku: str | None = None


@dataclass(slots=True)
class Validators:
    """HTTP cache validators remembered between polls for conditional GETs."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(slots=True)
class FeedStats:
    """Counters filled in while a feed is read."""

    rows_read: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    max_rejected_kept: int = 100
    rejected_count: int = 0
    # Every SKU named by a rejected row (not capped like `rejected`): these SKUs
    # are in the feed but unreadable this time, so they must not count as gone.
    rejected_skus: set[str] = field(default_factory=set)

    # Rows set aside whose SKU could not be read (garbled text, a broken line):
    # any listed SKU may hide behind one, so the read cannot prove a SKU gone.
    unreadable_skus: int = 0

    # SKUs the supplier answered "no such product/variant" for during this read
    # that no earlier poll reported: the bot reports each one once.
    unknown_skus: set[str] = field(default_factory=set)
    # Every SKU answered "not found" this read, reported before or not.
    not_found: set[str] = field(default_factory=set)

    def reject(self, line: int, reason: str, sku: str | None = None) -> None:
        self.rejected_count += 1
        if sku is not None:
            self.rejected_skus.add(sku)
        if len(self.rejected) < self.max_rejected_kept:
            self.rejected.append(RejectedRow(line, reason, sku))

    def reject_unreadable(self, line: int, reason: str) -> None:
        """Set aside a row whose SKU cannot be read at all."""
        self.unreadable_skus += 1
        self.reject(line, reason)


# A supplier's failures are the transport's errors under the names the bot knows.
FeedError = ServiceError  # the feed could not be read; the message is for a shop owner
FeedUnavailable = ServiceUnavailable  # network failure, timeout or server error after retries
FeedInvalid = ServiceUnusable  # answered, but not with a usable feed (HTML, garbage, truncated)
SupplierPaused = ServicePaused  # the quota is used up: no calls until `until` (UTC)

# The share of asked SKUs that may come back "not found" before that reads as a
# setup problem rather than products gone (the bot passes its feed_guard_share).
DEFAULT_UNKNOWN_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class ReadBounds:
    """What the caller allows one read: `seconds` from opening to the last batch
    (None: no deadline), and `unknown_share` (see DEFAULT_UNKNOWN_SHARE)."""

    seconds: float | None = None
    unknown_share: float = DEFAULT_UNKNOWN_SHARE


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """What `SupplierAdapter.open` was asked for, checked, as `read` gets it."""

    validators: Validators | None
    skus: Sequence[str]
    batch_size: int
    bounds: ReadBounds


class FeedRead(ABC):
    """One open read of a supplier's stock.

    Iterate `batches()` to the end; then `stats`, `complete` and `validators`
    describe what was read. `not_modified` is True when the server answered 304,
    in which case `batches()` yields nothing.
    """

    stats: FeedStats
    not_modified: bool = False
    # True when the read covered the supplier's whole catalogue, so that a SKU
    # missing from it really is gone (feeds), False for per-SKU lookups.
    complete: bool = True
    # Why a whole-catalogue read turned out not to prove anything missing.
    incomplete_reason: str | None = None
    validators: Validators

    @abstractmethod
    def batches(self) -> AsyncIterator[list[StockRecord]]: ...


async def rebatched(
    pieces: AsyncGenerator[list[StockRecord], None], size: int
) -> AsyncGenerator[list[StockRecord], None]:
    """The records of `pieces` in lists of `size` (the last may be shorter).

    Closes `pieces` when done or closed early, so a read stopped midway leaves
    no generator running.
    """
    batch: list[StockRecord] = []
    async with aclosing(pieces):
        async for piece in pieces:
            batch.extend(piece)
            while len(batch) >= size:
                yield batch[:size]
                del batch[:size]
    if batch:
        yield batch


class OnceFeedRead(FeedRead):
    """A read whose records come from one generator: batched to `batch_size`,
    iterable once, closable midway; `finished` once every batch was read."""

    def __init__(self, batch_size: int, validators: Validators | None = None) -> None:
        self.stats = FeedStats()
        self.validators = validators or Validators()
        self.finished = False
        self.deadline: Deadline | None = None  # set by `SupplierAdapter.open`
        self._batch_size = batch_size
        self._batches: AsyncGenerator[list[StockRecord], None] | None = None

    def batches(self) -> AsyncIterator[list[StockRecord]]:
        if self._batches is not None:
            raise RuntimeError("a feed read can only be iterated once")
        self._batches = self._all_batches()
        return self._batches

    async def _all_batches(self) -> AsyncGenerator[list[StockRecord], None]:
        async with aclosing(rebatched(self.pieces(), self._batch_size)) as batches:
            while True:
                try:
                    # Only the adapter's work: never the caller's, between batches.
                    async with _bounded(self.deadline):
                        batch = await anext(batches)
                except StopAsyncIteration:
                    break
                yield batch
        self.finished = True

    @abstractmethod
    def pieces(self) -> AsyncGenerator[list[StockRecord], None]:
        """The records as they are read, any number at a time."""

    async def aclose(self) -> None:
        """Stop a read abandoned halfway, so its generators close before the response."""
        if self._batches is not None:
            await self._batches.aclose()


def _bounded(deadline: Deadline | None) -> AbstractAsyncContextManager[None]:
    return nullcontext() if deadline is None else deadline.bounding()


class AdapterOptions(BaseModel):
    """Base for each adapter's own `[[suppliers]]` options; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SupplierAdapter(ServiceAdapter, ABC):
    """Base class of every supplier kind; register subclasses in `suppliers.REGISTRY`."""

    kind: ClassVar[str]
    Options: ClassVar[type[AdapterOptions]]
    options: AdapterOptions
    # API kinds ask per SKU, so `open()` needs the catalog's SKUs; whole-catalogue
    # feeds do not, and the caller can skip loading them.
    needs_skus: ClassVar[bool] = True

    @property
    def subject(self) -> str:
        """How messages about this supplier begin, e.g. "CJ Dropshipping"."""
        return f"Supplier {self.name}"

    def open(
        self,
        validators: Validators | None = None,
        skus: Sequence[str] = (),
        batch_size: int = 5000,
        bounds: ReadBounds = ReadBounds(),
    ) -> AbstractAsyncContextManager[FeedRead]:
        """Start reading stock. `skus` lists the supplier SKUs the catalog maps to
        this supplier (API kinds poll those; feeds ignore it). Past
        `bounds.seconds` the read fails with a FeedInvalid saying so."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        return self._open(ReadRequest(validators, skus, batch_size, bounds))

    @asynccontextmanager
    async def _open(self, request: ReadRequest) -> AsyncIterator[FeedRead]:
        seconds = request.bounds.seconds
        deadline = None if seconds is None else Deadline(seconds, self.subject)
        async with AsyncExitStack() as stack:
            # Opening (connecting, retries and their waits) counts against the deadline.
            async with _bounded(deadline):
                read = await stack.enter_async_context(self.read(request))
            if isinstance(read, OnceFeedRead):
                read.deadline = deadline
            yield read

    @abstractmethod
    def read(self, request: ReadRequest) -> AbstractAsyncContextManager[FeedRead]:
        """What `open` returns, once its arguments are checked."""

    def describe(self) -> dict[str, Any]:
        """What is safe to show a user about this source (never secrets)."""
        return {"kind": self.kind}
