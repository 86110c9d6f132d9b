"""The one retry loop and Retry-After reading, on the shared fake clock."""

from __future__ import annotations

import logging
from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest

from tests.adapter_helpers import START, fake_clock_policy
from tests.fakes.clock import FakeClock
from transport import Retry, ServiceUnavailable, Speaker, retry_after_seconds, with_retries

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
