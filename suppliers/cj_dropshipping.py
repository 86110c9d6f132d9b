"""CJ Dropshipping (API 2.0): stock per variant, summed over CJ's warehouses.

Every answer is an envelope `{code, result, message, data, requestId}` and the
`code` decides, whatever the HTTP status. Logging in (getAccessToken) is allowed
only once every 5 minutes, so the access token is cached in the adapter (one
instance lives for the whole process) and renewed with the refresh token.

A variant CJ took off its shelves is "discontinued by the supplier", about that
SKU only; most SKUs unknown means `sku_type` (or the catalog) is wrong, and the
shape of the SKUs tells which way.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncGenerator, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, model_validator

from suppliers.api_adapter import ApiAdapterBase, ApiOptions, check_http_status, next_utc_midnight
from suppliers.base import Availability, FeedInvalid, FeedStats, FeedUnavailable, StockRecord
from suppliers.parsing import parse_price, parse_quantity, show
from transport import (
    RETRY_STATUSES,
    EnvVarName,
    NotFound,
    Retry,
    TokenRejected,
    rate_limit_wait,
    read_json,
)

log = logging.getLogger(__name__)

CJ_BASE_URL = "https://developers.cjdropshipping.com/api2.0/v1"
TOKEN_HEADER = "CJ-Access-Token"
LOGIN_PATH = "/authentication/getAccessToken"
REFRESH_PATH = "/authentication/refreshAccessToken"
STOCK_PATHS = {"vid": "/product/stock/queryByVid", "sku": "/product/stock/queryBySku"}
PRICE_PATH = "/product/variant/queryByVid"

# Documented lifetimes, used when an answer leaves out the expiry dates.
ACCESS_LIFETIME = timedelta(days=15)
REFRESH_LIFETIME = timedelta(days=180)
# Renew a token this long before it expires (or after 90% of a shorter life), so
# clock skew never leaves Stockbot holding a dead token.
RENEW_MARGIN = timedelta(days=1)
LOGIN_INTERVAL = timedelta(minutes=5)  # CJ allows getAccessToken once per 5 minutes
CHINA_TIME = timezone(timedelta(hours=8))  # CJ's dates without an offset

OK = 200
TOKEN_CODES = frozenset({1600001, 1600002, 1600003})  # invalid/missing token, bad refresh token
# Authorization failed, API key wrong, developer account not found, user not found.
LOGIN_CODES = frozenset({1600004, 1600005, 1600006, 1601000})
BUSY = 1600000
BUSY_ATTEMPTS = 4  # "system busy": the first try and at most 3 retries
READ_TIMED_OUT = 1600301  # on CJ's side: worth another try
RATE_LIMITED = 1600200
QUOTA_USED_UP = 1600201
# Illegal parameter (a malformed id), variant not found, product not found.
UNKNOWN_CODES = frozenset({1600300, 1602000, 1602001})
# Removed from CJ's shelves (the product: 1602002, the variant: 1602003): a
# routine event about one SKU, never a reason to fail the poll.
DELISTED_CODES = frozenset({1602002, 1602003})

# What CJ's ids look like: vids are UUIDs (or long hex), SKUs start with "CJ".
_VID = re.compile(r"[0-9A-Fa-f]{8}-?(?:[0-9A-Fa-f]{4}-?){3}[0-9A-Fa-f]{12}|\d{15,}")

# Warehouse row keys; variant-level rows drop the "Num" suffix.
_TOTAL_KEYS = ("totalInventoryNum", "totalInventory")
_CJ_KEYS = ("cjInventoryNum", "cjInventory")
_FACTORY_KEYS = ("factoryInventoryNum", "factoryInventory")
_WAREHOUSE_KEYS = ("countryCode", "areaEn", "areaId")


class CjDropshippingOptions(ApiOptions):
    base_url: str = CJ_BASE_URL
    api_key_env: EnvVarName = Field("CJ_API_KEY", validate_default=True)
    # What the catalog's supplier SKUs are: CJ variant ids ("vid") or CJ SKUs ("sku").
    sku_type: Literal["vid", "sku"] = "vid"
    # Prices cost one more call per SKU against the daily quota, so they are opt-in.
    fetch_prices: bool = False
    # CJ allows 1/s on Free accounts, 2 Plus, 4 Prime, 6 Advanced (10/s per IP).
    requests_per_second: float = Field(1.0, gt=0, le=10)

    @model_validator(mode="after")
    def _prices_need_vids(self) -> CjDropshippingOptions:
        if self.fetch_prices and self.sku_type != "vid":
            raise ValueError(
                'fetch_prices needs sku_type = "vid" (CJ looks prices up by variant id)'
            )
        return self


class Delisted(Exception):
    """CJ took the variant or product off its shelves."""


def looks_like_vid(sku: str) -> bool:
    return bool(_VID.fullmatch(sku.strip()))


def looks_like_cj_sku(sku: str) -> bool:
    return sku.strip().upper().startswith("CJ") and not looks_like_vid(sku)


@dataclass(frozen=True, slots=True)
class _Tokens:
    access: str
    renew_access_at: datetime
    refresh: str | None
    renew_refresh_at: datetime


class CjDropshippingAdapter(ApiAdapterBase):
    """Polls CJ per variant: `/product/stock/queryByVid` (or queryBySku)."""

    kind: ClassVar[str] = "cj_dropshipping"
    Options: ClassVar[type[ApiOptions]] = CjDropshippingOptions
    service: ClassVar[str] = "CJ Dropshipping"
    options: CjDropshippingOptions

    _tokens: _Tokens | None = None  # cached for the life of the process
    _last_login: datetime | None = None

    # --- credentials ---

    @property
    def credential_env(self) -> str:
        return self.options.api_key_env

    def secrets(self) -> Iterable[str]:
        yield from super().secrets()
        if self._tokens is not None:
            yield self._tokens.access
            yield self._tokens.refresh or ""

    def not_found_hint(self, skus: Sequence[str]) -> str:
        sku_type = self.options.sku_type
        half = len(skus) / 2
        if sku_type == "vid" and sum(map(looks_like_cj_sku, skus)) > half:
            return (
                'They look like CJ SKUs, not variant ids: set sku_type = "sku" for '
                "this supplier (or use the variant ids in the catalog)"
            )
        if sku_type == "sku" and sum(map(looks_like_vid, skus)) > half:
            return (
                'They look like CJ variant ids, not SKUs: set sku_type = "vid" for '
                "this supplier (or use the CJ SKUs in the catalog)"
            )
        wanted = "variant ids (vid)" if sku_type == "vid" else "SKUs"
        return (
            f'Check the supplier SKUs in the catalog: with sku_type = "{sku_type}" '
            f"they must be CJ {wanted}"
        )

    # --- stock ---

    async def records(self, skus: list[str], stats: FeedStats) -> AsyncGenerator[StockRecord, None]:
        for position, sku in enumerate(skus, start=1):
            record = await self._record(position, sku, stats)
            if record is not None:
                yield record

    async def _record(self, position: int, sku: str, stats: FeedStats) -> StockRecord | None:
        param = self.options.sku_type
        try:
            data = await self._get(STOCK_PATHS[param], {param: sku})
            price_data = await self._price_data(sku) if self.options.fetch_prices else None
        except NotFound:
            self.mark_unknown(sku, stats)
            return None
        except Delisted:
            stats.rows_read += 1
            return StockRecord(sku, 0, availability=Availability.DISCONTINUED)
        stats.rows_read += 1
        try:
            warehouses = _warehouses(data, sku)
            price = _price(price_data)
        except ValueError as exc:
            stats.reject(position, f"SKU {show(sku)}: {exc}", sku)
            return None
        quantity = sum(count for _, count in warehouses)
        return StockRecord(
            sku,
            quantity,
            price,
            availability=StockRecord.availability_for(quantity),
            warehouses=warehouses,
        )

    async def _price_data(self, sku: str) -> Any:
        try:
            return await self._get(PRICE_PATH, {"vid": sku})
        except (NotFound, Delisted):
            return None  # stock was found; a missing price is just unknown

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        """A data call with the cached token; on a token error, renew it and retry once."""
        try:
            return await self._get_with_token(path, params)
        except TokenRejected:
            log.info("CJ Dropshipping refused the access token; renewing it")
            self._expire_access_token()
        try:
            return await self._get_with_token(path, params)
        except TokenRejected:
            raise FeedInvalid(
                "CJ Dropshipping keeps refusing Stockbot's login even after logging in "
                f"again; check the API key in the environment variable {self.options.api_key_env}"
            ) from None

    async def _get_with_token(self, path: str, params: dict[str, str]) -> Any:
        token = await self._access_token()
        headers = {TOKEN_HEADER: token}
        return await self.api.call("GET", path, self._data, params=params, headers=headers)

    # --- tokens ---

    async def _access_token(self) -> str:
        now = self.policy.clock()
        tokens = self._tokens
        if tokens is not None and now < tokens.renew_access_at:
            return tokens.access
        if tokens is not None and tokens.refresh and now < tokens.renew_refresh_at:
            try:
                self._tokens = await self._authenticate(
                    REFRESH_PATH, {"refreshToken": tokens.refresh}
                )
                return self._tokens.access
            except TokenRejected:
                log.info("CJ Dropshipping refused the refresh token; logging in again")
                self._tokens = None
        return await self._login()

    async def _login(self) -> str:
        now = self.policy.clock()
        if self._last_login is not None and now < self._last_login + LOGIN_INTERVAL:
            retry_at = self._last_login + LOGIN_INTERVAL
            raise FeedUnavailable(
                "CJ Dropshipping allows a new login only once every 5 minutes and Stockbot "
                f"already logged in at {self._last_login.astimezone(UTC):%H:%M} UTC; "
                f"Stockbot will try again after {retry_at.astimezone(UTC):%H:%M} UTC"
            )
        # Counted before the call: CJ may count an attempt whose answer we never saw.
        self._last_login = now
        api_key = self.credential()
        try:
            self._tokens = await self._authenticate(LOGIN_PATH, {"apiKey": api_key}, attempts=1)
        except TokenRejected:
            raise FeedInvalid(
                "CJ Dropshipping did not accept the API key in the environment variable "
                f"{self.options.api_key_env}; check it in CJ's developer settings"
            ) from None
        return self._tokens.access

    async def _authenticate(
        self, path: str, body: dict[str, str], attempts: int | None = None
    ) -> _Tokens:
        # A login is never retried within a poll: a retry could break the 5-minute rule.
        data = await self.api.call("POST", path, self._data, json_body=body, max_attempts=attempts)
        return _tokens(data, self.policy.clock(), self._tokens)

    def _expire_access_token(self) -> None:
        if self._tokens is not None:
            self._tokens = replace(self._tokens, access="", renew_access_at=self.policy.clock())

    # --- the envelope ---

    def _data(self, response: httpx.Response) -> Any:
        """`data` of a successful envelope; raise what the `code` means otherwise."""
        clock = self.policy.clock
        status = response.status_code
        if status == 429 or status in RETRY_STATUSES:
            # Throttled or failing before CJ's own code ran: the body is no envelope.
            check_http_status(response, self.service, clock)
        body = _json_or_none(response, self.service)
        code = _code(body)
        if code is None:
            check_http_status(response, self.service, clock)
            raise FeedInvalid(
                "CJ Dropshipping sent an answer without a status code; check base_url "
                "in the settings"
            )
        if code == OK:
            return body.get("data")
        if code in TOKEN_CODES:
            raise TokenRejected
        if code in UNKNOWN_CODES:
            raise NotFound
        if code in DELISTED_CODES:
            raise Delisted
        message = self.redact(str(body.get("message") or ""))
        if code in LOGIN_CODES:
            raise FeedInvalid(
                "CJ Dropshipping did not accept the API key in the environment variable "
                f"{self.options.api_key_env} (error {code}: {message or 'no reason'}); check "
                "the key and the account in CJ's developer settings"
            )
        if code == BUSY:
            raise Retry("said its system is busy", max_attempts=BUSY_ATTEMPTS)
        if code == READ_TIMED_OUT:
            raise Retry("said a read timed out on its side")
        if code == RATE_LIMITED:
            raise Retry("said Stockbot is calling too often", rate_limit_wait(response, clock))
        if code == QUOTA_USED_UP:
            raise self.api.pause(
                next_utc_midnight(clock()),
                "CJ Dropshipping says the daily API quota is used up; Stockbot will try "
                "again after 00:00 UTC",
            )
        raise FeedInvalid(f"CJ Dropshipping answered with error {code}: {message or 'no reason'}")


def _json_or_none(response: httpx.Response, service: str) -> Any:
    try:
        return read_json(response, service)
    except FeedInvalid:
        if response.is_success:
            raise
        return None  # an error page: the HTTP status explains it


def _code(body: Any) -> int | None:
    if not isinstance(body, dict):
        return None
    code = body.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code)
    return None


# --- answers -------------------------------------------------------------------------


def _tokens(data: Any, now: datetime, previous: _Tokens | None) -> _Tokens:
    """Tokens from a login or refresh answer; a refresh may omit the refresh token."""
    access = data.get("accessToken") if isinstance(data, dict) else None
    if not isinstance(access, str) or not access.strip():
        raise FeedInvalid("CJ Dropshipping answered the login without an access token")
    expires = _expiry(data.get("accessTokenExpiryDate"), now + ACCESS_LIFETIME)
    renew_access_at = _renew_at(now, expires)
    refresh = data.get("refreshToken")
    if isinstance(refresh, str) and refresh.strip():
        expires = _expiry(data.get("refreshTokenExpiryDate"), now + REFRESH_LIFETIME)
        return _Tokens(access.strip(), renew_access_at, refresh.strip(), _renew_at(now, expires))
    if previous is not None and previous.refresh:
        return _Tokens(access.strip(), renew_access_at, previous.refresh, previous.renew_refresh_at)
    return _Tokens(access.strip(), renew_access_at, None, now)


def _renew_at(now: datetime, expires: datetime) -> datetime:
    return expires - min(RENEW_MARGIN, max(expires - now, timedelta(0)) / 10)


def _expiry(value: object, default: datetime) -> datetime:
    """CJ writes '2021-08-18T09:16:33+08:00'; a date without an offset is China time."""
    if not isinstance(value, str):
        return default
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return default
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA_TIME)
    return moment


def _warehouses(data: Any, sku: str) -> tuple[tuple[str, int], ...]:
    """(warehouse, quantity) pairs, merged by warehouse; ValueError when unusable.

    One unreadable warehouse sets the whole SKU aside: a total without it would
    understate stock and could raise a false low-stock alert.
    """
    totals: dict[str, int] = {}
    rows = _rows(data, sku)
    for index, row in enumerate(rows, start=1):
        name, quantity = _warehouse(row, index)
        totals[name] = totals.get(name, 0) + quantity
    if not totals:
        raise ValueError("CJ Dropshipping listed no warehouses for it")
    return tuple(totals.items())


def _rows(data: Any, sku: str) -> list[Any]:
    """The warehouse rows in either documented shape."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        if isinstance(data.get("inventories"), list):
            return data["inventories"]
        for variant in data.get("variantInventories") or []:
            if isinstance(variant, dict) and str(variant.get("vid")) == sku:
                inventory = variant.get("inventory")
                return inventory if isinstance(inventory, list) else []
        if any(key in data for key in _TOTAL_KEYS):
            return [data]
    raise ValueError("CJ Dropshipping sent no stock data")


def _warehouse(row: Any, index: int) -> tuple[str, int]:
    if not isinstance(row, dict):
        raise ValueError(f"warehouse entry {index} is not an object")
    name = next(
        (str(row[key]).strip() for key in _WAREHOUSE_KEYS if str(row.get(key) or "").strip()),
        f"warehouse {index}",
    )
    quantity = parse_quantity(_first(row, _TOTAL_KEYS))
    if quantity is not None:
        return name, quantity
    # No total: CJ's own plus the factory's stock, when both are given.
    own = parse_quantity(_first(row, _CJ_KEYS))
    factory = parse_quantity(_first(row, _FACTORY_KEYS))
    if own is None or factory is None:
        raise ValueError(f"warehouse {name} has no stock figure")
    return name, own + factory


def _first(row: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((row[key] for key in keys if row.get(key) is not None), None)


def _price(data: Any) -> Decimal | None:
    if isinstance(data, list):
        data = data[0] if len(data) == 1 else None
    if not isinstance(data, dict):
        return None
    return parse_price(data.get("variantSellPrice"))
