"""A fake CJ Dropshipping API 2.0 on 127.0.0.1, run in the test's event loop.

It speaks CJ's envelope `{code, result, message, data, requestId}` and enforces
what the adapter must cope with: access tokens that expire (on the shared test
clock) or are revoked (1600001), a missing token (1600002), a bad refresh token
(1600003), getAccessToken at most once per 5 minutes (counted in
`login_violations`), a daily quota (1600201) and unknown variants (1602000)::

    async with FakeCJ(api_key=KEY, clock=clock) as cj:
        cj.stock["V1"] = [warehouse("CN", 700), warehouse("US", 12)]
        cj.script(STOCK_BY_VID, envelope_reply(1600200), Reply(429, {...}))
        cj.base_url  # point the adapter's base_url here

Scripted replies answer the next requests for a path, in order, before any of
the normal logic (so they need no valid token).
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any, Self

from aiohttp import web

PREFIX = "/api2.0/v1"  # as in the real base URL
LOGIN = "/authentication/getAccessToken"
REFRESH = "/authentication/refreshAccessToken"
STOCK_BY_VID = "/product/stock/queryByVid"
STOCK_BY_SKU = "/product/stock/queryBySku"
VARIANT_BY_VID = "/product/variant/queryByVid"

CHINA = timezone(timedelta(hours=8))
LOGIN_INTERVAL = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Reply:
    """A scripted answer: `body` is JSON-encoded unless it is bytes."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


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


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: Any


class FakeCJ:
    def __init__(self, api_key: str, clock: Callable[[], datetime]) -> None:
        self.api_key = api_key
        self.clock = clock
        self.stock: dict[str, Any] = {}  # vid -> `data` of queryByVid
        self.stock_by_sku: dict[str, Any] = {}  # sku -> `data` of queryBySku
        self.prices: dict[str, Any] = {}  # vid -> variantSellPrice
        self.access_lifetime = timedelta(days=15)
        self.refresh_lifetime = timedelta(days=180)
        self.quota: int | None = None  # data calls left today; None = unlimited
        self.requests: list[RecordedRequest] = []
        self.login_violations = 0
        self._access: dict[str, datetime] = {}
        self._refresh: dict[str, datetime] = {}
        self._last_login: datetime | None = None
        self._serial = itertools.count(1)
        self._scripts: defaultdict[str, deque[Reply]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # --- lifecycle ---

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post(PREFIX + LOGIN, self._login)
        app.router.add_post(PREFIX + REFRESH, self._refresh_token)
        app.router.add_get(PREFIX + STOCK_BY_VID, self._stock_by_vid)
        app.router.add_get(PREFIX + STOCK_BY_SKU, self._stock_by_sku)
        app.router.add_get(PREFIX + VARIANT_BY_VID, self._variant)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}{PREFIX}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- test controls ---

    def script(self, path: str, *replies: Reply) -> None:
        self._scripts[path].extend(replies)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path]

    def revoke_access_tokens(self) -> None:
        self._access.clear()

    def revoke_refresh_tokens(self) -> None:
        self._refresh.clear()

    @property
    def issued_tokens(self) -> list[str]:
        return list(self._access) + list(self._refresh)

    # --- handlers ---

    async def _login(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        if (scripted := self._scripted(recorded.path)) is not None:
            return scripted
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
        recorded = await self._record(request)
        if (scripted := self._scripted(recorded.path)) is not None:
            return scripted
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
        recorded = await self._record(request)
        if (scripted := self._scripted(recorded.path)) is not None:
            return scripted
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
        data = lookup(recorded.query)
        if data is None:
            return _json(envelope(1602000, message="Variant not found"))
        return _json(envelope(200, data))

    # --- helpers ---

    async def _record(self, request: web.Request) -> RecordedRequest:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        recorded = RecordedRequest(
            request.method,
            request.path.removeprefix(PREFIX),
            dict(request.query),
            {name.lower(): value for name, value in request.headers.items()},
            body,
        )
        self.requests.append(recorded)
        return recorded

    def _scripted(self, path: str) -> web.StreamResponse | None:
        script = self._scripts.get(path)
        if not script:
            return None
        reply = script.popleft()
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        return web.Response(
            status=reply.status,
            body=body,
            headers={"Content-Type": "application/json", **reply.headers},
        )

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
