"""The one retry loop, Retry-After reading and redirects, on the shared fake clock."""

from __future__ import annotations

import logging
from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest
from aiohttp import web

from tests.adapter_helpers import START, fake_clock_policy
from tests.fakes.api_server import FakeApiServer, Reply
from tests.fakes.clock import FakeClock
from transport import (
    ApiClient,
    Retry,
    ServiceUnavailable,
    ServiceUnusable,
    Speaker,
    retry_after_seconds,
    with_retries,
)

log = logging.getLogger(__name__)


async def run(clock: FakeClock, *failures: Retry, max_wait: float = 60.0) -> None:
    """Fail with `failures` in turn, then succeed."""
    pending = list(failures)

    async def attempt() -> str:
        if pending:
            raise pending.pop(0)
        return "ok"

    policy = fake_clock_policy(clock).limited(timeout=5, max_attempts=4, max_wait=max_wait)
    result = await with_retries(
        attempt,
        policy=policy,
        speaker=Speaker("Acme"),
        log=log,
        where="Acme /stock",
    )
    assert result == "ok"


async def test_backs_off_exponentially_unless_the_server_names_a_wait(clock: FakeClock) -> None:
    await run(clock, Retry("answered 503"), Retry("answered 503"), Retry("answered 429", 7.0))
    assert clock.sleeps == [0.5, 1.0, 7.0]


async def test_gives_up_after_max_attempts_with_every_failure_named(clock: FakeClock) -> None:
    with pytest.raises(ServiceUnavailable) as caught:
        await run(clock, *[Retry("answered 502")] * 3, Retry("did not answer within 5 seconds"))
    assert str(caught.value) == (
        "Acme failed 4 times (last time it did not answer within 5 seconds); "
        "Stockbot will try again next poll"
    )


async def test_a_wait_longer_than_max_wait_ends_the_call_at_once(clock: FakeClock) -> None:
    with pytest.raises(ServiceUnavailable) as caught:
        await run(clock, Retry("answered 429", 600.0), max_wait=60.0)
    assert clock.sleeps == []
    assert str(caught.value) == (
        "Acme answered 429 and asked Stockbot to wait 10 minutes; "
        "Stockbot will try again after 2031-03-10 12:10 UTC"
    )


async def test_a_cause_may_cap_its_own_attempts(clock: FakeClock) -> None:
    with pytest.raises(ServiceUnavailable, match="said it is busy 2 times"):
        await run(clock, *[Retry("said it is busy", max_attempts=2)] * 3)
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        ("2.0", 2.0),  # Shopify's fractional seconds
        (format_datetime(START + timedelta(seconds=30), usegmt=True), 30.0),
        ("-5", None),
        ("soon", None),
        ("", None),
    ],
)
def test_retry_after_reads_seconds_or_an_http_date(header: str, seconds: float | None) -> None:
    response = httpx.Response(429, headers={"Retry-After": header} if header else {})
    assert retry_after_seconds(response, lambda: START) == seconds


# --- redirects ---------------------------------------------------------------------------


class EchoApi(FakeApiServer):
    """Answers every path with the path it was asked; scripts add redirects."""

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", "/{tail:.*}", self._answer)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        recorded, early = await self.begin(request)
        if early is not None:
            return early
        return web.json_response({"path": recorded.path, "body": recorded.body})


def moved(location: str, status: int = 307) -> Reply:
    return Reply(status, b"", {"Location": location})


CREDENTIALS = {
    "X-Shopify-Access-Token": "shpat-s3cr3t",
    "CJ-Access-Token": "cj-s3cr3t",
    "Authorization": "Bearer s3cr3t",
    "Accept": "application/json",
}


async def test_api_calls_redirected_to_another_origin_lose_their_credentials(
    clock: FakeClock,
) -> None:
    async with EchoApi() as origin, EchoApi() as other:
        origin.script("/stock", moved(other.url.replace("127.0.0.1", "localhost") + "/moved"))
        # Like the bot's own client, which follows redirects.
        async with httpx.AsyncClient(follow_redirects=True) as http:
            api = ApiClient(http, "Acme API", origin.url, fake_clock_policy(clock), 50)
            answer = await api.call("GET", "/stock", lambda r: r.json(), headers=CREDENTIALS)
        sent = other.requests_for("/moved")[0].headers
    assert answer["path"] == "/moved"
    assert origin.requests_for("/stock")[0].headers["x-shopify-access-token"] == "shpat-s3cr3t"
    for name in ("x-shopify-access-token", "cj-access-token", "authorization"):
        assert name not in sent
    assert sent["accept"] == "application/json"


async def test_api_calls_redirected_on_the_same_origin_keep_credentials_and_body(
    clock: FakeClock,
) -> None:
    async with EchoApi() as origin:
        origin.script("/login", moved("/v2/login", 308))
        async with httpx.AsyncClient() as http:
            api = ApiClient(http, "Acme API", origin.url, fake_clock_policy(clock), 50)
            answer = await api.call(
                "POST", "/login", lambda r: r.json(), json_body={"k": 1}, headers=CREDENTIALS
            )
        sent = origin.requests_for("/v2/login")[0].headers
    assert answer == {"path": "/v2/login", "body": {"k": 1}}
    assert sent["cj-access-token"] == "cj-s3cr3t"


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("file:///etc/passwd", "redirected to a file: address"),
        ("http://169.254.169.254/latest/meta-data/", "link-local address 169.254.169.254"),
        ("http://[fe80::a9fe:a9fe]/x", "link-local address fe80::a9fe:a9fe"),
    ],
)
async def test_api_redirects_off_the_web_are_refused(
    clock: FakeClock, location: str, reason: str
) -> None:
    async with EchoApi() as origin:
        origin.script("/stock", *[moved(location)] * 4)
        async with httpx.AsyncClient(follow_redirects=True, timeout=1) as http:
            api = ApiClient(http, "Acme API", origin.url, fake_clock_policy(clock), 50)
            with pytest.raises(ServiceUnusable) as caught:
                await api.call("GET", "/stock", lambda r: r.json())
        assert len(origin.requests_for("/stock")) == 1
    assert str(caught.value).startswith("Acme API ")
    assert reason in str(caught.value)
