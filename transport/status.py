"""Which HTTP answers are worth another try, and how long to wait for them."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from transport.errors import Retry, ServiceError, ServiceUnavailable, ServiceUnusable
from transport.wording import status_text

# 524 is Cloudflare's "origin timed out"; the rest are the usual transient 5xx.
RETRY_STATUSES = frozenset({500, 502, 503, 504, 524})


# An X-Ratelimit-Reset above this is a Unix time; below it, seconds from now.
_EPOCH_THRESHOLD = 1_000_000_000


def retry_after_seconds(response: httpx.Response, clock: Callable[[], datetime]) -> float | None:
    """Retry-After as seconds from now; None when absent or unreadable.

    Seconds may have a fraction (Shopify sends "2.0"); an HTTP date counts from `clock`.
    """
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return _seconds_until_date(value, clock)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _seconds_until_date(value: str, clock: Callable[[], datetime]) -> float | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - clock()).total_seconds())


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
    if not math.isfinite(value):
        return None
    if value > _EPOCH_THRESHOLD:  # BigBuy: the Unix time the limit resets
        return max(0.0, value - clock().timestamp())
    return max(0.0, value)


def failed_answer(
    response: httpx.Response,
    clock: Callable[[], datetime],
    *,
    explain_429: bool = True,
    usable: Callable[[int], bool] = lambda status: 200 <= status < 300,
) -> str | None:
    """None for a usable answer; raise Retry for one worth another try; else
    "answered <status>" for the caller to word its own error with."""
    if usable(response.status_code):
        return None
    retry = transient(response, clock, explain_429=explain_429)
    if retry is not None:
        raise retry
    return f"answered {status_text(response.status_code)}"


def transient(
    response: httpx.Response, clock: Callable[[], datetime], *, explain_429: bool = True
) -> Retry | None:
    """A Retry for 429 and transient 5xx answers (with the server's wait), else None.

    `explain_429` adds "(too many requests)" to the status, as API messages do.
    """
    status = response.status_code
    answered = f"answered {status_text(status)}"
    if status == 429:
        what = f"{answered} (too many requests)" if explain_429 else answered
        return Retry(what, rate_limit_wait(response, clock))
    if status in RETRY_STATUSES:
        return Retry(answered, retry_after_seconds(response, clock))
    return None


def answer_error(status: int, message: str) -> ServiceError:
    """The error for an answer no rule above explained: a 5xx may pass, a 4xx will not."""
    return ServiceUnusable(message) if status < 500 else ServiceUnavailable(message)
