"""Shared plumbing of the JSON API supplier kinds (CJ Dropshipping, BigBuy, Printful).

* `ApiOptions`: the `[[suppliers]]` keys every API kind has (base_url, timeout, ...).
* `ApiClient`: one request with explicit timeouts, pacing, capped retries with
  backoff and jitter, Retry-After / vendor reset headers, and a "hold" that
  refuses calls without touching the network while the supplier asked us to stay
  away (quota used up, a rate-limit reset far in the future).
* `ApiAdapterBase`: per-SKU polling plumbing: remembers SKUs the supplier does
  not know, reads credentials from the environment, batches records.

A service's own rules live in a `check(response)` function passed to
`ApiClient.call`: it returns the useful part of the answer or raises `Retry`,
`TokenRejected`, `NotFound` or a `FeedError`. Messages are written for a shop
owner and never contain credentials: they are built from fixed text, and any
text the supplier sends back goes through `ApiAdapterBase.redact` first.
"""

from __future__ import annotations

import json
import logging
from abc import abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import AfterValidator, Field, field_validator

from suppliers.base import (
    AdapterOptions,
    FeedInvalid,
    FeedRead,
    FeedStats,
    FeedUnavailable,
    StockRecord,
    SupplierAdapter,
    SupplierPaused,
    Validators,
)
from suppliers.http import (
    RETRY_STATUSES,
    FetchPolicy,
    display_source,
    duration_text,
    looks_like_html,
    retry_after_seconds,
    status_text,
)
from suppliers.parsing import env_var_is_set

log = logging.getLogger(__name__)

T = TypeVar("T")

# The name of an environment variable that must be set (checked when the config loads).
EnvVarName = Annotated[str, AfterValidator(env_var_is_set)]

# An X-Ratelimit-Reset above this is a Unix time; below it, seconds from now.
_EPOCH_THRESHOLD = 1_000_000_000
_HIDDEN = "[hidden]"
_SUPPLIER_TEXT_CHARS = 120


class ApiOptions(AdapterOptions):
    """`[[suppliers]]` keys shared by the API kinds; subclasses set their defaults."""

    base_url: str
    timeout: float = Field(30.0, gt=0, le=600)  # seconds to wait for each answer
    max_attempts: int = Field(4, ge=1, le=10)  # tries per request before giving up
    requests_per_second: float = Field(1.0, gt=0, le=50)
    # The longest wait the supplier may ask for (Retry-After, rate-limit reset)
    # that Stockbot sits through within one poll; longer ones end the poll.
    max_wait: float = Field(60.0, ge=0, le=3600)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        url = url.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{display_source(url)!r} is not an http(s) address")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("base_url must not contain a login, ?query or #fragment")
        return url


# --- what a response check may raise ------------------------------------------------------


class Retry(Exception):
    """This attempt failed, another may succeed.

    `what` completes "<service> ..." for messages; `wait` is the server's requested
    wait in seconds (None: back off); `max_attempts` caps retries for this cause.
    """

    def __init__(self, what: str, wait: float | None = None, max_attempts: int | None = None):
        super().__init__(what)
        self.what = what
        self.wait = wait
        self.max_attempts = max_attempts


class TokenRejected(Exception):
    """The service refused the credentials (HTTP 401 or its own code)."""


class NotFound(Exception):
    """The service does not know the product or variant asked for."""


# --- response helpers ------------------------------------------------------------------


def rate_limit_wait(response: httpx.Response, clock: Callable[[], datetime]) -> float | None:
    """Seconds the server asks us to wait: Retry-After, else X-Ratelimit-Reset."""
    wait = retry_after_seconds(response, clock)
    if wait is not None:
        return wait
    reset = response.headers.get("x-ratelimit-reset", "").strip()
    try:
        value = float(reset)
    except ValueError:
        return None
    if value > _EPOCH_THRESHOLD:  # BigBuy: the Unix time the limit resets
        return max(0.0, value - clock().timestamp())
    return max(0.0, value)


def check_http_status(
    response: httpx.Response,
    service: str,
    clock: Callable[[], datetime],
    *,
    unknown_on_404: bool = False,
) -> None:
    """Return for 2xx; raise Retry, TokenRejected, NotFound or a FeedError otherwise."""
    status = response.status_code
    if 200 <= status < 300:
        return
    answered = f"answered {status_text(status)}"
    if status == 429:
        raise Retry(f"{answered} (too many requests)", rate_limit_wait(response, clock))
    if status in RETRY_STATUSES:
        raise Retry(answered, retry_after_seconds(response, clock))
    if status == 401:
        raise TokenRejected
    if status in (404, 410) and unknown_on_404:
        raise NotFound
    where = display_source(str(response.request.url))
    if status == 403:
        raise FeedInvalid(
            f"{service} refused access ({status_text(status)}) - check the API key or token "
            "and its permissions in the supplier's settings"
        )
    if 300 <= status < 400 or status in (404, 410):
        raise FeedInvalid(f"{service} {answered} at {where} - check base_url in the settings")
    error = FeedInvalid if status < 500 else FeedUnavailable
    raise error(f"{service} {answered} at {where}")


def read_json(response: httpx.Response, service: str) -> Any:
    """The body as JSON with decimals as Decimal; None for an empty body (which is
    "no data", never zero stock)."""
    body = response.content
    if not body.strip():
        return None
    if looks_like_html(body[:1024]):
        raise FeedInvalid(
            f"{service} answered with a web page instead of data - check base_url in the settings"
        )
    try:
        # Decimal, not float: "12.30" must stay exactly 12.30 (money).
        return json.loads(body, parse_float=Decimal)
    except ValueError:
        raise FeedInvalid(
            f"{service} sent an answer that is not valid JSON (it may have been cut off); "
            "will try again next poll"
        ) from None


# --- the request loop ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Hold:
    """No calls before `until`; `paused` marks a used-up quota (SupplierPaused)."""

    until: datetime
    message: str
    paused: bool


class Pacer:
    """Spaces requests at least 1/rate seconds apart, on the policy's clock."""

    def __init__(self, requests_per_second: float, policy: FetchPolicy) -> None:
        self._interval = timedelta(seconds=1 / requests_per_second)
        self._policy = policy
        self._next: datetime | None = None

    async def wait(self) -> None:
        now = self._policy.clock()
        start = max(now, self._next or now)
        if start > now:
            await self._policy.sleep((start - now).total_seconds())
        # Computed from the slot, not the clock after sleeping: a test clock may stand still.
        self._next = start + self._interval


class ApiClient:
    """Sends requests to one service on behalf of one adapter (so pacing and holds
    are per supplier account)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        service: str,
        base_url: str,
        policy: FetchPolicy,
        requests_per_second: float,
    ) -> None:
        self.http = http
        self.service = service
        self.base_url = base_url
        self.policy = policy
        self._pacer = Pacer(requests_per_second, policy)
        self._hold: _Hold | None = None

    def check_hold(self) -> None:
        """Raise, without any network call, while the service asked us to stay away."""
        hold = self._hold
        if hold is None:
            return
        if self.policy.clock() >= hold.until:
            self._hold = None
            return
        if hold.paused:
            raise SupplierPaused(hold.message, hold.until)
        raise FeedUnavailable(hold.message)

    def pause(self, until: datetime, message: str) -> SupplierPaused:
        """Stop calling until `until`; returns the exception to raise now."""
        self._hold = _Hold(until, message, paused=True)
        return SupplierPaused(message, until)

    async def call(
        self,
        method: str,
        path: str,
        check: Callable[[httpx.Response], T],
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        max_attempts: int | None = None,
    ) -> T:
        """Send until `check` accepts the answer, or raise a FeedError."""
        url = self.base_url + path
        limit = min(max_attempts or self.policy.max_attempts, self.policy.max_attempts)
        failures: list[str] = []
        attempt = 0
        while True:
            attempt += 1
            self.check_hold()
            await self._pacer.wait()
            try:
                return await self._send(method, url, check, params, json_body, headers)
            except Retry as retry:
                failures.append(retry.what)
                if attempt >= min(limit, retry.max_attempts or limit):
                    raise FeedUnavailable(_gave_up(self.service, failures)) from None
                wait = self._wait_before_retry(retry, attempt)
            log.warning(
                "%s %s %s (attempt %d); retrying in %.1fs",
                self.service,
                display_source(url),
                failures[-1],
                attempt,
                wait,
            )
            await self.policy.sleep(wait)

    async def _send(
        self,
        method: str,
        url: str,
        check: Callable[[httpx.Response], T],
        params: Mapping[str, str] | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
    ) -> T:
        try:
            response = await self.http.request(
                method,
                url,
                params=params,
                json=json_body,
                headers=headers,
                timeout=self.policy.httpx_timeout(),
            )
        except httpx.TimeoutException as exc:
            raise Retry(f"did not answer within {duration_text(self.policy.timeout)}") from exc
        except httpx.RequestError as exc:
            log.debug("%s %s: %s", self.service, display_source(url), type(exc).__name__)
            raise Retry("could not be reached (no connection)") from exc
        return check(response)

    def _wait_before_retry(self, retry: Retry, attempt: int) -> float:
        if retry.wait is None:
            return self.policy.backoff(attempt)
        if retry.wait <= self.policy.max_retry_after:
            return retry.wait
        until = self.policy.clock() + timedelta(seconds=retry.wait)
        message = (
            f"{self.service} {retry.what} and asked Stockbot to wait "
            f"{duration_text(retry.wait)}; Stockbot will try again after "
            f"{until.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        )
        self._hold = _Hold(until, message, paused=False)
        raise FeedUnavailable(message)


def _gave_up(service: str, failures: list[str]) -> str:
    count = len(failures)
    times = "once" if count == 1 else f"{count} times"
    if len(set(failures)) == 1:
        what = f"{failures[0]} {times}"
    else:
        what = f"failed {times} (last time it {failures[-1]})"
    return f"{service} {what}; Stockbot will try again next poll"


def next_utc_midnight(now: datetime) -> datetime:
    tomorrow = now.astimezone(UTC) + timedelta(days=1)
    return tomorrow.replace(hour=0, minute=0, second=0, microsecond=0)


# --- adapters ----------------------------------------------------------------------------


class ApiAdapterBase(SupplierAdapter):
    """A supplier asked per SKU (or by listing) through its JSON API.

    Subclasses set `kind`, `Options`, `service` and implement `records()`.
    `policy` is a test hook (recording sleep, fake clock, fixed jitter); its
    timeout, attempts and longest wait always come from the options.
    """

    Options: ClassVar[type[ApiOptions]]
    service: ClassVar[str]  # the supplier's name in messages, e.g. "CJ Dropshipping"
    # Per-SKU kinds stop asking about unknown SKUs; a listing kind reads them anyway.
    skip_unknown: ClassVar[bool] = True
    options: ApiOptions

    def __init__(
        self,
        name: str,
        options: AdapterOptions,
        client: httpx.AsyncClient,
        env: Mapping[str, str] | None = None,
        *,
        policy: FetchPolicy | None = None,
    ) -> None:
        if not isinstance(options, self.Options):
            raise TypeError(f"{type(self).__name__} needs {self.Options.__name__}")
        super().__init__(name, options, client, env)
        self.options = options
        self.policy = replace(
            policy or FetchPolicy(),
            timeout=options.timeout,
            max_attempts=options.max_attempts,
            max_retry_after=options.max_wait,
        )
        self.api = ApiClient(
            client, self.service, options.base_url, self.policy, options.requests_per_second
        )
        # SKUs the supplier said it does not know, for the life of the process.
        self.unknown: set[str] = set()

    def open(
        self,
        validators: Validators | None = None,
        skus: Sequence[str] = (),
        batch_size: int = 5000,
    ) -> AbstractAsyncContextManager[FeedRead]:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        return self._open(skus, batch_size)

    @asynccontextmanager
    async def _open(self, skus: Sequence[str], batch_size: int) -> AsyncIterator[FeedRead]:
        self.api.check_hold()
        self.credential()  # a missing key fails here, before any network call
        read = ApiFeedRead(self, self.wanted(skus), batch_size)
        try:
            yield read
            if read.finished:
                # Remembered only once the poll went through: a failed poll's report
                # is rolled back by the bot, so those SKUs must be reported again.
                self.unknown |= read.stats.unknown_skus
        finally:
            await read.aclose()

    def wanted(self, skus: Iterable[str]) -> list[str]:
        """The SKUs to ask for: each once, in order, without blanks or known unknowns.

        SKUs are kept exactly as given: the bot matches records to its catalog by them.
        """
        seen: set[str] = set()
        wanted: list[str] = []
        for sku in skus:
            if not sku.strip() or sku in seen or (self.skip_unknown and sku in self.unknown):
                continue
            seen.add(sku)
            wanted.append(sku)
        return wanted

    def mark_unknown(self, sku: str, stats: FeedStats) -> None:
        """Report an unknown SKU unless a successful poll already did."""
        if sku not in self.unknown:
            stats.unknown_skus.add(sku)

    @property
    @abstractmethod
    def credential_env(self) -> str:
        """The name of the environment variable holding the API key or token."""

    def credential(self) -> str:
        """The API key or token; a FeedInvalid naming the variable (only) if unset."""
        variable = self.credential_env
        value = self.env.get(variable, "").strip()
        if not value:
            raise FeedInvalid(
                f"{self.service} needs the environment variable {variable}, which is not set"
            )
        if any(char in value for char in "\r\n\0"):
            raise FeedInvalid(f"The environment variable {variable} must hold a single line")
        return value

    def secrets(self) -> Iterable[str]:
        """Every credential value in use, for `redact`; kinds with tokens add theirs."""
        yield self.env.get(self.credential_env, "").strip()

    def redact(self, text: str) -> str:
        """Supplier-sent text for a message: secrets hidden, length capped."""
        for secret in self.secrets():
            if secret:
                text = text.replace(secret, _HIDDEN)
        text = " ".join(text.split())
        if len(text) > _SUPPLIER_TEXT_CHARS:
            text = text[: _SUPPLIER_TEXT_CHARS - 3] + "..."
        return text

    @abstractmethod
    def records(self, skus: list[str], stats: FeedStats) -> AsyncGenerator[StockRecord, None]:
        """Stock of `skus` (only those), setting bad answers aside in `stats`."""

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": display_source(self.options.base_url)}


class ApiFeedRead(FeedRead):
    """One poll of an API adapter: never complete, since a SKU left out of the
    answer is not a stockout."""

    complete = False

    def __init__(self, adapter: ApiAdapterBase, skus: list[str], batch_size: int) -> None:
        self.stats = FeedStats()
        self.validators = Validators()
        self._adapter = adapter
        self._skus = skus
        self._batch_size = batch_size
        self._batches: AsyncGenerator[list[StockRecord], None] | None = None
        self.finished = False  # every SKU was read

    def batches(self) -> AsyncIterator[list[StockRecord]]:
        if self._batches is not None:
            raise RuntimeError("a feed read can only be iterated once")
        self._batches = self._read()
        return self._batches

    async def _read(self) -> AsyncGenerator[list[StockRecord], None]:
        batch: list[StockRecord] = []
        async with aclosing(self._adapter.records(self._skus, self.stats)) as records:
            async for record in records:
                batch.append(record)
                if len(batch) >= self._batch_size:
                    yield batch
                    batch = []
        if batch:
            yield batch
        self.finished = True

    async def aclose(self) -> None:
        if self._batches is not None:
            await self._batches.aclose()
