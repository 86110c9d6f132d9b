"""Shared plumbing of the JSON API supplier kinds (CJ Dropshipping, BigBuy, Printful).

* `ApiOptions`: the `[[suppliers]]` keys every API kind has (base_url, timeout, ...).
* `check_http_status`: what an API's HTTP status means for a supplier.
* `ApiAdapterBase`: per-SKU polling plumbing: remembers SKUs the supplier does
  not know (asking again hourly), reads credentials from the environment,
  batches records, and reads "most SKUs not found" as a setup problem.

Requests go through `transport.ApiClient` (pacing, retries, holds). A service's
own rules live in a `check(response)` function passed to `ApiClient.call`: it
returns the useful part of the answer or raises `Retry`, `TokenRejected`,
`NotFound` or a `FeedError`. Messages are written for a shop owner and never
contain credentials: they are built from fixed text, and any text the supplier
sends back goes through `ApiAdapterBase.redact` first.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from contextlib import aclosing, asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar

import httpx
from pydantic import Field, field_validator

from suppliers.base import (
    AdapterOptions,
    FeedInvalid,
    FeedRead,
    FeedStats,
    OnceFeedRead,
    ReadRequest,
    StockRecord,
    SupplierAdapter,
)
from suppliers.not_found import NotFoundSkus
from suppliers.parsing import excerpt
from transport import (
    ApiClient,
    CallLimits,
    NotFound,
    TokenRejected,
    answer_error,
    credential_problem,
    display_source,
    failed_answer,
    http_url,
    refused_access,
)

# Below this many SKUs asked, "most not found" is too few to call a setup problem.
NOT_FOUND_GUARD_MIN_SKUS = 3
_EXAMPLES_SHOWN = 3


class ApiOptions(AdapterOptions, CallLimits):
    """`[[suppliers]]` keys shared by the API kinds; subclasses set their defaults."""

    base_url: str
    # Seconds before a SKU answered "not found" is asked about again.
    recheck_not_found: float = Field(3600.0, ge=60, le=7 * 86400)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return http_url(url, "base_url")


def check_http_status(
    response: httpx.Response,
    service: str,
    clock: Callable[[], datetime],
    *,
    unknown_on_404: bool = False,
) -> None:
    """Return for 2xx; raise Retry, TokenRejected, NotFound or a FeedError otherwise."""
    answered = failed_answer(response, clock)
    if answered is None:
        return
    status = response.status_code
    if status == 401:
        raise TokenRejected
    if status in (404, 410) and unknown_on_404:
        raise NotFound
    where = display_source(str(response.request.url))
    if status == 403:
        hint = "check the API key or token and its permissions in the supplier's settings"
        raise FeedInvalid(refused_access(service, status, hint))
    if 300 <= status < 400 or status in (404, 410):
        raise FeedInvalid(f"{service} {answered} at {where} - check base_url in the settings")
    raise answer_error(status, f"{service} {answered} at {where}")


def next_utc_midnight(now: datetime) -> datetime:
    tomorrow = now.astimezone(UTC) + timedelta(days=1)
    return tomorrow.replace(hour=0, minute=0, second=0, microsecond=0)


# --- adapters ----------------------------------------------------------------------------


class ApiAdapterBase(SupplierAdapter):
    """A supplier asked per SKU (or by listing) through its JSON API.

    Subclasses set `kind`, `Options`, `service` and implement `records()`.
    """

    Options: ClassVar[type[ApiOptions]]
    service: ClassVar[str]  # the supplier's name in messages, e.g. "CJ Dropshipping"
    # Per-SKU kinds stop asking about unknown SKUs; a listing kind reads them anyway.
    skip_unknown: ClassVar[bool] = True
    options: ApiOptions

    @cached_property
    def unknown(self) -> NotFoundSkus:
        """SKUs the supplier said it does not know, for the life of the process."""
        return NotFoundSkus()

    @property
    def subject(self) -> str:
        return self.service

    @cached_property
    def api(self) -> ApiClient:
        """Calls to this supplier account (pacing and holds are per account)."""
        return ApiClient(
            self.client,
            self.service,
            self.options.base_url,
            self.policy,
            self.options.requests_per_second,
        )

    @asynccontextmanager
    async def read(self, request: ReadRequest) -> AsyncIterator[FeedRead]:
        self.api.check_hold()
        self.credential()  # a missing key fails here, before any network call
        self.unknown.catalog(request.skus)
        asked = self.wanted(request.skus)
        read = ApiFeedRead(self, asked, request.batch_size)
        try:
            yield read
            if read.finished:
                stats = read.stats
                self._check_not_found(stats, len(asked), request.bounds.unknown_share)
                # Remembered only once the poll went through: a failed poll's report
                # is rolled back by the bot, so those SKUs must be reported again.
                self.unknown.remember(stats.not_found, self.policy.clock())
                self.unknown.forget(read.found | stats.rejected_skus)
        finally:
            await read.aclose()

    def wanted(self, skus: Iterable[str]) -> list[str]:
        """The SKUs to ask for: each once, in order, without blanks, and without SKUs
        the supplier did not know unless it is time to ask again.

        SKUs are kept exactly as given: the bot matches records to its catalog by them.
        """
        now = self.policy.clock()
        every = timedelta(seconds=self.options.recheck_not_found)
        seen: set[str] = set()
        wanted: list[str] = []
        for sku in skus:
            if not sku.strip() or sku in seen:
                continue
            if self.skip_unknown and not self.unknown.due(sku, now, every):
                continue
            seen.add(sku)
            wanted.append(sku)
        return wanted

    def mark_unknown(self, sku: str, stats: FeedStats) -> None:
        """The supplier does not know `sku`; reported unless a successful poll already did."""
        stats.not_found.add(sku)
        if sku not in self.unknown:
            stats.unknown_skus.add(sku)

    def _check_not_found(self, stats: FeedStats, asked: int, share: float) -> None:
        """Most SKUs "not found" is a wrong setting or catalog, not that many products
        gone: one setup problem instead of a stockout per SKU (and none remembered)."""
        count = len(stats.not_found)
        if asked < NOT_FOUND_GUARD_MIN_SKUS or count / asked <= share:
            return
        examples = sorted(stats.not_found)[:_EXAMPLES_SHOWN]
        shown = ", ".join(excerpt(sku, 30) for sku in examples)
        more = ", ..." if count > len(examples) else ""
        raise FeedInvalid(
            f"{self.service} does not know {count} of the {asked} SKUs asked ({shown}{more}), "
            f"more than the {share:.0%} that [rules] feed_guard_share allows: that looks "
            "like a setup problem rather than products gone, so none was marked out of "
            f"stock. {self.not_found_hint(examples)}"
        )

    def not_found_hint(self, skus: Sequence[str]) -> str:
        """What to check when most SKUs are not found; kinds say which setting."""
        return (
            f"Check the supplier SKUs in the catalog: they must be {self.service}'s own "
            "codes for the products"
        )

    @property
    @abstractmethod
    def credential_env(self) -> str:
        """The name of the environment variable holding the API key or token."""

    def credential(self) -> str:
        """The API key or token; a FeedInvalid naming the variable (only) if unset."""
        problem = credential_problem(self.env, self.credential_env, self.service)
        if problem is not None:
            raise FeedInvalid(problem)
        return self.env[self.credential_env].strip()

    def secrets(self) -> Iterable[str]:
        """Every credential value in use, for `redact`; kinds with tokens add theirs."""
        yield self.env.get(self.credential_env, "").strip()

    @abstractmethod
    def records(self, skus: list[str], stats: FeedStats) -> AsyncGenerator[StockRecord, None]:
        """Stock of `skus` (only those), setting bad answers aside in `stats`."""

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": display_source(self.options.base_url)}


class ApiFeedRead(OnceFeedRead):
    """One poll of an API adapter: never complete, since a SKU left out of the
    answer is not a stockout."""

    complete = False

    def __init__(self, adapter: ApiAdapterBase, skus: list[str], batch_size: int) -> None:
        super().__init__(batch_size)
        self.found: set[str] = set()  # SKUs the supplier answered for
        self._adapter = adapter
        self._skus = skus

    async def pieces(self) -> AsyncGenerator[list[StockRecord], None]:
        async with aclosing(self._adapter.records(self._skus, self.stats)) as records:
            async for record in records:
                self.found.add(record.supplier_sku)
                yield [record]
