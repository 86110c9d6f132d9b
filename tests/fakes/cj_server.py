"""A fake CJ Dropshipping API 2.0 on 127.0.0.1, run in the test's event loop.

It speaks CJ's envelope `{code, result, message, data, requestId}` and enforces
what the adapter must cope with: access tokens that expire (on the shared test
clock) or are revoked (1600001), a missing token (1600002), a bad refresh token
(1600003), getAccessToken at most once per 5 minutes (counted in
`login_violations`), a daily quota (1600201), unknown variants (1602000) and
any code for a given variant (`codes`, e.g. 1602003 for a delisted one)::

    async with FakeCJ(api_key=KEY, clock=clock) as cj:
        cj.stock["V1"] = [warehouse("CN", 700), warehouse("US", 12)]
        cj.script(STOCK_BY_VID, envelope_reply(1600200), Reply(429, {...}))
        cj.base_url  # point the adapter's base_url here

Scripted replies answer the next requests for a path, in order, before any of
the normal logic (so they need no valid token).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from aiohttp import web

from tests.fakes.api_server import FakeApiServer, Reply

PREFIX = "/api2.0/v1"  # as in the real base URL
LOGIN = "/authentication/getAccessToken"
REFRESH = "/authentication/refreshAccessToken"
STOCK_BY_VID = "/product/stock/queryByVid"
STOCK_BY_SKU = "/product/stock/queryBySku"
VARIANT_BY_VID = "/product/variant/queryByVid"

CHINA = timezone(timedelta(hours=8))
LOGIN_INTERVAL = timedelta(minutes=5)


def envelope(code: int, data: Any = None, message: str = "") -> dict[str, Any]:
    return {
        "code": code,
        "result": code == 200,
        "message": message or ("Success" if code == 200 else "error"),
        "data": data,
        "requestId": "00000000-0000-0000-0000-000000000000",
    }


def envelope_reply(code: int, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, envelope(code), headers or {})


def warehouse(country: str, total: Any, **extra: Any) -> dict[str, Any]:
    """One row of queryByVid's answer."""
    row = {"vid": "x", "areaId": "1", "areaEn": f"{country} Warehouse", "countryCode": country}
    row["totalInventoryNum"] = total
    row.update(extra)
    return row


class FakeCJ(FakeApiServer):
    prefix: ClassVar[str] = PREFIX

    def __init__(self, api_key: str, clock: Callable[[], datetime]) -> None:
        super().__init__()
        self.api_key = api_key
        self.clock = clock
        self.stock: dict[str, Any] = {}  # vid -> `data` of queryByVid
        self.stock_by_sku: dict[str, Any] = {}  # sku -> `data` of queryBySku
        self.prices: dict[str, Any] = {}  # vid -> variantSellPrice
        # vid or sku -> the error code CJ answers for it (e.g. 1602003: delisted)
        self.codes: dict[str, int] = {}
        self.access_lifetime = timedelta(days=15)
        self.refresh_lifetime = timedelta(days=180)
        self.quota: int | None = None  # data calls left today; None = unlimited
        self.login_violations = 0
        self._access: dict[str, datetime] = {}
        self._refresh: dict[str, datetime] = {}
        self._last_login: datetime | None = None
        self._serial = itertools.count(1)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(PREFIX + LOGIN, self._login)
        router.add_post(PREFIX + REFRESH, self._refresh_token)
        router.add_get(PREFIX + STOCK_BY_VID, self._stock_by_vid)
        router.add_get(PREFIX + STOCK_BY_SKU, self._stock_by_sku)
        router.add_get(PREFIX + VARIANT_BY_VID, self._variant)

    # --- test controls ---

    def revoke_access_tokens(self) -> None:
        self._access.clear()

    def revoke_refresh_tokens(self) -> None:
        self._refresh.clear()

    @property
    def issued_tokens(self) -> list[str]:
        return list(self._access) + list(self._refresh)

    # --- handlers ---

    async def _login(self, request: web.Request) -> web.StreamResponse:
        recorded, early = await self.begin(request)
        if early is not None:
            return early
        now = self.clock()
        if self._last_login is not None and now - self._last_login < LOGIN_INTERVAL:
            self.login_violations += 1
            return _json(envelope(1600200, message="getAccessToken: 1 time / 5 minutes"))
        self._last_login = now
        api_key = (recorded.body or {}).get("apiKey")
        if api_key != self.api_key:
            # Echoes the key back, as careless APIs do: the adapter must not repeat it.
            return _json(envelope(1600001, message=f"Invalid API key {api_key}"))
        return _json(envelope(200, self._issue_tokens()))

    async def _refresh_token(self, request: web.Request) -> web.StreamResponse:
        recorded, early = await self.begin(request)
        if early is not None:
            return early
        token = (recorded.body or {}).get("refreshToken")
        expires = self._refresh.get(token)
        if expires is None or self.clock() >= expires:
            return _json(envelope(1600003, message="Invalid refresh token"))
        del self._refresh[token]
        return _json(envelope(200, self._issue_tokens()))

    async def _stock_by_vid(self, request: web.Request) -> web.StreamResponse:
        return await self._data_call(request, lambda q: self.stock.get(q.get("vid", "")))

    async def _stock_by_sku(self, request: web.Request) -> web.StreamResponse:
        return await self._data_call(request, lambda q: self.stock_by_sku.get(q.get("sku", "")))

    async def _variant(self, request: web.Request) -> web.StreamResponse:
        def lookup(query: dict[str, str]) -> Any:
            vid = query.get("vid", "")
            if vid not in self.prices:
                return None
            return {"vid": vid, "variantSku": f"SKU-{vid}", "variantSellPrice": self.prices[vid]}

        return await self._data_call(request, lookup)

    async def _data_call(
        self, request: web.Request, lookup: Callable[[dict[str, str]], Any]
    ) -> web.StreamResponse:
        recorded, early = await self.begin(request)
        if early is not None:
            return early
        token = recorded.headers.get("cj-access-token")
        if not token:
            return _json(envelope(1600002, message="CJ-Access-Token is missing"))
        expires = self._access.get(token)
        if expires is None or self.clock() >= expires:
            return _json(envelope(1600001, message="Invalid or expired access token"))
        if self.quota is not None:
            if self.quota <= 0:
                return _json(envelope(1600201, message="Quota used up for today"))
            self.quota -= 1
        key = recorded.query.get("vid") or recorded.query.get("sku") or ""
        if key in self.codes:
            return _json(envelope(self.codes[key], message="Product removed from shelves"))
        data = lookup(recorded.query)
        if data is None:
            return _json(envelope(1602000, message="Variant not found"))
        return _json(envelope(200, data))

    # --- helpers ---

    def _issue_tokens(self) -> dict[str, Any]:
        now = self.clock()
        serial = next(self._serial)
        access, refresh = f"cj-access-{serial}-t0k3n", f"cj-refresh-{serial}-t0k3n"
        self._access[access] = now + self.access_lifetime
        self._refresh[refresh] = now + self.refresh_lifetime
        return {
            "openId": 1234,
            "accessToken": access,
            "accessTokenExpiryDate": _cj_date(now + self.access_lifetime),
            "refreshToken": refresh,
            "refreshTokenExpiryDate": _cj_date(now + self.refresh_lifetime),
            "createDate": _cj_date(now),
        }


def _cj_date(moment: datetime) -> str:
    """CJ's style: '2021-08-18T09:16:33+08:00'."""
    return moment.astimezone(CHINA).isoformat(timespec="seconds")


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status)
