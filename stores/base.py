"""The contract every store adapter fulfils, and the plumbing they share.

A store adapter reads the shop's open orders as normalised `StoreOrder`s (its
order webhooks are parsed into the same records, by the same code) and pushes
stock levels back (`InventoryUpdate` -> `PushResult`). Like `suppliers/`,
adapters only do I/O and parsing: they know nothing of the database or Slack.

Requests go through `transport.ApiClient` (timeouts, pacing, capped retries
with backoff and jitter, Retry-After). Messages are written for a shop owner and
never contain credentials: they are built from fixed text, and any text the
store sends back goes through `StoreAdapter.redact` first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import AfterValidator, ConfigDict, Field

from transport import (
    ApiClient,
    CallLimits,
    ServiceAdapter,
    ServiceError,
    ServiceUnavailable,
    credential_problem,
    display_source,
    failed_answer,
    http_url,
    refused_access,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


# --- records -----------------------------------------------------------------------------


# Where an order stands, decided by the adapter from the store's own words: only "open"
# orders wait for stock. "deleted" is an order the store no longer has; "unknown" is a
# status Stockbot cannot read as any of these (a checkout draft, a plugin's own status),
# so both the poll and the webhooks leave such an order as it is.
OrderState = Literal["open", "fulfilled", "cancelled", "deleted", "unknown"]

# What a parser raises for an order it cannot read (`read_order` skips and logs it).
ORDER_PARSE_ERRORS = (KeyError, TypeError, ValueError, AttributeError)


@dataclass(frozen=True, slots=True)
class StoreOrderLine:
    sku: str  # "" only while `variant_id` waits for `StoreAdapter.fill_skus`
    quantity: int  # units still to ship (the adapter says why); 0 once all shipped
    # The store's variant id, kept only for a line that came without a SKU.
    variant_id: str = ""
    # Units the customer bought (after edits and refunds), when not `quantity`: a
    # line shipped in part or in full. Sales history counts these.
    sold: int | None = None

    @property
    def units_sold(self) -> int:
        return self.quantity if self.sold is None else self.sold


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreOrder:
    """One order as the store reported it, read the same way by the order poll and the
    webhooks; `external_id` is the store's own id."""

    external_id: str
    status: OrderState
    name: str = ""  # what the shop owner calls it, e.g. "#1001"
    customer_name: str = ""
    customer_email: str = ""
    # Timezone-aware. None only when the store sent no order with the news (a deletion
    # carries just the id): an open order always has it.
    ordered_at: datetime | None = None
    lines: tuple[StoreOrderLine, ...] = ()

    def __post_init__(self) -> None:
        if self.status == "open" and self.ordered_at is None:
            raise ValueError("an open order needs the time it was placed")


def _never_a_ping(_headers: Mapping[str, str], _body: bytes) -> bool:
    return False


def _delivery_id_alone(delivery_id: str, _topic: str, _body: Any) -> str:
    return delivery_id


@dataclass(frozen=True, slots=True)
class WebhookFormat:
    """How a store signs and labels its order webhooks, and how a body becomes a record."""

    signature_header: str
    topic_header: str
    delivery_header: str
    # Names the shop that sent it (a domain or a site URL), compared by `site_key`
    # with the `[[stores]]` tables' addresses.
    origin_header: str
    verify: Callable[[bytes, str, str], bool]  # (raw body, signature, secret)
    # (topic, JSON body) -> the order, or None for a topic Stockbot does not act on;
    # raises one of ORDER_PARSE_ERRORS for an order it cannot read.
    parse: Callable[[str, Any], StoreOrder | None]
    # An unsigned "is this address alive?" request, answered 200 and nothing else.
    is_ping: Callable[[Mapping[str, str], bytes], bool] = _never_a_ping
    # (delivery header, topic, JSON body) -> what identifies one event, for de-duplication
    # ("" when the header is missing). The header alone, unless the store reuses it.
    delivery_key: Callable[[str, str, Any], str] = _delivery_id_alone


def site_key(address: str) -> str:
    """A shop's address as webhooks and `[[stores]]` tables both give it, comparable:
    host (lower case, with a port other than the scheme's default) and path, without
    scheme or trailing slash. `my-shop.myshopify.com` (Shopify's header),
    `https://my-shop.myshopify.com/` and `HTTPS://My-Shop.myshopify.com` are alike."""
    text = address.strip()
    parts = urlsplit(text if "://" in text else "//" + text)
    try:
        port = parts.port
    except ValueError:
        return ""
    host = (parts.hostname or "").lower()
    if port is not None and port != {"http": 80, "https": 443}.get(parts.scheme.lower()):
        host += f":{port}"
    return host + parts.path.rstrip("/") if host else ""


def stripped(value: Any) -> str:
    """A string field, stripped; anything else (null, a number, an object) is ""."""
    return value.strip() if isinstance(value, str) else ""


def full_name(person: Mapping[str, Any]) -> str:
    """`first_name last_name` of a customer or an address (both stores name them so)."""
    parts = (stripped(person.get("first_name")), stripped(person.get("last_name")))
    return " ".join(part for part in parts if part)


def order_id(raw: Mapping[str, Any]) -> str:
    """The order's `id` as text; ValueError when there is none usable."""
    value = raw["id"]
    # bool is an int to Python, but never an id.
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip():
        raise ValueError(f"unusable order id {value!r}")
    return str(value).strip()


def whole_number(value: Any) -> int | None:
    """An integer field (JSON number or digits in a string); None when absent or not one."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


# No order line of a real shop comes near this; beyond it a number is garbage (and
# 10^20 would not even fit the database), so the order is unreadable, not huge.
MAX_LINE_QUANTITY = 1_000_000


def line_quantity(value: Any, item: Mapping[str, Any]) -> int | None:
    """A line item's unit count: None when absent; ValueError when it is not a whole
    number from 0 to MAX_LINE_QUANTITY (a negative or absurd count is not a count)."""
    if value is None:
        return None
    units = whole_number(value)
    if units is None or not 0 <= units <= MAX_LINE_QUANTITY:
        raise ValueError(f"line item {item.get('id')} has an impossible quantity")
    return units


@dataclass(frozen=True, slots=True)
class InventoryUpdate:
    """The stock to publish for one SKU; `backorders_allowed` keeps it sellable at 0."""

    sku: str
    available: int
    backorders_allowed: bool = False


@dataclass(frozen=True, slots=True)
class PushResult:
    sku: str
    ok: bool
    error: str | None = None


# --- errors ------------------------------------------------------------------------------


class StoreError(Exception):
    """The store could not be read or updated; the message is written for a shop owner."""


class StoreUnavailable(StoreError):
    """Network failure, timeout, throttling or server error after retries: try later."""


class StoreRejected(StoreError):
    """The store answered but refused the request (credentials, settings, bad data)."""


# --- options -----------------------------------------------------------------------------


class StoreOptions(CallLimits):
    """`[[stores]]` keys shared by every kind; unknown keys are errors.

    Each kind names its address key (`shop_url`, `site_url`) and exposes it as
    `base_url`, so the config reads like the store's own documentation.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_pages: int = Field(50, ge=1, le=10_000)  # order pages read per poll at most
    requests_per_second: float = Field(2.0, gt=0, le=50)

    @property
    def base_url(self) -> str:
        raise NotImplementedError


def store_url(url: str) -> str:
    """Validator for a store address: http(s), a host, nothing secret or extra."""
    return http_url(url, "the store address")


# A store's address as a `[[stores]]` key (`shop_url`, `site_url`).
StoreUrl = Annotated[str, AfterValidator(store_url)]


# --- the adapter -------------------------------------------------------------------------


class StoreAdapter(ServiceAdapter, ABC):
    """Base class of every store kind; register subclasses in `stores.REGISTRY`."""

    kind: ClassVar[str]
    service: ClassVar[str]  # the store platform's name in messages
    Options: ClassVar[type[StoreOptions]]
    options: StoreOptions
    text_limit: ClassVar[int] = 160
    # False after an `open_orders()` read that stopped at `max_pages`: the orders
    # not seen may still be open, so callers must not treat them as closed.
    orders_complete: bool = True

    @cached_property
    def api(self) -> ApiClient:
        # Empty base URL: calls pass whole URLs, so "next page" links are used as given.
        return ApiClient(
            self.client,
            self.service,
            "",
            self.policy,
            self.options.requests_per_second,
            translate=self._store_error,
        )

    def _store_error(self, error: ServiceError) -> StoreError:
        """Transport errors as store errors, with any store-sent text redacted."""
        message = self.redact(str(error))
        if isinstance(error, ServiceUnavailable):
            return StoreUnavailable(message)
        return StoreRejected(message)

    @abstractmethod
    def open_orders(self) -> AsyncIterator[StoreOrder]:
        """The store's orders still waiting to be shipped, page by page (capped)."""

    async def push_inventory(self, updates: Sequence[InventoryUpdate]) -> list[PushResult]:
        """Publish stock levels; one result per update, in order."""
        headers = self.request_headers()
        results: list[PushResult] = []
        down: StoreUnavailable | None = None
        for update in updates:
            if down is not None:  # no point asking a store that is not answering
                results.append(PushResult(update.sku, False, str(down)))
                continue
            try:
                results.append(await self.push_one(update, headers))
            except StoreUnavailable as exc:
                down = exc
                results.append(PushResult(update.sku, False, str(exc)))
            except StoreError as exc:
                results.append(PushResult(update.sku, False, str(exc)))
        return results

    @abstractmethod
    async def cancel_order(self, external_id: str) -> None:
        """Cancel one order in the store (the customer asked to); StoreError when the
        store refuses or cannot be reached."""

    @abstractmethod
    async def order_cancelled(self, external_id: str) -> bool:
        """Whether the store has the order as cancelled (a cancel that went through
        before its answer was lost); StoreError when the store cannot tell."""

    @abstractmethod
    def request_headers(self) -> dict[str, str]:
        """Headers for every call, credentials included (missing ones fail here)."""

    @abstractmethod
    async def push_one(self, update: InventoryUpdate, headers: dict[str, str]) -> PushResult:
        """Publish one SKU's stock level."""

    def read_order(self, raw: Any, parse: Callable[[Any], StoreOrder], label: str) -> StoreOrder:
        """One order; one that cannot be read (logged) is still listed, as "unknown":
        the poll must not take it for gone. Its id is "" when even that is unreadable."""
        try:
            return parse(raw)
        except ORDER_PARSE_ERRORS as exc:
            shown = raw.get(label) or raw.get("id") if isinstance(raw, dict) else None
            log.warning("%s: unreadable order %s left as it is (%s)", self.name, shown, exc)
            try:
                ident = order_id(raw)
            except ORDER_PARSE_ERRORS:
                ident = ""
            name = str(raw.get(label) or "").strip() if isinstance(raw, dict) else ""
            return StoreOrder(external_id=ident, status="unknown", name=name)

    async def write_order_note(
        self, order_id: str, line: str, tags: Sequence[str], remove_tags: Sequence[str] = ()
    ) -> None:
        """Write what a customer was told or chose onto the store's order `order_id`:
        `line` appended to its staff-only notes (once: a retry finds it there), `tags`
        added and `remove_tags` taken off where the store has tags. Raises StoreError
        when the store refuses."""
        raise StoreRejected(f"{self.service} orders cannot take notes")

    async def fill_skus(self, orders: Sequence[StoreOrder]) -> list[StoreOrder]:
        """The orders with a SKU on every line: a line the store sent without one gets
        its variant's (a line whose variant is gone is dropped). StoreError when the
        store cannot be asked. Stores whose parser drops such lines have nothing to do."""
        return list(orders)

    @abstractmethod
    def secrets(self) -> Iterable[str]:
        """Every credential value in use (for `redact`)."""

    def describe(self) -> dict[str, Any]:
        """What is safe to show a user about this store (never secrets)."""
        return {"kind": self.kind, "source": display_source(self.options.base_url)}

    # --- helpers for subclasses --------------------------------------------------------

    def credential(self, variable: str) -> str:
        """A credential from the environment; a StoreRejected naming the variable only."""
        problem = credential_problem(self.env, variable, self.service)
        if problem is not None:
            raise StoreRejected(problem)
        return self.env[variable].strip()

    def check_status(self, response: httpx.Response, credential_hint: str) -> None:
        """Return for 2xx; raise Retry (429, 5xx) or StoreRejected otherwise."""
        answered = failed_answer(response, self.policy.clock)
        if answered is None:
            return
        status = response.status_code
        if status in (401, 403):
            raise StoreRejected(refused_access(self.service, status, credential_hint))
        where = display_source(str(response.request.url))
        detail = self.error_detail(response)
        suffix = f": {detail}" if detail else ""
        if status == 404:
            raise StoreRejected(f"{self.service} {answered} at {where}{suffix}")
        raise StoreRejected(f"{self.service} {answered}{suffix}")

    def error_detail(self, response: httpx.Response) -> str:
        """The store's own error text for a message (already redacted); "" if none."""
        return ""


def verify_hmac_base64(body: bytes, signature: str, secret: str) -> bool:
    """True when `signature` is base64(HMAC-SHA256(body, secret)), compared in constant time."""
    if not signature or not secret:
        return False
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    expected = base64.b64encode(digest)
    try:
        given = signature.strip().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected, given)


def next_link(response: httpx.Response) -> str | None:
    """The `Link: <...>; rel="next"` URL exactly as the store gave it."""
    for rel, link in response.links.items():
        if rel == "next" and link.get("url"):
            return link["url"]
    return None
